"""commentmod.serving: torch-free scoring with ONNX Runtime (onnxruntime, tokenizers, numpy only)."""

from commentmod.serving.result import Result
from commentmod.serving.scorer import Scorer, ScoringError

__all__ = ["Result", "Scorer", "ScoringError"]
