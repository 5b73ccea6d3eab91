"""Fine-tuning, config -> run directory: :func:`train` and what it does once the loop has ended.

What :func:`train` does:

1. reads the train/validation splits (a built DatasetDict, or one built on the fly), applies the row
   caps of the config, and tokenises every comment once with the shared input layout
   (:mod:`.rows`; training uses the first window of each comment, validation takes the max over all
   windows, as the scorer does);
2. trains ``CommentClassifier`` (:mod:`.loop`) with AdamW (+ SparseAdam for the word embeddings when
   they are trained with sparse gradients, :mod:`.optim`), linear warmup/decay (:mod:`.schedule`),
   gradient accumulation, length-grouped batches with dynamic padding and a masked BCE loss
   (:mod:`.batches`), the schedule fitted to ``max_train_minutes`` (:mod:`.budget`);
3. evaluates on validation every N steps (:mod:`.validation`), keeps the best weights, stops early,
   and checkpoints (:mod:`.checkpoint`, safetensors + JSON only) so that ``resume=True`` continues an
   interrupted run to the same result;
4. fits per-label temperature and thresholds on validation and writes the run directory with
   :meth:`CommentClassifier.save`.

Speed: the forward/backward pass runs under bf16 autocast where the hardware has fast bf16
(``precision``, see :mod:`commentmod.training.fit.hardware`), with one torch thread per free core.
Periodic validation (model selection, early stopping) uses the training precision; the final
validation pass that fits temperatures and thresholds runs in fp32, the precision of the exported
model, so the shipped thresholds match the scores the artifact produces. Both are recorded in the
run info (``extra.precision``, ``extra.eval_precision``) and in every ``train_log.jsonl`` line.

Progress: ``on_step`` (the CLI's progress bar) after every step, or, without it, a log line with
step, loss, s/step, rows/s and ETA every ``PROGRESS_LOG_SECONDS`` (:mod:`.loop`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from ...model.labels import LABELS
from ...model.numeric import sigmoid
from ...model.record import CommentRecord
from . import calibration
from .checkpoint import STATE_DIR, TrainState, load_best
from .config import TrainConfig
from .errors import TrainError
from .hardware import PrecisionChoice, ThreadChoice, pick_device, resolve_precision, use_threads
from .loop import StepCallback, run_loop
from .modeling import WEIGHTS_NAME, CommentClassifier, RunInfo
from .optim import word_embeddings
from .predict import window_logits
from .rows import Encoded, Rows, encode_rows, load_rows
from .schedule import Plan

log = logging.getLogger(__name__)

Fitted = tuple[dict[str, float], dict[str, float], dict[str, Any]]  # thresholds, temperature, report


@dataclass
class TrainResult:
    """A finished run: its directory, final state and plan, and the run info it wrote."""

    out_dir: Path
    state: TrainState
    plan: Plan
    info: RunInfo


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """Refuse a finished run directory, and a non-empty one unless resuming."""
    if not out_dir.exists():
        return
    if (out_dir / WEIGHTS_NAME).exists() and not (out_dir / STATE_DIR).exists():
        raise TrainError(f"{out_dir} already holds a finished run; choose another --out or delete it")
    if not resume and any(out_dir.iterdir()):
        raise TrainError(
            f"{out_dir} is not empty; pass --resume to continue an interrupted run there, "
            "or choose another --out"
        )


def base_tokenizer(base: Path) -> Path:
    """The base model's ``tokenizer.json``; an error saying how to build the base model when missing."""
    tokenizer_json = base / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise TrainError(
            f"base model {base} has no tokenizer.json; build it with `commentmod base-model --out {base}` "
            "or pass --base DIR"
        )
    return tokenizer_json


def train(
    cfg: TrainConfig, out_dir: Path, resume: bool = False, on_step: StepCallback | None = None
) -> TrainResult:
    """Run a whole fine-tuning job into ``out_dir`` (see the module docstring).

    An interrupted run (Ctrl-C, a kill, an exception raised by ``on_step``) leaves its last
    checkpoint in ``out_dir``; ``resume=True`` with the same config continues it.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir, resume)
    threads = use_threads(cfg.num_threads)
    base = Path(cfg.base_model)
    tokenizer_json = base_tokenizer(base)
    rows = load_rows(cfg.data, cfg.seed)
    train_data, val_data = encode_rows(Tokenizer.from_file(str(tokenizer_json)), rows, cfg.rule)

    torch.manual_seed(cfg.seed)
    model = CommentClassifier.from_base(base, dropout=cfg.dropout)
    device = pick_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    log.info("precision %s (requested %s: %s)", precision.used, precision.requested, precision.reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    state, plan = run_loop(model, cfg, train_data, val_data, out_dir, device, resume, on_step, precision.used)

    load_best(out_dir / STATE_DIR, model)
    model.to(device)
    thresholds, temperature, report = calibrate(model, val_data, cfg, device)
    word_embeddings(model).sparse = False
    extra = run_extra(rows, train_data, val_data, state, plan, threads, precision, device, report)
    info = RunInfo(
        context_rule=cfg.rule,
        thresholds=thresholds,
        temperature=temperature,
        data_sources=data_sources(rows.train, rows.build_info),
        # "auto" resolved to what the run used (the request is in extra.precision_requested)
        training_config={**cfg.to_dict(), "precision": precision.used},
        base_model=str(cfg.base_model),
        extra=extra,
    )
    model.cpu().save(out_dir, tokenizer_json, info)
    shutil.rmtree(out_dir / STATE_DIR, ignore_errors=True)
    log.info("saved %s (best step %d, thresholds %s)", out_dir, state.best_step, thresholds)
    return TrainResult(out_dir, state, plan, info)


def calibrate(model: CommentClassifier, val_data: Encoded, cfg: TrainConfig, device: torch.device) -> Fitted:
    """Thresholds, temperatures and their report from validation, scored in fp32 (the exported
    model's precision); 0.5 and T=1 for every label without validation rows."""
    if not len(val_data):
        return {k: calibration.DEFAULT_THRESHOLD for k in LABELS}, {k: 1.0 for k in LABELS}, {}
    logits = window_logits(model, val_data.windows, cfg.eval_batch_size, device)
    return fit_thresholds(logits, val_data.labels, val_data.mask, cfg)


def fit_thresholds(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray, cfg: TrainConfig) -> Fitted:
    """Per label: temperature (kept only if it lowers validation Brier), then the threshold on the
    calibrated probabilities (max F1, or the lowest reaching ``target_precision``)."""
    thresholds: dict[str, float] = {}
    temperature: dict[str, float] = {}
    report: dict[str, Any] = {}
    for j, name in enumerate(LABELS):
        known = mask[:, j] > 0
        y, z = labels[known, j], logits[known, j]
        entry: dict[str, Any] = {"rows": int(known.sum()), "positives": int(y.sum()) if y.size else 0}
        report[name] = entry
        if y.size == 0 or y.min() == y.max():
            log.warning("label %s: validation has no positives or no negatives; threshold 0.5, T=1", name)
            thresholds[name], temperature[name] = calibration.DEFAULT_THRESHOLD, 1.0
            continue
        t = 1.0
        if cfg.calibrate:
            tc = calibration.choose_temperature(y, z)
            t = tc.temperature
            entry["calibration"] = asdict(tc)
        probs = sigmoid(np.asarray(z / t, dtype=np.float64))  # float64, as the threshold search reads them
        choice = _choose_threshold(name, y, probs, cfg)
        thresholds[name], temperature[name] = choice.threshold, t
        entry["threshold"] = asdict(choice)
    return thresholds, temperature, report


def _choose_threshold(
    name: str, y: np.ndarray, probs: np.ndarray, cfg: TrainConfig
) -> calibration.ThresholdChoice:
    if cfg.threshold_mode != "precision":
        return calibration.threshold_max_f1(y, probs)
    choice = calibration.threshold_for_precision(y, probs, cfg.target_precision)
    if not choice.reached_target:
        log.warning(
            "label %s: no threshold reaches precision %.2f on validation; using the max-F1 one",
            name,
            cfg.target_precision,
        )
    return choice


def data_sources(records: Sequence[CommentRecord], build_info: dict[str, Any]) -> list[dict[str, Any]]:
    """Name, licence, rows used (train) and commercial flag per source."""
    from ..data.licences import is_commercial_ok

    known = {str(v.get("name")): dict(v) for v in build_info.get("sources", []) if isinstance(v, dict)}
    counts: dict[str, int] = {}
    licences: dict[str, str] = {}
    for r in records:
        counts[r.source] = counts.get(r.source, 0) + 1
        licences.setdefault(r.source, r.licence)
    out = []
    for name in sorted(counts):
        licence = str(known.get(name, {}).get("licence", licences[name]))
        out.append(
            {
                "name": name,
                "licence": licence,
                "rows": counts[name],
                "commercial_ok": is_commercial_ok(licence),
            }
        )
    return out


def run_extra(
    rows: Rows,
    train_data: Encoded,
    val_data: Encoded,
    state: TrainState,
    plan: Plan,
    threads: ThreadChoice,
    precision: PrecisionChoice,
    device: torch.device,
    report: dict[str, Any],
) -> dict[str, Any]:
    """``RunInfo.extra`` of a finished run: steps, timing, threads, precision, rows, history."""
    return {
        "dataset_dir": str(rows.dataset_dir),
        "steps": state.step,
        "best_step": state.best_step,
        "best_score": state.best_score,
        "stopped_early": state.stopped_early,
        "out_of_time": state.out_of_time,
        "planned_steps": plan.total_steps,
        "unfreeze_step": plan.unfreeze_step,
        "seconds_per_step": state.train_seconds / max(1, state.step),
        "cpu_seconds_per_step": state.cpu_seconds / max(1, state.step),
        "threads": torch.get_num_threads(),
        "thread_choice": threads.to_dict(),
        "precision": precision.used,
        "precision_requested": precision.requested,
        "precision_reason": precision.reason,
        # periodic validation (model selection) vs the pass that fits thresholds and temperature
        "eval_precision": {"periodic": precision.used, "calibration": "fp32"},
        "wall_seconds": state.wall_seconds,
        "train_rows": len(train_data),
        "validation_rows": len(val_data),
        "validation_calibration": report,
        "history": state.history,
        "device": str(device),
    }
