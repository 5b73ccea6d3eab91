"""Reading an import file: its bytes and hash, the flat CSV/JSONL formats, and the format dispatch.

Flat layout (CSV header or JSON keys)::

    id, text, article_title, article_text, article_id, lang, abusive, mocking, off_topic,
    moderator, decided_at

``id`` and ``text`` are required; a label cell is 1, 0 or empty (not judged: masked, never 0).
Label Studio and Coral files are parsed in :mod:`.labelstudio` and :mod:`.coral`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...model.labels import LABELS
from ...model.record import LabelValue
from . import coral, labelstudio
from .decisions import (
    BadRow,
    LabelStoreError,
    Parsed,
    comment_fields,
    json_objects,
    label_value,
    make_decision,
    optional_str,
    parse_time,
)

FORMATS: tuple[str, ...] = ("csv", "jsonl", "labelstudio", "coral")
FLAT_ID_KEYS = ("id", "comment_id")
FLAT_TEXT_KEYS = ("text",)


@dataclass(frozen=True)
class SourceFile:
    """An import file read whole: its path as given, its text and the SHA-256 of its bytes."""

    path: Path
    text: str
    sha256: str


def read_source(path: Path | str) -> SourceFile:
    """The file at ``path`` decoded as UTF-8 (BOM allowed); :class:`LabelStoreError` when unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelStoreError(
            f"cannot read import file {path}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelStoreError(
            f"import file {path} is not UTF-8 (bad byte at offset {exc.start}); re-export it as UTF-8"
        ) from None
    return SourceFile(path=path, text=text, sha256=hashlib.sha256(data).hexdigest())


def parse_source(
    source: SourceFile, fmt: str, *, reason_map: Mapping[str, tuple[str, ...]] | None = None
) -> Iterator[Parsed]:
    """The rows of ``source`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        return parse_csv(source.text)
    if fmt == "jsonl":
        return parse_jsonl(source.text)
    if fmt == "labelstudio":
        return labelstudio.parse_labelstudio(source.text)
    if fmt == "coral":
        return coral.parse_coral(source.text, reason_map or coral.DEFAULT_REASON_MAP)
    raise LabelStoreError(f"unknown import format {fmt!r}; use one of {', '.join(FORMATS)}")


def flat_row(obj: Mapping[str, Any], line: int) -> Parsed:
    """One flat row (a CSV row or a JSONL object) as a decision, a bad row or a skipped row."""
    where = f"line {line}"
    try:
        fields = comment_fields(obj, id_keys=FLAT_ID_KEYS, text_keys=FLAT_TEXT_KEYS)
    except ValueError as exc:
        return BadRow(where, str(exc))
    labels: dict[str, LabelValue] = {}
    for name in LABELS:
        try:
            labels[name] = label_value(obj.get(name))
        except ValueError:
            return BadRow(
                where, f"label {name!r} is {obj.get(name)!r}; write 1, 0 or leave it empty (not judged)"
            )
    try:
        decided_at = parse_time(obj.get("decided_at"))
    except ValueError as exc:
        return BadRow(where, f"decided_at: {exc}")
    moderator = optional_str(obj.get("moderator")) or ""
    return make_decision(fields, labels, where=where, line=line, moderator=moderator, decided_at=decided_at)


def parse_jsonl(text: str) -> Iterator[Parsed]:
    """Rows of a JSON-lines file; broken JSON and non-objects are bad rows with their line."""
    for item in json_objects(text):
        yield item if isinstance(item, BadRow) else flat_row(item[1], item[0])


def _csv_header(reader: Any) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise LabelStoreError("the CSV file is empty; it needs a header row (id,text,abusive,...)") from None
    columns = [c.strip() for c in header]
    missing = [c for c in ("id", "text") if c not in columns]
    if missing or not set(LABELS) & set(columns):
        raise LabelStoreError(
            f"the CSV header is {columns}; it needs id, text and at least one of {', '.join(LABELS)} "
            "(is this the right file, or another --format?)"
        )
    return columns


def parse_csv(text: str) -> Iterator[Parsed]:
    """Rows of a CSV file with a header; each row is reported by the line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = _csv_header(reader)
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(f"line {start}", f"unreadable CSV row ({exc})")
            last_line = reader.line_num
            continue
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            yield BadRow(f"line {start}", f"row has {len(cells)} fields, the header has {len(columns)}")
            continue
        yield flat_row(dict(zip(columns, cells, strict=True)), start)
