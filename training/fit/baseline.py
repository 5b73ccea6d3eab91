"""The baseline: TF-IDF character n-grams + one logistic regression per label.

* Input text: the comment only (``clean_text``), no article context, for every
  label including ``off_topic`` (which therefore can only catch context-free
  off-topic comments such as spam; the transformer sees the article). Keep this
  in mind when comparing the two on ``off_topic``.
* Features: ``TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
  sublinear_tf=True)`` fitted once on all training texts (unsupervised, no
  labels), shared by the three heads.
* Heads: one ``LogisticRegression`` per label, each trained on the training rows
  where that label is known (``None`` rows are excluded, as in the transformer's
  masked loss).
* Thresholds: chosen on the validation split with :func:`choose_threshold`
  (max F1, or the lowest threshold reaching a target precision).

Saving, loading and scoring with onnxruntime (``baseline.onnx`` + ``baseline.json``, no pickle)
live in :mod:`commentmod.training.fit.baseline_onnx`, as does :func:`train_and_save`.
In the hybrid model this is the n-gram half (see :mod:`commentmod.training.fit.stacker`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ...model.errors import CommentmodError
from ...model.inputs import clean_text
from ...model.labels import CONTEXT_LABELS, LABELS
from .calibration import DEFAULT_THRESHOLD, threshold_for_precision, threshold_max_f1

logger = logging.getLogger(__name__)


class BaselineError(CommentmodError):
    """The baseline cannot be trained, exported or loaded."""


@dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of the TF-IDF + logistic-regression baseline."""

    ngram_min: int = 2
    ngram_max: int = 5
    max_features: int | None = 200_000
    min_df: int = 2
    sublinear_tf: bool = True
    C: float = 4.0
    class_weight: str | None = "balanced"
    max_iter: int = 2000
    threshold_mode: str = "f1"
    target_precision: float | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Scorer(Protocol):
    """Anything that scores comment texts: ``[N, n_labels]`` probabilities (NaN = no model for a label)."""

    labels: tuple[str, ...]
    thresholds: dict[str, float]

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray: ...


# --------------------------------------------------------------------------- thresholds


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    mode: str = "f1",
    target_precision: float | None = None,
    base_rate: float | None = None,
) -> float:
    """Decision threshold for scores ``p`` against 0/1 labels ``y`` (NaN labels/scores are ignored).

    ``mode="f1"``: the threshold maximising F1 (ties: the higher threshold).
    ``mode="precision"``: the lowest threshold whose precision is >= ``target_precision``
    (most recall at that precision); falls back to max F1 when no threshold reaches it.
    ``base_rate`` (f1 mode): max F1 at that share of positives, not the validation set's own
    (see :func:`commentmod.training.fit.calibration.prior_shift_weight`).
    Returns 0.5 when ``y`` has no positives or no negatives (nothing to choose from).
    Predict positive when ``p >= threshold``. Delegates to :mod:`commentmod.training.fit.calibration`,
    the same code that picks the transformer's thresholds.
    """
    if mode not in ("f1", "precision"):
        raise ValueError(f"threshold mode is {mode!r}; use 'f1' or 'precision'")
    if mode == "precision" and target_precision is None:
        raise ValueError("mode='precision' needs target_precision (e.g. 0.9)")
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    keep = ~np.isnan(y) & ~np.isnan(p)
    y, p = y[keep], p[keep]
    n_pos = int((y == 1).sum())
    if n_pos == 0 or n_pos == len(y):
        return DEFAULT_THRESHOLD
    if mode == "precision":
        assert target_precision is not None
        choice = threshold_for_precision(y, p, target_precision)
        if not choice.reached_target:
            logger.warning(
                "no threshold reaches precision %.2f; using the max-F1 threshold", target_precision
            )
        return choice.threshold
    return threshold_max_f1(y, p, base_rate).threshold


# --------------------------------------------------------------------------- in-memory model


def labels_matrix(rows: Sequence[Mapping[str, int | None]], labels: Sequence[str] = LABELS) -> np.ndarray:
    """``[N, L]`` float array of 0/1 with NaN for unknown (None) labels."""
    out = np.full((len(rows), len(labels)), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        for j, name in enumerate(labels):
            value = row.get(name)
            if value is not None:
                out[i, j] = float(value)
    return out


def comment_only_targets(y: np.ndarray, synthetic: np.ndarray, labels: Sequence[str] = LABELS) -> np.ndarray:
    """A copy of the ``[N, L]`` targets ``y`` with the :data:`CONTEXT_LABELS` of ``synthetic`` rows
    unknown (NaN): what a model reading the comment alone can learn.

    A synthetic off-topic pair is one comment under its own article (off_topic 0) and under a foreign
    article (off_topic 1): the same text with both answers. The n-gram model, which never sees the
    article, learns from such rows only that comments like these are off topic half the time. Measured
    on ``data/full`` (2026-12-02): without them its off_topic PR-AUC on the test split's real
    comments rose from 0.532 to 0.548, and an on-topic "Sper sa repare si trotuarele" fell from 0.86
    to 0.50. The transformer, which reads the article, still learns from the pairs.
    """
    out = np.array(y, dtype=np.float64, copy=True)
    rows = np.asarray(synthetic, dtype=bool)
    if rows.shape != (len(out),):
        raise BaselineError(f"synthetic flags have shape {rows.shape}, expected ({len(out)},)")
    for j, name in enumerate(labels):
        if name in CONTEXT_LABELS:
            out[rows, j] = np.nan
    return out


@dataclass
class BaselineModel:
    """Fitted vectorizer + one logistic regression per label (None where the label had no data)."""

    vectorizer: Any
    heads: dict[str, Any]
    config: BaselineConfig = field(default_factory=BaselineConfig)
    labels: tuple[str, ...] = LABELS
    thresholds: dict[str, float] = field(default_factory=lambda: {k: 0.5 for k in LABELS})
    train_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def features(self, texts: Sequence[str]) -> Any:
        return self.vectorizer.transform([clean_text(t) for t in texts])

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, n_labels]`` probabilities; NaN in the columns of labels without a model."""
        out = np.full((len(texts), len(self.labels)), np.nan, dtype=np.float32)
        if not len(texts):
            return out
        x = self.features(texts)
        for j, name in enumerate(self.labels):
            head = self.heads.get(name)
            if head is not None:
                out[:, j] = head.predict_proba(x)[:, 1]
        return out


def _vectorizer(config: BaselineConfig, n_docs: int) -> Any:
    """The unfitted char_wb TF-IDF vectorizer (``min_df`` 1 when there are under ``10 * min_df`` texts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(config.ngram_min, config.ngram_max),
        sublinear_tf=config.sublinear_tf,
        min_df=config.min_df if n_docs >= 10 * config.min_df else 1,
        max_features=config.max_features,
        lowercase=True,
        dtype=np.float32,
    )


def _fit_head(x: Any, yj: np.ndarray, config: BaselineConfig) -> Any:
    """One label's logistic regression on features ``x`` and 0/1 labels ``yj``."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(
        C=config.C,
        class_weight=config.class_weight,
        max_iter=config.max_iter,
        solver="liblinear",
        random_state=config.seed,
    )
    clf.fit(x, yj)
    return clf


def train_baseline(
    texts: Sequence[str],
    y: np.ndarray,
    config: BaselineConfig | None = None,
    labels: Sequence[str] = LABELS,
) -> BaselineModel:
    """Fit the baseline on training texts and their ``[N, L]`` labels (NaN = unknown, excluded)."""
    config = config or BaselineConfig()
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(texts), len(labels)):
        raise BaselineError(f"labels have shape {y.shape}, expected ({len(texts)}, {len(labels)})")
    if not len(texts):
        raise BaselineError("no training texts; the train split is empty")
    cleaned = [clean_text(t) for t in texts]
    vectorizer = _vectorizer(config, len(cleaned))
    x = vectorizer.fit_transform(cleaned)
    logger.info("baseline: %d training texts, %d char n-gram features", len(cleaned), x.shape[1])
    heads: dict[str, Any] = {}
    counts: dict[str, dict[str, int]] = {}
    for j, name in enumerate(labels):
        known = ~np.isnan(y[:, j])
        yj = y[known, j].astype(int)
        counts[name] = {"positives": int(yj.sum()), "negatives": int(len(yj) - yj.sum())}
        if len(np.unique(yj)) < 2:
            logger.warning(
                "baseline: label %s has %d positives and %d negatives in train; no head trained",
                name,
                counts[name]["positives"],
                counts[name]["negatives"],
            )
            heads[name] = None
            continue
        heads[name] = _fit_head(x[known], yj, config)
    return BaselineModel(
        vectorizer=vectorizer,
        heads=heads,
        config=config,
        labels=tuple(labels),
        thresholds={k: 0.5 for k in labels},
        train_counts=counts,
    )


def fit_thresholds(
    model: Scorer, texts: Sequence[str], y: np.ndarray, config: BaselineConfig
) -> dict[str, float]:
    """Per-label thresholds chosen on validation texts/labels (see :func:`choose_threshold`)."""
    p = model.predict_probs(texts)
    mode = "precision" if config.threshold_mode == "precision" else "f1"
    return {
        name: choose_threshold(y[:, j], p[:, j], mode=mode, target_precision=config.target_precision)
        for j, name in enumerate(model.labels)
    }
