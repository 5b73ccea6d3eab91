"""Batch prediction with a PyTorch classifier, using the shared input layout.

Long comments are split into windows by :func:`commentmod.model.encode_comments`;
the probability of a comment is the maximum over its windows, per label (the
same rule the ONNX scorer applies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from commentmod.model.inputs import ContextRule, SpecialIds, encode_comments
from commentmod.training.modeling import CommentClassifier

Item = tuple[str, str | None, str | None]


def pad_batch(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest one; returns ``(input_ids, attention_mask)``."""
    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for i, w in enumerate(windows):
        ids[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        mask[i, : len(w)] = 1
    return ids, mask


@torch.inference_mode()
def predict_logits(
    model: CommentClassifier,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Item],
    batch_size: int = 32,
    special: SpecialIds = SpecialIds(),
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Logits ``[N, n_labels]`` (max over windows per label), in input order."""
    model.eval()
    n_labels = model.head.out_features
    if not items:
        return np.zeros((0, n_labels), dtype=np.float32)
    per_item = encode_comments(tokenizer, items, rule, special)
    flat = [(i, w) for i, windows in enumerate(per_item) for w in windows]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
    out = np.full((len(items), n_labels), -np.inf, dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = [flat[k] for k in order[start : start + batch_size]]
        ids, mask = pad_batch([w for _, w in chunk], special.pad)
        logits = model(ids.to(device), mask.to(device)).float().cpu().numpy()
        for (item_idx, _), row in zip(chunk, logits, strict=True):
            np.maximum(out[item_idx], row, out=out[item_idx])
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)


def predict_probs(
    model: CommentClassifier,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Item],
    batch_size: int = 32,
    temperature: Sequence[float] | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Probabilities ``[N, n_labels]``: sigmoid(logits / temperature), max over windows."""
    logits = predict_logits(model, tokenizer, rule, items, batch_size=batch_size, device=device)
    if temperature is not None:
        logits = logits / np.asarray(temperature, dtype=np.float32)
    return sigmoid(logits)
