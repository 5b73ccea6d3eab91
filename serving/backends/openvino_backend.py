"""The OpenVINO backend (optional extra ``commentmod[openvino]``), imported lazily.

``openvino`` is imported inside :func:`load_openvino` only, so ``import commentmod.serving`` and the
ONNX Runtime path work without it. A model (the fp32 ONNX graph, or an OpenVINO IR ``.xml`` with
its ``.bin``) is compiled for the CPU with an explicit ``INFERENCE_PRECISION_HINT`` (``f32`` or
``bf16``; OpenVINO would otherwise pick bf16 by itself on CPUs that have it), a thread count and
``PERFORMANCE_HINT=LATENCY``; batch and sequence stay dynamic, as in the ONNX graph.

A compiled model is shared by the threads of a Scorer; each thread gets its own infer request
(an infer request is not thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..onnx_session import default_threads
from .base import OPENVINO_INSTALL, BackendUnavailableError

NAME = "openvino"
DEVICE = "CPU"


def import_openvino() -> ModuleType:
    """The ``openvino`` module; :class:`BackendUnavailableError` saying what to install without it."""
    try:
        import openvino
    except ImportError as exc:
        raise BackendUnavailableError(
            f"OpenVINO is not installed ({exc}); {OPENVINO_INSTALL}, or use --backend onnxruntime"
        ) from exc
    return openvino


def compile_config(precision_hint: str, threads: int | None) -> dict[str, Any]:
    """The CPU plugin's settings of a plan: precision hint (``f32`` when empty), threads, latency."""
    return {
        "INFERENCE_PRECISION_HINT": precision_hint or "f32",
        "INFERENCE_NUM_THREADS": int(threads or default_threads()),
        "PERFORMANCE_HINT": "LATENCY",
    }


class OpenVinoBackend:
    """A compiled OpenVINO model fed ``input_names`` and read at ``output_name``."""

    name = NAME

    def __init__(
        self,
        compiled: Any,
        input_names: Sequence[str] = ("input_ids", "attention_mask"),
        output_name: str = "logits",
        precision: str = "fp32",
    ) -> None:
        self.compiled = compiled
        self.ids_name, self.mask_name = input_names
        self.output_name = output_name
        self.precision = precision
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self._request().infer({self.ids_name: input_ids, self.mask_name: attention_mask})
        return np.array(out[self.compiled.output(self.output_name)], dtype=np.float32)

    def io_names(self) -> tuple[list[str], list[str]]:
        inputs = [name for port in self.compiled.inputs for name in port.get_names()]
        outputs = [name for port in self.compiled.outputs for name in port.get_names()]
        return inputs, outputs

    def output_width(self) -> int | None:
        port = next((p for p in self.compiled.outputs if self.output_name in p.get_names()), None)
        if port is None:
            return None
        last = port.get_partial_shape()[-1]
        return int(last.get_length()) if last.is_static else None

    def __repr__(self) -> str:
        return f"OpenVinoBackend({self.precision})"


def load_openvino(
    path: Path,
    precision_hint: str = "f32",
    threads: int | None = None,
    input_names: Sequence[str] = ("input_ids", "attention_mask"),
    output_name: str = "logits",
    precision: str = "fp32",
) -> OpenVinoBackend:
    """Compile ``path`` (ONNX, or IR ``.xml``) for the CPU (:func:`compile_config`).

    :class:`BackendUnavailableError` when OpenVINO is not installed or cannot compile the model.
    """
    ov = import_openvino()
    try:
        compiled = ov.Core().compile_model(str(path), DEVICE, compile_config(precision_hint, threads))
    except Exception as exc:  # OpenVINO raises its own untyped errors
        raise BackendUnavailableError(
            f"OpenVINO could not compile {path} ({str(exc)[:300]}); use --backend onnxruntime"
        ) from exc
    return OpenVinoBackend(compiled, input_names, output_name, precision)
