"""Which comments to label next: a Label Studio import file from ``commentmod score`` output.

The scored file is the JSONL ``commentmod score`` writes (:mod:`.scored` reads it and ranks its
rows). Rows do not carry the thresholds nor the article text: ``--model ARTIFACT`` gives the
thresholds (needed by ``uncertainty``) and is checked against the rows' ``model``; ``--input`` names
the original files to take missing texts (``--no-text``), titles and article texts from, joined by
id (the readers give the ids the scorer wrote). ``skip_store`` leaves out comments a label store
already holds decisions for.

Each task holds the comment (``comment_id``, ``text``, ``article_title``, ``article_text``, ``lang``:
what :func:`~.labelstudio.parse_labelstudio` reads back), its ``rank`` and ``score_<label>``, and one
prediction (pre-annotation) with the model's yes/no per label and its ``model_version``. The
labeling config written beside it is :func:`~.labelstudio.labeling_config`, so an export of the
project imports into the store.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...model.labels import LABELS
from ...model.manifest import MODEL_FILE
from ...model.manifest_io import read_manifest
from ...serving.artifact_check import model_id
from ...serving.readers import InputRecord, read_inputs
from .labelstudio import ARTICLE_TITLE_NAME, COMMENT_TEXT_NAME, choice_result, labeling_config
from .scored import (
    STRATEGIES,
    Candidate,
    ExportTasksError,
    ScoredScan,
    opt_str,
    read_candidates,
    select,
    strategy_keys,
)
from .store import LabelStore

__all__ = ["STRATEGIES", "ExportOptions", "ExportReport", "ExportTasksError", "export_tasks"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """What ``commentmod labels export-tasks`` was asked (see the module docstring)."""

    scored: Path
    out: Path
    n: int = 500
    strategy: str = "uncertainty"
    seed: int = 0
    model_dir: Path | None = None
    inputs: tuple[str, ...] = ()
    config_out: Path | None = None
    skip_store: Path | None = None
    overwrite: bool = False

    @property
    def config_path(self) -> Path:
        """Where the labeling config goes: ``config_out``, else ``out`` with the suffix ``.xml``."""
        return self.config_out if self.config_out is not None else self.out.with_suffix(".xml")


@dataclass
class ExportReport(ScoredScan):
    """What an export did: rows read, skipped by reason, bad lines, tasks written."""

    tasks: int = 0
    model_versions: Counter[str] = field(default_factory=Counter)

    def summary_lines(self, options: ExportOptions) -> list[str]:
        lines = [f"rows read: {self.rows} from {options.scored}"]
        if self.skipped:
            detail = "; ".join(f"{why}: {k}" for why, k in sorted(self.skipped.items()))
            lines.append(f"rows skipped: {sum(self.skipped.values())} ({detail})")
        if self.bad:
            lines.append(f"bad rows skipped: {len(self.bad)}")
        lines.append(
            f"tasks: {self.tasks} of {self.candidates} candidate(s), strategy {options.strategy}"
            + (f" (seed {options.seed})" if options.strategy == "random" else "")
        )
        if self.tasks:
            versions = ", ".join(sorted(self.model_versions))
            lines += [
                f"model_version: {versions}",
                f"tasks file: {options.out}",
                f"labeling config: {options.config_path}",
            ]
        return lines


# -- the model, the original inputs, the store ----------------------------------------------------


def model_thresholds(model_dir: Path) -> tuple[dict[str, float], frozenset[str]]:
    """The artifact's thresholds and the model ids it can score under (one per ONNX model file).

    The manifest's checksum is checked; the model files are not read (nothing is scored here).
    """
    manifest = read_manifest(model_dir, verify=False, checksum=True)
    missing = [label for label in LABELS if label not in manifest.thresholds]
    if missing:
        raise ExportTasksError(f"{model_dir}: the artifact has no threshold for {missing}")
    files = {MODEL_FILE, *(name for name in manifest.files if name.endswith(".onnx"))}
    ids = frozenset(model_id(manifest, name) for name in files)
    return {label: float(manifest.thresholds[label]) for label in LABELS}, ids


def check_model(selected: Sequence[Candidate], model_dir: Path, ids: frozenset[str]) -> None:
    """Every selected row was scored by the artifact whose thresholds are used."""
    other = sorted({c.model for c in selected} - ids)
    if other:
        raise ExportTasksError(
            f"the scored file was scored by {', '.join(other)}, but --model {model_dir} is "
            f"{', '.join(sorted(ids))}: pass the artifact that scored the file"
        )


def stored_ids(path: Path) -> frozenset[str]:
    """Comment ids the label store already holds decisions for."""
    with LabelStore(path, create=False) as store:
        return frozenset(store.resolved())


def join_inputs(
    selected: Sequence[Candidate], inputs: Sequence[str], report: ExportReport
) -> list[Candidate]:
    """``selected`` with missing text, title and article text taken from the original inputs (by id).

    A selected row whose text is missing and not found in the inputs is dropped (and counted).
    """
    wanted = {c.id for c in selected}
    found: dict[str, InputRecord] = {}
    for record in read_inputs(inputs):
        if record.id is not None and record.id in wanted and record.error is None:
            found.setdefault(record.id, record)
    joined: list[Candidate] = []
    for c in selected:
        record = found.get(c.id)
        if record is None:
            if c.text is None:
                report.skipped["text not found in --input"] += 1
                continue
            joined.append(c)
            continue
        joined.append(
            replace(
                c,
                text=c.text if c.text is not None else record.text,
                article_title=c.article_title or opt_str(record.article_title),
                article_text=c.article_text or opt_str(record.article_text),
            )
        )
    return joined


# -- tasks ----------------------------------------------------------------------------------------


def prediction(c: Candidate) -> dict[str, Any]:
    """The model's pre-annotation: yes/no per label (its flags) and, as ``score``, its confidence in
    its least certain answer (``score`` if yes else ``1 - score``; Label Studio sorts by it)."""
    confidence = min(c.scores[label] if c.flags[label] else 1.0 - c.scores[label] for label in LABELS)
    return {
        "model_version": c.model,
        "score": round(confidence, 6),
        "result": [choice_result(label, c.flags[label]) for label in LABELS],
    }


def task(c: Candidate, rank: int) -> dict[str, Any]:
    """One Label Studio task: the comment and what the store reads back, rank, scores, prediction."""
    data: dict[str, Any] = {
        "comment_id": c.id,
        COMMENT_TEXT_NAME: c.text or "",
        ARTICLE_TITLE_NAME: c.article_title or "",
    }
    if c.article_text:
        data["article_text"] = c.article_text
    if c.lang:
        data["lang"] = c.lang
    data["rank"] = rank
    data.update({f"score_{label}": c.scores[label] for label in LABELS})
    return {"data": data, "predictions": [prediction(c)]}


def tasks_json(tasks: Sequence[Mapping[str, Any]]) -> str:
    """The import file: a JSON list, one task per line."""
    body = ",\n".join(json.dumps(t, ensure_ascii=False, separators=(",", ":")) for t in tasks)
    return f"[\n{body}\n]\n" if tasks else "[]\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportTasksError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_paths(options: ExportOptions) -> None:
    if options.n < 1:
        raise ExportTasksError(f"--n is {options.n}; ask for at least one task")
    if not options.scored.is_file():
        raise ExportTasksError(f"the scored file {options.scored} does not exist")
    outs = (options.out, options.config_path)
    if options.out.resolve() == options.config_path.resolve():
        raise ExportTasksError(f"the tasks and the labeling config would both be {options.out}")
    for path in outs:
        if path.resolve() == options.scored.resolve():
            raise ExportTasksError(f"{path} is the scored file; write the tasks elsewhere")
        if path.exists() and not options.overwrite:
            raise ExportTasksError(f"{path} exists; pass --overwrite to replace it")


def export_tasks(options: ExportOptions) -> ExportReport:
    """Select the comments to label next and write the tasks and the labeling config.

    Nothing is written when no task is left (``report.tasks == 0``).
    """
    _check_paths(options)
    thresholds, ids = model_thresholds(options.model_dir) if options.model_dir else (None, frozenset())
    keys = strategy_keys(options.strategy, options.seed, thresholds)
    skip = stored_ids(options.skip_store) if options.skip_store is not None else frozenset()
    report = ExportReport()
    selected = select(read_candidates(options.scored, report, skip), options.n, keys)
    if options.model_dir is not None:
        check_model(selected, options.model_dir, ids)
    if options.inputs:
        selected = join_inputs(selected, options.inputs, report)
    elif any(c.text is None for c in selected):
        raise ExportTasksError(
            f"{options.scored} carries no comment text (scored with --no-text?): pass the original "
            "input(s) with --input to take the texts from"
        )
    report.tasks = len(selected)
    report.model_versions.update(c.model for c in selected)
    if selected:
        _write_atomic(options.config_path, labeling_config())
        _write_atomic(options.out, tasks_json([task(c, rank) for rank, c in enumerate(selected, 1)]))
        log.debug("wrote %d task(s) to %s", len(selected), options.out)
    return report
