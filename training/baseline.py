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

Saving uses no pickle: :func:`export_onnx` writes one ONNX graph
(``baseline.onnx``: string ``chars [N, C]`` → ``probs [N, n_labels]``) and a JSON
metadata file (``baseline.json``: labels, thresholds, config, counts, sha256; no
vocabulary). skl2onnx cannot convert ``char_wb``, so the n-gram counting node is
converted by skl2onnx from an equivalent ``analyzer="char"`` vectorizer with the same
vocabulary, applied to text laid out by ``commentmod.serving.hybrid.layout_for_onnx``
(lower-cased words joined by two spaces: no n-gram crossing a word boundary can match a
``char_wb`` n-gram) and fed as single characters (``chars_for_onnx``, same module, which the
Scorer uses too). The TF-IDF weighting, normalisation and heads are plain ONNX nodes
(skl2onnx's ``sublinear_tf`` computes ``log(1+tf)``, not scikit-learn's ``1+log(tf)``).
:class:`OnnxBaseline` scores from those files with onnxruntime (no scikit-learn needed).
In the hybrid model this is the n-gram half (see :mod:`commentmod.training.stacker`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from commentmod.model.errors import CommentmodError
from commentmod.model.inputs import clean_text
from commentmod.model.labels import LABELS
from commentmod.serving.hybrid import PAD, chars_for_onnx
from commentmod.training.calibration import DEFAULT_THRESHOLD, threshold_for_precision, threshold_max_f1

logger = logging.getLogger(__name__)

ONNX_NAME = "baseline.onnx"
META_NAME = "baseline.json"
BASELINE_FORMAT = 1
OPSET = 17


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
    (see :func:`commentmod.training.calibration.prior_shift_weight`).
    Returns 0.5 when ``y`` has no positives or no negatives (nothing to choose from).
    Predict positive when ``p >= threshold``. Delegates to :mod:`commentmod.training.calibration`,
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


def train_baseline(
    texts: Sequence[str],
    y: np.ndarray,
    config: BaselineConfig | None = None,
    labels: Sequence[str] = LABELS,
) -> BaselineModel:
    """Fit the baseline on training texts and their ``[N, L]`` labels (NaN = unknown, excluded)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    config = config or BaselineConfig()
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(texts), len(labels)):
        raise BaselineError(f"labels have shape {y.shape}, expected ({len(texts)}, {len(labels)})")
    if not len(texts):
        raise BaselineError("no training texts; the train split is empty")
    cleaned = [clean_text(t) for t in texts]
    n_docs = len(cleaned)
    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(config.ngram_min, config.ngram_max),
        sublinear_tf=config.sublinear_tf,
        min_df=config.min_df if n_docs >= 10 * config.min_df else 1,
        max_features=config.max_features,
        lowercase=True,
        dtype=np.float32,
    )
    x = vectorizer.fit_transform(cleaned)
    logger.info("baseline: %d training texts, %d char n-gram features", n_docs, x.shape[1])
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
        clf = LogisticRegression(
            C=config.C,
            class_weight=config.class_weight,
            max_iter=config.max_iter,
            solver="liblinear",
            random_state=config.seed,
        )
        clf.fit(x[known], yj)
        heads[name] = clf
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


# --------------------------------------------------------------------------- ONNX export / load


def _char_clone(vectorizer: Any) -> Any:
    """An ``analyzer="char"`` CountVectorizer with the char_wb vocabulary (for skl2onnx)."""
    from sklearn.feature_extraction.text import CountVectorizer

    clone = CountVectorizer(
        analyzer="char",
        ngram_range=vectorizer.ngram_range,
        lowercase=False,
        dtype=np.float32,
    )
    clone.vocabulary_ = dict(vectorizer.vocabulary_)
    clone.fixed_vocabulary_ = True
    return clone


def build_onnx(model: BaselineModel) -> Any:
    """One ONNX graph: ``chars`` (string ``[N, C]``, see :func:`chars_for_onnx`) → ``probs [N, L]``.

    The n-gram counting node (``TfIdfVectorizer``, with the vocabulary as its string pool) comes
    from skl2onnx; skl2onnx's regex ``Tokenizer`` in front of it is dropped (slow, and its padding
    token ``#`` forms n-grams that exist in the vocabulary), so the caller feeds single characters
    padded with :data:`PAD`, which can never match a one-character pool entry.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType

    vec = model.vectorizer
    clone = _char_clone(vec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "conversion of CountVectorizer may not work" (char)
        counts_model = convert_sklearn(
            clone,
            initial_types=[("text", StringTensorType([None, 1]))],
            options={id(clone): {"tokenexp": "."}},
            target_opset=OPSET,
        )
    ngram_nodes = [n for n in counts_model.graph.node if n.op_type == "TfIdfVectorizer"]
    if len(ngram_nodes) != 1:
        raise BaselineError(
            f"skl2onnx produced {len(ngram_nodes)} TfIdfVectorizer nodes, expected 1; "
            "check the installed skl2onnx version"
        )
    ngram = onnx.NodeProto()
    ngram.CopyFrom(ngram_nodes[0])
    del ngram.input[:]
    ngram.input.append("chars")
    del ngram.output[:]
    ngram.output.append("bl_counts")
    counts_name = "bl_counts"
    n_features = len(vec.vocabulary_)
    n_labels = len(model.labels)
    weights = np.zeros((n_features, n_labels), dtype=np.float32)
    bias = np.zeros((n_labels,), dtype=np.float32)
    for j, name in enumerate(model.labels):
        head = model.heads.get(name)
        if head is not None:
            weights[:, j] = head.coef_[0]
            bias[j] = head.intercept_[0]
    inits = [
        numpy_helper.from_array(np.asarray(vec.idf_, dtype=np.float32), "bl_idf"),
        numpy_helper.from_array(weights, "bl_weights"),
        numpy_helper.from_array(bias, "bl_bias"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "bl_zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "bl_one"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "bl_eps"),
    ]
    nodes = []
    tf = counts_name
    if vec.sublinear_tf:  # scikit-learn: tf -> 1 + log(tf) where tf > 0
        nodes += [
            helper.make_node("Greater", [counts_name, "bl_zero"], ["bl_pos"]),
            helper.make_node("Max", [counts_name, "bl_one"], ["bl_safe"]),
            helper.make_node("Log", ["bl_safe"], ["bl_log"]),
            helper.make_node("Add", ["bl_log", "bl_one"], ["bl_log1"]),
            helper.make_node("Where", ["bl_pos", "bl_log1", "bl_zero"], ["bl_tf"]),
        ]
        tf = "bl_tf"
    nodes += [
        helper.make_node("Mul", [tf, "bl_idf"], ["bl_tfidf"]),
        helper.make_node("ReduceL2", ["bl_tfidf"], ["bl_norm"], axes=[1], keepdims=1),
        helper.make_node("Max", ["bl_norm", "bl_eps"], ["bl_norm_safe"]),
        helper.make_node("Div", ["bl_tfidf", "bl_norm_safe"], ["bl_x"]),
        helper.make_node("MatMul", ["bl_x", "bl_weights"], ["bl_mm"]),
        helper.make_node("Add", ["bl_mm", "bl_bias"], ["bl_logits"]),
        helper.make_node("Sigmoid", ["bl_logits"], ["probs"]),
    ]
    graph = helper.make_graph(
        [ngram, *nodes],
        "commentmod_baseline",
        [helper.make_tensor_value_info("chars", TensorProto.STRING, [None, None])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, n_labels])],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="commentmod-baseline",
        ir_version=8,
    )
    onnx.checker.check_model(onnx_model)
    return onnx_model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def library_versions(
    names: Sequence[str] = ("numpy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime"),
) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def export_onnx(model: BaselineModel, out_dir: Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``baseline.onnx`` + ``baseline.json`` (no pickle, no vocabulary in JSON) into ``out_dir``.

    ``extra`` (e.g. the dataset it was trained on) is stored under ``"extra"`` in the JSON.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_model = build_onnx(model)
    onnx_path = out_dir / ONNX_NAME
    onnx_path.write_bytes(onnx_model.SerializeToString())
    meta = {
        "format": BASELINE_FORMAT,
        "kind": "tfidf-char_wb+logreg",
        "labels": list(model.labels),
        "trained": {name: model.heads.get(name) is not None for name in model.labels},
        "thresholds": dict(model.thresholds),
        "config": model.config.to_dict(),
        "n_features": len(model.vectorizer.vocabulary_),
        "train_counts": model.train_counts,
        "input": "chars: string [N, C], single characters of layout_for_onnx(text), right-padded with "
        f"{PAD!r} (commentmod.serving.hybrid.chars_for_onnx)",
        "output": "probs: float [N, n_labels]",
        "library_versions": library_versions(),
        "files": {ONNX_NAME: _sha256(onnx_path)},
        "extra": dict(extra or {}),
    }
    (out_dir / META_NAME).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("baseline written to %s (%d features)", out_dir, meta["n_features"])
    return onnx_path


@dataclass
class OnnxBaseline:
    """The exported baseline, scored with onnxruntime (no scikit-learn needed)."""

    session: Any
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    trained: dict[str, bool]
    meta: dict[str, Any]
    batch_size: int = 256

    @classmethod
    def load(cls, directory: Path, batch_size: int = 256) -> OnnxBaseline:
        import onnxruntime as ort

        directory = Path(directory)
        meta_path, onnx_path = directory / META_NAME, directory / ONNX_NAME
        if not meta_path.is_file() or not onnx_path.is_file():
            raise BaselineError(
                f"{directory} lacks {META_NAME} or {ONNX_NAME}; train it with `commentmod hybrid --model RUN "
                "--data DATA` (saves it in RUN/baseline)"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != BASELINE_FORMAT:
            raise BaselineError(
                f"{meta_path}: baseline format {meta.get('format')!r}, expected {BASELINE_FORMAT}"
            )
        expected = meta.get("files", {}).get(ONNX_NAME)
        if expected and _sha256(onnx_path) != expected:
            raise BaselineError(f"{onnx_path} does not match the sha256 in {meta_path}; retrain the baseline")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        return cls(
            session=session,
            labels=tuple(meta["labels"]),
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            trained={k: bool(v) for k, v in meta["trained"].items()},
            meta=meta,
            batch_size=batch_size,
        )

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.labels)), np.nan, dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            feed = chars_for_onnx([texts[i] for i in idx])
            out[idx] = self.session.run(["probs"], {"chars": feed})[0]
        for j, name in enumerate(self.labels):
            if not self.trained.get(name, False):
                out[:, j] = np.nan
        return out


def train_and_save(
    train_texts: Sequence[str],
    train_y: np.ndarray,
    val_texts: Sequence[str],
    val_y: np.ndarray,
    out_dir: Path | None,
    *,
    config: BaselineConfig | None = None,
    extra: Mapping[str, Any] | None = None,
) -> BaselineModel:
    """Train on train, choose thresholds on validation (0.5 when it is empty), export when ``out_dir``."""
    config = config or BaselineConfig()
    model = train_baseline(train_texts, train_y, config)
    if len(val_texts):
        model.thresholds = fit_thresholds(model, val_texts, val_y, config)
    else:
        logger.warning("baseline: no validation rows; thresholds stay at 0.5")
    if out_dir is not None:
        export_onnx(model, out_dir, extra)
    return model
