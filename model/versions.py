"""Installed versions of the libraries an artifact, a run or a report depends on (recorded in them)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

# what an ONNX artifact's manifest records: the exporter's and the runtime's stacks
ARTIFACT_LIBRARIES: tuple[str, ...] = (
    "commentmod",
    "onnx",
    "onnxruntime",
    "onnx-ir",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
)


def library_versions(names: Sequence[str] = ARTIFACT_LIBRARIES) -> dict[str, str]:
    """``{distribution: version}``, ``"not installed"`` for a missing one (never raises)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
