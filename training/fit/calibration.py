"""Per-label decision thresholds and temperature scaling, fitted on validation data.

Pure numpy. Every function takes one label's column: ``y`` (0/1, unknown rows
already removed) and scores (probabilities or logits).

Order used by training: first fit a temperature on the validation logits
(kept only when it lowers the Brier score), then choose the threshold on the
*calibrated* probabilities, because that is what the scorer compares:
``sigmoid(logit / T) >= threshold``.

This is also the one home of the calibration metrics (:func:`brier`, :func:`reliability_table`,
:func:`expected_calibration_error`) that training and ``commentmod evaluate`` report. On empty input
(no rows) they return None, meaning "undefined", never 0.0; callers write None as ``null``/``–``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...model.numeric import sigmoid

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold and the validation precision/recall/F1 it gives."""

    threshold: float
    precision: float
    recall: float
    f1: float
    reached_target: bool = True


def _as_arrays(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != scores.shape:
        raise ValueError(f"y has {y.size} values but scores has {scores.size}; pass one label column of each")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 and 1; drop unknown (None) rows before calling")
    return y, scores


def prior_shift_weight(y: np.ndarray, base_rate: float | None) -> float:
    """Weight of a negative that makes the positives' share of ``y`` equal ``base_rate``.

    Validation sets of public datasets hold far more positives (25-60 %) than a news site's comment
    stream (a few %), so a threshold chosen for max F1 on them flags too much in production.
    Weighting each negative by ``w`` simulates the deployment base rate; ``w`` is never below 1
    (a validation set already rarer than ``base_rate`` is left as it is). ``None``: 1.0.
    """
    if base_rate is None:
        return 1.0
    if not 0.0 < base_rate < 1.0:
        raise ValueError(f"base rate is {base_rate}; use a fraction in (0, 1), e.g. 0.1")
    y = np.asarray(y, dtype=np.float64)
    pos, neg = float((y == 1).sum()), float((y == 0).sum())
    if pos == 0 or neg == 0:
        return 1.0
    return max(1.0, (pos / neg) * (1.0 - base_rate) / base_rate)


def pr_points(
    y: np.ndarray, scores: np.ndarray, negative_weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (distinct scores, descending) with precision and recall of ``score >= t``.

    ``negative_weight``: each negative counts this many times in precision (see
    :func:`prior_shift_weight`); recall does not depend on it.
    """
    y, scores = _as_arrays(y, scores)
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    yy = y[order]
    tp = np.cumsum(yy)
    fp = np.cumsum(1.0 - yy) * float(negative_weight)
    # keep the last index of each run of equal scores: predicting ">= t" takes the whole run
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1] if s.size else np.zeros(0, dtype=int)
    tp, fp, thr = tp[last], fp[last], s[last]
    n_pos = y.sum()
    precision = tp / np.maximum(tp + fp, 1.0)
    recall = tp / n_pos if n_pos > 0 else np.zeros_like(tp)
    return thr, precision, recall


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    denom = precision + recall
    return np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)


def _midpoint(thr: np.ndarray, best: int) -> float:
    """Half-way between the chosen score and the next lower one: same validation result, more margin."""
    if best + 1 < thr.size:
        return float((thr[best] + thr[best + 1]) / 2.0)
    return float(thr[best])


def threshold_max_f1(y: np.ndarray, probs: np.ndarray, base_rate: float | None = None) -> ThresholdChoice:
    """The threshold on ``probs`` that maximises F1 (ties: the higher threshold).

    The threshold returned lies half-way between the last score predicted positive and the
    next lower score, so ``probs >= threshold`` gives exactly the chosen validation result.
    ``base_rate``: maximise the F1 the threshold would get where positives are this share of the
    comments (negatives re-weighted, :func:`prior_shift_weight`); the reported precision and F1
    are those at that base rate.
    """
    thr, precision, recall = pr_points(y, probs, prior_shift_weight(y, base_rate))
    if thr.size == 0 or np.asarray(y).sum() == 0:
        return ThresholdChoice(DEFAULT_THRESHOLD, 0.0, 0.0, 0.0, reached_target=False)
    f1 = _f1(precision, recall)
    best = int(np.argmax(f1))  # first max = highest threshold among ties (thr is descending)
    return ThresholdChoice(_midpoint(thr, best), float(precision[best]), float(recall[best]), float(f1[best]))


def threshold_for_precision(y: np.ndarray, probs: np.ndarray, target: float) -> ThresholdChoice:
    """The lowest threshold whose precision is at least ``target`` (most recall at that precision).

    When no threshold reaches ``target``, falls back to the max-F1 threshold and
    marks ``reached_target=False``.
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target precision is {target}; use a value in (0, 1], e.g. 0.9")
    thr, precision, recall = pr_points(y, probs)
    ok = (
        np.nonzero(precision >= target)[0] if thr.size and np.asarray(y).sum() > 0 else np.zeros(0, dtype=int)
    )
    if ok.size == 0:
        fallback = threshold_max_f1(y, probs)
        return ThresholdChoice(
            fallback.threshold, fallback.precision, fallback.recall, fallback.f1, reached_target=False
        )
    # among thresholds meeting the target, take the one with the most recall (the lowest threshold)
    best = int(ok[np.argmax(recall[ok] + 1e-12 * ok)])
    f1 = _f1(precision[best : best + 1], recall[best : best + 1])[0]
    return ThresholdChoice(_midpoint(thr, best), float(precision[best]), float(recall[best]), float(f1))


def bce_nll(y: np.ndarray, logits: np.ndarray, temperature: float = 1.0) -> float:
    """Mean binary negative log-likelihood of ``sigmoid(logits / temperature)``."""
    y, logits = _as_arrays(y, logits)
    if y.size == 0:
        return 0.0
    z = logits / temperature
    # log(1 + exp(-|z|)) + max(z, 0) - y * z, numerically stable
    loss = np.logaddexp(0.0, z) - y * z
    return float(loss.mean())


def brier(y: np.ndarray, probs: np.ndarray) -> float | None:
    """Brier score: mean of ``(p - y) ** 2``; None when there are no rows (undefined, not 0)."""
    y, probs = _as_arrays(y, probs)
    return float(np.mean((probs - y) ** 2)) if y.size else None


def reliability_table(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width probability bins: count, mean predicted probability and observed positive rate.

    ``p = 1.0`` falls in the last bin; an empty bin has None for its mean and rate.
    """
    y, probs = _as_arrays(y, probs)
    idx = np.minimum((probs * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        count = int(sel.sum())
        rows.append(
            {
                "bin": b,
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": count,
                "mean_predicted": float(probs[sel].mean()) if count else None,
                "fraction_positive": float(y[sel].mean()) if count else None,
            }
        )
    return rows


def _table_ece(table: Sequence[Mapping[str, Any]]) -> float | None:
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return float(
        sum(
            row["count"] * abs(row["mean_predicted"] - row["fraction_positive"])
            for row in table
            if row["count"]
        )
        / total
    )


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> float | None:
    """ECE over the :func:`reliability_table` bins (count-weighted ``|mean p - positive rate|``);
    None when there are no rows (undefined, not 0)."""
    return _table_ece(reliability_table(y, probs, bins))


def fit_temperature(y: np.ndarray, logits: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """Temperature ``T`` minimising the NLL of ``sigmoid(logits / T)`` (golden-section search on log T)."""
    y, logits = _as_arrays(y, logits)
    if y.size == 0 or y.min() == y.max():
        return 1.0
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = bce_nll(y, logits, np.exp(c)), bce_nll(y, logits, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = bce_nll(y, logits, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = bce_nll(y, logits, np.exp(d))
        if b - a < 1e-6:
            break
    return float(np.exp((a + b) / 2.0))


@dataclass(frozen=True)
class TemperatureChoice:
    """The temperature used and the validation Brier/ECE before and after it (None: no rows)."""

    temperature: float
    brier_before: float | None
    brier_after: float | None
    ece_before: float | None
    ece_after: float | None
    kept: bool


def choose_temperature(
    y: np.ndarray, logits: np.ndarray, min_class: int = 10, low: float = 0.2, high: float = 10.0
) -> TemperatureChoice:
    """Fit a temperature in ``[low, high]``; keep it only if it lowers the Brier score, else use 1.0.

    With fewer than ``min_class`` positives or negatives the fit is unreliable (a separable handful
    drives T to its bound), so T stays 1.0 (and with no rows at all every score is None).
    """
    y, logits = _as_arrays(y, logits)
    before_p = sigmoid(logits)
    n_pos = int(y.sum())
    b0, e0 = brier(y, before_p), expected_calibration_error(y, before_p)
    if min(n_pos, y.size - n_pos) < min_class or b0 is None:
        return TemperatureChoice(1.0, b0, b0, e0, e0, kept=False)
    t = fit_temperature(y, logits, low=low, high=high)
    after_p = sigmoid(logits / t)
    b1, e1 = brier(y, after_p), expected_calibration_error(y, after_p)
    kept = b1 is not None and b1 < b0
    return TemperatureChoice(t if kept else 1.0, b0, b1, e0, e1, kept)
