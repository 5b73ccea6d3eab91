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
from commentmod.serving.scorer import pad_windows
from commentmod.training.modeling import CommentClassifier

Item = tuple[str, str | None, str | None]


def pad_batch(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest one; returns ``(input_ids, attention_mask)`` as tensors.

    The same padding the ONNX scorer uses (:func:`commentmod.serving.scorer.pad_windows`).
    """
    ids, mask = pad_windows(windows, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


@torch.inference_mode()
def window_logits(
    model: CommentClassifier,
    windows: Sequence[Sequence[Sequence[int]]],
    batch_size: int,
    device: str | torch.device = "cpu",
    pad_id: int = SpecialIds().pad,
) -> np.ndarray:
    """Logits ``[N, L]``: max over each row's windows (the scorer's rule), computed in length order."""
    was_training = model.training
    model.eval()
    n_labels = model.head.out_features
    flat = [(i, w) for i, ws in enumerate(windows) for w in ws]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
    out = np.full((len(windows), n_labels), -np.inf, dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = [flat[k] for k in order[start : start + batch_size]]
        ids, att = pad_batch([w for _, w in chunk], pad_id)
        logits = model(ids.to(device), att.to(device)).float().cpu().numpy()
        for (row, _), vals in zip(chunk, logits, strict=True):
            np.maximum(out[row], vals, out=out[row])
    model.train(was_training)
    return out


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
    if not items:
        return np.zeros((0, model.head.out_features), dtype=np.float32)
    windows = encode_comments(tokenizer, items, rule, special)
    return window_logits(model, windows, batch_size, device, special.pad)


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
