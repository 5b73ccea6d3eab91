"""``commentmod retrain``, end to end: fit a child of a run on new labels, gate it, promote it.

1. Check the targets (``--out`` new or empty, the artifact directory free unless ``--force``).
2. Load the parent, split the new labels by article, sample the base data (:mod:`.parent`).
3. Fit the child into a hidden staging directory beside ``--out`` (:mod:`.fast`, :mod:`.full`).
4. Score parent and child on (a) the base test sample and (b) the new labels' test part, and judge
   (:mod:`.gate`).
5. Refused: delete the staging directory (nothing is written) and return the verdict.
   Passed: record the lineage (:mod:`.versions`) in the run info, write the "changes since parent"
   card section, move the run into ``--out`` and export it (``commentmod export``'s
   :func:`~commentmod.training.export.artifact.export_artifact`, all its gates) to the artifact path.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ...model.errors import CommentmodError
from ..data.licences import is_commercial_ok
from ..export.artifact import ExportOptions, ExportResult, export_artifact
from ..export.directory import CHANGES_FILE
from ..fit.hardware import resolve_precision, use_threads
from ..fit.hybrid_fit import resolve_device
from ..fit.modeling import RunInfo
from ..report.changes import render_changes
from .errors import RetrainError
from .fast import Child, Timer, fit_fast
from .full import fit_full
from .gate import GateVerdict, gate
from .options import RetrainOptions
from .parent import ParentRun, RetrainData, load_data
from .served import Served, cells
from .versions import LINEAGE_KEY, Lineage, headline, model_id

log = logging.getLogger(__name__)


@dataclass
class RetrainResult:
    """What a retrain did: the verdict, and on promotion the run, its lineage and the artifact."""

    verdict: GateVerdict
    evaluation: dict[str, Any]
    counts: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)  # device, precision, threads
    run_dir: Path | None = None
    lineage: Lineage | None = None
    export: ExportResult | None = None

    @property
    def promoted(self) -> bool:
        return self.export is not None


def check_targets(options: RetrainOptions) -> None:
    out = Path(options.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RetrainError(f"--out {out} exists and is not empty; choose a new run directory")
    art = options.artifact_dir
    if art.exists() and (not art.is_dir() or any(art.iterdir())) and not options.force:
        raise RetrainError(
            f"the artifact directory {art} exists and is not empty; pass --force to replace it"
        )


def judge(
    parent: Served, child: Child, data: RetrainData, options: RetrainOptions, labels: tuple[str, ...]
) -> tuple[GateVerdict, dict[str, Any]]:
    """Parent and child served scores on both test sets, their cells and the gate's verdict."""
    evaluation: dict[str, Any] = {}
    for key, records in (("base_test", data.base.test), ("new_test", data.new.test)):
        texts = [r.text for r in records]
        evaluation[key] = {
            "rows": len(records),
            "parent": cells(records, parent.probs(child.parent_tests[key], texts), labels),
            "child": cells(records, child.served.probs(child.tests[key], texts), labels),
        }
    verdict = gate(
        evaluation["base_test"]["parent"],
        evaluation["base_test"]["child"],
        evaluation["new_test"]["parent"],
        evaluation["new_test"]["child"],
        options.limits,
    )
    return verdict, evaluation


def store_sources(data: RetrainData) -> list[dict[str, Any]]:
    """The new labels' train rows as data sources (one per licence)."""
    licences = Counter(r.licence for r in data.new.train)
    many = len(licences) > 1
    return [
        {
            "name": f"label-store ({lic})" if many else "label-store",
            "licence": lic,
            "rows": n,
            "commercial_ok": is_commercial_ok(lic),
        }
        for lic, n in sorted(licences.items())
    ]


def record_lineage(
    staging: Path,
    parent: ParentRun,
    data: RetrainData,
    options: RetrainOptions,
    report: dict[str, Any],
    evaluation: dict[str, Any],
    verdict: GateVerdict,
) -> Lineage:
    """Write the child's run info (lineage, base data, what the fit did) and its card section."""
    lineage = Lineage(
        model_id=model_id(staging),
        version=parent.version + 1,
        parent_id=parent.model_id,
        parent_version=parent.version,
        parent_run=str(parent.run_dir.resolve()),
        label_snapshot=data.snapshot,
        label_store=str(Path(options.labels).resolve()),
        mode=options.mode,
        new_rows=data.new.counts(),
        replay_rows=data.base.counts(),
        metrics={key: headline(evaluation[key]["child"]) for key in ("base_test", "new_test")},
    )
    info = RunInfo.load(staging)
    info.data_sources = [*parent.info.data_sources, *store_sources(data)]
    info.base_model = parent.info.base_model
    info.extra = {
        **info.extra,  # a full retrain's training facts (steps, timing, history)
        "dataset_dir": str(data.base.data_dir),
        "retrain": {**report, "counts": data.counts(), "gate": verdict.to_dict()},
        LINEAGE_KEY: lineage.to_dict(),
    }
    info.save(staging)
    section = render_changes(lineage.to_dict(), verdict.to_dict())
    (staging / CHANGES_FILE).write_text(section, encoding="utf-8")
    return lineage


def promote(staging: Path, data: RetrainData, options: RetrainOptions) -> ExportResult:
    """Move the run into ``--out`` and export it to the artifact directory."""
    out = Path(options.out)
    if out.exists():
        out.rmdir()  # empty (check_targets)
    os.replace(staging, out)
    items = [(r.text, r.article_title, r.article_text) for r in data.validation]
    source = f"retrain validation rows ({len(items)}: base sample + new labels)"
    export = ExportOptions(int8=options.int8, name=options.name or out.name, force=options.force)
    try:
        return export_artifact(out, options.artifact_dir, export, items, source)
    except CommentmodError as exc:  # the run is kept: refitting it again would cost the whole retrain
        raise RetrainError(
            f"the new model passed the gate and is in {out}, but its export failed ({type(exc).__name__}: "
            f"{exc}); export it with `commentmod export --model {out} --out {options.artifact_dir}` "
            "(e.g. with --int8-fallback-fp32)"
        ) from exc


def retrain(options: RetrainOptions) -> RetrainResult:
    """The whole ``commentmod retrain`` (module docstring); a refused child leaves nothing behind."""
    check_targets(options)
    options, runtime = resolved(options)
    timer = Timer()
    parent = ParentRun.load(options.parent, options.cache)
    data = load_data(parent, options)
    timer.lap("load")
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.retrain-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        fit = fit_full if options.mode == "full" else fit_fast
        child = fit(parent, data, options, staging, timer)
        verdict, evaluation = judge(parent.served, child, data, options, tuple(parent.info.labels))
        timer.lap("gate")
        counts = {**data.counts(), "cache": parent.cache.stats()}
        result = RetrainResult(verdict, evaluation, counts, timer.seconds, runtime)
        if not verdict.passed:
            return result
        report = {**child.report, "runtime": runtime, "encoding": parent.cache.stats()}
        result.lineage = record_lineage(staging, parent, data, options, report, evaluation, verdict)
        result.export = promote(staging, data, options)
        result.run_dir = out
        timer.lap("export")
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolved(options: RetrainOptions) -> tuple[RetrainOptions, dict[str, Any]]:
    """The options with the device and the precision resolved (``auto`` -> fp32 or bf16 for this
    machine, :func:`~commentmod.training.fit.hardware.resolve_precision`), torch's threads set (one
    per free core unless ``--threads``), and what was chosen and why (the run info records it)."""
    threads = use_threads(options.threads)
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, torch.device(device))
    log.info("encoder precision %s (requested %s: %s)", precision.used, precision.requested, precision.reason)
    runtime = {"device": device, "precision": precision.to_dict(), "threads": threads.to_dict()}
    return replace(options, device=device, precision=precision.used), runtime
