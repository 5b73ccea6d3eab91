"""``commentmod retrain --mode fast``: refit what is cheap, with the parent's encoder frozen.

On the new labels' train part mixed with a replay sample of the base train split:

1. the encoder's pooled outputs of every row are computed once (:mod:`.features`);
2. the classification head is refitted on them (:mod:`.head`), then the transformer's temperatures
   and thresholds on the validation rows (base sample + the new labels' validation part), by the
   parent's threshold rule (:func:`commentmod.training.fit.train.fit_thresholds`);
3. the character n-gram model is retrained on every base train row + the new ones (no encoding
   cost; :func:`commentmod.training.fit.baseline_onnx.train_and_save`);
4. the stacker is refitted on the validation rows (:mod:`commentmod.training.fit.stacker`).

A label the new labels cannot teach (too few positives or negatives, :mod:`.keep`) keeps the
parent's head row, temperature, thresholds and stacker entry.

The result is a run directory (written into ``staging``) that ``commentmod export`` accepts, and
the child's :class:`~.served.Served` parts for the gate.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...model.record import CommentRecord
from ..fit.baseline import BaselineConfig
from ..fit.baseline_onnx import META_NAME, OnnxBaseline, train_and_save
from ..fit.hybrid_fit import DEFAULT_BASE_RATE, NGRAM_DIR, current_provenance, load_hybrid, save_hybrid
from ..fit.modeling import CommentClassifier, RunInfo
from ..fit.rows import label_arrays
from ..fit.stacker import fit_stacker, stacker_thresholds
from ..fit.train import fit_thresholds
from ..report.evaluate import EvalData
from .features import Pooled, concat, encode_pooled
from .head import HeadResult, refit_head
from .keep import keep_head_rows, keep_stack, keep_values, kept_labels, label_support, mask_labels
from .options import RetrainOptions
from .parent import ParentRun, RetrainData
from .served import Served

log = logging.getLogger(__name__)


class Timer:
    """Seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._start, 3)
        self._start = now


@dataclass
class Child:
    """A fitted child: its served parts, what the fit did, and the pooled test rows of both models
    (``base_test``, ``new_test``; the same arrays in fast mode, where the encoder is shared)."""

    served: Served
    report: dict[str, Any]
    tests: dict[str, Pooled]
    parent_tests: dict[str, Pooled]


def encode(
    model: CommentClassifier,
    parent: ParentRun,
    records: list[CommentRecord],
    options: RetrainOptions,
    first: bool,
) -> Pooled:
    """Pooled outputs of ``model``'s encoder for ``records`` (from the feature cache when there), in
    ``options.precision`` (resolved: fp32 or bf16), the same for every row set of one retrain, so
    the gate compares parent and child on features computed one way."""

    def compute() -> Pooled:
        return encode_pooled(
            model,
            parent.tokenizer,
            parent.info.context_rule,
            records,
            first_only=first,
            batch_size=options.batch_size,
            device=options.device,
            precision=options.precision,
        )

    rule, precision = parent.info.context_rule, options.precision
    return parent.cache.pooled(model.encoder, rule, first, precision, records, compute)


def encode_parts(
    model: CommentClassifier, parent: ParentRun, parts: tuple[list[CommentRecord], list[CommentRecord]],
    options: RetrainOptions, first: bool,
) -> Pooled:  # fmt: skip
    """The base sample's rows, then the new labels' (encoded apart: the base part is cached)."""
    return concat(*(encode(model, parent, records, options, first) for records in parts))


def gate_sets(
    model: CommentClassifier, parent: ParentRun, data: RetrainData, options: RetrainOptions
) -> dict[str, Pooled]:
    """The pooled rows of the gate's two test sets."""
    return {
        "base_test": encode(model, parent, data.base.test, options, first=False),
        "new_test": encode(model, parent, data.new.test, options, first=False),
    }


def fit_head(parent: ParentRun, data: RetrainData, train: Pooled, options: RetrainOptions) -> HeadResult:
    """The head refitted on the replay + new train rows (new rows weighted ``options.head.new_weight``)."""
    y, mask = label_arrays(data.train)
    weights = np.ones(len(data.train), dtype=np.float32)
    weights[len(data.base.train) :] = options.head.new_weight
    result = refit_head(
        train.first(), y, mask, weights, parent.served.weight, parent.served.bias, options.head
    )
    log.info(
        "head refitted on %d rows: loss %.4f -> %.4f (%d L-BFGS iterations)",
        len(data.train),
        result.loss_before,
        result.loss_after,
        result.iterations,
    )
    return result


def fit_ngram(
    parent: ParentRun, data: RetrainData, staging: Path, extra: dict[str, Any], kept: tuple[str, ...] = ()
) -> OnnxBaseline:
    """The n-gram model retrained on every base train row + the new train rows (thresholds on
    validation), in ``staging/baseline``; the parent's n-gram settings when it has an n-gram model.
    The labels ``kept`` from the parent are masked in the new rows (their heads see the base rows only).
    Every base row, not the replay sample: the n-gram model needs no encoding, and the parent's was
    trained on all of them (on the replay sample alone the base test split dropped 0.03-0.12 PR-AUC)."""
    meta = parent.run_dir / NGRAM_DIR / META_NAME
    config = BaselineConfig()
    if meta.is_file():
        config = BaselineConfig.from_dict(json.loads(meta.read_text(encoding="utf-8")).get("config", {}))
    base_train = data.base.train_all or data.base.train
    train = EvalData.from_records([*base_train, *mask_labels(data.new.train, kept)])
    val = EvalData.from_records([*data.base.validation, *mask_labels(data.new.validation, kept)])
    train_and_save(
        train.texts,
        train.y,
        val.texts,
        val.y,
        staging / NGRAM_DIR,
        config=config,
        extra=extra,
        train_synthetic=train.synthetic,
        val_synthetic=val.synthetic,
    )
    return OnnxBaseline.load(staging / NGRAM_DIR)


def parent_stack_thresholds(parent: ParentRun) -> dict[str, float]:
    """The thresholds the parent served: its stacker's, or its transformer's without a stacker."""
    if parent.served.spec is None:
        return {k: float(v) for k, v in parent.info.thresholds.items()}
    return load_hybrid(parent.run_dir)[1]


def fit_stack(
    parent: ParentRun,
    data: RetrainData,
    child: Served,
    val: Pooled,
    staging: Path,
    extra: dict[str, Any],
    kept: tuple[str, ...] = (),
) -> None:
    """The stacker of ``child`` (head + n-gram) fitted on the validation rows; ``staging/stacker.json``
    (after the weights and the n-gram model: its provenance hashes them). Labels ``kept`` get the
    parent's stacker entries and thresholds."""
    rows = EvalData.from_records(data.validation, tuple(parent.info.labels))
    lt = child.logits(val)
    assert child.ngram is not None
    pn = child.ngram.predict_probs(rows.texts)
    cfg = parent.train_config()
    fitted_on = (
        f"{len(data.base.validation):,} validation rows of {data.base.data_dir} (seeded sample) + "
        f"{len(data.new.validation):,} new labels (validation part)"
    )
    labels = tuple(parent.info.labels)
    spec = fit_stacker(lt, pn, rows.y, labels, seed=0, fitted_on=fitted_on)
    target = cfg.target_precision if cfg.threshold_mode == "precision" else None
    thresholds = stacker_thresholds(spec, lt, pn, rows.y, cfg.threshold_mode, target, DEFAULT_BASE_RATE)
    if kept:
        temperatures = dict(zip(labels, map(float, parent.served.temperature), strict=True))
        spec = keep_stack(spec, parent.served.spec, temperatures, kept)
        thresholds = keep_values(thresholds, parent_stack_thresholds(parent), kept)
    provenance = {
        **current_provenance(staging),
        **extra,
        "validation_rows": len(rows),
        "threshold_base_rate": DEFAULT_BASE_RATE,
        "seed": 0,
    }
    save_hybrid(staging, spec, thresholds, provenance)
    child.spec = spec


def ngram_extra(parent: ParentRun, data: RetrainData) -> dict[str, Any]:
    """What the n-gram model and the stacker record about their data."""
    return {
        "dataset": str(data.base.data_dir),
        "label_snapshot": data.snapshot,
        "retrain_of": parent.model_id,
    }


def fit_fast(
    parent: ParentRun, data: RetrainData, options: RetrainOptions, staging: Path, timer: Timer
) -> Child:
    """Refit head, temperatures/thresholds, n-gram model and stacker into the run dir ``staging``
    (the parent's model object gets the new head: the encoder is shared, not copied)."""
    train = encode_parts(parent.model, parent, (data.base.train, data.new.train), options, first=True)
    val = encode_parts(
        parent.model, parent, (data.base.validation, data.new.validation), options, first=False
    )
    tests = gate_sets(parent.model, parent, data, options)
    timer.lap("encode")
    labels = tuple(parent.info.labels)
    kept = kept_labels(data.new.train, labels, options.min_label_decisions)
    if kept:
        log.info("kept from the parent (the new labels do not teach them): %s", ", ".join(kept))
    head = fit_head(parent, data, train, options)
    rows = [labels.index(k) for k in kept]
    weight, bias = keep_head_rows(head.weight, head.bias, parent.served.weight, parent.served.bias, rows)
    y, mask = label_arrays(data.validation)
    child = Served(weight, bias, np.ones(len(labels)))
    thresholds, temperature, calibration = fit_thresholds(child.logits(val), y, mask, parent.train_config())
    thresholds = keep_values(thresholds, parent.info.thresholds, kept)
    temperature = keep_values(temperature, parent.info.temperature, kept)
    child.temperature = np.asarray([temperature[k] for k in labels])
    timer.lap("head")
    extra = ngram_extra(parent, data)
    child.ngram = fit_ngram(parent, data, staging, extra, kept)
    timer.lap("ngram")
    with torch.no_grad():
        parent.model.head.weight.copy_(torch.from_numpy(weight))
        parent.model.head.bias.copy_(torch.from_numpy(bias))
    info = RunInfo(
        labels=list(parent.info.labels),
        context_rule=parent.info.context_rule,
        thresholds=thresholds,
        temperature=temperature,
        data_sources=list(parent.info.data_sources),
        training_config=dict(parent.info.training_config),
        base_model=parent.info.base_model,
    )
    parent.model.save(staging, parent.run_dir / "tokenizer.json", info)
    fit_stack(parent, data, child, val, staging, extra, kept)
    timer.lap("stacker")
    fit = {"rows": len(data.train), "anchor": options.head.anchor, "new_weight": options.head.new_weight}
    fit |= {"loss_before": head.loss_before, "loss_after": head.loss_after, "iterations": head.iterations}
    support = {k: vars(v) for k, v in label_support(data.new.train, labels).items()}
    kept_report = {
        "labels": list(kept),
        "min_each": options.min_label_decisions,
        "new_train_support": support,
    }
    report = {"head": fit, "validation_calibration": calibration, "kept_from_parent": kept_report}
    return Child(child, report, tests, tests)
