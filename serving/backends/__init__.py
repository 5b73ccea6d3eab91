"""Runtime backends of the Scorer: ONNX Runtime (always) and OpenVINO (optional extra, lazy).

:mod:`.base` (the :class:`Backend` contract, windows -> logits, the errors) · :mod:`.ort_backend` ·
:mod:`.openvino_backend` · :mod:`.cpu` (CPU capabilities) · :mod:`.choose` (which plan runs).
"""

from .base import (
    Backend,
    BackendUnavailableError,
    NoRuntimePlanError,
    RuntimeChoiceError,
    backend_logits,
)
from .choose import AUTO, CHOICES, choose_plan, default_plan, describe, installed_backends, open_backend
from .cpu import capabilities_from_flags, capabilities_from_openvino, cpu_capabilities

__all__ = [
    "AUTO",
    "CHOICES",
    "Backend",
    "BackendUnavailableError",
    "NoRuntimePlanError",
    "RuntimeChoiceError",
    "backend_logits",
    "capabilities_from_flags",
    "capabilities_from_openvino",
    "choose_plan",
    "cpu_capabilities",
    "default_plan",
    "describe",
    "installed_backends",
    "open_backend",
]
