"""The int8 fidelity gate: try the quantisation plans (``quantize.py``, fastest first) and ship the
first whose served probabilities stay close to the fp32 model's.

A plan passes when its max |Δ prob| on the probes is <= ``max_delta`` and its flagged/not-flagged
decisions agree with fp32 on >= ``min_agreement`` of the agreement items.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...model.inputs import SpecialIds
from ...serving.scorer_inputs import Triple
from .errors import QuantizationError, QuantizationFidelityError
from .parity import flag_agreement, worst_cell
from .quantize import QuantPlan, quant_plans, quantize_int8

log = logging.getLogger(__name__)

# served probabilities of the graph at a path for some items (the Scorer's code path)
ServedProbs = Callable[[Path, Sequence[Triple]], np.ndarray]


@dataclass
class FidelityReport:
    plan: str
    op_types: list[str]
    nodes_excluded: list[str]
    max_abs_delta: float
    label: str
    probe: str
    agreement: float
    per_label_agreement: dict[str, float]
    n_agreement_items: int
    agreement_source: str
    passed: bool
    max_delta_tolerance: float
    min_agreement: float


@dataclass(frozen=True)
class Int8Limits:
    """What a plan must meet, and which plans are tried."""

    max_delta: float
    min_agreement: float
    quantize_embeddings: bool


@dataclass(frozen=True)
class Fp32Reference:
    """The fp32 model's served probabilities on the probes and on the agreement items."""

    labels: Sequence[str]
    thresholds: Sequence[float]
    probe_items: Sequence[Triple]
    probe_names: Sequence[str]
    probes: np.ndarray  # float64
    agree_items: Sequence[Triple]
    agree: np.ndarray
    agree_source: str


def judge_plan(
    plan: QuantPlan,
    excluded: list[str],
    int8_path: Path,
    served: ServedProbs,
    ref: Fp32Reference,
    limits: Int8Limits,
) -> FidelityReport:
    """Score the quantised graph at ``int8_path`` and compare it with ``ref``."""
    p_probe = served(int8_path, ref.probe_items)
    delta = np.abs(p_probe.astype(np.float64) - ref.probes)
    max_d, label, probe = worst_cell(delta, ref.labels, ref.probe_names)
    p_agree = served(int8_path, ref.agree_items)
    agreement, per_label = flag_agreement(ref.agree, p_agree, ref.thresholds, ref.labels)
    return FidelityReport(
        plan=plan.name,
        op_types=list(plan.op_types),
        nodes_excluded=excluded,
        max_abs_delta=max_d,
        label=label,
        probe=probe,
        agreement=agreement,
        per_label_agreement=per_label,
        n_agreement_items=len(ref.agree_items),
        agreement_source=ref.agree_source,
        passed=max_d <= limits.max_delta and agreement >= limits.min_agreement,
        max_delta_tolerance=limits.max_delta,
        min_agreement=limits.min_agreement,
    )


def gate_int8(
    fp32_path: Path,
    int8_path: Path,
    served: ServedProbs,
    ref: Fp32Reference,
    limits: Int8Limits,
    special: SpecialIds,
) -> list[FidelityReport]:
    """Write the first passing plan's graph to ``int8_path``; returns the reports of the plans tried
    (the last one passed). Raises QuantizationFidelityError when none passes."""
    reports: list[FidelityReport] = []
    for plan in quant_plans(limits.quantize_embeddings):
        try:
            excluded = quantize_int8(fp32_path, int8_path, plan, special)
        except QuantizationError as exc:
            log.warning("int8 plan %r skipped: %s", plan.name, exc)
            continue
        report = judge_plan(plan, excluded, int8_path, served, ref, limits)
        reports.append(report)
        log.info(
            "int8 plan %r: max |Δp| %.4f (%s on %s), flag agreement %.4f on %d items -> %s",
            plan.name,
            report.max_abs_delta,
            report.label,
            report.probe,
            report.agreement,
            report.n_agreement_items,
            "pass" if report.passed else "fail",
        )
        if report.passed:
            return reports
    raise QuantizationFidelityError(no_plan_passed(reports, limits))


def no_plan_passed(reports: Sequence[FidelityReport], limits: Int8Limits) -> str:
    """The gate's failure message: what was needed and what every plan reached."""
    tried = "; ".join(
        f"{r.plan}: max |Δp| {r.max_abs_delta:.4f} ({r.label} on {r.probe}), agreement {r.agreement:.4f}"
        for r in reports
    )
    return (
        f"no int8 plan passed (need max |Δp| <= {limits.max_delta} and flag agreement >= "
        f"{limits.min_agreement}); tried {tried}. Export with --no-int8 to ship fp32."
    )
