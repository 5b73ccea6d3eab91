"""The hybrid model's stacker: per label, fit on validation how the shipped score combines the models.

For each label, on the validation rows where the label is known, three logistic regressions are
compared by K-fold cross-validated PR-AUC (average precision): the transformer's raw logit alone,
the n-gram model's ``logit(p)`` alone, and both (``blend``). ``blend`` is chosen only when it beats
the better single model by more than ``margin``; otherwise the better single model (ties: the
transformer, which also sees the article) is refitted alone, so the shipped score stays calibrated.
The result is a :class:`~commentmod.serving.hybrid.HybridSpec` (the serving contract, applied by
:func:`~commentmod.serving.hybrid.stack_probs`) plus per-label thresholds on the stacked scores.

The first half of this module is pure functions over arrays; the second half (:func:`fit_hybrid`)
runs them on a run directory and a data build: it trains the n-gram model into ``RUN/baseline/``
when needed, scores the validation split with both models and writes ``RUN/stacker.json``. The two
halves stay in one module (over 400 lines) because they share the ``stacker.json`` format and the
freshness rules (:func:`stale_reason`) that ``commentmod evaluate`` and ``commentmod hybrid`` rely on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commentmod.model.errors import CommentmodError, ManifestError
from commentmod.model.labels import CONTEXT_LABELS
from commentmod.serving.hybrid import HybridSpec, LabelStack, prob_logit, stack_probs

logger = logging.getLogger(__name__)

STACKER_NAME = "stacker.json"
NGRAM_DIR = "baseline"
DEFAULT_MARGIN = 0.002
# the share of flagged-worthy comments the shipped thresholds are tuned for (max F1 at this base rate,
# see calibration.prior_shift_weight): public validation sets hold 25-60 % positives, a news site's
# comment stream a few per cent, and max F1 at the validation rate flags too many clean comments
DEFAULT_BASE_RATE = 0.15
DEFAULT_C = 1.0
MIN_CLASS = 2  # positives and negatives needed to cross-validate (and fit) a label
MAX_ITER = 1000


class StackerError(CommentmodError):
    """The hybrid stacker cannot be fitted, saved or loaded."""


# --------------------------------------------------------------------------- pure: fitting


def make_lr(C: float = DEFAULT_C) -> Any:
    """The stacker's regression: plain L2 logistic regression (lbfgs), no class weights (calibrated)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, solver="lbfgs", max_iter=MAX_ITER)


def cv_pr_auc(x: np.ndarray, y: np.ndarray, folds: int, seed: int, C: float = DEFAULT_C) -> float:
    """Mean average precision of :func:`make_lr` over stratified, shuffled K folds (``x`` is ``[N, F]``)."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        lr = make_lr(C).fit(x[train], y[train])
        scores.append(average_precision_score(y[test], lr.decision_function(x[test])))
    return float(np.mean(scores))


def _identity(why: str, validation: Mapping[str, Any]) -> LabelStack:
    return LabelStack("transformer", 1.0, 0.0, 0.0, why=why, validation=dict(validation))


NAMES = {"transformer": "transformer", "ngram": "n-gram", "blend": "blend"}


def _choose(cv: Mapping[str, float | None], allowed: set[str], margin: float) -> str | None:
    """Among the ``allowed`` options: ``blend`` when it beats the better single model by more than
    ``margin``, else that model (ties: the transformer); None when nothing is allowed."""
    singles = [m for m in ("transformer", "ngram") if m in allowed]
    if not singles:
        return "blend" if "blend" in allowed else None
    single = max(singles, key=lambda m: (cv[m], m == "transformer"))
    blend, best = cv.get("blend"), cv[single]
    assert best is not None
    return "blend" if "blend" in allowed and blend is not None and blend > best + margin else single


def _why(
    mode: str | None,
    cv: Mapping[str, float | None],
    allowed: set[str],
    margin: float,
    no_context: bool = False,
) -> str:
    """The choice in words, with the CV numbers (without the context in parentheses)."""
    t, n, b = cv["transformer"], cv.get("ngram"), cv.get("blend")
    scores = ", ".join(f"{NAMES[m]} {v:.3f}" for m, v in cv.items() if v is not None)
    if mode is None:
        text = (
            f"no option has positive fitted weights (CV PR-AUC {scores}): the transformer's raw logit is used"
        )
    elif n is None:
        text = f"n-gram has no model for this label; transformer alone, CV PR-AUC {t:.3f}"
    elif mode == "blend":
        text = f"blend CV PR-AUC {b:.3f} > transformer {t:.3f}, n-gram {n:.3f}"
    else:
        other = "ngram" if mode == "transformer" else "transformer"
        text = f"{NAMES[mode]} CV PR-AUC {cv[mode]:.3f}"
        text += f" >= {NAMES[other]} {cv[other]:.3f}" if other in allowed else ""
        text += f"; blend {b:.3f} does not beat it by more than {margin:g}" if "blend" in allowed else ""
    excluded = [
        NAMES[m]
        for m, v in cv.items()
        if v is not None and m not in allowed and not (no_context and m == "ngram")
    ]
    if excluded and mode is not None:
        text += f"; not used because a fitted weight is <= 0: {', '.join(excluded)}"
    return text


def fit_label(
    logit_t: np.ndarray,
    prob_n: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    margin: float = DEFAULT_MARGIN,
    C: float = DEFAULT_C,
    needs_context: bool = False,
) -> LabelStack:
    """One label's :class:`LabelStack` from its columns (``y``: 0/1, NaN = unknown, excluded).

    An option whose regression, fitted on all known rows, gives a model a weight <= 0 is not used:
    both models predict the label, so a negative weight is noise or collinearity, not signal.
    ``needs_context``: the label is judged against the article, which the n-gram model never reads,
    so the n-gram model alone is not an option (validation sets rich in spam would otherwise pick it
    and every on-topic question would look off-topic) as long as the transformer carries any signal
    in a blend (both weights > 0); only a transformer that adds nothing leaves the n-gram model alone.
    """
    y = np.asarray(y, dtype=np.float64)
    known = ~np.isnan(y)
    yk = y[known].astype(int)
    n, pos = int(yk.size), int(yk.sum())
    validation: dict[str, Any] = {"n": n, "positives": pos}
    if min(pos, n - pos) < MIN_CLASS:
        return _identity(
            f"validation has {pos:,} positives and {n - pos:,} negatives for this label, too few to fit "
            "a stacker: the transformer's raw logit is used as is",
            validation,
        )
    k = min(folds, pos, n - pos)
    features = {"transformer": np.asarray(logit_t, dtype=np.float64)[known][:, None]}
    pn = np.asarray(prob_n, dtype=np.float64)[known]
    if np.isfinite(pn).all():
        features["ngram"] = prob_logit(pn)[:, None]
        features["blend"] = np.hstack([features["transformer"], features["ngram"]])
    cv: dict[str, float | None] = {"blend": None, "transformer": None, "ngram": None}
    cv.update({name: cv_pr_auc(x, yk, k, seed, C) for name, x in features.items()})
    fits = {name: make_lr(C).fit(x, yk) for name, x in features.items()}
    positive = {name for name, lr in fits.items() if bool((lr.coef_[0] > 0).all())}
    # a label judged by the article keeps the transformer in whenever it adds anything to a blend
    allowed = positive - {"ngram"} if needs_context and "blend" in positive else positive
    mode = _choose(cv, allowed, margin)
    validation.update({"folds": k, "cv_pr_auc": cv})
    no_context = needs_context and "ngram" in positive and "ngram" not in allowed
    why = _why(mode, cv, allowed, margin, no_context=no_context)
    if no_context:
        why += "; the n-gram model alone is no option: it never reads the article this label is judged by"
    elif needs_context and mode == "ngram":
        why += "; the transformer adds nothing even in a blend, so the n-gram model (comment only) is used"
    why += f" ({k}-fold, {n:,} validation rows, {pos:,} positives)"
    if mode is None:
        return _identity(why, validation)
    lr = fits[mode]
    coef = [float(c) for c in lr.coef_[0]]
    coef_t, coef_n = {"blend": coef, "transformer": [coef[0], 0.0], "ngram": [0.0, coef[0]]}[mode]
    return LabelStack(mode, coef_t, coef_n, float(lr.intercept_[0]), why=why, validation=validation)


def _as_2d(name: str, a: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        raise StackerError(f"{name} has shape {arr.shape}, expected {shape or '[N, L]'}")
    return arr


def fit_stacker(
    transformer_logits: np.ndarray,
    ngram_probs: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    margin: float = DEFAULT_MARGIN,
    C: float = DEFAULT_C,
    fitted_on: str = "",
    context_labels: Sequence[str] = CONTEXT_LABELS,
) -> HybridSpec:
    """The stacker for every label from validation arrays ``[N, L]`` (``y``: NaN = unknown; an
    all-NaN ``ngram_probs`` column = no n-gram model for that label). Deterministic for ``seed``."""
    lt = _as_2d("transformer logits", transformer_logits, None)
    if lt.shape[1] != len(labels):
        raise StackerError(f"transformer logits have {lt.shape[1]} labels, expected {len(labels)}")
    pn = _as_2d("n-gram probabilities", ngram_probs, lt.shape)
    yy = _as_2d("labels", y, lt.shape)
    per_label = {
        name: fit_label(
            lt[:, j],
            pn[:, j],
            yy[:, j],
            folds=folds,
            seed=seed,
            margin=margin,
            C=C,
            needs_context=name in context_labels,
        )
        for j, name in enumerate(labels)
    }
    return HybridSpec(labels=tuple(labels), per_label=per_label, fitted_on=fitted_on)


def stacker_thresholds(
    spec: HybridSpec,
    transformer_logits: np.ndarray,
    ngram_probs: np.ndarray | None,
    y: np.ndarray,
    mode: str = "f1",
    target_precision: float | None = None,
    base_rate: float | None = None,
) -> dict[str, float]:
    """Per-label thresholds on the stacked validation probabilities (max F1, or the lowest threshold
    reaching ``target_precision``): the same choice the transformer's thresholds get. ``base_rate``
    (f1 mode): max F1 where positives are this share of comments, not validation's own share."""
    from commentmod.training.baseline import choose_threshold

    p = stack_probs(transformer_logits, ngram_probs, spec)
    yy = np.asarray(y, dtype=np.float64)
    return {
        name: choose_threshold(
            yy[:, j], p[:, j], mode=mode, target_precision=target_precision, base_rate=base_rate
        )
        for j, name in enumerate(spec.labels)
    }


# --------------------------------------------------------------------------- pure-ish: stacker.json


def save_hybrid(
    run_dir: Path,
    spec: HybridSpec,
    thresholds: Mapping[str, float],
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``RUN/stacker.json``: ``{"spec": ..., "thresholds": ..., "provenance": ...}``."""
    missing = [k for k in spec.labels if k not in thresholds]
    if missing:
        raise StackerError(f"no threshold for label(s) {missing}")
    data = {
        "spec": spec.to_dict(),
        "thresholds": {k: float(thresholds[k]) for k in spec.labels},
        "provenance": dict(provenance or {}),
    }
    path = Path(run_dir) / STACKER_NAME
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_stacker_json(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / STACKER_NAME
    if not path.is_file():
        raise StackerError(
            f"{run_dir} has no {STACKER_NAME}; fit it with `commentmod hybrid --model {run_dir}`"
        )
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StackerError(f"{path} is not valid JSON ({exc}); refit with `commentmod hybrid`") from exc
    return data


def load_hybrid(run_dir: Path) -> tuple[HybridSpec, dict[str, float]]:
    """The stacker and its thresholds from ``RUN/stacker.json``."""
    data = read_stacker_json(run_dir)
    try:
        spec = HybridSpec.from_dict(data["spec"])
        thresholds = {k: float(data["thresholds"][k]) for k in spec.labels}
    except (KeyError, TypeError, ValueError, ManifestError) as exc:
        raise StackerError(
            f"{Path(run_dir) / STACKER_NAME} is malformed ({exc}); refit with `commentmod hybrid`"
        ) from exc
    return spec, thresholds


# --------------------------------------------------------------------------- I/O: a run and a data build


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadedRun:
    """A trained run directory, loaded once: the PyTorch model, its tokenizer and its RunInfo."""

    run_dir: Path
    model: Any
    tokenizer: Any
    info: Any

    @classmethod
    def load(cls, run_dir: Path) -> LoadedRun:
        from tokenizers import Tokenizer

        from commentmod.training.modeling import CommentClassifier

        model, info = CommentClassifier.load(Path(run_dir))
        return cls(Path(run_dir), model, Tokenizer.from_file(str(Path(run_dir) / "tokenizer.json")), info)

    def logits(self, items: Sequence[Any], batch_size: int = 32, device: str = "auto") -> np.ndarray:
        """Raw logits ``[N, L]`` (max over windows, before temperature)."""
        from commentmod.training.predict import predict_logits

        dev = resolve_device(device)
        self.model.to(dev)
        return predict_logits(self.model, self.tokenizer, self.info.rule, items, batch_size, device=dev)

    def temperature(self) -> np.ndarray:
        return np.asarray([float(self.info.temperature.get(k, 1.0)) for k in self.info.labels])


def ngram_trained_on(bl_dir: Path) -> str | None:
    from commentmod.training.baseline import META_NAME

    path = Path(bl_dir) / META_NAME
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("extra", {}).get("dataset")
    return str(value) if value else ""


def same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def ensure_ngram(run_dir: Path, data_dir: Path, *, retrain_stale: bool = True) -> tuple[Any, bool]:
    """The n-gram model of ``RUN/baseline/`` (ONNX), trained now on the train split (thresholds on the
    validation split) when missing, or, with ``retrain_stale``, when trained on another dataset.
    Returns ``(OnnxBaseline, trained_now)``."""
    from commentmod.training.baseline import OnnxBaseline, train_and_save
    from commentmod.training.dataset_build import load_split
    from commentmod.training.evaluate import EvalData

    bl_dir = Path(run_dir) / NGRAM_DIR
    trained_on = ngram_trained_on(bl_dir)
    if trained_on is not None and (not retrain_stale or not trained_on or same_path(trained_on, data_dir)):
        if trained_on and not same_path(trained_on, data_dir):
            logger.warning(
                "the n-gram model in %s was trained on %s, not on %s", bl_dir, trained_on, data_dir
            )
        return OnnxBaseline.load(bl_dir), False
    if trained_on:
        logger.info(
            "the n-gram model in %s was trained on %s; retraining on %s", bl_dir, trained_on, data_dir
        )
    train = EvalData.from_records(load_split(data_dir, "train"))
    val = EvalData.from_records(load_split(data_dir, "validation"))
    logger.info(
        "training the n-gram model on %d rows (thresholds on %d validation rows)", len(train), len(val)
    )
    start = time.perf_counter()
    train_and_save(
        train.texts, train.y, val.texts, val.y, bl_dir, extra={"dataset": str(data_dir), "split": "train"}
    )
    logger.info("n-gram model trained and saved to %s in %.1fs", bl_dir, time.perf_counter() - start)
    return OnnxBaseline.load(bl_dir), True


def current_provenance(run_dir: Path) -> dict[str, str | None]:
    """Fingerprints of the two models a stacker was fitted on (to notice a stale ``stacker.json``)."""
    from commentmod.training.baseline import ONNX_NAME
    from commentmod.training.modeling import WEIGHTS_NAME

    onnx = Path(run_dir) / NGRAM_DIR / ONNX_NAME
    return {
        "transformer_sha256": file_sha256(Path(run_dir) / WEIGHTS_NAME),
        "ngram_sha256": file_sha256(onnx) if onnx.is_file() else None,
    }


def stale_reason(run_dir: Path) -> str | None:
    """Why ``RUN/stacker.json`` cannot be used as is (missing, malformed, other models), or None."""
    try:
        load_hybrid(run_dir)
        saved = read_stacker_json(run_dir).get("provenance", {})
    except StackerError as exc:
        return str(exc)
    now = current_provenance(run_dir)
    words = {"transformer_sha256": "transformer", "ngram_sha256": "n-gram"}
    changed = [words[k] for k, v in now.items() if saved.get(k) != v]
    return f"{STACKER_NAME} was fitted with another {' and '.join(changed)} model" if changed else None


def sample_rows(n: int, max_rows: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random sample of ``max_rows`` of ``n`` rows (all when None or larger).

    Random, never the first rows: splits are stored grouped by source (one language at the head).
    """
    if max_rows is None or max_rows >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _threshold_mode(info: Any) -> tuple[str, float | None]:
    """The run's threshold rule (``threshold_mode``/``target_precision`` of its training config)."""
    cfg = getattr(info, "training_config", None) or {}
    if cfg.get("threshold_mode") == "precision":
        return "precision", float(cfg.get("target_precision", 0.9))
    return "f1", None


def fit_hybrid(
    run_dir: Path,
    data_dir: Path,
    *,
    max_validation_rows: int | None = None,
    batch_size: int = 32,
    device: str = "auto",
    seed: int = 0,
    folds: int = 5,
    margin: float = DEFAULT_MARGIN,
    base_rate: float | None = DEFAULT_BASE_RATE,
    run: LoadedRun | None = None,
) -> tuple[HybridSpec, dict[str, float]]:
    """Fit the stacker of ``run_dir`` on ``data_dir``'s validation split and write ``RUN/stacker.json``.

    Trains the n-gram model into ``RUN/baseline/`` first when it is missing or was trained on another
    dataset. ``max_validation_rows``: a seeded random sample of the validation split (default: all).
    """
    from commentmod.training.dataset_build import load_split
    from commentmod.training.evaluate import EvalData

    run_dir, data_dir = Path(run_dir), Path(data_dir)
    run = run or LoadedRun.load(run_dir)
    labels = tuple(run.info.labels)
    ngram, _ = ensure_ngram(run_dir, data_dir)
    if tuple(ngram.labels) != labels:
        raise StackerError(f"the n-gram model has labels {ngram.labels}, the transformer {labels}")
    records = load_split(data_dir, "validation")
    picked = sample_rows(len(records), max_validation_rows, seed)
    val = EvalData.from_records([records[int(i)] for i in picked], labels)
    if not len(val):
        raise StackerError(f"{data_dir} has no validation rows; the stacker is fitted on validation")
    start = time.perf_counter()
    lt = run.logits(val.items(), batch_size, device)
    logger.info(
        "hybrid: transformer logits for %d validation rows in %.1fs", len(val), time.perf_counter() - start
    )
    start = time.perf_counter()
    pn = ngram.predict_probs(val.texts)
    logger.info("hybrid: n-gram probabilities in %.1fs", time.perf_counter() - start)
    sampled = f", a seeded random sample of {len(records):,}" if len(val) < len(records) else ""
    start = time.perf_counter()
    spec = fit_stacker(
        lt,
        pn,
        val.y,
        labels,
        folds=folds,
        seed=seed,
        margin=margin,
        fitted_on=f"{len(val):,} validation rows of {data_dir}{sampled}",
    )
    mode, target = _threshold_mode(run.info)
    thresholds = stacker_thresholds(spec, lt, pn, val.y, mode, target, base_rate)
    logger.info("hybrid: stacker fitted in %.1fs", time.perf_counter() - start)
    provenance = {
        **current_provenance(run_dir),
        "dataset": str(data_dir),
        "validation_rows": len(val),
        "threshold_base_rate": base_rate,
        "seed": seed,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = save_hybrid(run_dir, spec, thresholds, provenance)
    for name in labels:
        s = spec.per_label[name]
        logger.info("hybrid %s: %s, threshold %.3f - %s", name, s.mode, thresholds[name], s.why)
    logger.info("wrote %s", path)
    return spec, thresholds
