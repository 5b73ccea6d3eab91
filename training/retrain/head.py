"""Refitting the classification head on cached pooled encoder outputs (the encoder stays frozen).

The objective, convex in the head's weights, is minimised to convergence with L-BFGS::

    masked BCE(x W^T + b, y) (row-weighted, unknown labels masked, as in training)
      + anchor / 2 * ||W - W_parent||^2

starting from the parent's head. ``anchor`` pulls the weights toward the parent's, so rows the
replay sample does not cover keep the parent's behaviour; the replay rows mixed into ``x`` keep the
base data's signal in the fit. Deterministic: full batch, no sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fit.batches import masked_bce
from .errors import RetrainError


@dataclass(frozen=True)
class HeadFit:
    """How the head is refitted."""

    anchor: float = 1e-3
    max_iter: int = 200
    new_weight: float = 1.0  # loss weight of a new label's row relative to a replay row

    def __post_init__(self) -> None:
        if self.anchor < 0 or self.max_iter < 1 or self.new_weight <= 0:
            raise RetrainError(
                f"head fit settings {self}: anchor must be >= 0, max_iter >= 1 and new_weight > 0"
            )


@dataclass(frozen=True)
class HeadResult:
    weight: np.ndarray  # [L, H]
    bias: np.ndarray  # [L]
    loss_before: float
    loss_after: float
    iterations: int


def refit_head(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    row_weights: np.ndarray,
    init_weight: np.ndarray,
    init_bias: np.ndarray,
    fit: HeadFit = HeadFit(),
) -> HeadResult:
    """The head minimising the module's objective on features ``x [N, H]``, labels/mask ``[N, L]``."""
    if x.shape[0] != y.shape[0] or y.shape != mask.shape or x.shape[0] != len(row_weights):
        raise RetrainError(
            f"head fit inputs disagree: features {x.shape}, labels {y.shape}, mask {mask.shape}, "
            f"{len(row_weights)} row weights"
        )
    if not mask.any():
        raise RetrainError("no known label among the rows to refit the head on")
    xt, yt, mt = (torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in (x, y, mask))
    wt = torch.from_numpy(np.asarray(row_weights, dtype=np.float32))
    w0 = torch.from_numpy(np.asarray(init_weight, dtype=np.float32))
    weight = w0.clone().requires_grad_(True)
    bias = torch.from_numpy(np.asarray(init_bias, dtype=np.float32)).clone().requires_grad_(True)

    def objective() -> torch.Tensor:
        loss = masked_bce(xt @ weight.T + bias, yt, mt, row_weights=wt)
        return loss + 0.5 * fit.anchor * ((weight - w0) ** 2).sum()

    with torch.no_grad():
        before = float(objective())
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=fit.max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        after = float(objective())
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    return HeadResult(weight.detach().numpy().copy(), bias.detach().numpy().copy(), before, after, iterations)
