"""Precision-recall curve PNGs for ``EVALUATION.md``: one per label, a curve per model and per language.

matplotlib is imported inside :func:`plot_pr_curves`: it is slow to import, only plotting needs it,
and its non-interactive ``Agg`` backend must be chosen before ``pyplot`` is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from .evaluate import EvalData
from .metrics import clean, pr_auc, two_classes, variant_masks


def pr_curve_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(recall, precision)`` of the PR curve, or None with one class only."""
    y, p = clean(y, p)
    if not two_classes(y):
        return None
    precision, recall, _ = precision_recall_curve(y, p)
    return recall, precision


def _draw_label(ax: Any, data: EvalData, scores: Mapping[str, np.ndarray], rows: np.ndarray, j: int) -> bool:
    """Curves of label column ``j``: every model on ``rows``, then the first model per language.

    Returns whether any curve was drawn (none when every slice holds one class only).
    """
    drawn = False
    for model_name, p in scores.items():
        pts = pr_curve_points(data.y[rows, j], p[rows, j])
        if pts is not None:
            ap = pr_auc(data.y[rows, j], p[rows, j])
            ax.plot(pts[0], pts[1], lw=2, label=f"{model_name} (all, AP={ap:.3f})")
            drawn = True
    first = next(iter(scores))
    for lang in sorted(set(data.langs[rows])):
        sel = rows & (data.langs == lang)
        pts = pr_curve_points(data.y[sel, j], scores[first][sel, j])
        if pts is not None:
            ap = pr_auc(data.y[sel, j], scores[first][sel, j])
            ax.plot(pts[0], pts[1], lw=1, ls=":", label=f"{first} {lang} (AP={ap:.3f})")
            drawn = True
    return drawn


def plot_pr_curves(
    data: EvalData,
    scores: Mapping[str, np.ndarray],
    out_dir: Path,
    variant: str = "with_synthetic",
) -> dict[str, str]:
    """One PNG per label (``pr_<label>.png``): a PR curve per model, plus the first model per language.

    Returns ``{label: file name}`` (names relative to ``out_dir``).
    """
    import matplotlib  # see the module docstring: slow, and the backend must be set first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = variant_masks(data.synthetic)[variant]
    files = {}
    for j, name in enumerate(data.labels):
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
        drawn = _draw_label(ax, data, scores, rows, j)
        ax.set(
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
            title=f"{name}: precision-recall",
        )
        if drawn:
            ax.legend(fontsize=7, loc="lower left")
        else:
            ax.text(0.5, 0.5, "undefined: one class only", ha="center", va="center")
        path = out_dir / f"pr_{name}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        files[name] = path.name
    return files
