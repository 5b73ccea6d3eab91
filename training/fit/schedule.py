"""The step plan of a fine-tuning run (steps per epoch, total steps, warmup, when the word embeddings
start training) and the learning-rate factor of each step (linear warmup, then linear decay)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TrainConfig


@dataclass(frozen=True)
class Plan:
    """Step counts derived from the data size and the config."""

    n_train: int
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    n_epochs: int
    warmup_steps: int
    unfreeze_step: int | None  # first optimizer step with trainable word embeddings (None: never)


def make_plan(cfg: TrainConfig, n_train: int, total_override: int | None = None) -> Plan:
    """Steps per epoch, total steps (``epochs``, capped by ``max_steps`` or a time-budget override),
    warmup, and when the word embeddings start training.

    ``unfreeze_embeddings_last_epoch`` unfreezes at the start of the last epoch, but never later than
    half-way, so a run cut short by ``max_steps``/the time budget still trains them for a while.
    """
    batches = math.ceil(n_train / cfg.batch_size)
    steps_per_epoch = math.ceil(batches / cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    if total_override is not None:
        total = min(total, total_override)
    n_epochs = math.ceil(total / steps_per_epoch) if steps_per_epoch else 0
    if not cfg.freeze_word_embeddings:
        unfreeze: int | None = 0
    elif cfg.unfreeze_embeddings_last_epoch:
        unfreeze = min((n_epochs - 1) * steps_per_epoch, total // 2) if n_epochs > 1 else 0
    else:
        unfreeze = None
    return Plan(
        n_train=n_train,
        batches_per_epoch=batches,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        n_epochs=n_epochs,
        warmup_steps=round(cfg.warmup_ratio * total),
        unfreeze_step=unfreeze,
    )


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup over ``warmup`` steps then linear decay; ``step`` is 0-based, never 0 at step 0."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))
