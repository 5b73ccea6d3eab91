"""JSONL, CSV and Parquet readers: streaming, one record per row, unreadable rows become error records."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from commentmod.serving.readers.base import (
    AUTHOR_COLUMNS,
    CONTEXT_COLUMNS,
    ID_COLUMNS,
    TEXT_COLUMNS,
    TITLE_COLUMNS,
    InputRecord,
    ReaderError,
    ReaderOptions,
    as_text,
    pick_column,
)

_CARRIED = ("created_at", "createdAt", "date", "parent", "url", "link", "lang", "language")


class _Columns:
    """Column choice for one file, made once from its header (or first object's keys)."""

    def __init__(self, columns: list[str], options: ReaderOptions, strict_text: bool):
        self.text = pick_column(columns, options.text_col, TEXT_COLUMNS, "comment text")
        if self.text is None and strict_text:
            raise ReaderError(
                f"no comment text column found among {columns}; name it with --text-col "
                f"(known names: {', '.join(TEXT_COLUMNS)})"
            )
        self.id = pick_column(columns, options.id_col, ID_COLUMNS, "id")
        self.title = pick_column(columns, options.title_col, TITLE_COLUMNS, "article title")
        self.context = pick_column(columns, options.context_col, CONTEXT_COLUMNS, "article text")
        self.author = pick_column(columns, None, AUTHOR_COLUMNS, "author")

    def record(self, row: dict[str, Any], source: str, location: str, fallback_id: str) -> InputRecord:
        text_key = self.text
        if text_key is None:  # JSONL objects may differ; look again per row
            text_key = next((k for k in row if k.lower() in TEXT_COLUMNS), None)
        if text_key is None or text_key not in row:
            return InputRecord(
                id=as_text(row.get(self.id)) if self.id else fallback_id,
                text=None,
                source=source,
                location=location,
                error=f"no comment text field (looked for {', '.join(TEXT_COLUMNS)}); use --text-col",
            )
        meta = {k: row[k] for k in _CARRIED if k in row and row[k] is not None}
        return InputRecord(
            id=as_text(row.get(self.id)) if self.id and row.get(self.id) is not None else fallback_id,
            text=as_text(row.get(text_key)) or "",
            source=source,
            location=location,
            article_title=as_text(row.get(self.title)) if self.title else None,
            article_text=as_text(row.get(self.context)) if self.context else None,
            author=as_text(row.get(self.author)) if self.author else None,
            meta=meta,
        )


def read_jsonl(path: Path, options: ReaderOptions = ReaderOptions()) -> Iterator[InputRecord]:
    """One JSON object per line; blank lines are skipped; bad lines become error records."""
    source = str(path)
    columns: _Columns | None = None
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            location = f"{source}:{lineno}"
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield InputRecord(None, None, source, location, error=f"invalid UTF-8 ({exc.reason})")
                continue
            except json.JSONDecodeError as exc:
                yield InputRecord(None, None, source, location, error=f"invalid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                yield InputRecord(None, None, source, location, error="line is not a JSON object")
                continue
            if columns is None:
                columns = _Columns(list(obj), options, strict_text=False)
            yield columns.record(obj, source, location, fallback_id=f"{path.name}:{lineno}")


def _decoded_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        for raw in fh:
            yield raw.decode("utf-8", errors="surrogateescape")


def _has_bad_bytes(values: list[str]) -> bool:
    return any("\udc80" <= ch <= "\udcff" for v in values for ch in v)


def read_csv(path: Path, options: ReaderOptions = ReaderOptions()) -> Iterator[InputRecord]:
    """CSV with a header row; delimiter sniffed (``,`` ``;`` tab) unless given; bad rows become errors."""
    source = str(path)
    lines = _decoded_lines(path)
    first = next(lines, None)
    if first is None:
        return
    first = first.lstrip("\ufeff")
    delimiter = options.csv_delimiter or max((",", ";", "\t"), key=first.count)

    def chained() -> Iterator[str]:
        yield first
        yield from lines

    reader = csv.reader(chained(), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ReaderError(f"{source}: cannot read the CSV header ({exc})") from exc
    if _has_bad_bytes(header):
        raise ReaderError(f"{source}: the CSV header is not valid UTF-8; re-save the file as UTF-8")
    columns = _Columns(header, options, strict_text=True)
    row_start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield InputRecord(None, None, source, f"{source}:{row_start}", error=f"broken CSV row ({exc})")
            row_start = reader.line_num + 1
            continue
        location = f"{source}:{row_start}"
        row_start = reader.line_num + 1
        if not values:
            continue
        if _has_bad_bytes(values):
            yield InputRecord(None, None, source, location, error="invalid UTF-8 in this row")
            continue
        if len(values) != len(header):
            yield InputRecord(
                None,
                None,
                source,
                location,
                error=f"row has {len(values)} fields, the header has {len(header)} (broken quoting?)",
            )
            continue
        yield columns.record(
            dict(zip(header, values, strict=True)), source, location, f"{path.name}:{location}"
        )


def read_parquet(
    path: Path, options: ReaderOptions = ReaderOptions(), batch_rows: int = 2048
) -> Iterator[InputRecord]:
    """Parquet, streamed in row batches with pyarrow."""
    import pyarrow.parquet as pq

    source = str(path)
    try:
        pf = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise ReaderError(f"{source}: not a readable Parquet file ({exc})") from exc
    columns = _Columns(list(pf.schema_arrow.names), options, strict_text=True)
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows):
        for obj in batch.to_pylist():
            row += 1
            yield columns.record(obj, source, f"{source}:row {row}", f"{path.name}:{row}")
