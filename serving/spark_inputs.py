"""Input files of ``commentmod score --engine spark``: which files, in which format, read by Spark.

:func:`resolve_inputs` turns the command's inputs into :class:`InputGroup` s - local files,
directories (read recursively; names starting with ``.`` or ``_`` skipped, as Spark does) and
globs, or URIs Spark reads itself (``s3a://``, ``hdfs://``, ``gs://`` ...; a URI's format comes
from its extension or ``--format``). Spark reads Parquet, JSONL and CSV (UTF-8); the other formats
of ``commentmod score`` (Disqus, WXR, pages) are refused with a pointer to the single-process path.

:func:`read_group` reads one group with Spark's own readers into the frame that
:mod:`commentmod.serving.spark_records` turns into records:

* Parquet: the chosen columns (:class:`~commentmod.serving.readers.tabular.Columns`, as the
  Parquet reader chooses them), the file and the row's index in it (``_metadata``);
* CSV: every column as a string, multi-line quoted fields, the delimiter sniffed from the first
  line as the CSV reader does, a row Spark cannot split kept as an error row;
* JSONL: one raw line per row (``spark.read.text``), parsed in the worker as the JSONL reader does.
"""

from __future__ import annotations

import glob
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .readers import EXTENSIONS, detect_format
from .readers.base import TEXT_COLUMNS, ReaderError, ReaderOptions
from .readers.tabular import CARRIED, Columns
from .readers.textio import file_head
from .spark_records import CORRUPT_COL, LINE_COL, ROW_COL, SOURCE_COL, BatchPlan

SPARK_FORMATS = ("jsonl", "csv", "parquet")
_DELIMITERS = (",", ";", "\t")
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # a scheme of 2+ characters: "C:/x" is a local path


class SparkInputError(ReaderError):
    """An input ``--engine spark`` cannot read (missing, a format Spark does not read, no text column)."""


@dataclass(frozen=True)
class InputGroup:
    """Inputs Spark reads together: one format (and, for CSV, one delimiter)."""

    fmt: str
    paths: tuple[str, ...]
    delimiter: str = ","


def is_uri(item: str) -> bool:
    """Whether ``item`` has a URI scheme (``s3a://b/x``, ``hdfs:///x``, ``file:///x``, ``file:/x``):
    Spark resolves it, and it stays the string it was given (pathlib would collapse its ``//``).
    Anything else is a local path, checked and resolved here."""
    return _URI.match(item) is not None


def _by_extension(item: str) -> str | None:
    fmt = EXTENSIONS.get(posixpath.splitext(item.rstrip("/"))[1].lower())
    return fmt if fmt in SPARK_FORMATS else None


def _local_files(item: str) -> list[Path]:
    path = Path(item)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        )
    matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
    if not matches:
        raise SparkInputError(f"input {item!r} does not exist (no file, directory or glob match)")
    return matches


def sniff_delimiter(path: Path) -> str:
    """The CSV reader's choice: the most frequent of ``,`` ``;`` tab on the first line."""
    first = file_head(path, 1 << 16).removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    text = first.decode("utf-8", errors="replace")
    return max(_DELIMITERS, key=text.count)


def _refuse(where: str, fmt: str) -> SparkInputError:
    return SparkInputError(
        f"{where} is a {fmt} input: --engine spark reads {', '.join(SPARK_FORMATS)} only; "
        "score it without --engine spark"
    )


def resolve_inputs(inputs: Iterable[str], fmt: str = "auto") -> list[InputGroup]:
    """The inputs grouped by format (and CSV delimiter), in the order first seen."""
    if fmt not in ("auto", *SPARK_FORMATS):
        raise _refuse(f"--format {fmt}", fmt)
    groups: dict[tuple[str, str], list[str]] = {}
    for item in inputs:
        if is_uri(item):
            kind = fmt if fmt != "auto" else _by_extension(item)
            if kind is None:
                raise SparkInputError(f"cannot tell the format of {item!r} from its name; pass --format")
            delimiter = "\t" if item.lower().endswith(".tsv") else ","
            groups.setdefault((kind, delimiter), []).append(item)
            continue
        for path in _local_files(item):
            kind = fmt if fmt != "auto" else detect_format(path)
            if kind not in SPARK_FORMATS:
                raise _refuse(str(path), kind)
            delimiter = sniff_delimiter(path) if kind == "csv" else ","
            groups.setdefault((kind, delimiter), []).append(str(path.resolve()))
    return [InputGroup(kind, tuple(paths), delimiter) for (kind, delimiter), paths in groups.items()]


def local_paths(groups: Sequence[InputGroup]) -> list[Path]:
    return [Path(p) for g in groups for p in g.paths if not is_uri(p)]


# --------------------------------------------------------------------------- reading


def _columns(names: list[str], options: ReaderOptions, where: str) -> Columns:
    columns = Columns.choose(names, options)
    if columns.missing:
        raise SparkInputError(f"{where}: the {columns.missing} given is not among the columns {names[:30]}")
    if columns.text is None:
        raise SparkInputError(
            f"{where}: no comment text column among {names[:30]}; name it with --text-col "
            f"(known names: {', '.join(TEXT_COLUMNS)})"
        )
    return columns


def scalar_columns(
    df: Any, names: list[str], text: str | None, capped: dict[str, int] | None = None
) -> list[Any]:
    """Spark columns for ``names``; integral ones but the ``text`` column as strings (the readers
    turn integer ids into text, and pandas would make an integer column with nulls a float one;
    an integer comment text stays an integer: an error row, as in the CLI). A column in ``capped``
    is cut to that many characters, as the readers cut it, before it travels."""
    from pyspark.sql import functions as F

    types = dict(df.dtypes)
    capped = capped or {}
    out = []
    for n in names:
        col = F.col("`" + n.replace("`", "``") + "`")
        if n != text and types.get(n) in _INTEGRAL:
            col = col.cast("string")
        if n in capped and (types.get(n) == "string" or types.get(n) in _INTEGRAL):
            col = F.substring(col, 1, capped[n])
        out.append(col.alias(n))
    return out


def row_frame(df: Any, columns: Columns, extra: list[Any], context_chars: int | None = None) -> Any:
    """``df`` cut to the chosen columns and the readers' meta columns, plus ``extra``; the title,
    article text and author cut to ``context_chars`` (``max_context_chars``: less to shuffle)."""
    wanted = list(dict.fromkeys([*columns.needed(), *(c for c in CARRIED if c in df.columns)]))
    cut = {columns.title, columns.context, columns.author} - {columns.text, columns.id, None}
    capped = {n: context_chars for n in cut if n is not None} if context_chars else None
    return df.select(*scalar_columns(df, wanted, columns.text, capped), *extra)


def read_group(spark: Any, group: InputGroup, options: ReaderOptions) -> tuple[Any, BatchPlan]:
    """The frame of one input group and how its rows become records."""
    from pyspark.sql import functions as F

    source = F.col("_metadata.file_path").alias(SOURCE_COL)
    key = F.monotonically_increasing_id().alias(ROW_COL)
    where = ", ".join(group.paths[:3]) + (" ..." if len(group.paths) > 3 else "")
    if group.fmt == "jsonl":
        lines = spark.read.text(list(group.paths))
        frame = lines.select(F.col("value").cast("binary").alias(LINE_COL), source, key)
        return frame, BatchPlan("jsonl", None, options)
    if group.fmt == "parquet":
        df = spark.read.parquet(*group.paths)
        columns = _columns(df.columns, options, where)
        row_index = F.col("_metadata.row_index").alias(ROW_COL)
        frame = row_frame(df, columns, [source, row_index], options.max_context_chars)
        return frame, BatchPlan("rows", columns, options, row_numbers=True)
    reader = spark.read.option("header", True).option("sep", group.delimiter).option("encoding", "UTF-8")
    header = reader.csv(list(group.paths)).columns
    columns = _columns(header, options, where)
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType(
        [StructField(c, StringType()) for c in header] + [StructField(CORRUPT_COL, StringType())]
    )
    df = (
        reader.option("multiLine", True)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COL)
        .schema(schema)
        .csv(list(group.paths))
    )
    frame = row_frame(df, columns, [F.col(CORRUPT_COL), source, key], options.max_context_chars)
    return frame, BatchPlan("rows", columns, options, empty_is_null=True)
