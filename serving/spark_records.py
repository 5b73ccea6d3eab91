"""What one Spark Python worker does to one Arrow batch, in plain Python (no pyspark import).

:mod:`commentmod.serving.spark` hands each batch of input rows here as a list of dicts (pyarrow's
``to_pylist``, the same values the single-process Parquet reader sees) and gets back the flat output
rows of the CLI's CSV/Parquet flavour (:func:`commentmod.serving.writers.flat_row`). Records are built
by the readers' own :func:`~commentmod.serving.readers.tabular.build_record` and scored by the
pipeline's :func:`~commentmod.serving.pipeline.score_records`, so cleaning, limits, error rows and
the failure isolation are those of ``commentmod score``:

* ``rows`` batches (a DataFrame, Parquet, CSV): the columns were chosen once on the driver
  (:class:`~commentmod.serving.readers.tabular.Columns`); a CSV row Spark could not parse (its raw
  text in :data:`CORRUPT_COL`) is an error row.
* ``jsonl`` batches: one raw line per row (:data:`LINE_COL`, bytes), parsed here as the JSONL reader
  does (invalid UTF-8 or JSON, a line that is not an object, a line over ``max_record_bytes``: an
  error row; a blank line: no row; the columns chosen per row shape).

Where a row came from: :data:`SOURCE_COL` (the file, or a name for a DataFrame) and :data:`ROW_COL`.
Parquet gives the row's index in its file, so ``location`` (``FILE:row N``) and the id of a row
without one (``NAME:N``) are the CLI's; the other inputs give a unique Spark row key instead of a
line number (``location`` ``FILE (Spark row K)``, id ``NAME:#K``).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from .pipeline import DEFAULT_RECORDS_PER_BATCH, ScorerLike, error_result, output_row, score_records
from .readers.base import InputRecord, ReaderOptions, error_record
from .readers.tabular import Columns, build_record, parse_json
from .readers.textio import BLANK
from .result import Result
from .writers import flat_row

log = logging.getLogger("commentmod.spark")

SOURCE_COL = "_cm_source"  # the input file (or the name given to a DataFrame)
ROW_COL = "_cm_row"  # Parquet: the 0-based row index in its file; else a unique Spark row key
CORRUPT_COL = "_cm_corrupt"  # CSV: the raw text of a row Spark could not parse, else null
LINE_COL = "_cm_line"  # JSONL: one line of the file, as bytes
_OURS = (SOURCE_COL, ROW_COL, CORRUPT_COL, LINE_COL)
_UTF8_BOM = b"\xef\xbb\xbf"
_COLUMNS_CACHE = 256  # JSONL row shapes remembered per batch (as the JSONL reader)


@dataclass(frozen=True)
class BatchPlan:
    """How the rows of a batch become records: ``kind``, the chosen ``columns`` (``rows`` only),
    the reader limits, whether :data:`ROW_COL` holds row numbers, and the source name of rows
    without :data:`SOURCE_COL`."""

    kind: Literal["rows", "jsonl"]
    columns: Columns | None
    options: ReaderOptions = ReaderOptions()
    row_numbers: bool = False
    default_source: str = "dataframe"
    empty_is_null: bool = False  # CSV: Spark reads an empty cell as null, the CSV reader as ""


def display_source(source: str) -> str:
    """A local file's path from Spark's ``file:`` URI (percent-decoded); other URIs as they are."""
    return unquote(urlsplit(source).path) if source.startswith("file:") else source


def _where(row: dict[str, Any], plan: BatchPlan) -> tuple[str, str, str]:
    """``(source, location, fallback id)`` of one input row."""
    source = display_source(str(row.get(SOURCE_COL) or plan.default_source))
    name = posixpath.basename(str(source).rstrip("/")) or str(source)
    key = row.get(ROW_COL)
    if plan.row_numbers and isinstance(key, int):
        return source, f"{source}:row {key + 1}", f"{name}:{key + 1}"
    return source, f"{source} (Spark row {key})", f"{name}:#{key}"


def _record_of_row(row: dict[str, Any], plan: BatchPlan) -> InputRecord:
    assert plan.columns is not None
    source, location, fallback = _where(row, plan)
    if row.get(CORRUPT_COL) is not None:
        return error_record(
            source, location, "broken CSV row: Spark could not split it into the header's columns"
        )
    if plan.empty_is_null:
        row = {k: "" if v is None and k not in _OURS else v for k, v in row.items()}
    return build_record(row, plan.columns, plan.options, source, location, fallback)


def _record_of_line(
    row: dict[str, Any], plan: BatchPlan, cache: dict[tuple[str, ...], Columns]
) -> InputRecord | None:
    """The record of one JSONL line (None for a blank line), as :func:`read_jsonl` reads it."""
    source, location, fallback = _where(row, plan)
    raw = row.get(LINE_COL) or b""
    limit = plan.options.max_record_bytes
    if len(raw) > limit:
        return error_record(
            source, location, f"line longer than {limit:,} bytes (limit max_record_bytes); skipped"
        )
    try:
        line = bytes(raw).removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_record(source, location, f"invalid UTF-8 ({exc.reason} at byte {exc.start} of the line)")
    if not line.strip(BLANK):
        return None
    obj, bad = parse_json(line)
    if bad is not None:
        return error_record(source, location, bad)
    if not isinstance(obj, dict):
        return error_record(source, location, f"line is a JSON {type(obj).__name__}, not an object")
    keys = tuple(obj)
    columns = cache.get(keys)
    if columns is None:
        if len(cache) >= _COLUMNS_CACHE:
            cache.clear()
        columns = cache[keys] = Columns.choose(list(keys), plan.options)
    return build_record(obj, columns, plan.options, source, location, fallback)


def records_of_batch(rows: Iterable[dict[str, Any]], plan: BatchPlan) -> Iterator[InputRecord]:
    """The records of one batch of input rows, in order; never raises for what a row holds."""
    cache: dict[tuple[str, ...], Columns] = {}
    for row in rows:
        try:
            record = _record_of_line(row, plan, cache) if plan.kind == "jsonl" else _record_of_row(row, plan)
        except Exception as exc:  # isolation boundary: a strange value in one row
            source, location, _ = _where(row, plan)
            record = error_record(source, location, f"could not read this row: {type(exc).__name__}: {exc}")
        if record is not None:
            yield record


def flat_output_row(
    record: InputRecord, result: Result, model_id: str, labels: tuple[str, ...], include_text: bool
) -> dict[str, Any]:
    """The CLI's CSV/Parquet row of a record; a row that cannot be built becomes an error row."""
    try:
        return flat_row(output_row(record, result, model_id, include_text), labels)
    except Exception as exc:  # isolation boundary, as the pipeline's _row_and_line
        bare = InputRecord(
            record.id if isinstance(record.id, str) else None, None, record.source, record.location
        )
        failed = error_result(bare, f"could not write this row: {exc}")
        return flat_row(output_row(bare, failed, model_id, include_text), labels)


def score_rows(
    rows: Iterable[dict[str, Any]],
    plan: BatchPlan,
    scorer: ScorerLike,
    include_text: bool = True,
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH,
) -> list[dict[str, Any]]:
    """Flat output rows of one batch of input rows (one per record, in order)."""
    labels = tuple(scorer.labels)
    records = records_of_batch(rows, plan)
    return [
        flat_output_row(record, result, scorer.model_id, labels, include_text)
        for batch in score_records(records, scorer, records_per_batch)
        for record, result in batch
    ]
