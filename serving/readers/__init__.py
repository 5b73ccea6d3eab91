"""Readers for comment dumps: JSONL, CSV, Parquet, Disqus XML, WordPress WXR and scraped page text.

All stream with bounded memory (limits in :class:`ReaderOptions`) and yield
:class:`InputRecord`. What a file contains never raises: a record that cannot be
read becomes an ``InputRecord`` with ``error`` set (and its location), and a file
that cannot be read, or breaks mid-way, gives the records read so far and one
error record saying where reading stopped. Only a wrong request raises
:class:`ReaderError` (unknown format name, missing input, invalid options).
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from .base import InputRecord, ReaderError, ReaderOptions, error_record
from .meter import ReadMeter
from .page import parse_page, read_page
from .tabular import read_csv, read_jsonl, read_parquet
from .textio import file_head, sniff_encoding
from .xml_dumps import read_disqus, read_wxr, root_kind, sniff_xml_kind

log = logging.getLogger(__name__)


class Reader(Protocol):
    """A reader: records of one file (``meter``: told how far it has read, for progress)."""

    def __call__(
        self, path: Path, options: ReaderOptions, *, meter: ReadMeter | None = None
    ) -> Iterator[InputRecord]: ...


READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
    "disqus": read_disqus,
    "wxr": read_wxr,
    "page": read_page,
}
FORMATS = ("auto", *READERS)

EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "page",
    ".text": "page",
}


def detect_format(path: Path) -> str:
    """Format of a file from its extension, or from its first bytes."""
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    head = file_head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    codec, skip = sniff_encoding(head)
    text = head[skip:].decode(codec, errors="replace").lstrip()
    if suffix == ".xml" or text.startswith("<"):
        kind = sniff_xml_kind(text.encode("utf-8"))
        return kind if kind is not None else root_kind(path)
    if text.startswith("{"):
        return "jsonl"
    if "\x00" in text:
        raise ReaderError(f"{path}: binary file of unknown format; name the format with --format")
    return "page"


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files named by the inputs: files as given, directories and globs expanded in sorted order."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(  # hidden files and everything under hidden directories (.git, .cache) skipped
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ReaderError(f"input {item!r} does not exist (no file, directory or glob match)")
            files.extend(matches)
    return files


def read_file(
    path: Path,
    fmt: str = "auto",
    options: ReaderOptions = ReaderOptions(),
    meter: ReadMeter | None = None,
) -> Iterator[InputRecord]:
    """Records of one file in the given (or detected) format; never raises for what the file
    contains (see the module docstring). ReaderError only for an unknown format name.
    ``meter`` (:class:`ReadMeter`) follows how far the file has been read, for progress."""
    if fmt not in FORMATS:
        raise ReaderError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _guarded(path, fmt, options, meter)


def _guarded(path: Path, fmt: str, options: ReaderOptions, meter: ReadMeter | None) -> Iterator[InputRecord]:
    source = str(path)
    count = 0
    try:
        kind = detect_format(path) if fmt == "auto" else fmt
        if kind in ("disqus", "wxr") and fmt != "auto":
            actual = root_kind(path)
            if actual != kind:
                raise ReaderError(f"{path}: --format {kind} given but the file is a {actual} export")
        for record in READERS[kind](path, options, meter=meter):
            count += 1
            yield record
    except (ReaderError, OSError) as exc:
        yield _stopped(source, count, str(exc))
    except Exception as exc:  # a reader bug must not stop the run: report it as this file's error
        log.exception("reader failed on %s after %d records", path, count)
        yield _stopped(source, count, f"reader failed ({type(exc).__name__}: {exc})")


def _stopped(source: str, count: int, why: str) -> InputRecord:
    """The error record of a file that could not be read from record ``count`` on."""
    if count:
        return error_record(
            source, f"{source} after record {count}", f"could not read the rest of the file: {why}"
        )
    return error_record(source, source, f"could not read the file: {why}")


def read_inputs(
    inputs: Iterable[str], fmt: str = "auto", options: ReaderOptions = ReaderOptions()
) -> Iterator[InputRecord]:
    """Records of every input file, in order."""
    for path in expand_inputs(inputs):
        yield from read_file(path, fmt, options)


__all__ = [
    "FORMATS",
    "InputRecord",
    "ReadMeter",
    "ReaderError",
    "ReaderOptions",
    "detect_format",
    "expand_inputs",
    "parse_page",
    "read_file",
    "read_inputs",
]
