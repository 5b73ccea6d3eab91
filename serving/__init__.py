"""commentmod.serving: torch-free scoring with ONNX Runtime (onnxruntime, tokenizers, numpy only)."""

from .onnx_session import ScoringError
from .result import Result
from .scorer import Scorer

__all__ = ["Result", "Scorer", "ScoringError"]
