"""Batching and the loss of fine-tuning: length-grouped batches, dynamic padding of a batch's first
windows, per-label weight tensors, and the masked BCE (a label the source says nothing about is
masked, never read as 0)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...model.labels import LABELS
from .predict import pad_batch
from .rows import Encoded


def length_grouped_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, seed: int, epoch: int, group_factor: int = 50
) -> list[list[int]]:
    """Every index exactly once, in batches of similar length; deterministic in ``(seed, epoch)``.

    Shuffle, cut into chunks of ``batch_size * group_factor``, sort each chunk by
    length, cut into batches, then shuffle the batch order.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch, 7])
    perm = rng.permutation(len(lengths))
    chunk = batch_size * max(1, group_factor)
    batches: list[list[int]] = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size].tolist() for i in range(0, len(part), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def masked_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    label_weights: torch.Tensor | None = None,
    row_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean BCE over the known labels only; masked entries contribute nothing (zero gradient)."""
    mask = mask.to(logits.dtype)
    targets = torch.where(mask > 0, targets.to(logits.dtype), torch.zeros_like(logits))
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none", pos_weight=pos_weight)
    weights = mask
    if label_weights is not None:
        weights = weights * label_weights
    if row_weights is not None:
        weights = weights * row_weights.unsqueeze(-1)
    return (loss * weights).sum() / mask.sum().clamp(min=1.0)


def label_tensor(values: dict[str, float], default: float, device: torch.device) -> torch.Tensor | None:
    """A per-label config mapping (``pos_weight``, ``label_weights``) as a ``[len(LABELS)]`` tensor."""
    if not values:
        return None
    return torch.tensor([float(values.get(k, default)) for k in LABELS], dtype=torch.float32, device=device)


def collate(
    data: Encoded, idx: Sequence[int], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dynamic padding of the first window of each row: ids, attention mask, labels, label mask, weights."""
    ids, att = pad_batch([data.windows[i][0] for i in idx], pad_id)
    sel = np.asarray(idx)
    return (
        ids,
        att,
        torch.from_numpy(data.labels[sel]),
        torch.from_numpy(data.mask[sel]),
        torch.from_numpy(data.weights[sel]),
    )
