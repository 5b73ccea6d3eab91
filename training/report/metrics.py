"""Per-cell metrics over label and score arrays: PR-AUC, ROC-AUC, P/R/F1, calibration, model comparison.

Conventions: ``y`` is ``[N, L]`` (or ``[N]``) float with 1/0 and NaN where the label is
unknown (``None`` in the record); unknown rows are excluded per label, never read as 0.
Scores are probabilities; NaN scores (a baseline label with no model) are excluded too.
A metric that is undefined for a cell (one class only, no predicted positives, no rows) is ``None``.
A cell is one label x language x source (``"all"`` = every value of that dimension).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ...model.errors import CommentmodError
from ...model.labels import LABELS
from ..fit.calibration import brier, expected_calibration_error, reliability_table

ALL = "all"
VARIANTS = ("with_synthetic", "without_synthetic")
METRIC_KEYS = ("pr_auc", "roc_auc", "precision", "recall", "f1")


class EvaluationError(CommentmodError):
    """Evaluation inputs are inconsistent or missing."""


def clean(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One label column and its scores as flat float64 arrays, rows with a NaN label or score dropped."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise EvaluationError(
            f"labels have {y.size} values but scores have {p.size}; pass one column of each"
        )
    keep = ~np.isnan(y) & ~np.isnan(p)
    return y[keep], p[keep]


def two_classes(y: np.ndarray) -> bool:
    """Whether a cleaned label column holds both positives and negatives."""
    return bool(y.size) and 0 < y.sum() < y.size


def pr_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision (area under the PR curve); None with one class only."""
    y, p = clean(y, p)
    return float(average_precision_score(y, p)) if two_classes(y) else None


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC-AUC; None with one class only."""
    y, p = clean(y, p)
    return float(roc_auc_score(y, p)) if two_classes(y) else None


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Support and metrics of one label column at ``threshold`` (predict positive when ``p >= t``)."""
    y, p = clean(y, p)
    pos = int(y.sum())
    neg = int(y.size - pos)
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    n_pred = int(pred.sum())
    precision = tp / n_pred if n_pred else None
    recall = tp / pos if pos else None
    f1: float | None = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    two = two_classes(y)
    return {
        "n": int(y.size),
        "positives": pos,
        "negatives": neg,
        "predicted_positive": n_pred,
        "threshold": float(threshold),
        "pr_auc": pr_auc(y, p) if two else None,
        "roc_auc": roc_auc(y, p) if two else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _slices(langs: np.ndarray, sources: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(lang, source, row mask) of every cell: see :func:`cell_metrics`."""
    slices: list[tuple[str, str, np.ndarray]] = [(ALL, ALL, np.ones(len(langs), dtype=bool))]
    slices += [(lang, ALL, langs == lang) for lang in sorted(set(langs))]
    for source in sorted(set(sources)):
        in_source = sources == source
        slices.append((ALL, source, in_source))
        source_langs = sorted(set(langs[in_source]))
        if len(source_langs) > 1:
            slices += [(lang, source, in_source & (langs == lang)) for lang in source_langs]
    return slices


def cell_metrics(
    y: np.ndarray,
    p: np.ndarray,
    langs: np.ndarray,
    sources: np.ndarray,
    thresholds: Mapping[str, float],
    labels: Sequence[str] = LABELS,
) -> list[dict[str, Any]]:
    """Metrics per label x language x source, with ``"all"`` rows for each dimension.

    Cells: (all, all), (lang, all) per language, (all, source) per source, and (lang, source)
    for sources that hold more than one language (otherwise it would repeat (all, source)).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    langs = np.asarray(langs, dtype=object)
    sources = np.asarray(sources, dtype=object)
    if y.shape != p.shape or y.shape[0] != len(langs) or y.shape[0] != len(sources):
        raise EvaluationError(
            f"shapes differ: labels {y.shape}, scores {p.shape}, {len(langs)} langs, {len(sources)} sources"
        )
    slices = _slices(langs, sources)
    out = []
    for j, name in enumerate(labels):
        for lang, source, sel in slices:
            cell = {"label": name, "lang": lang, "source": source}
            cell.update(binary_metrics(y[sel, j], p[sel, j], float(thresholds.get(name, 0.5))))
            out.append(cell)
    return out


def variant_masks(synthetic: np.ndarray) -> dict[str, np.ndarray]:
    """Row masks: every row, and every row but the synthetic off-topic pairs."""
    synthetic = np.asarray(synthetic, dtype=bool)
    return {"with_synthetic": np.ones(len(synthetic), dtype=bool), "without_synthetic": ~synthetic}


def find_cell(
    cells: Iterable[Mapping[str, Any]], label: str, lang: str = ALL, source: str = ALL
) -> dict[str, Any] | None:
    """A copy of the cell for ``label`` x ``lang`` x ``source``, or None when there is none."""
    for cell in cells:
        if cell["label"] == label and cell["lang"] == lang and cell["source"] == source:
            return dict(cell)
    return None


def calibration_report(
    y: np.ndarray, p: np.ndarray, labels: Sequence[str] = LABELS, n_bins: int = 10
) -> dict[str, dict[str, Any]]:
    """Per label: rows, Brier score, ECE (None when the label has no rows) and the reliability table."""
    out = {}
    for j, name in enumerate(labels):
        yj, pj = clean(y[:, j], p[:, j])
        out[name] = {
            "n": int(yj.size),
            "brier": brier(yj, pj),
            "ece": expected_calibration_error(yj, pj, n_bins),
            "bins": reliability_table(yj, pj, n_bins),
        }
    return out


def compare_models(
    cells_a: Sequence[Mapping[str, Any]],
    cells_b: Sequence[Mapping[str, Any]],
    min_positives: int = 20,
    min_negatives: int = 20,
    name_a: str = "transformer",
    name_b: str = "baseline",
    margin: float = 0.0,
) -> dict[str, Any]:
    """PR-AUC of model a vs b per label x language cell (source ``"all"``) with enough support.

    a is better in a cell when ``pr_auc_a > pr_auc_b`` (``margin`` 0) or ``pr_auc_a >= pr_auc_b +
    margin``. Support is taken from model a's cell. Returns every compared cell, the cells where a
    is not better (``not_better``), and the cells skipped for support or undefined PR-AUC.
    """
    compared, not_better, too_small = [], [], []
    for cell in cells_a:
        if cell["source"] != ALL:
            continue
        other = find_cell(cells_b, cell["label"], cell["lang"], ALL)
        key = {
            "label": cell["label"],
            "lang": cell["lang"],
            "positives": cell["positives"],
            "negatives": cell["negatives"],
        }
        if cell["positives"] < min_positives or cell["negatives"] < min_negatives:
            too_small.append(
                {**key, "reason": f"needs >= {min_positives} positives and >= {min_negatives} negatives"}
            )
            continue
        pa = cell.get("pr_auc")
        pb = None if other is None else other.get("pr_auc")
        if pa is None or pb is None:
            too_small.append({**key, "reason": f"no PR-AUC for {name_a if pa is None else name_b}"})
            continue
        better = pa >= pb + margin if margin else pa > pb
        row = {**key, name_a: pa, name_b: pb, "difference": pa - pb, f"{name_a}_better": better}
        compared.append(row)
        if not better:
            not_better.append(row)
    return {
        "models": [name_a, name_b],
        "margin": margin,
        "min_positives": min_positives,
        "min_negatives": min_negatives,
        "cells": compared,
        "not_better": not_better,
        "skipped": too_small,
        f"{name_a}_better_everywhere": bool(compared) and not not_better,
    }
