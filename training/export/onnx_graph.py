"""The ONNX graph of a trained run: export (TorchScript exporter), BERT fusion, external weights,
and logits through PyTorch or through the serving code path (what the export gates compare).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, SpecialIds, encode_comments
from ...serving.onnx_session import make_session, window_logits
from ...serving.scorer_inputs import Triple
from ..fit.modeling import CommentClassifier
from ..fit.predict import predict_logits
from .quantize import quiet_root_logger

log = logging.getLogger(__name__)

FP32_FILE = "model.fp32.onnx"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("logits",)
MIN_OPSET = 17


def export_onnx(model: CommentClassifier, path: Path, opset: int = 17) -> None:
    """Write ``model`` as ONNX: inputs input_ids/attention_mask (int64, dynamic batch and sequence),
    output ``logits`` [batch, n_labels]. Uses the TorchScript exporter (``dynamo=False``), which
    traces this encoder exactly and needs no onnxscript."""
    model.eval()
    ids = torch.tensor([[0, 5, 6, 7, 8, 9, 2, 1], [0, 10, 11, 12, 2, 1, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    axes = {"batch": 0, "sequence": 1}
    dynamic_axes = {
        "input_ids": {v: k for k, v in axes.items()},
        "attention_mask": {v: k for k, v in axes.items()},
        "logits": {0: "batch"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))


def fuse_transformer(src: Path, dst: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ONNX Runtime's BERT optimizer: fuse attention (Attention) and BiasGelu.

    EmbedLayerNormalization is left out so that the word-embedding Gather stays visible to
    :func:`quantize_embedding_rows`. Needs a graph exported with eager attention (the SDPA mask
    pattern is not recognised). Returns the fused-operator counts.
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fusion = FusionOptions("bert")
    fusion.enable_embed_layer_norm = False
    # SkipLayerNormalization is ~4.5x slower than Add + LayerNormalization on ORT's CPU provider
    # (benchmarks/bench_layernorm.py); the Scorer also disables ORT's own SkipLayerNormFusion.
    fusion.enable_skip_layer_norm = False
    fusion.enable_bias_skip_layer_norm = False
    with quiet_root_logger():
        optimized = optimize_model(
            str(src),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
            optimization_options=fusion,
        )
        stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(dst))
    onnx.checker.check_model(str(dst))
    return stats


def export_fp32(model: CommentClassifier, path: Path, opset: int, fuse: bool) -> dict[str, int]:
    """Export ``model`` to ``path``; with ``fuse`` also run the BERT fusion (eager attention export).

    Returns the fused-operator counts (empty without fusion). The caller's parity gate decides
    whether the graph is right; the model is left with its original attention implementation.
    """
    if not fuse:
        export_onnx(model, path, opset)
        return {}
    raw = path.with_name(path.stem + ".raw.onnx")
    original = model.encoder.config._attn_implementation
    model.encoder.set_attn_implementation("eager")
    try:
        export_onnx(model, raw, opset)
    finally:
        model.encoder.set_attn_implementation(original)
    cfg = model.encoder.config
    stats = fuse_transformer(raw, path, cfg.num_attention_heads, cfg.hidden_size)
    raw.unlink()
    if not stats.get("Attention"):
        log.warning("attention fusion did not apply (fused: %s); the graph is correct but slower", stats)
    return stats


def torch_logits(
    model: CommentClassifier,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Triple],
    special: SpecialIds,
    batch_size: int,
) -> np.ndarray:
    """Logits of the PyTorch model (the parity gates' reference)."""
    return predict_logits(model, tokenizer, rule, items, batch_size=batch_size, special=special)


def onnx_logits(
    model_path: Path,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Triple],
    special: SpecialIds,
    n_labels: int,
    batch_size: int,
    threads: int | None = None,
    id_map: np.ndarray | None = None,
) -> np.ndarray:
    """Logits through the serving code path (same windowing, batching and max as the Scorer;
    ``id_map``: a vocabulary-pruned graph's token-id map)."""
    session = make_session(model_path, threads)
    per_item = encode_comments(tokenizer, items, rule, special)
    return window_logits(session, per_item, n_labels, special.pad, batch_size=batch_size, id_map=id_map)


def externalise_weights(path: Path) -> Path:
    """Move a model's weights to ``<name>.data`` next to it (ONNX external data).

    ONNX Runtime memory-maps external initializers instead of copying them out of the
    protobuf, which lowers the scorer's peak RSS by about the model size and loads faster.
    """
    data_name = path.name + ".data"
    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return path.with_name(data_name)
