"""Numerics shared by training and serving (numpy only): the one sigmoid and the window-max rule.

A comment longer than one model window is split into several windows
(:func:`commentmod.model.inputs.encode_comments`); its logit per label is the **max over its
windows**. Both the ONNX scorer and the PyTorch evaluation compute it here, through
:func:`max_over_windows`, so the two agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

Window = Sequence[int]


def sigmoid(x: np.ndarray | Sequence[float] | float) -> np.ndarray:
    """Logistic function, overflow-free for any finite or infinite input.

    Computed in float64; a float32 input gives a float32 result, anything else float64.
    """
    arr = np.asarray(x)
    wide = arr.astype(np.float64)
    e = np.exp(-np.abs(wide))
    out = np.where(wide >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return np.asarray(out, dtype=np.float32 if arr.dtype == np.float32 else np.float64)


def logit(p: np.ndarray | Sequence[float] | float, eps: float = 1e-6) -> np.ndarray:
    """Inverse of :func:`sigmoid` (float64), probabilities clipped to ``[eps, 1 - eps]``."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.asarray(np.log(q) - np.log1p(-q))


def pad_windows(windows: Sequence[Window], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists to the longest; returns int64 ``(input_ids, attention_mask)``."""
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for i, w in enumerate(windows):
        ids[i, : len(w)] = w
        mask[i, : len(w)] = 1
    return ids, mask


def length_batches(sorted_lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> Iterator[range]:
    """Consecutive index ranges over ascending lengths: <= ``batch_size`` rows and, past the first
    row, <= ``max_batch_tokens`` padded tokens (rows x longest length)."""
    start, n = 0, len(sorted_lengths)
    while start < n:
        end = start + 1
        while (
            end < n
            and end - start < max(1, batch_size)
            and (end - start + 1) * sorted_lengths[end] <= max_batch_tokens
        ):
            end += 1
        yield range(start, end)
        start = end


def max_over_windows(
    per_item: Sequence[Sequence[Window]],
    run_batch: Callable[[list[Window]], np.ndarray],
    n_labels: int,
    batch_size: int,
    max_batch_tokens: int | None = None,
) -> np.ndarray:
    """Logits ``[n_items, n_labels]``: every window run once, the max over an item's windows.

    Windows are sorted by length and batched (at most ``batch_size`` windows and, when
    ``max_batch_tokens`` is set, about that many padded tokens per call) so padding stays small;
    ``run_batch`` maps a list of windows to their logits ``[len(batch), n_labels]``. The result is
    in item order; an item with no windows gets ``-inf``.
    """
    out = np.full((len(per_item), n_labels), -np.inf, dtype=np.float32)
    flat = [(i, w) for i, windows in enumerate(per_item) for w in windows]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
    lengths = [len(flat[k][1]) for k in order]
    widest = max(lengths, default=1)
    budget = max_batch_tokens if max_batch_tokens is not None else max(1, batch_size) * widest
    for batch in length_batches(lengths, batch_size, budget):
        chunk = [flat[order[k]] for k in batch]
        logits = np.asarray(run_batch([w for _, w in chunk]), dtype=np.float32)
        for (item_idx, _), row in zip(chunk, logits, strict=True):
            np.maximum(out[item_idx], row, out=out[item_idx])
    return out
