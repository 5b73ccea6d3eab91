"""CSV and Parquet outputs, converted (streaming) from the finished JSONL journal.

Both flatten ``scores``/``flags`` into ``score_<label>``/``flag_<label>`` columns and ``truncated``
into ``truncated_chars``/``truncated_scored_chars`` (empty unless the comment was cut). "Not scored"
(``empty``/``error`` rows) is an empty cell in CSV and a null in Parquet, never 0. CSV text cells
that a spreadsheet would run as a formula are neutralised (``sanitize.neutralise_cell``);
Parquet has a fixed schema so that a first chunk of nulls cannot fix a column's type.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from .journal import OutputError, describe_write_error, output_format
from .sanitize import neutralise_cell

RECORD_COLUMNS = ("id", "source", "location", "author", "text", "article_title")
TAIL_COLUMNS = ("flagged", "status", "error", "truncated_chars", "truncated_scored_chars", "model", "meta")
_NOT_TEXT = ("flagged", "truncated_chars", "truncated_scored_chars")


def flat_columns(labels: Sequence[str], include_text: bool = True) -> list[str]:
    head = [c for c in RECORD_COLUMNS if include_text or c != "text"]
    scores = [f"score_{label}" for label in labels] + [f"flag_{label}" for label in labels]
    return [*head, *scores, *TAIL_COLUMNS]


def flat_row(row: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """One output row with scores and flags as columns (``None`` when not scored)."""
    flat = {k: row.get(k) for k in RECORD_COLUMNS if k in row}
    scores = row.get("scores") or {}
    flags = row.get("flags") or {}
    truncated = row.get("truncated") or {}
    for label in labels:
        flat[f"score_{label}"] = scores.get(label)
    for label in labels:
        flat[f"flag_{label}"] = flags.get(label)
    flat.update(
        flagged=row.get("flagged"),
        status=row.get("status"),
        error=row.get("error"),
        truncated_chars=truncated.get("chars"),
        truncated_scored_chars=truncated.get("scored_chars"),
        model=row.get("model"),
        meta=json.dumps(row.get("meta") or {}, ensure_ascii=False, default=str),
    )
    return flat


def csv_cells(flat: dict[str, Any]) -> dict[str, Any]:
    """Neutralise formula-like text cells; numbers and booleans are left as they are."""
    return {
        k: v if k in _NOT_TEXT or k.startswith(("score_", "flag_")) else neutralise_cell(v)
        for k, v in flat.items()
    }


def journal_rows(journal: Path) -> Iterator[dict[str, Any]]:
    with journal.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield json.loads(line)


def write_csv(journal: Path, dest: Path, labels: Sequence[str], include_text: bool = True) -> None:
    with dest.open("w", encoding="utf-8", errors="replace", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=flat_columns(labels, include_text), extrasaction="ignore")
        writer.writeheader()
        for row in journal_rows(journal):
            writer.writerow(csv_cells(flat_row(row, labels)))


def parquet_schema(labels: Sequence[str], include_text: bool = True) -> Any:
    import pyarrow as pa

    types = {f"score_{label}": pa.float64() for label in labels}
    types.update({f"flag_{label}": pa.bool_() for label in labels})
    types["flagged"] = pa.bool_()
    types.update(truncated_chars=pa.int64(), truncated_scored_chars=pa.int64())
    return pa.schema([(c, types.get(c, pa.string())) for c in flat_columns(labels, include_text)])


def write_parquet(
    journal: Path, dest: Path, labels: Sequence[str], include_text: bool = True, chunk: int = 10_000
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(labels, include_text)
    rows = journal_rows(journal)
    with pq.ParquetWriter(str(dest), schema) as writer:
        while batch := [flat_row(r, labels) for r in islice(rows, chunk)]:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))


def finalise(journal: Path, out: Path, labels: Sequence[str], include_text: bool = True) -> None:
    """Convert the JSONL journal to ``out`` (CSV or Parquet) atomically, then drop the journal."""
    fmt = output_format(out)
    if fmt == "jsonl":
        return
    tmp = out.with_name(out.name + ".tmp")
    try:
        if fmt == "csv":
            write_csv(journal, tmp, labels, include_text)
        else:
            write_parquet(journal, tmp, labels, include_text)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(describe_write_error(out, exc)) from exc
    journal.unlink()
