"""Fitting a run's schedule to ``max_train_minutes`` (pure functions over step counts and seconds).

The schedule is fitted once, after ``BUDGET_PROBE_STEPS`` steps AND a tenth of the budget (a speed
measured over a few steps on a shared machine is noise), but not before ``BUDGET_MIN_STEPS`` steps;
runs shorter than that are not fitted (:func:`out_of_time` still stops them). The first step is left
out of the measured speed (allocator warm-up is not representative), and ``BUDGET_RESERVE`` of the
budget is kept for evaluations and checkpoints.
"""

from __future__ import annotations

from .schedule import Plan

BUDGET_PROBE_STEPS = 20
BUDGET_MIN_STEPS = 5
BUDGET_PROBE_SHARE = 0.1
BUDGET_RESERVE = 0.1


def budget_seconds(max_train_minutes: float | None) -> float:
    """The wall-clock budget in seconds; 0.0 when there is none."""
    return 60 * (max_train_minutes or 0.0)


def probe_due(step: int, wall_s: float, budget_s: float, already_fitted: bool) -> bool:
    """True when the schedule should be fitted now: a budget, not fitted yet, and enough measured."""
    return bool(
        budget_s
        and not already_fitted
        and step >= BUDGET_MIN_STEPS
        and step >= BUDGET_PROBE_STEPS
        and wall_s >= BUDGET_PROBE_SHARE * budget_s
    )


def steady_step_seconds(wall_s: float, first_step_s: float, step: int) -> float:
    """Wall seconds per step after the first one (``step`` >= 2)."""
    return (wall_s - first_step_s) / (step - 1)


def fit_to_budget(
    plan: Plan,
    step: int,
    elapsed_s: float,
    per_step_s: float,
    budget_s: float,
    reserve: float = BUDGET_RESERVE,
) -> int | None:
    """Total steps that fit a wall-clock budget at ``per_step_s`` (None: the plan fits).

    ``reserve`` is the share of the budget kept for evaluations and checkpoints.
    """
    if step <= 0 or per_step_s <= 0:
        return None
    fit = step + int((budget_s * (1.0 - reserve) - elapsed_s) / per_step_s)
    return max(step + 1, fit) if fit < plan.total_steps else None


def out_of_time(wall_s: float, max_train_minutes: float | None) -> bool:
    """True once the run has used its ``max_train_minutes`` (never without a budget)."""
    return max_train_minutes is not None and wall_s >= 60 * max_train_minutes
