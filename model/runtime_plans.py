"""Runtime plans: the ways an artifact's transformer can be run, and what the export measured of each.

A :class:`RuntimePlan` names a backend (:data:`BACKENDS`), the model file it runs, the precision it
computes in and (OpenVINO) the ``INFERENCE_PRECISION_HINT`` it is compiled with, the CPU capabilities
it needs (``requires``, e.g. ``("bf16",)``), and its gate: max |Δp| on the probes and the share of
flagged decisions that agree with fp32 on the validation sample, ``passed`` when both are within the
int8 gate's limits, and its speed (comments/s on that sample, on the CPU named in ``measured_on``).

The manifest (:class:`commentmod.model.manifest.Manifest`) lists them in ``runtime_plans``; a manifest
without the field (exported before runtime plans existed) has none, and the Scorer serves
``model.onnx`` with ONNX Runtime as before. Which plan a Scorer runs is chosen in
``commentmod.serving.backends``. This module parses and checks the values; a bad value raises
:class:`PlanFieldError` naming the field, which the manifest turns into a ManifestError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from numbers import Real
from typing import Any

BACKENDS = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")  # what the plan's matrix products compute in
PRECISION_HINTS = ("", "f32", "bf16")  # OpenVINO's INFERENCE_PRECISION_HINT; "" for onnxruntime
_OPTIONAL_NUMBERS = ("max_abs_dp", "flag_agreement", "comments_per_s")
_STRINGS = ("backend", "plan", "file", "precision", "precision_hint", "measured_on", "note")


class PlanFieldError(ValueError):
    """A runtime plan holds an unusable value; ``field`` names it (``runtime_plans[i].<name>``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class RuntimePlan:
    """One way to run the transformer, with the gate and the speed the export measured."""

    backend: str  # one of BACKENDS
    plan: str  # e.g. "int8" (ORT, model.onnx), "bf16" (OpenVINO on the fp32 graph), "ov-int8"
    file: str  # the model file it runs, inside the artifact (model.onnx, model.fp32.onnx, model.ov-int8.xml)
    precision: str  # one of PRECISIONS
    precision_hint: str = ""  # one of PRECISION_HINTS
    requires: tuple[str, ...] = ()  # CPU capabilities (commentmod.serving.backends.cpu), e.g. ("bf16",)
    passed: bool = False  # the gate: max |Δp| and flag agreement vs fp32 within the int8 gate's limits
    max_abs_dp: float | None = None
    flag_agreement: float | None = None
    comments_per_s: float | None = None  # on the validation sample, tokenising included
    measured_on: str = ""  # CPU model and threads
    note: str = ""  # why it failed or was not measured; the worst probe cell

    def __post_init__(self) -> None:
        check_plan(self, "runtime_plan")

    @property
    def key(self) -> str:
        """``backend:plan``, unique within an artifact."""
        return f"{self.backend}:{self.plan}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["requires"] = list(self.requires)
        return data


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_plan(plan: RuntimePlan, where: str) -> None:
    """Every value of ``plan`` is usable; :class:`PlanFieldError` naming ``<where>.<field>`` otherwise."""
    for name in _STRINGS:
        if not isinstance(getattr(plan, name), str):
            raise PlanFieldError(f"{where}.{name}", f"is a {_shown(getattr(plan, name))}, expected a string")
    for name, allowed in (
        ("backend", BACKENDS),
        ("precision", PRECISIONS),
        ("precision_hint", PRECISION_HINTS),
    ):
        if getattr(plan, name) not in allowed:
            raise PlanFieldError(f"{where}.{name}", f"is {getattr(plan, name)!r}, expected one of {allowed}")
    if not plan.plan or not plan.file:
        raise PlanFieldError(f"{where}.plan" if not plan.plan else f"{where}.file", "is empty")
    if not isinstance(plan.requires, tuple) or not all(isinstance(r, str) and r for r in plan.requires):
        raise PlanFieldError(
            f"{where}.requires", f"is a {_shown(plan.requires)}, expected names of CPU capabilities"
        )
    if not isinstance(plan.passed, bool):
        raise PlanFieldError(f"{where}.passed", f"is a {_shown(plan.passed)}, expected true or false")
    for name in _OPTIONAL_NUMBERS:
        value = getattr(plan, name)
        if value is None:
            continue
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise PlanFieldError(
                f"{where}.{name}", f"is a {_shown(value)}, expected a finite number >= 0 or null"
            )
    if plan.flag_agreement is not None and plan.flag_agreement > 1:
        raise PlanFieldError(
            f"{where}.flag_agreement", f"is {plan.flag_agreement}, expected a share in [0, 1]"
        )


def plan_from_data(data: Any, where: str) -> RuntimePlan:
    """A plan of parsed JSON (an object with :class:`RuntimePlan`'s fields; ``requires`` a list)."""
    if not isinstance(data, Mapping):
        raise PlanFieldError(where, f"is a {_shown(data)}, expected an object")
    names = {f.name for f in fields(RuntimePlan)}
    unknown = sorted(set(data) - names)
    missing = [k for k in ("backend", "plan", "file", "precision") if k not in data]
    if unknown or missing:
        raise PlanFieldError(where, f"has unknown keys {unknown} / lacks {missing}; expected {sorted(names)}")
    values = dict(data)
    requires = values.get("requires", [])
    if not isinstance(requires, list | tuple):
        raise PlanFieldError(f"{where}.requires", f"is a {_shown(requires)}, expected a list")
    values["requires"] = tuple(requires)
    return RuntimePlan(**values)  # checked in __post_init__


def plans_from_data(value: Any) -> tuple[RuntimePlan, ...]:
    """The ``runtime_plans`` of parsed JSON: a list of plan objects, each ``backend:plan`` once."""
    if not isinstance(value, list | tuple):
        raise PlanFieldError("runtime_plans", f"is a {_shown(value)}, expected a list")
    plans: list[RuntimePlan] = []
    for i, item in enumerate(value):
        where = f"runtime_plans[{i}]"
        try:
            plans.append(plan_from_data(item, where))
        except PlanFieldError as exc:
            raise PlanFieldError(exc.field.replace("runtime_plan.", f"{where}.", 1), exc.problem) from exc
    return tuple(plans)


def check_plans(plans: Any) -> None:
    """A tuple of :class:`RuntimePlan` s, each ``backend:plan`` listed once."""
    if not isinstance(plans, tuple):
        raise PlanFieldError("runtime_plans", f"is a {_shown(plans)}, expected a tuple of runtime plans")
    seen: set[str] = set()
    for i, plan in enumerate(plans):
        if not isinstance(plan, RuntimePlan):
            raise PlanFieldError(f"runtime_plans[{i}]", f"is a {_shown(plan)}, expected a runtime plan")
        check_plan(plan, f"runtime_plans[{i}]")
        if plan.key in seen:
            raise PlanFieldError(f"runtime_plans[{i}]", f"lists {plan.key!r} a second time")
        seen.add(plan.key)
