"""The step loop of fine-tuning, as small functions over one explicit :class:`LoopRun`.

Each optimizer step accumulates the gradients of ``grad_accum`` length-grouped micro-batches under
the run's precision (bf16 autocast or fp32; the loss and the weights stay fp32), sets the scheduled
learning rate, clips and steps AdamW (+ SparseAdam for sparse word embeddings). After the step: the
timers, progress (``on_step`` or a log line every ``PROGRESS_LOG_SECONDS``), fitting the schedule to
``max_train_minutes`` once (:mod:`.budget`), the time limit, periodic validation with early stopping
and best weights, and a checkpoint every ``checkpoint_every_steps``. A run interrupted in any way
(Ctrl-C, a kill, an exception from ``on_step``) resumes from its last checkpoint to the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...model.inputs import SpecialIds
from .batches import collate, label_tensor, length_grouped_batches, masked_bce
from .budget import budget_seconds, fit_to_budget, out_of_time, probe_due, steady_step_seconds
from .checkpoint import STATE_DIR, TrainState, has_checkpoint, load_checkpoint, save_best, save_checkpoint
from .config import TrainConfig
from .hardware import autocast
from .modeling import CommentClassifier
from .optim import build_optimizers, set_lr, word_embeddings
from .predict import window_logits
from .rows import Encoded
from .schedule import Plan, lr_factor, make_plan
from .validation import append_log, selection_score, validation_metrics

log = logging.getLogger(__name__)

# without an on_step callback (no terminal), a progress log line at most this often
PROGRESS_LOG_SECONDS = 30.0

StepCallback = Callable[[int, int, float], None]


@dataclass
class Clock:
    """This process's timers and throughput (a resumed run starts them afresh)."""

    t_last: float  # end of the last step's bookkeeping: where the next step's training time starts
    c_last: float  # process CPU time at that point
    t_wall: float  # end of the last step
    t_log: float  # last progress log line
    rows: int = 0
    train_s: float = 0.0

    @classmethod
    def start(cls) -> Clock:
        now = time.perf_counter()
        return cls(t_last=now, c_last=time.process_time(), t_wall=now, t_log=now)

    def rows_per_second(self) -> float:
        return self.rows / max(self.train_s, 1e-9)


@dataclass
class LoopRun:
    """Everything the loop works on: model, data, optimizers, plan, the resumable state, timers."""

    model: CommentClassifier
    cfg: TrainConfig
    train_data: Encoded
    val_data: Encoded
    out_dir: Path
    device: torch.device
    precision: str
    adamw: torch.optim.AdamW
    sparse_opt: torch.optim.SparseAdam | None
    emb: nn.Embedding
    plan: Plan
    state: TrainState
    pos_weight: torch.Tensor | None
    label_weights: torch.Tensor | None
    on_step: StepCallback | None
    config_dict: dict[str, Any] = field(default_factory=dict)
    pad_id: int = SpecialIds().pad
    clock: Clock = field(default_factory=Clock.start)

    @property
    def state_dir(self) -> Path:
        return self.out_dir / STATE_DIR


def run_loop(
    model: CommentClassifier,
    cfg: TrainConfig,
    train_data: Encoded,
    val_data: Encoded,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    on_step: StepCallback | None = None,
    precision: str = "fp32",
) -> tuple[TrainState, Plan]:
    """Train ``model`` in place until the plan, early stopping or the time budget ends the run.

    ``precision`` is the resolved one (fp32 or bf16, see
    :func:`commentmod.training.fit.hardware.resolve_precision`). ``resume`` continues from the
    checkpoint in ``out_dir`` when there is one. Returns the final state and plan.
    """
    run = start_run(model, cfg, train_data, val_data, out_dir, device, resume, on_step, precision)
    state = run.state
    stop = state.stopped_early or state.out_of_time or state.step >= run.plan.total_steps
    while not stop and state.epoch < run.plan.n_epochs:
        stop = run_epoch(run)
    return state, run.plan


def resume_state(
    state_dir: Path,
    model: nn.Module,
    adamw: torch.optim.Optimizer,
    sparse_opt: torch.optim.Optimizer | None,
    config: dict[str, Any],
    resume: bool,
) -> TrainState:
    """The checkpointed state (weights and optimizers restored in place) when resuming, else a fresh one."""
    if resume and has_checkpoint(state_dir):
        state = load_checkpoint(state_dir, model, adamw, sparse_opt, config)
        log.info("resumed at step %d (epoch %d, batch %d)", state.step, state.epoch, state.batch_pos)
        return state
    if resume:
        log.warning("no checkpoint in %s; starting from scratch", state_dir)
    return TrainState()


def start_run(
    model: CommentClassifier,
    cfg: TrainConfig,
    train_data: Encoded,
    val_data: Encoded,
    out_dir: Path,
    device: torch.device,
    resume: bool,
    on_step: StepCallback | None,
    precision: str,
) -> LoopRun:
    """Optimizers, the plan and the (possibly resumed) state; the model on ``device`` in train mode."""
    plan = make_plan(cfg, len(train_data))
    config_dict = cfg.to_dict()
    state_dir = out_dir / STATE_DIR
    adamw, sparse_opt = build_optimizers(model, cfg)
    state = resume_state(state_dir, model, adamw, sparse_opt, config_dict, resume)
    state_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "%d train rows, %d validation rows, %d steps (%d per epoch, %d epochs), warmup %d, device %s",
        plan.n_train,
        len(val_data),
        plan.total_steps,
        plan.steps_per_epoch,
        plan.n_epochs,
        plan.warmup_steps,
        device,
    )
    model.to(device)
    model.train()
    if state.planned_total is not None:  # the schedule was fitted to the time budget before the resume
        plan = make_plan(cfg, len(train_data), state.planned_total)
    return LoopRun(
        model=model,
        cfg=cfg,
        train_data=train_data,
        val_data=val_data,
        out_dir=out_dir,
        device=device,
        precision=precision,
        adamw=adamw,
        sparse_opt=sparse_opt,
        emb=word_embeddings(model),
        plan=plan,
        state=state,
        pos_weight=label_tensor(cfg.pos_weight, 1.0, device),
        label_weights=label_tensor(cfg.label_weights, 1.0, device),
        on_step=on_step,
        config_dict=config_dict,
    )


def run_epoch(run: LoopRun) -> bool:
    """Steps until the end of the current epoch or of the run; True when the run is over."""
    state, cfg = run.state, run.cfg
    batches = length_grouped_batches(
        run.train_data.lengths, cfg.batch_size, cfg.seed, state.epoch, cfg.length_group_factor
    )
    while state.batch_pos < len(batches):
        group = batches[state.batch_pos : state.batch_pos + cfg.grad_accum]
        loss = train_step(run, group)
        state.batch_pos += len(group)
        state.step += 1
        now = tick(run, sum(len(b) for b in group))
        report_progress(run, loss, now)
        if state.step == 1:
            state.first_step_seconds = state.wall_seconds  # allocator warm-up: not representative
        fit_schedule_to_budget(run)
        end_of_epoch = state.batch_pos >= len(batches)
        stop = finish_step(run, end_of_epoch)
        if stop or end_of_epoch:
            return stop
    return False


def accumulate_gradients(run: LoopRun, group: Sequence[Sequence[int]]) -> float:
    """Forward/backward of each micro-batch of ``group``, gradients weighted by rows; the mean loss."""
    n_rows = sum(len(b) for b in group)
    device = run.device
    loss_sum = 0.0
    for idx in group:
        ids, att, y, m, w = collate(run.train_data, idx, run.pad_id)
        with autocast(run.precision, device):
            logits = run.model(ids.to(device), att.to(device))
        # the loss in fp32 (the logits already are: the model pools and classifies in fp32)
        loss = masked_bce(
            logits.float(), y.to(device), m.to(device), run.pos_weight, run.label_weights, w.to(device)
        )
        (loss * (len(idx) / n_rows)).backward()
        loss_sum += float(loss.detach()) * len(idx) / n_rows
    return loss_sum


def train_step(run: LoopRun, group: Sequence[Sequence[int]]) -> float:
    """One optimizer step over ``group`` (``grad_accum`` micro-batches); returns its mean loss."""
    plan, step = run.plan, run.state.step
    run.emb.weight.requires_grad_(plan.unfreeze_step is not None and step >= plan.unfreeze_step)
    loss = accumulate_gradients(run, group)
    set_lr([run.adamw, run.sparse_opt], lr_factor(step, plan.total_steps, plan.warmup_steps))
    if run.cfg.max_grad_norm is not None:
        dense = [p for p in run.model.parameters() if p.grad is not None and not p.grad.is_sparse]
        torch.nn.utils.clip_grad_norm_(dense, run.cfg.max_grad_norm)
    run.adamw.step()
    if run.sparse_opt is not None and run.emb.weight.grad is not None:
        run.sparse_opt.step()
    run.adamw.zero_grad(set_to_none=True)
    if run.sparse_opt is not None:
        run.sparse_opt.zero_grad(set_to_none=True)
    return loss


def tick(run: LoopRun, n_rows: int) -> float:
    """Add the step's training, CPU and wall time to the state and the clock; returns now."""
    clock, state = run.clock, run.state
    now = time.perf_counter()
    clock.rows += n_rows
    clock.train_s += now - clock.t_last
    state.train_seconds += now - clock.t_last
    state.cpu_seconds += time.process_time() - clock.c_last
    state.wall_seconds += now - clock.t_wall
    clock.t_wall = now
    return now


def progress_line(step: int, total: int, loss: float, wall_s: float, rows_per_s: float) -> str:
    """One progress log line: step, loss, wall s/step (evaluations included), rows/s and ETA."""
    sps = wall_s / max(1, step)
    eta_min = sps * max(0, total - step) / 60
    return (
        f"step {step}/{total} loss {loss:.4f} ({sps:.2f} s/step, {rows_per_s:.1f} rows/s, "
        f"ETA {eta_min:.1f} min)"
    )


def report_progress(run: LoopRun, loss: float, now: float) -> None:
    """``on_step`` after every step; without it a log line every ``PROGRESS_LOG_SECONDS`` and at the end."""
    state, total = run.state, run.plan.total_steps
    if run.on_step is not None:
        run.on_step(state.step, total, loss)
    elif now - run.clock.t_log >= PROGRESS_LOG_SECONDS or state.step >= total:
        run.clock.t_log = now
        rows_per_s = run.clock.rows_per_second()
        log.info(progress_line(state.step, total, loss, state.wall_seconds, rows_per_s))


def fit_schedule_to_budget(run: LoopRun) -> None:
    """Once, when :func:`.budget.probe_due`: shorten the plan to the steps that fit ``max_train_minutes``."""
    state, cfg = run.state, run.cfg
    budget_s = budget_seconds(cfg.max_train_minutes)
    if not probe_due(state.step, state.wall_seconds, budget_s, state.planned_total is not None):
        return
    per_step = steady_step_seconds(state.wall_seconds, state.first_step_seconds, state.step)
    fit = fit_to_budget(run.plan, state.step, state.wall_seconds, per_step, budget_s)
    state.planned_total = fit or run.plan.total_steps
    if fit is None:
        return
    log.warning(
        "at %.2f s/step only %d of %d planned steps fit max_train_minutes=%s; "
        "shortening the schedule to %d steps",
        per_step,
        fit,
        run.plan.total_steps,
        cfg.max_train_minutes,
        fit,
    )
    run.plan = make_plan(cfg, len(run.train_data), fit)


def finish_step(run: LoopRun, end_of_epoch: bool) -> bool:
    """Time limit, evaluation, epoch change and checkpoint after a step; True when the run is over."""
    state, cfg = run.state, run.cfg
    last_step = state.step >= run.plan.total_steps
    if out_of_time(state.wall_seconds, cfg.max_train_minutes):
        log.warning(
            "max_train_minutes=%s reached at step %d of %d; stopping",
            cfg.max_train_minutes,
            state.step,
            run.plan.total_steps,
        )
        state.out_of_time = last_step = True
    due = state.step % cfg.eval_every_steps == 0 if cfg.eval_every_steps else end_of_epoch
    if (due or last_step) and evaluate(run):
        state.stopped_early = True
        log.info("early stopping at step %d (best step %d)", state.step, state.best_step)
    if end_of_epoch:
        state.epoch, state.batch_pos = state.epoch + 1, 0
    stop = state.stopped_early or last_step
    if cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0 and not stop:
        save_checkpoint(run.state_dir, run.model, run.adamw, run.sparse_opt, state, run.config_dict)
    run.clock.t_last, run.clock.c_last = time.perf_counter(), time.process_time()
    return stop


def evaluate(run: LoopRun) -> bool:
    """Evaluate on validation in the run's precision, keep the best weights, log the evaluation;
    True when early stopping says stop."""
    if len(run.val_data) == 0:
        return False
    state, val = run.state, run.val_data
    with autocast(run.precision, run.device):
        logits = window_logits(run.model, val.windows, run.cfg.eval_batch_size, run.device, run.pad_id)
    metrics = validation_metrics(logits, val.labels, val.mask)
    score = selection_score(metrics)
    state.last_eval_step = state.step
    improved = state.best_score is None or score > state.best_score
    if improved:
        state.best_score, state.best_step, state.bad_evals = score, state.step, 0
        save_best(run.state_dir, run.model)
    else:
        state.bad_evals += 1
    entry = {
        "step": state.step,
        "epoch": state.epoch,
        **metrics,
        "best": improved,
        "precision": run.precision,
    }
    state.history.append(entry)
    append_log(run.out_dir, entry)
    log.info(
        "step %d: val loss %.4f, PR-AUC %s%s",
        state.step,
        metrics["loss"],
        {k: (None if v is None else round(v, 4)) for k, v in metrics["pr_auc"].items()},
        " (best)" if improved else "",
    )
    patience = run.cfg.early_stopping_patience
    return patience is not None and state.bad_evals >= patience
