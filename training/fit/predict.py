"""Batch prediction with a PyTorch classifier, using the shared input layout.

Long comments are split into windows by :func:`commentmod.model.encode_comments`;
the logit of a comment is the maximum over its windows, per label, computed by
:func:`commentmod.model.numeric.max_over_windows` (the rule the ONNX scorer applies too).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, SpecialIds, encode_comments
from ...model.numeric import max_over_windows, pad_windows, sigmoid
from .modeling import CommentClassifier

Item = tuple[str, str | None, str | None]


def pad_batch(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest one; returns ``(input_ids, attention_mask)`` as tensors.

    The same padding the ONNX scorer uses (:func:`commentmod.model.numeric.pad_windows`).
    """
    ids, mask = pad_windows(windows, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _batch_logits(
    model: CommentClassifier, device: str | torch.device, pad_id: int, windows: list[Sequence[int]]
) -> np.ndarray:
    ids, att = pad_batch(windows, pad_id)
    return np.asarray(model(ids.to(device), att.to(device)).float().cpu().numpy())


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
    run_batch = partial(_batch_logits, model, device, pad_id)
    out = max_over_windows(windows, run_batch, model.head.out_features, batch_size)
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
