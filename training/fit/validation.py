"""Periodic validation during fine-tuning: the masked loss and per-label PR-AUC of the validation
rows, the model-selection score, and the ``train_log.jsonl`` line each evaluation appends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...model.labels import LABELS
from .batches import masked_bce

LOG_NAME = "train_log.jsonl"


def validation_metrics(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Masked BCE and per-label PR-AUC (average precision); ``mean_pr_auc`` over labels where defined."""
    from sklearn.metrics import average_precision_score

    lt = torch.from_numpy(logits)
    loss = float(masked_bce(lt, torch.from_numpy(labels), torch.from_numpy(mask)))
    pr_auc: dict[str, float | None] = {}
    for j, name in enumerate(LABELS[: logits.shape[1]]):
        known = mask[:, j] > 0
        y = labels[known, j]
        if y.size == 0 or y.min() == y.max():
            pr_auc[name] = None
            continue
        pr_auc[name] = float(average_precision_score(y, logits[known, j]))
    defined = [v for v in pr_auc.values() if v is not None]
    return {
        "loss": loss,
        "pr_auc": pr_auc,
        "mean_pr_auc": float(np.mean(defined)) if defined else None,
    }


def selection_score(metrics: dict[str, Any]) -> float:
    """Higher is better: mean PR-AUC when defined, else minus the loss."""
    if metrics.get("mean_pr_auc") is not None:
        return float(metrics["mean_pr_auc"])
    return -float(metrics["loss"])


def append_log(out_dir: Path, entry: dict[str, Any]) -> None:
    """Append one evaluation to ``OUT/train_log.jsonl`` (kept after the run)."""
    with (out_dir / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
