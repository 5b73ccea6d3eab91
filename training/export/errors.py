"""The errors `commentmod export` raises (every export gate raises one of these)."""

from __future__ import annotations

from ...model.errors import CommentmodError


class ExportError(CommentmodError):
    """The export could not be completed (bad target, unusable run directory)."""


class ParityError(ExportError):
    """The ONNX model does not reproduce the PyTorch model within tolerance."""


class QuantizationFidelityError(ExportError):
    """No int8 quantisation plan stayed close enough to the fp32 model."""


class QuantizationError(CommentmodError):
    """A quantisation plan could not be applied to this graph (missing package, unknown pattern)."""
