"""Which runtime plan a Scorer runs: pure functions of the artifact's plans, the backends installed
and the CPU's capabilities (:func:`choose_plan`), and :func:`open_backend` to start the chosen one.

* ``auto``: the fastest plan (``comments_per_s``) that passed its gate, whose backend is installed
  and whose ``requires`` this CPU has; none (an artifact exported before runtime plans, no OpenVINO,
  no bf16 CPU): ONNX Runtime on the artifact's ``model.onnx`` (:func:`default_plan`).
* ``onnxruntime``: the fastest such ONNX Runtime plan, else ``model.onnx``.
* ``openvino``: the fastest such OpenVINO plan; :class:`BackendUnavailableError` when OpenVINO is
  not installed, :class:`NoRuntimePlanError` (saying why each plan is out) when none qualifies.
* a plan name (``plan=``) picks that plan, refused with the reason when it does not qualify.

:func:`plan_for_artifact` applies it to a manifest on this machine and :func:`start_runtime` checks
the plan's files and starts it (the Scorer's ``load``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from ...model.manifest import MODEL_FILE, Manifest
from ...model.runtime_plans import BACKENDS, RuntimePlan
from ..artifact_check import check_files
from .base import OPENVINO_INSTALL, Backend, BackendUnavailableError, NoRuntimePlanError, RuntimeChoiceError

log = logging.getLogger(__name__)

AUTO = "auto"
ORT, OPENVINO = BACKENDS
CHOICES = (AUTO, *BACKENDS)


def installed_backends() -> frozenset[str]:
    """The backends this Python can import (found without importing them)."""
    return frozenset({ORT} | ({OPENVINO} if importlib.util.find_spec("openvino") is not None else set()))


def default_plan(quantization: str, model_file: str = MODEL_FILE) -> RuntimePlan:
    """ONNX Runtime on an ONNX file of the artifact: ``model.onnx`` (int8 when the manifest's
    ``quantization`` says so) or another variant such as ``model.fp32.onnx`` (fp32)."""
    if model_file != MODEL_FILE:
        name = "fp32" if ".fp32." in model_file else model_file
        return RuntimePlan(ORT, name, model_file, "fp32", passed=True, note=f"{model_file} asked for")
    precision = "int8" if quantization.startswith("int8") else "fp32"
    return RuntimePlan(ORT, precision, MODEL_FILE, precision, passed=True, note="the artifact's model.onnx")


def unusable(plan: RuntimePlan, installed: Iterable[str], cpu: Iterable[str]) -> str | None:
    """Why ``plan`` cannot be chosen here, or None when it can."""
    if not plan.passed:
        return "its gate failed" + (f" ({plan.note})" if plan.note else "")
    if plan.backend not in set(installed):
        return f"{plan.backend} is not installed" + (
            f" ({OPENVINO_INSTALL})" if plan.backend == OPENVINO else ""
        )
    missing = sorted(set(plan.requires) - set(cpu))
    if missing:
        return f"this CPU lacks {', '.join(missing)}"
    return None


def fastest(plans: Sequence[RuntimePlan]) -> RuntimePlan:
    """The plan with the most comments/s (an unmeasured one counts as slowest; ties: listed first)."""
    return max(plans, key=lambda p: -1.0 if p.comments_per_s is None else p.comments_per_s)


def _refusal(plans: Sequence[RuntimePlan], installed: frozenset[str], cpu: frozenset[str]) -> str:
    reasons = [f"{p.key} ({unusable(p, installed, cpu)})" for p in plans]
    return (
        "; ".join(reasons)
        if reasons
        else "none recorded (exported before runtime plans, or without OpenVINO)"
    )


def choose_plan(
    plans: Sequence[RuntimePlan],
    requested: str,
    installed: Iterable[str],
    cpu: Iterable[str],
    quantization: str = "none",
    plan_name: str | None = None,
) -> RuntimePlan:
    """The plan to run (see the module docstring); raises a :class:`RuntimeChoiceError` subclass."""
    installed, cpu = frozenset(installed), frozenset(cpu)
    if requested not in CHOICES:
        raise RuntimeChoiceError(f"backend {requested!r} is not one of {', '.join(CHOICES)}")
    if requested == OPENVINO and OPENVINO not in installed:
        raise BackendUnavailableError(
            f"--backend openvino: OpenVINO is not installed; {OPENVINO_INSTALL}, or use --backend onnxruntime"
        )
    fallback = default_plan(quantization)
    mine = [p for p in plans if requested in (AUTO, p.backend)]
    if plan_name is not None:
        return _named(mine, requested, plan_name, fallback, installed, cpu)
    usable = [p for p in mine if unusable(p, installed, cpu) is None]
    if usable:
        return fastest(usable)
    if requested == OPENVINO:
        raise NoRuntimePlanError(
            f"--backend openvino: the artifact has no OpenVINO plan that passed its gate and runs here; "
            f"plans: {_refusal(mine, installed, cpu)}. Re-export with OpenVINO installed "
            "(commentmod export) or use --backend onnxruntime"
        )
    return fallback


def _named(
    plans: Sequence[RuntimePlan],
    requested: str,
    name: str,
    fallback: RuntimePlan,
    installed: frozenset[str],
    cpu: frozenset[str],
) -> RuntimePlan:
    """The plan called ``name`` among ``plans`` (the fallback's name too, for ONNX Runtime)."""
    found = [p for p in plans if p.plan == name]
    if not found and requested in (AUTO, ORT) and name == fallback.plan:
        return fallback
    if not found:
        listed = ", ".join(p.key for p in plans) or "none"
        raise NoRuntimePlanError(
            f"the artifact has no runtime plan {name!r} for --backend {requested}; it lists {listed}"
        )
    why = [unusable(p, installed, cpu) for p in found]
    ok = [p for p, reason in zip(found, why, strict=True) if reason is None]
    if not ok:
        raise NoRuntimePlanError(f"runtime plan {name!r} cannot run here: {'; '.join(str(w) for w in why)}")
    return fastest(ok)


def open_backend(directory: Path, manifest: Manifest, plan: RuntimePlan, threads: int | None) -> Backend:
    """Start ``plan``'s backend on its file in ``directory`` (OpenVINO imported only here)."""
    names, output = manifest.input_names, manifest.output_names[0]
    path = Path(directory) / plan.file
    if plan.backend == OPENVINO:
        from .openvino_backend import load_openvino

        return load_openvino(path, plan.precision_hint, threads, names, output, plan.precision)
    from .ort_backend import load_ort

    return load_ort(path, threads, names, output, plan.precision)


def describe(plan: RuntimePlan) -> str:
    """``backend plan (file, precision)``: how logs, ``repr`` and ``/v1/model`` name the runtime."""
    hint = f", hint {plan.precision_hint}" if plan.precision_hint else ""
    return f"{plan.backend} {plan.plan} ({plan.file}, {plan.precision}{hint})"


def plan_for_artifact(
    manifest: Manifest, requested: str = AUTO, plan_name: str | None = None, model_file: str = MODEL_FILE
) -> RuntimePlan:
    """:func:`choose_plan` for ``manifest`` on this machine (backends installed, CPU capabilities).

    A ``model_file`` other than ``model.onnx`` (e.g. ``model.fp32.onnx``) asks for ONNX Runtime on
    that variant, as before runtime plans existed."""
    if model_file != MODEL_FILE:
        if requested == OPENVINO or plan_name is not None:
            raise RuntimeChoiceError(
                f"model_file={model_file!r} runs that ONNX file with ONNX Runtime; leave model_file out "
                "to choose a backend or a plan"
            )
        return default_plan(manifest.quantization, model_file)
    from .cpu import cpu_capabilities

    return choose_plan(
        manifest.runtime_plans,
        requested,
        installed_backends(),
        cpu_capabilities(),
        manifest.quantization,
        plan_name,
    )


def start_runtime(
    directory: Path,
    manifest: Manifest,
    runtime: RuntimePlan,
    threads: int | None,
    requested: str,
    ngram_file: str | None,
    verify: bool,
    plan_name: str | None = None,
) -> tuple[Backend, RuntimePlan]:
    """Check ``runtime``'s files and start its backend; under ``auto`` (and no plan asked for by name)
    a plan whose backend cannot start (OpenVINO failing to compile) falls back, with a warning, to ONNX
    Runtime on ``model.onnx``."""
    check_files(directory, manifest, runtime.file, ngram_file, verify)
    try:
        return open_backend(directory, manifest, runtime, threads), runtime
    except BackendUnavailableError as exc:
        if requested != AUTO or plan_name is not None or runtime.backend == ORT:
            raise
        log.warning("%s; falling back to ONNX Runtime on %s", exc, MODEL_FILE)
    fallback = default_plan(manifest.quantization)
    check_files(directory, manifest, fallback.file, ngram_file, verify)
    return open_backend(directory, manifest, fallback, threads), fallback
