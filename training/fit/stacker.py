"""The hybrid model's stacker: per label, fit on validation how the shipped score combines the models.

For each label, on the validation rows where the label is known, three logistic regressions are
compared by K-fold cross-validated PR-AUC (average precision): the transformer's raw logit alone,
the n-gram model's ``logit(p)`` alone, and both (``blend``). ``blend`` is chosen only when it beats
the better single model by more than ``margin``; otherwise the better single model (ties: the
transformer, which also sees the article) is refitted alone, so the shipped score stays calibrated.
The result is a :class:`~commentmod.serving.hybrid.HybridSpec` (the serving contract, applied by
:func:`~commentmod.serving.hybrid.stack_probs`) plus per-label thresholds on the stacked scores.

This module is pure functions over arrays. Running them on a run directory and a data build
(training the n-gram model when needed, scoring validation, writing ``RUN/stacker.json``) is
:func:`commentmod.training.fit.hybrid_fit.fit_hybrid`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...model.errors import CommentmodError
from ...model.labels import CONTEXT_LABELS
from ...model.numeric import logit
from ...serving.hybrid import HybridSpec, LabelStack, stack_probs
from .baseline import choose_threshold

DEFAULT_MARGIN = 0.002
DEFAULT_C = 1.0
MIN_CLASS = 2  # positives and negatives needed to cross-validate (and fit) a label
MAX_ITER = 1000


class StackerError(CommentmodError):
    """The hybrid stacker cannot be fitted, saved or loaded."""


# --------------------------------------------------------------------------- fitting


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
        features["ngram"] = logit(pn)[:, None]
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
    p = stack_probs(transformer_logits, ngram_probs, spec)
    yy = np.asarray(y, dtype=np.float64)
    return {
        name: choose_threshold(
            yy[:, j], p[:, j], mode=mode, target_precision=target_precision, base_rate=base_rate
        )
        for j, name in enumerate(spec.labels)
    }
