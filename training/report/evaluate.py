"""One model's evaluation on a split: the data columns (:class:`EvalData`) and :func:`evaluate_model`.

What :func:`evaluate_model` computes from one model's scores:

* per label x language x source (``"all"`` = every value): PR-AUC (average precision),
  ROC-AUC, precision/recall/F1 at the chosen threshold, support (positives/negatives),
  once on all rows and once without the synthetic off-topic pairs (:mod:`.metrics`);
* calibration per label: a 10-bin reliability table, Brier score and ECE (:mod:`.metrics`);
* a Jigsaw-style bias check for ``abusive``: subgroup AUC, BPSN AUC and BNSP AUC per identity
  term (terms from ``configs/identity_terms.yaml``), on non-synthetic rows of the term's language
  (:mod:`.bias`).

The transformer-vs-baseline comparison is :func:`.metrics.compare_models`; the whole
``commentmod evaluate`` run is :func:`.run_eval.evaluate_run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...model.labels import LABELS
from ...model.record import CommentRecord
from .bias import bias_report
from .metrics import EvaluationError, calibration_report, cell_metrics, variant_masks


@dataclass(frozen=True)
class EvalData:
    """The columns evaluation needs, as arrays (one row per comment)."""

    ids: list[str]
    texts: list[str]
    titles: list[str | None]
    article_texts: list[str | None]
    langs: np.ndarray
    sources: np.ndarray
    synthetic: np.ndarray
    y: np.ndarray  # [N, L] float, NaN = unknown
    labels: tuple[str, ...] = LABELS

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_records(cls, records: Sequence[CommentRecord], labels: Sequence[str] = LABELS) -> EvalData:
        y = np.full((len(records), len(labels)), np.nan, dtype=np.float64)
        for i, rec in enumerate(records):
            for j, name in enumerate(labels):
                value = rec.labels.get(name)
                if value is not None:
                    y[i, j] = float(value)
        return cls(
            ids=[r.id for r in records],
            texts=[r.text for r in records],
            titles=[r.article_title for r in records],
            article_texts=[r.article_text for r in records],
            langs=np.asarray([r.lang or "und" for r in records], dtype=object),
            sources=np.asarray([r.source for r in records], dtype=object),
            synthetic=np.asarray([bool(r.synthetic) for r in records], dtype=bool),
            y=y,
            labels=tuple(labels),
        )

    def items(self) -> list[tuple[str, str | None, str | None]]:
        """``(text, article_title, article_text)`` triples for :func:`predict_probs`."""
        return list(zip(self.texts, self.titles, self.article_texts, strict=True))


def _bias(
    data: EvalData, probs: np.ndarray, terms: Mapping[str, Sequence[str]], label: str, min_support: int
) -> dict[str, Any]:
    """The bias check of column ``label`` on the non-synthetic rows."""
    j = data.labels.index(label)
    real = ~data.synthetic
    report = bias_report(
        [t for t, keep in zip(data.texts, real, strict=True) if keep],
        data.langs[real],
        data.y[real, j],
        probs[real, j],
        terms,
        min_positives=min_support,
        min_negatives=min_support,
    )
    return {"label": label, **report}


def evaluate_model(
    data: EvalData,
    probs: np.ndarray,
    thresholds: Mapping[str, float],
    identity_terms: Mapping[str, Sequence[str]] | None = None,
    bias_label: str = "abusive",
    bias_min_support: int = 5,
) -> dict[str, Any]:
    """Cells (both variants), calibration (all rows) and bias (non-synthetic rows) of one model's scores."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != data.y.shape:
        raise EvaluationError(f"scores have shape {probs.shape}, labels {data.y.shape}")
    cells = {}
    for variant, mask in variant_masks(data.synthetic).items():
        cells[variant] = cell_metrics(
            data.y[mask], probs[mask], data.langs[mask], data.sources[mask], thresholds, data.labels
        )
    out: dict[str, Any] = {
        "thresholds": {k: float(thresholds.get(k, 0.5)) for k in data.labels},
        "cells": cells,
        "calibration": calibration_report(data.y, probs, data.labels),
    }
    if identity_terms is not None and bias_label in data.labels:
        out["bias"] = _bias(data, probs, identity_terms, bias_label, bias_min_support)
    return out
