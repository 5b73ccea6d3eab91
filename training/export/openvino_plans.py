"""Runtime plans of an export: OpenVINO plans measured and gated after the int8 gate.

When OpenVINO is installed (``commentmod[openvino]``; ``--no-openvino-plans`` skips this), the export
measures, on the int8 gate's probes and validation sample, through the serving backends
(:mod:`commentmod.serving.backends`):

* ``onnxruntime`` / ``int8`` (or ``fp32``): the shipped ``model.onnx``, for its speed beside the others;
* ``openvino`` / ``bf16``: the fp32 ONNX graph compiled with ``INFERENCE_PRECISION_HINT=bf16``
  (requires a CPU with bf16 units; elsewhere recorded as not measured);
* ``openvino`` / ``ov-int8``: NNCF post-training quantization of the fp32 graph (mixed preset,
  transformer model type, so SmoothQuant tames the activation outliers), calibrated on encoded windows
  of the validation sample, saved as OpenVINO IR ``model.ov-int8.xml`` + ``.bin``; compiled with the
  bf16 hint where the CPU has bf16 units (then it requires them), else f32.

Each plan is gated exactly like an int8 plan (:func:`commentmod.training.export.int8.judge_plan`:
max |Δp| vs fp32 on the probes and flagged-decision agreement on the validation sample, the same
limits), timed on that sample (comments/s, tokenising and windows included), and recorded in the
manifest's ``runtime_plans`` whether it passed or not. The artifact keeps only the files of plans that
passed: the IR of ``ov-int8``, and ``model.fp32.onnx`` when ``bf16`` passed (it runs that graph).
After the artifact is written, :func:`check_written_plans` loads every passing OpenVINO plan the way
the Scorer does and compares its probe probabilities with the gate's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ...model.inputs import encode_comments
from ...model.manifest import MODEL_FILE
from ...model.runtime_plans import RuntimePlan
from ...serving.backends import Backend, backend_logits
from ...serving.backends.cpu import BF16, cpu_capabilities, this_cpu
from ...serving.backends.openvino_backend import load_openvino
from ...serving.backends.ort_backend import load_ort
from ...serving.onnx_session import default_threads
from ...serving.scorer_inputs import Triple
from .errors import ExportError
from .int8 import FidelityReport, Fp32Reference, Int8Limits, judge_plan
from .onnx_graph import FP32_FILE, INPUT_NAMES, OUTPUT_NAMES
from .quantize import QuantPlan

if TYPE_CHECKING:
    from .artifact import ExportOptions, GraphScorer

log = logging.getLogger(__name__)

OV_INT8_FILE = "model.ov-int8.xml"
OV_INT8_WEIGHTS = "model.ov-int8.bin"
DEFAULT_CALIBRATION_WINDOWS = 300  # NNCF's default subset size
PLAN_CHECK_TOLERANCE = 1e-4  # the written plan vs what its gate measured, on the probes


class Int8Gate(Protocol):
    """What the int8 gate leaves for the runtime plans (``artifact._Int8Outcome``)."""

    @property
    def shipped(self) -> bool: ...  # model.onnx is the int8 graph

    @property
    def reference(self) -> Fp32Reference | None: ...  # the fp32 probabilities the gate compared with


@dataclass(frozen=True)
class MeasuredPlans:
    """The plans recorded in the manifest, and what the artifact must keep for them."""

    plans: tuple[RuntimePlan, ...] = ()
    keep_fp32: bool = False  # a passing plan runs model.fp32.onnx
    probe_probs: dict[str, np.ndarray] = field(default_factory=dict)  # plan key -> the gate's probes


@dataclass(frozen=True)
class _Bench:
    """Where and how the plans are measured."""

    tmp: Path
    scorer: GraphScorer
    ref: Fp32Reference
    limits: Int8Limits
    cpu: frozenset[str]
    measured_on: str


def served_probs(backend: Backend, scorer: GraphScorer, items: Sequence[Triple]) -> np.ndarray:
    """Served probabilities of ``items`` through ``backend``: the Scorer's windows, batching and
    window max (:func:`backend_logits`), then the artifact's temperature/sigmoid or stack."""
    per_item = encode_comments(scorer.tokenizer, items, scorer.rule, scorer.special)
    id_map = getattr(scorer, "id_map", None)  # a vocabulary-pruned graph's token-id map
    logits = backend_logits(
        backend, per_item, scorer.n_labels, scorer.special.pad, scorer.batch_size, id_map=id_map
    )
    return scorer.ship(logits, items)


def gate_backend(bench: _Bench, backend: Backend, name: str) -> tuple[FidelityReport, float, np.ndarray]:
    """The int8 gate's verdict on ``backend``, its comments/s on the validation sample, and its probe
    probabilities."""
    seconds: list[float] = []
    probes: list[np.ndarray] = []

    def served(_path: Path, items: Sequence[Triple]) -> np.ndarray:
        start = time.perf_counter()
        probs = served_probs(backend, bench.scorer, items)
        if items is bench.ref.agree_items:
            seconds.append(time.perf_counter() - start)
        else:
            probes.append(probs)
        return probs

    report = judge_plan(QuantPlan(name, ()), [], bench.tmp, served, bench.ref, bench.limits)
    speed = len(bench.ref.agree_items) / max(seconds[-1], 1e-9)
    return report, speed, probes[-1]


def _plan(bench: _Bench, base: RuntimePlan, backend: Backend) -> tuple[RuntimePlan, np.ndarray]:
    """``base`` with its gate and speed measured on ``backend``."""
    report, speed, probes = gate_backend(bench, backend, f"{base.backend} {base.plan}")
    worst = f"worst: {report.label} on {report.probe}"
    note = worst if report.passed else f"gate failed ({worst}); {base.note}".rstrip("; ")
    plan = RuntimePlan(
        backend=base.backend,
        plan=base.plan,
        file=base.file,
        precision=base.precision,
        precision_hint=base.precision_hint,
        requires=base.requires,
        passed=report.passed,
        max_abs_dp=round(report.max_abs_delta, 6),
        flag_agreement=round(report.agreement, 6),
        comments_per_s=round(speed, 2),
        measured_on=bench.measured_on,
        note=note,
    )
    return plan, probes


def _not_measured(base: RuntimePlan, why: str, bench: _Bench) -> RuntimePlan:
    return RuntimePlan(
        base.backend,
        base.plan,
        base.file,
        base.precision,
        base.precision_hint,
        base.requires,
        passed=False,
        measured_on=bench.measured_on,
        note=f"not measured: {why}",
    )


def calibration_samples(
    scorer: GraphScorer, items: Sequence[Triple], n: int, seed: int = 0
) -> list[dict[str, np.ndarray]]:
    """Up to ``n`` encoded windows of ``items`` (a seeded sample), one per NNCF calibration sample."""
    encoded = encode_comments(scorer.tokenizer, items, scorer.rule, scorer.special)
    windows = [w for per in encoded for w in per]
    if not windows:
        raise ExportError("no windows to calibrate OpenVINO int8 on; pass --validation-data")
    picked = np.sort(np.random.default_rng(seed).permutation(len(windows))[: max(1, n)])
    id_map = getattr(scorer, "id_map", None)
    samples = []
    for k in picked:
        ids = np.asarray([windows[int(k)]], dtype=np.int64)
        ids = ids if id_map is None else np.take(id_map, ids)
        samples.append({INPUT_NAMES[0]: ids, INPUT_NAMES[1]: np.ones_like(ids)})
    return samples


def quantize_openvino_int8(fp32_path: Path, out_xml: Path, samples: list[dict[str, np.ndarray]]) -> None:
    """NNCF post-training int8 of the ONNX graph at ``fp32_path``, saved as IR ``out_xml`` (+ ``.bin``)."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_path))
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf.set_log_level(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
            quantized = nncf.quantize(
                model,
                nncf.Dataset(samples),
                preset=nncf.QuantizationPreset.MIXED,
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(samples),
            )
    finally:
        nncf.set_log_level(level)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)


def _ort(bench: _Bench, int8: Int8Gate) -> tuple[RuntimePlan, np.ndarray]:
    """The shipped model.onnx (before place_model the fp32 graph is still model.fp32.onnx)."""
    precision = "int8" if int8.shipped else "fp32"
    base = RuntimePlan("onnxruntime", precision, MODEL_FILE, precision, note="the artifact's model.onnx")
    path = bench.tmp / (MODEL_FILE if int8.shipped else FP32_FILE)
    return _plan(bench, base, load_ort(path, None, INPUT_NAMES, OUTPUT_NAMES[0], precision))


def _ov_bf16(bench: _Bench, fp32_file: str) -> tuple[RuntimePlan, np.ndarray | None]:
    base = RuntimePlan("openvino", "bf16", fp32_file, "bf16", "bf16", (BF16,), note="the fp32 ONNX graph")
    if BF16 not in bench.cpu:
        return _not_measured(base, "this CPU has no bf16 units (amx_bf16 / avx512_bf16)", bench), None
    backend = load_openvino(bench.tmp / FP32_FILE, "bf16", None, INPUT_NAMES, OUTPUT_NAMES[0], "bf16")
    return _plan(bench, base, backend)


def _ov_int8(bench: _Bench, windows: int) -> tuple[RuntimePlan, np.ndarray | None]:
    hint = "bf16" if BF16 in bench.cpu else "f32"
    requires = (BF16,) if hint == "bf16" else ()
    note = "NNCF int8, calibrated on validation windows"
    base = RuntimePlan("openvino", "ov-int8", OV_INT8_FILE, "int8", hint, requires, note=note)
    if importlib.util.find_spec("nncf") is None:
        return _not_measured(base, "nncf is not installed (pip install 'commentmod[train]')", bench), None
    samples = calibration_samples(bench.scorer, bench.ref.agree_items, windows)
    quantize_openvino_int8(bench.tmp / FP32_FILE, bench.tmp / OV_INT8_FILE, samples)
    backend = load_openvino(bench.tmp / OV_INT8_FILE, hint, None, INPUT_NAMES, OUTPUT_NAMES[0], "int8")
    plan, probes = _plan(bench, base, backend)
    return plan, probes


def measure_runtime_plans(
    tmp: Path, scorer: GraphScorer, int8: Int8Gate, options: ExportOptions
) -> MeasuredPlans:
    """Measure and gate the runtime plans (module docstring); removes the files of failed plans from
    ``tmp``. Nothing is measured without OpenVINO, with ``--no-openvino-plans`` or without an int8
    gate (``--no-int8``)."""
    if not options.openvino_plans or int8.reference is None:
        return MeasuredPlans()
    if importlib.util.find_spec("openvino") is None:
        log.info("OpenVINO is not installed: no OpenVINO plans (pip install 'commentmod[openvino]')")
        return MeasuredPlans()
    limits = Int8Limits(options.int8_max_delta, options.int8_min_agreement, options.quantize_embeddings)
    measured_on = f"{this_cpu()}, {default_threads()} threads"
    bench = _Bench(tmp, scorer, int8.reference, limits, cpu_capabilities(), measured_on)
    fp32_file = FP32_FILE if int8.shipped else MODEL_FILE  # where the fp32 graph ends up
    measured = [
        _ort(bench, int8),
        _ov_bf16(bench, fp32_file),
        _ov_int8(bench, options.openvino_calibration_windows),
    ]
    for plan, _ in measured:
        log.info(
            "runtime plan %s (%s): %s, max |Δp| %s, flag agreement %s, %s comments/s",
            plan.key, plan.file, "pass" if plan.passed else "fail", plan.max_abs_dp,
            plan.flag_agreement, plan.comments_per_s,
        )  # fmt: skip
    plans = {plan.key: plan for plan, _ in measured}
    if not plans["openvino:ov-int8"].passed:
        for name in (OV_INT8_FILE, OV_INT8_WEIGHTS):
            (tmp / name).unlink(missing_ok=True)
    probes = {plan.key: p for plan, p in measured if plan.passed and p is not None}
    keep = int8.shipped and plans["openvino:bf16"].passed
    return MeasuredPlans(tuple(plans.values()), keep_fp32=keep, probe_probs=probes)


def check_written_plans(
    directory: Path, measured: MeasuredPlans, probe_items: Sequence[Triple], batch_size: int
) -> None:
    """Load every passing OpenVINO plan of the written artifact as the Scorer does; its probe
    probabilities must be those its gate measured (ExportError otherwise: a bug in the export)."""
    from ...serving.scorer import Scorer

    for plan in measured.plans:
        if not plan.passed or plan.backend == "onnxruntime":
            continue
        scorer = Scorer.load(directory, windows_per_batch=batch_size, backend=plan.backend, plan=plan.plan)
        delta = float(np.abs(scorer.probabilities(probe_items) - measured.probe_probs[plan.key]).max())
        if delta > PLAN_CHECK_TOLERANCE:
            raise ExportError(
                f"the written artifact's runtime plan {plan.key} scores the probes {delta:.2e} away from "
                "what its gate measured; this is a bug in the export - please report it "
                "(export with --no-openvino-plans meanwhile)"
            )
