"""The optimisers of fine-tuning: AdamW for the dense parameters (the head at its own learning rate,
no weight decay on biases/LayerNorm/embeddings) and SparseAdam for the word-embedding matrix when it
is trained with sparse gradients; setting their learning rate for a step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import TrainError
from .modeling import CommentClassifier


def word_embeddings(model: CommentClassifier) -> nn.Embedding:
    """The encoder's word-embedding matrix (an ``nn.Embedding``; anything else is an error)."""
    emb = model.encoder.get_input_embeddings()
    if not isinstance(emb, nn.Embedding):
        raise TrainError(f"the encoder's input embeddings are a {type(emb).__name__}, expected nn.Embedding")
    return emb


def embeddings_ever_trained(cfg: TrainConfig) -> bool:
    return not cfg.freeze_word_embeddings or cfg.unfreeze_embeddings_last_epoch


def build_optimizers(
    model: CommentClassifier, cfg: TrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.SparseAdam | None]:
    """AdamW for the dense parameters (head at ``head_lr``, no decay on biases/LayerNorm/embeddings);
    SparseAdam for the word-embedding matrix when it is trained with sparse gradients."""
    emb = word_embeddings(model)
    sparse = cfg.sparse_embeddings and embeddings_ever_trained(cfg)
    emb.sparse = sparse
    emb_lr = cfg.embedding_lr or cfg.learning_rate
    head_lr = cfg.head_lr or cfg.learning_rate
    decay: list[torch.Tensor] = []
    no_decay: list[torch.Tensor] = []
    head: list[torch.Tensor] = []
    dense_emb: list[torch.Tensor] = []
    for name, p in model.named_parameters():
        if p is emb.weight:
            if not sparse:
                dense_emb.append(p)
        elif name.startswith("head."):
            head.append(p)
        elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or "embeddings" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": cfg.weight_decay, "base_lr": cfg.learning_rate},
        {"params": no_decay, "weight_decay": 0.0, "base_lr": cfg.learning_rate},
        {"params": head, "weight_decay": cfg.weight_decay, "base_lr": head_lr},
    ]
    if dense_emb:
        groups.append({"params": dense_emb, "weight_decay": 0.0, "base_lr": emb_lr})
    for g in groups:
        g["lr"] = g["base_lr"]
    adamw = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    sparse_opt = None
    if sparse:
        sparse_opt = torch.optim.SparseAdam([emb.weight], lr=emb_lr)
        sparse_opt.param_groups[0]["base_lr"] = emb_lr
    return adamw, sparse_opt


def set_lr(optimizers: Sequence[torch.optim.Optimizer | None], factor: float) -> None:
    """Every group's learning rate to its ``base_lr`` times ``factor``."""
    for opt in optimizers:
        if opt is None:
            continue
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * factor
