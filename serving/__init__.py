"""commentmod.serving: torch-free scoring with ONNX Runtime (onnxruntime, tokenizers, numpy only)."""

from commentmod.serving.result import Result

__all__ = ["Result"]
