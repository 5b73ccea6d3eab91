"""The ONNX Runtime backend: a CPU session (:func:`commentmod.serving.onnx_session.make_session`)
behind the :class:`~.base.Backend` interface. Always installed; the fallback of every choice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..onnx_session import make_session

NAME = "onnxruntime"


class OrtBackend:
    """An ONNX Runtime session fed ``input_names`` and read at ``output_name``."""

    name = NAME

    def __init__(
        self,
        session: ort.InferenceSession,
        input_names: Sequence[str] = ("input_ids", "attention_mask"),
        output_name: str = "logits",
        precision: str = "fp32",
    ) -> None:
        self.session = session
        self.ids_name, self.mask_name = input_names
        self.output_name = output_name
        self.precision = precision

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {self.ids_name: input_ids, self.mask_name: attention_mask}
        return np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float32)

    def io_names(self) -> tuple[list[str], list[str]]:
        return [i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()]

    def output_width(self) -> int | None:
        shape = next((o.shape for o in self.session.get_outputs() if o.name == self.output_name), None)
        width = shape[-1] if shape else None
        return width if isinstance(width, int) else None

    def __repr__(self) -> str:
        return f"OrtBackend({self.precision})"


def load_ort(
    path: Path,
    threads: int | None = None,
    input_names: Sequence[str] = ("input_ids", "attention_mask"),
    output_name: str = "logits",
    precision: str = "fp32",
) -> OrtBackend:
    """An :class:`OrtBackend` on the ONNX file at ``path``."""
    return OrtBackend(make_session(path, threads), input_names, output_name, precision)
