"""``commentmod retrain --mode full``: continue fine-tuning the parent on the new labels + replay.

The parent's encoder is saved as a base checkpoint and ``commentmod train``'s loop
(:func:`commentmod.training.fit.train.train`) fine-tunes it, with a fresh head, on a data build made
of the replay sample and the new labels' train part (validation: the base validation sample + the
new labels' validation part), with the parent's training config (its schedule, its time budget
``max_train_minutes``, its context rule; the precision is the retrain's ``--precision``); the new
labels' rows get the loss weight ``--new-weight`` (their source's ``weight``). The replay rows keep
the base data in every batch (anti-forgetting). Then, as in fast mode, the n-gram model and the
stacker are refitted (:mod:`.fast`), and the gate compares the child (its own encoder) with the
parent (the parent's encoder) on both test sets, both encoded in the retrain's precision.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ..data.build_io import BUILD_INFO_NAME, load_build_info, to_dataset_dict
from ..fit.config import TrainConfig, with_changes
from ..fit.modeling import CommentClassifier
from ..fit.train import train
from ..labels.store import SOURCE
from .errors import RetrainError
from .fast import Child, Timer, encode_parts, fit_ngram, fit_stack, gate_sets, ngram_extra
from .options import RetrainOptions
from .parent import ParentRun, RetrainData
from .served import served_from_run

log = logging.getLogger(__name__)

CONTEXT_KEYS = ("max_length", "min_context_tokens", "max_context_tokens", "stride", "article_text_chars")


def encoder_checkpoint(parent: ParentRun, out: Path) -> Path:
    """The parent's fine-tuned encoder as a base checkpoint (what ``CommentClassifier.from_base`` reads)."""
    out.mkdir(parents=True, exist_ok=True)
    parent.model.encoder.save_pretrained(str(out), safe_serialization=True)
    shutil.copyfile(parent.run_dir / "tokenizer.json", out / "tokenizer.json")
    return out


def combined_build(data: RetrainData, new_weight: float, out: Path) -> Path:
    """A data build of the replay sample + the new labels (train) and both validation parts."""
    splits = {"train": data.train, "validation": data.validation, "test": data.base.test}
    to_dataset_dict(splits).save_to_disk(str(out))
    sources = [s for s in load_build_info(data.base.data_dir).get("sources", []) if isinstance(s, dict)]
    licence = data.new.train[0].licence if data.new.train else "proprietary"
    sources.append({"name": SOURCE, "licence": licence, "weight": new_weight, "status": "used"})
    info = {"sources": sources, "retrain": {"base": str(data.base.data_dir), "labels": str(data.store)}}
    (out / BUILD_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def full_config(parent: ParentRun, encoder: Path, data_dir: Path, options: RetrainOptions) -> TrainConfig:
    """The parent's training config on the combined build, starting from the parent's encoder."""
    rule = parent.info.context_rule
    changes: dict[str, Any] = {
        "base_model": str(encoder),
        "data": {"dataset_dir": str(data_dir)},
        "context": {k: getattr(rule, k) for k in CONTEXT_KEYS},
        "device": options.device,
        "precision": options.precision,
        "num_threads": options.threads,
        "seed": parent.train_config().seed + 1,
    }
    cfg = with_changes(parent.train_config(), origin="retrain --mode full", **changes)
    if cfg.rule != rule:
        raise RetrainError(f"the parent's context rule {rule} cannot be expressed as a training config")
    return cfg


def fit_full(
    parent: ParentRun, data: RetrainData, options: RetrainOptions, staging: Path, timer: Timer
) -> Child:
    """Fine-tune into ``staging``, then refit the n-gram model and the stacker on the child's scores."""
    work = staging.parent / f"{staging.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        cfg = full_config(
            parent,
            encoder_checkpoint(parent, work / "encoder"),
            combined_build(data, options.head.new_weight, work / "data"),
            options,
        )
        timer.lap("prepare")
        result = train(cfg, staging)
        timer.lap("train")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    model, info = CommentClassifier.load(staging)
    training_config = {**info.training_config, "base_model": f"{parent.run_dir} (encoder)"}
    info.training_config = {**training_config, "data": {"dataset_dir": str(data.base.data_dir)}}
    info.save(staging)
    child = served_from_run(staging, model, info)
    val = encode_parts(model, parent, (data.base.validation, data.new.validation), options, first=False)
    tests = gate_sets(model, parent, data, options)
    parent_tests = gate_sets(parent.model, parent, data, options)
    timer.lap("encode")
    extra = ngram_extra(parent, data)
    child.ngram = fit_ngram(parent, data, staging, extra)
    fit_stack(parent, data, child, val, staging, extra)
    timer.lap("stacker")
    report = {
        "train": {
            "steps": result.state.step,
            "best_step": result.state.best_step,
            "seconds": timer.seconds.get("train"),
        }
    }
    return Child(child, report, tests, parent_tests)
