"""JSONL, CSV and Parquet readers: streaming, one record per row, unreadable rows become error records.

Columns are chosen per row for JSONL (objects may differ: each row's own ``id``, ``title``,
``author`` ... are used) and once from the header for CSV and Parquet. A column named with an
override (``--text-col`` ...) must be present: a row without it is an error record (JSONL), a
header without it makes the file one error record (CSV, Parquet).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import (
    AUTHOR_COLUMNS,
    CONTEXT_COLUMNS,
    ID_COLUMNS,
    TEXT_COLUMNS,
    TITLE_COLUMNS,
    InputRecord,
    ReaderOptions,
    cap,
    clean_meta,
    comment_text,
    error_record,
    pick_column,
    scalar_text,
)
from .meter import ReadMeter
from .textio import BLANK, read_lines

# columns kept in a record's meta when present (the Spark path selects them too)
CARRIED = ("created_at", "createdAt", "date", "parent", "url", "link", "lang", "language")
_CACHE_SIZE = 256


@dataclass(frozen=True)
class Columns:
    """The columns of one row shape: ``text`` is None when no text column was found."""

    text: str | None
    id: str | None
    title: str | None
    context: str | None
    author: str | None
    missing: str | None = None  # an override that is not among the columns

    @classmethod
    def choose(cls, columns: list[str], options: ReaderOptions) -> Columns:
        missing = [
            f"{what} column {name!r}"
            for what, name in (
                ("text", options.text_col),
                ("id", options.id_col),
                ("title", options.title_col),
                ("context", options.context_col),
            )
            if name is not None and name not in columns
        ]

        def choose(override: str | None, candidates: tuple[str, ...]) -> str | None:
            if override is not None:
                return override if override in columns else None
            return pick_column(columns, candidates)

        return cls(
            text=choose(options.text_col, TEXT_COLUMNS),
            id=choose(options.id_col, ID_COLUMNS),
            title=choose(options.title_col, TITLE_COLUMNS),
            context=choose(options.context_col, CONTEXT_COLUMNS),
            author=pick_column(columns, AUTHOR_COLUMNS),
            missing=", ".join(missing) or None,
        )

    def needed(self) -> list[str]:
        return [c for c in (self.text, self.id, self.title, self.context, self.author) if c is not None]


def _no_text_message(columns: Columns, options: ReaderOptions, seen: list[str]) -> str:
    if columns.missing:
        return f"the {columns.missing} given is not among the columns {seen[:30]}"
    return (
        f"no comment text column among {seen[:30]}; name it with --text-col "
        f"(known names: {', '.join(TEXT_COLUMNS)})"
    )


def build_record(
    row: Mapping[str, Any],
    columns: Columns,
    options: ReaderOptions,
    source: str,
    location: str,
    fallback_id: str,
) -> InputRecord:
    """The record of one row (a dict of column -> value) with the chosen columns."""
    rid = scalar_text(row.get(columns.id)) if columns.id is not None else None
    rid = rid if rid is not None else fallback_id
    if columns.text is None or columns.text not in row:
        return error_record(source, location, _no_text_message(columns, options, list(row)), id=rid)
    text, problem = comment_text(row[columns.text])
    if problem is None and text is not None and len(text) > options.max_record_bytes:
        problem = f"comment text longer than {options.max_record_bytes:,} characters (limit max_record_bytes)"
    if problem is not None:
        return error_record(source, location, problem, id=rid)

    def field(name: str | None) -> str | None:
        return cap(scalar_text(row.get(name)), options.max_context_chars) if name is not None else None

    return InputRecord(
        id=rid,
        text=text,
        source=source,
        location=location,
        article_title=field(columns.title),
        article_text=field(columns.context),
        author=field(columns.author),
        meta=clean_meta({k: row[k] for k in CARRIED if k in row}),
    )


def parse_json(text: str) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, why the text is not JSON)``."""
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except ValueError as exc:  # e.g. an integer over Python's 4,300-digit conversion limit
        return None, f"invalid JSON ({exc})"


def read_jsonl(
    path: Path, options: ReaderOptions = ReaderOptions(), *, meter: ReadMeter | None = None
) -> Iterator[InputRecord]:
    """One JSON object per line; blank lines are skipped; every other line gives one record."""
    source = str(path)
    cache: dict[tuple[str, ...], Columns] = {}
    for lineno, line, problem in read_lines(path, options.max_record_bytes, meter=meter):
        location = f"{source}:{lineno}"
        if line is None:
            yield error_record(source, location, problem or "unreadable line")
            continue
        if not line.strip(BLANK):
            continue
        obj, bad = parse_json(line)
        if bad is not None:
            yield error_record(source, location, bad)
            continue
        if not isinstance(obj, dict):
            yield error_record(source, location, f"line is a JSON {type(obj).__name__}, not an object")
            continue
        keys = tuple(obj)
        columns = cache.get(keys)
        if columns is None:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            columns = cache[keys] = Columns.choose(list(keys), options)
        yield build_record(obj, columns, options, source, location, fallback_id=f"{path.name}:{lineno}")


def _has_bad_bytes(values: list[str]) -> bool:
    return any("\udc80" <= ch <= "\udcff" for v in values for ch in v)


class _CsvLines:
    """Lines for ``csv.reader``, bounding each row to ``max_record_bytes``.

    An over-long line is replaced by an empty one and remembered, so the row it belongs to
    becomes an error record and the CSV state stays consistent. A row spanning lines (a quoted
    field with newlines) that grows past the limit is closed with a quote (``csv.reader`` asks
    for another line of the same row only from inside a quoted field), and the lines up to the
    one holding the field's closing quote (an odd number of ``"``) are skipped, so the rest of
    the broken field is never read as rows. ``new_row`` is called before each row; ``row_first``
    is then the line number where it starts."""

    def __init__(self, path: Path, options: ReaderOptions, meter: ReadMeter | None = None):
        self._lines = read_lines(
            path, options.max_record_bytes, errors="surrogateescape", newline="", meter=meter
        )
        self._limit = options.max_record_bytes
        self.problem: str | None = None
        self.row_first: int | None = None
        self._row_chars = 0
        self._skipping = False

    def new_row(self) -> None:
        self.problem, self.row_first, self._row_chars = None, None, 0

    def __iter__(self) -> Iterator[str]:
        for lineno, line, problem in self._lines:
            if self._skipping:
                self._skipping = line is None or line.count('"') % 2 == 0
                continue
            if self.row_first is None:
                self.row_first = lineno
            if self._row_chars > self._limit:
                self.problem = (
                    self.problem or f"row longer than {self._limit:,} bytes (limit max_record_bytes)"
                )
                self._skipping = line is None or line.count('"') % 2 == 0
                yield '"\n'
                continue
            if line is None:
                self.problem = problem
                yield "\n"
            else:
                self._row_chars += len(line)
                yield line


def read_csv(
    path: Path, options: ReaderOptions = ReaderOptions(), *, meter: ReadMeter | None = None
) -> Iterator[InputRecord]:
    """CSV with a header row; delimiter sniffed (``,`` ``;`` tab) unless given; bad rows become errors."""
    source = str(path)
    lines = _CsvLines(path, options, meter)
    line_iter = iter(lines)
    first = next(line_iter, None)
    if first is None:
        return
    delimiter = options.csv_delimiter or max((",", ";", "\t"), key=first.count)

    def chained() -> Iterator[str]:
        yield first
        yield from line_iter

    if csv.field_size_limit() < options.max_record_bytes:  # rows are bounded by _CsvLines instead
        csv.field_size_limit(options.max_record_bytes)
    reader = csv.reader(chained(), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        yield error_record(source, f"{source}:1", f"could not read the file: broken CSV header ({exc})")
        return
    if lines.problem or _has_bad_bytes(header):
        why = lines.problem or "is not valid UTF-8; re-save the file as UTF-8"
        yield error_record(source, f"{source}:1", f"could not read the file: the CSV header {why}")
        return
    columns = Columns.choose(header, options)
    if columns.text is None or columns.missing:
        yield error_record(
            source, f"{source}:1", "could not read the file: " + _no_text_message(columns, options, header)
        )
        return
    yield from _csv_rows(reader, lines, header, columns, options, source, path.name)


def _csv_rows(
    reader: Any,
    lines: _CsvLines,
    header: list[str],
    columns: Columns,
    options: ReaderOptions,
    source: str,
    name: str,
) -> Iterator[InputRecord]:
    while True:
        lines.new_row()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield error_record(source, f"{source}:{lines.row_first}", f"broken CSV row ({exc})")
            continue
        location = f"{source}:{lines.row_first}"
        if lines.problem is not None:
            yield error_record(source, location, lines.problem)
            continue
        if not values:
            continue
        if _has_bad_bytes(values):
            yield error_record(source, location, "invalid UTF-8 in this row")
        elif len(values) != len(header):
            yield error_record(
                source,
                location,
                f"row has {len(values)} fields, the header has {len(header)} (broken quoting?)",
            )
        else:
            row = dict(zip(header, values, strict=True))
            yield build_record(row, columns, options, source, location, f"{name}:{location}")


def read_parquet(
    path: Path,
    options: ReaderOptions = ReaderOptions(),
    batch_rows: int = 2048,
    *,
    meter: ReadMeter | None = None,
) -> Iterator[InputRecord]:
    """Parquet, streamed in row batches with pyarrow, only the needed columns; a row group that
    cannot be read is one error record and the next row group is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = str(path)
    broken = (pa.ArrowException, OSError, ValueError, TypeError, IndexError)
    try:
        pf = pq.ParquetFile(str(path))
        names = list(pf.schema_arrow.names)
        sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
    except broken as exc:
        yield error_record(source, source, f"could not read the file: not a readable Parquet file ({exc})")
        return
    columns = Columns.choose(names, options)
    if columns.text is None or columns.missing:
        yield error_record(
            source, source, "could not read the file: " + _no_text_message(columns, options, names)
        )
        return
    wanted = [c for c in names if c in columns.needed() or c in CARRIED]
    row = 0
    for group, size in enumerate(sizes):
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[group], columns=wanted):
                for obj in batch.to_pylist():
                    done += 1
                    location = f"{source}:row {row + done}"
                    yield build_record(obj, columns, options, source, location, f"{path.name}:{row + done}")
        except broken as exc:
            yield error_record(
                source,
                f"{source}:row {row + done + 1}",
                f"row group {group} could not be read ({exc}); rows {row + done + 1}-{row + size} skipped",
            )
        row += size
        if meter is not None:
            meter.reached(row / max(1, sum(sizes)))
