"""Readers for comment dumps: JSONL, CSV, Parquet, Disqus XML, WordPress WXR and scraped page text.

All stream with bounded memory and yield :class:`InputRecord`; a record that
cannot be read becomes an ``InputRecord`` with ``error`` set (and its location),
while a file that cannot be read at all raises :class:`ReaderError`.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from commentmod.serving.readers.base import InputRecord, ReaderError, ReaderOptions
from commentmod.serving.readers.page import parse_page, read_page
from commentmod.serving.readers.tabular import read_csv, read_jsonl, read_parquet
from commentmod.serving.readers.xml_dumps import open_head, read_disqus, read_wxr, root_kind, sniff_xml_kind

Reader = Callable[[Path, ReaderOptions], Iterator[InputRecord]]

READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
    "disqus": read_disqus,
    "wxr": read_wxr,
    "page": read_page,
}
FORMATS = ("auto", *READERS)

_EXTENSIONS = {
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
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    head = open_head(path)
    if suffix == ".xml" or head.lstrip().startswith(b"<"):
        kind = sniff_xml_kind(head)
        return kind if kind is not None else root_kind(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    if b"\x00" in head:
        raise ReaderError(f"{path}: binary file of unknown format; name the format with --format")
    return "page"


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files named by the inputs: files as given, directories and globs expanded in sorted order."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ReaderError(f"input {item!r} does not exist (no file, directory or glob match)")
            files.extend(matches)
    return files


def read_file(
    path: Path, fmt: str = "auto", options: ReaderOptions = ReaderOptions()
) -> Iterator[InputRecord]:
    """Records of one file in the given (or detected) format."""
    if fmt not in FORMATS:
        raise ReaderError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind in ("disqus", "wxr") and fmt != "auto":
        actual = root_kind(path)
        if actual != kind:
            raise ReaderError(f"{path}: --format {kind} given but the file is a {actual} export")
    return READERS[kind](path, options)


def read_inputs(
    inputs: Iterable[str], fmt: str = "auto", options: ReaderOptions = ReaderOptions()
) -> Iterator[InputRecord]:
    """Records of every input file, in order."""
    for path in expand_inputs(inputs):
        yield from read_file(path, fmt, options)


__all__ = [
    "FORMATS",
    "InputRecord",
    "ReaderError",
    "ReaderOptions",
    "detect_format",
    "expand_inputs",
    "parse_page",
    "read_file",
    "read_inputs",
]
