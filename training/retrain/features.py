"""The encoder's pooled outputs, computed once, and the classification head applied to them.

``CommentClassifier`` scores a window as ``head(mean_pool(encoder(window)))`` (dropout is off at
inference) and a comment as the max over its windows, per label. With the encoder frozen, the pooled
vector of every window is all a head refit and the gate need: :func:`encode_pooled` runs the encoder
once per window (length-sorted batches, as :func:`commentmod.training.fit.predict.window_logits`,
under ``torch.inference_mode``), :func:`head_logits` applies any head to the cached vectors and takes
the same max over windows.

Precision (``commentmod retrain --precision``, resolved by
:func:`commentmod.training.fit.hardware.resolve_precision`): with ``bf16`` the encoder runs under
bf16 autocast (about 3x faster than fp32 on a CPU with AMX); pooling is done in fp32 on the encoder's
output cast to fp32, as :class:`~commentmod.training.fit.modeling.CommentClassifier` does under
autocast, and the features are float32 numpy in every case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, SpecialIds, encode_comments
from ...model.record import CommentRecord
from ..fit.hardware import autocast
from ..fit.modeling import CommentClassifier, mean_pool
from ..fit.predict import pad_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pooled:
    """Pooled encoder outputs of every window of ``n_rows`` comments, in row order."""

    features: np.ndarray  # [W, H] float32
    owner: np.ndarray  # [W] int64: the row of each window
    n_rows: int

    def first(self) -> np.ndarray:
        """``[N, H]``: each row's first window (what training reads, see ``fit/rows.py``)."""
        _, first = np.unique(self.owner, return_index=True)
        return self.features[first]


def concat(a: Pooled, b: Pooled) -> Pooled:
    """The rows of ``a``, then those of ``b``."""
    if not a.n_rows:
        return b
    if not b.n_rows:
        return a
    return Pooled(
        np.concatenate([a.features, b.features]),
        np.concatenate([a.owner, b.owner + a.n_rows]),
        a.n_rows + b.n_rows,
    )


@torch.inference_mode()
def _pool_batches(
    model: CommentClassifier, windows: list[list[int]], batch_size: int, device: torch.device, precision: str
) -> np.ndarray:
    """``[W, H]`` float32: each window's pooled vector, batches in length order (least padding)."""
    hidden_size = int(model.head.in_features)
    out = np.zeros((len(windows), hidden_size), dtype=np.float32)
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, att = pad_batch([windows[k] for k in idx], SpecialIds().pad)
        ids, att = ids.to(device), att.to(device)
        with autocast(precision, device):
            hidden = model.encoder(input_ids=ids, attention_mask=att).last_hidden_state
        out[idx] = mean_pool(hidden.float(), att).cpu().numpy()
    return out


def encode_pooled(
    model: CommentClassifier,
    tokenizer: Tokenizer,
    rule: ContextRule,
    records: Sequence[CommentRecord],
    *,
    first_only: bool = False,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> Pooled:
    """Pooled vectors (float32) of every window of ``records`` (only the first with ``first_only``);
    ``precision``: ``bf16`` runs the encoder under bf16 autocast, ``fp32`` does not (resolve ``auto``
    first: :func:`commentmod.training.fit.hardware.resolve_precision`)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision is {precision!r}; resolve it to fp32 or bf16 first (resolve_precision)")
    start = time.perf_counter()
    items = [(r.text, r.article_title, r.article_text) for r in records]
    per_row = encode_comments(tokenizer, items, rule) if items else []
    if first_only:
        per_row = [w[:1] for w in per_row]
    flat = [w for windows in per_row for w in windows]
    owner = np.asarray([i for i, windows in enumerate(per_row) for _ in windows], dtype=np.int64)
    was_training = model.training
    model.eval()
    dev = torch.device(device)
    model.to(dev)
    features = np.zeros((0, 0), np.float32)
    if flat:
        features = _pool_batches(model, flat, batch_size, dev, precision)
    model.train(was_training)
    seconds = time.perf_counter() - start
    log.info(
        "encoded %d rows (%d windows) in %.1fs (%.1f rows/s, %s)",
        len(records),
        len(flat),
        seconds,
        len(records) / max(seconds, 1e-9),
        precision,
    )
    return Pooled(features, owner, len(records))


def head_logits(weight: np.ndarray, bias: np.ndarray, pooled: Pooled) -> np.ndarray:
    """``[N, L]`` logits of a linear head on the pooled windows, max over each row's windows."""
    weight = np.asarray(weight, dtype=np.float32)
    out = np.full((pooled.n_rows, weight.shape[0]), -np.inf, dtype=np.float32)
    if len(pooled.owner):
        per_window = pooled.features @ weight.T + np.asarray(bias, dtype=np.float32)
        np.maximum.at(out, pooled.owner, per_window)
    return out


def model_head(model: CommentClassifier) -> tuple[np.ndarray, np.ndarray]:
    """``(weight [L, H], bias [L])`` of the model's head, as numpy copies."""
    return (
        model.head.weight.detach().cpu().numpy().copy(),
        model.head.bias.detach().cpu().numpy().copy(),
    )
