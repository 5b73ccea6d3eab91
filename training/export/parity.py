"""How close two models' probabilities are: the parity checks (ONNX vs PyTorch, Scorer vs the
training blend) and the flagged-decision agreement the int8 gate uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ParityError


@dataclass
class ParityReport:
    """ONNX fp32 vs PyTorch on the probes (the worst cell, per label, over the batch sizes tried)."""

    max_abs_delta: float
    label: str
    probe: str
    per_label: dict[str, float]
    n_probes: int
    batch_sizes: list[int]
    tolerance: float


@dataclass
class HybridParityReport:
    """Scorer (fp32 graph + ngram.onnx + stack) vs the Python blend of training."""

    max_abs_delta: float
    label: str
    item: str
    per_label: dict[str, float]
    n_items: int
    tolerance: float
    reference: str = "PyTorch logits + OnnxBaseline (RUN/baseline) + stack_probs"
    served: str = "Scorer on the fp32 graph + ngram.onnx"


def worst_cell(delta: np.ndarray, labels: Sequence[str], names: Sequence[str]) -> tuple[float, str, str]:
    """(largest value, its label, its row's name) of a [rows, labels] array."""
    row, col = np.unravel_index(int(np.argmax(delta)), delta.shape)
    return float(delta[row, col]), labels[int(col)], names[int(row)]


def check_parity(
    reference: np.ndarray,
    candidates: dict[int, np.ndarray],
    labels: Sequence[str],
    probe_names: Sequence[str],
    tolerance: float,
) -> ParityReport:
    """Compare probabilities of ONNX runs (keyed by batch size) with PyTorch; raise ParityError if off."""
    worst: tuple[float, str, str] = (0.0, labels[0], probe_names[0])
    per_label = dict.fromkeys(labels, 0.0)
    worst_batch = 0
    for batch, probs in candidates.items():
        delta = np.abs(probs.astype(np.float64) - reference.astype(np.float64))
        if not np.all(np.isfinite(delta)):
            bad = np.argwhere(~np.isfinite(delta))[0]
            raise ParityError(
                f"ONNX output for probe {probe_names[bad[0]]!r} label {labels[bad[1]]!r} is not finite "
                f"(batch size {batch}); the export is broken"
            )
        for j, label in enumerate(labels):
            per_label[label] = max(per_label[label], float(delta[:, j].max()))
        w = worst_cell(delta, labels, probe_names)
        if w[0] >= worst[0]:
            worst, worst_batch = w, batch
    report = ParityReport(
        worst[0], worst[1], worst[2], per_label, len(probe_names), sorted(candidates), tolerance
    )
    if worst[0] > tolerance:
        raise ParityError(
            f"ONNX fp32 differs from PyTorch by {worst[0]:.2e} in probability for label {worst[1]!r} "
            f"on probe {worst[2]!r} (batch size {worst_batch}); tolerance is {tolerance:.0e}. "
            "Check the exporter/opset or report the model architecture."
        )
    return report


def flag_agreement(
    a: np.ndarray, b: np.ndarray, thresholds: Sequence[float], labels: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """Share of items whose flagged/not-flagged decision (any label >= threshold) is the same."""
    thr = np.asarray(thresholds, dtype=np.float32)
    fa, fb = a >= thr, b >= thr
    overall = float(np.mean(fa.any(axis=1) == fb.any(axis=1))) if len(a) else 1.0
    per_label = {lab: float(np.mean(fa[:, j] == fb[:, j])) if len(a) else 1.0 for j, lab in enumerate(labels)}
    return overall, per_label


def check_hybrid_parity(
    reference: np.ndarray,
    served: np.ndarray,
    labels: Sequence[str],
    item_names: Sequence[str],
    tolerance: float,
) -> HybridParityReport:
    """Compare the Scorer's stacked probabilities with the Python blend; raise ParityError if off."""
    delta = np.abs(served.astype(np.float64) - reference.astype(np.float64))
    if not np.all(np.isfinite(delta)):
        bad = np.argwhere(~np.isfinite(delta))[0]
        raise ParityError(
            f"hybrid score for {item_names[bad[0]]!r} label {labels[bad[1]]!r} is not finite; "
            "the export is broken"
        )
    worst, label, item = worst_cell(delta, labels, item_names)
    per_label = {k: float(delta[:, j].max()) for j, k in enumerate(labels)}
    report = HybridParityReport(worst, label, item, per_label, len(item_names), tolerance)
    if worst > tolerance:
        raise ParityError(
            f"the Scorer's hybrid probabilities differ from the Python blend (PyTorch + n-gram + stacker) "
            f"by {worst:.2e} for label {label!r} on {item!r}; tolerance is {tolerance:.0e}. "
            "The serving stack and training disagree - please report it"
        )
    return report
