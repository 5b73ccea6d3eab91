"""Batch scoring of comment dumps: records in, one output row per record out, resumable.

The output is written in input order and flushed (and fsynced) after every
batch. For JSONL the output file is its own journal; for ``.csv`` and
``.parquet`` a journal ``OUT.partial.jsonl`` is written and converted at the
end. ``resume`` counts the complete rows already in the journal (dropping a
torn last line), skips that many input records and appends the rest, so a run
killed with ``kill -9`` completes with no duplicate and no missing record.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol

from commentmod.model.errors import CommentmodError
from commentmod.serving.readers.base import InputRecord
from commentmod.serving.result import Result

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")


class OutputError(CommentmodError):
    """The output file cannot be written or resumed."""


class ScorerLike(Protocol):
    """What the pipeline needs of :class:`commentmod.serving.Scorer`."""

    @property
    def model_id(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def score(self, items: Sequence[Any]) -> list[Result]: ...


def output_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in OUTPUT_FORMATS:
        return suffix
    raise OutputError(f"output {path} has an unknown extension; use .jsonl, .csv or .parquet")


def journal_path(out: Path) -> Path:
    return out if output_format(out) == "jsonl" else out.with_name(out.name + ".partial.jsonl")


def _error_result(record: InputRecord, labels: Sequence[str]) -> Result:
    return Result(
        id=record.id,
        scores={k: 0.0 for k in labels},
        flags={k: False for k in labels},
        flagged=False,
        status="error",
        error=f"{record.location}: {record.error}",
    )


def score_records(
    records: Iterable[InputRecord], scorer: ScorerLike, batch_size: int = 64
) -> Iterator[list[tuple[InputRecord, Result]]]:
    """Batches of (record, result) pairs in input order; unreadable records are never sent to the model."""
    it = iter(records)
    while batch := list(islice(it, batch_size)):
        good = [r for r in batch if r.error is None]
        scored = iter(scorer.score([r.as_item() for r in good]) if good else [])
        out = []
        for record in batch:
            result = _error_result(record, scorer.labels) if record.error is not None else next(scored)
            out.append((record, result))
        yield out


def output_row(
    record: InputRecord, result: Result, model_id: str, include_text: bool = True
) -> dict[str, Any]:
    """The output schema: one row per input record."""
    row: dict[str, Any] = {
        "id": record.id,
        "source": record.source,
        "location": record.location,
        "author": record.author,
    }
    if include_text:
        row["text"] = record.text
    row.update(
        {
            "article_title": record.article_title,
            "scores": {k: round(float(v), 6) for k, v in result.scores.items()},
            "flags": dict(result.flags),
            "flagged": result.flagged,
            "status": result.status,
            "error": result.error,
            "model": model_id,
            "meta": dict(record.meta),
        }
    )
    return row


@dataclass
class Summary:
    """Counts over every row of an output (including rows written before a resume)."""

    records: int = 0
    status: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    any_flagged: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.records += 1
        self.status[row["status"]] += 1
        if row.get("flagged"):
            self.any_flagged += 1
        for label, flag in (row.get("flags") or {}).items():
            if flag:
                self.flagged[label] += 1


def prepare_journal(journal: Path, resume: bool, overwrite: bool, model_id: str, summary: Summary) -> int:
    """Make the journal ready to append; returns how many complete rows it already holds."""
    if not journal.exists() or journal.stat().st_size == 0:
        return 0
    if not resume:
        if overwrite:
            journal.unlink()
            return 0
        raise OutputError(
            f"{journal} already exists; pass --resume to continue that run or --overwrite to start again"
        )
    done = 0
    keep = 0
    with journal.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn last write of a killed run
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                break
            if row.get("model") != model_id:
                raise OutputError(
                    f"{journal} was written with model {row.get('model')!r}, not {model_id!r}; "
                    "resume with the same model, or use --overwrite"
                )
            summary.add(row)
            done += 1
            keep += len(raw)
    with journal.open("r+b") as fh:
        fh.truncate(keep)
    return done


def write_batch(fh: IO[str], rows: list[dict[str, Any]]) -> None:
    fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    fh.flush()
    os.fsync(fh.fileno())


CSV_COLUMNS = ("id", "source", "location", "author", "text", "article_title")


def _flat(row: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    flat = {k: row.get(k) for k in CSV_COLUMNS if k in row}
    for label in labels:
        flat[f"score_{label}"] = row["scores"].get(label)
        flat[f"flag_{label}"] = row["flags"].get(label)
    flat.update(
        flagged=row["flagged"],
        status=row["status"],
        error=row["error"],
        model=row["model"],
        meta=json.dumps(row.get("meta") or {}, ensure_ascii=False),
    )
    return flat


def _journal_rows(journal: Path) -> Iterator[dict[str, Any]]:
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def finalise(journal: Path, out: Path, labels: Sequence[str], chunk: int = 10_000) -> None:
    """Convert the JSONL journal to the requested output format (streaming), then drop the journal."""
    fmt = output_format(out)
    if fmt == "jsonl":
        return
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "csv":
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            writer: csv.DictWriter[str] | None = None
            for row in _journal_rows(journal):
                flat = _flat(row, labels)
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(flat))
                    writer.writeheader()
                writer.writerow(flat)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq_writer = None
        rows = _journal_rows(journal)
        while batch := [_flat(r, labels) for r in islice(rows, chunk)]:
            table = pa.Table.from_pylist(batch)
            if pq_writer is None:
                pq_writer = pq.ParquetWriter(str(tmp), table.schema)
            pq_writer.write_table(table.cast(pq_writer.schema))
        if pq_writer is None:
            pq_writer = pq.ParquetWriter(str(tmp), pa.schema([("id", pa.string())]))
        pq_writer.close()
    tmp.replace(out)
    journal.unlink()


def run_scoring(
    records: Iterable[InputRecord],
    scorer: ScorerLike,
    out: Path,
    batch_size: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    include_text: bool = True,
    progress: Any = None,
    on_row: Any = None,
) -> Summary:
    """Score ``records`` into ``out``; see the module docstring for the resume contract."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    journal = journal_path(out)
    if out != journal and out.exists() and not overwrite:
        if resume and not journal.exists():
            raise OutputError(
                f"{out} is already complete; nothing to resume (use --overwrite to score again)"
            )
        if not resume:
            raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    summary = Summary()
    done = prepare_journal(journal, resume, overwrite, scorer.model_id, summary)
    remaining = islice(iter(records), done, None)
    if progress is not None:
        progress.update(done)
    with journal.open("a", encoding="utf-8") as fh:
        for batch in score_records(remaining, scorer, batch_size):
            rows = [output_row(rec, res, scorer.model_id, include_text) for rec, res in batch]
            write_batch(fh, rows)
            for row in rows:
                summary.add(row)
                if on_row is not None:
                    on_row(row)
            if progress is not None:
                progress.update(len(rows))
    finalise(journal, out, scorer.labels)
    return summary
