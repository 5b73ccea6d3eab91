"""Helpers shared by the dataset converters: reading raw files, cleaning text, turning votes into labels.

Keep this module additive: several converters depend on it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from ....model.errors import CommentmodError
from ....model.inputs import clean_text
from ....model.record import CommentRecord, LabelValue


class ConverterError(CommentmodError):
    """A converter cannot run: a raw file is missing or not in the expected format, or a parameter is bad."""


# Invisible characters that carry no meaning in a comment. ZWJ (U+200D) and ZWNJ (U+200C) are
# deliberately kept: ZWJ glues emoji sequences together and ZWNJ is part of several scripts.
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\ufffe\u200b\u2060\u00ad\u180e"), None)
# C0/C1 control characters other than tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# UTF-8 bytes decoded as cp1252 ("Ã®" for "î", "Äƒ" for "ă", "â€™" for "’").
_MOJIBAKE = re.compile(r"[ÃÄÅÈ][\u0080-\u00bf\u0152-\u017e\u02c6\u02dc\u2013-\u203a]|â€")


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252, when (and only when) it round-trips cleanly."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def clean_comment(text: str | None) -> str:
    """Cleaned comment text: BOM/zero-width/control characters removed, newlines normalised.

    Emoji, misspellings, case and punctuation are kept: they carry meaning.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = fix_mojibake(text)
    text = _CONTROL.sub("", text.translate(_INVISIBLE))
    return clean_text(text)


def clean_optional(text: str | None) -> str | None:
    """:func:`clean_comment`, but ``None`` for an empty result (for article titles and bodies)."""
    cleaned = clean_comment(text)
    return cleaned or None


def _raise_csv_limit() -> None:
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def require_file(path: Path) -> Path:
    """``path`` if it is a file, else a :class:`ConverterError` naming what is there."""
    if not path.is_file():
        there = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise ConverterError(
            f"expected raw file {path} but it does not exist; {path.parent} holds {there or 'nothing'}. "
            "Point the converter at the dataset folder as described in its PROVENANCE.md."
        )
    return path


def read_csv(
    path: Path,
    required: Sequence[str] = (),
    *,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> Iterator[dict[str, str]]:
    """Rows of a CSV file as dicts (RFC-4180 quoting, newlines inside quoted fields, BOM stripped).

    Raises :class:`ConverterError` when a ``required`` column is missing.
    """
    require_file(path)
    _raise_csv_limit()
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        reader.fieldnames = columns
        missing = [c for c in required if c not in columns]
        if missing:
            raise ConverterError(
                f"{path}: missing column(s) {missing}; found {columns}. Is this the right file/version?"
            )
        for row in reader:
            yield {k: (v if v is not None else "") for k, v in row.items() if k is not None}


def json_objects(
    lines: Iterable[str], location: Callable[[int], str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of JSON-lines text (blank lines skipped).

    :class:`ConverterError` for a line that is not a JSON object; ``location(lineno)`` names the line.
    """
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConverterError(f"{location(lineno)}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ConverterError(f"{location(lineno)}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_jsonl(path: Path, required: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file (blank lines skipped); :class:`ConverterError` on bad lines."""
    require_file(path)
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, obj in json_objects(handle, lambda n: f"{path}:{n}"):
            missing = [c for c in required if c not in obj]
            if missing:
                raise ConverterError(f"{path}:{lineno}: missing key(s) {missing}; found {sorted(obj)}")
            yield obj


def short_hash(*parts: str, length: int = 12) -> str:
    """A stable short hex digest of ``parts`` (for ids of rows that have none)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False)
    return digest.hexdigest()[:length]


def parse_int(value: str | None, *, where: str) -> int:
    """Integer from a raw cell such as ``"3"`` or ``"3.0"``; :class:`ConverterError` otherwise."""
    try:
        number = float((value or "").strip())
    except ValueError:
        raise ConverterError(f"{where}: expected a number, found {value!r}") from None
    if not number.is_integer():
        raise ConverterError(f"{where}: expected a whole number, found {value!r}")
    return int(number)


def binary(value: Any, *, where: str) -> int:
    """A raw 0/1 cell (``"1"``, ``"0.0"``, ``1``, ``True``) as an int; :class:`ConverterError` otherwise."""
    number = value if isinstance(value, bool | int) else parse_int(str(value), where=where)
    if number not in (0, 1):
        raise ConverterError(f"{where}: expected 0 or 1, found {value!r}")
    return int(number)


def vote_label(votes: int, *, positive_min_votes: int, negative_max_votes: int) -> LabelValue:
    """1 when ``votes >= positive_min_votes``, 0 when ``votes <= negative_max_votes``, else None (unsure)."""
    if negative_max_votes >= positive_min_votes:
        raise ConverterError(
            f"negative_max_votes={negative_max_votes} must be below positive_min_votes={positive_min_votes}"
        )
    if votes >= positive_min_votes:
        return 1
    if votes <= negative_max_votes:
        return 0
    return None


def check_label_param(name: str, value: Any, allowed: Sequence[LabelValue] = (0, 1, None)) -> None:
    """:class:`ConverterError` unless the label-mapping parameter ``name`` is one of ``allowed``."""
    if value not in allowed:
        *head, last = (str(v) for v in allowed)
        choices = f"{', '.join(head)} or {last}" if head else last
        raise ConverterError(f"{name} must be {choices}, got {value!r}")


def any_label(values: Iterable[LabelValue]) -> LabelValue:
    """Three-valued OR: 1 if any value is 1, 0 if there are values and all are 0, else None."""
    seen_unknown = False
    seen_any = False
    for value in values:
        seen_any = True
        if value == 1:
            return 1
        if value is None:
            seen_unknown = True
    if not seen_any or seen_unknown:
        return None
    return 0


class UniqueIds:
    """Hands out unique record ids: repeats of an id get ``#2``, ``#3``... unless the row is a repeat.

    :meth:`make` returns ``None`` for an exact repeat (same id, same text), which callers skip.
    """

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def make(self, base: str, text: str) -> str | None:
        texts = self._seen.setdefault(base, set())
        if text in texts:
            return None
        texts.add(text)
        return base if len(texts) == 1 else f"{base}#{len(texts)}"


class RecordFields(TypedDict, total=False):
    """The optional fields of a converter's record (see :meth:`RecordMaker.record`)."""

    lang: str
    article_title: str | None
    article_text: str | None
    group: str | None


@dataclass
class RecordMaker:
    """Builds one source's records: its fixed source name, licence and default language, unique ids.

    :meth:`make` hands out the id (:class:`UniqueIds`) and builds the record, or returns None for
    an exact repeat (same id, same text), which callers skip. A converter that must not compute a
    row's labels before knowing it is no repeat calls :meth:`new_id`, then :meth:`record`. With
    ``own_group`` a record given no group is a group of its own (the group is its id); otherwise
    ``CommentRecord``'s default group (``source:id``) applies.
    """

    source: str
    licence: str
    lang: str = "und"
    own_group: bool = False
    _ids: UniqueIds = field(default_factory=UniqueIds, repr=False)

    def new_id(self, base: str, text: str) -> str | None:
        """``base`` (or ``base#2``... for a new text under a seen id); None for an exact repeat."""
        return self._ids.make(base, text)

    def record(
        self, record_id: str, text: str, labels: Mapping[str, LabelValue], **fields: Unpack[RecordFields]
    ) -> CommentRecord:
        """The record with this source's name and licence (``lang`` defaults to the source's)."""
        group = fields.get("group")
        if group is None and self.own_group:
            group = record_id
        return CommentRecord(
            id=record_id,
            text=text,
            source=self.source,
            licence=self.licence,
            lang=fields.get("lang", self.lang),
            article_title=fields.get("article_title"),
            article_text=fields.get("article_text"),
            labels=labels,
            group=group,
        )

    def make(
        self, base: str, text: str, labels: Mapping[str, LabelValue], **fields: Unpack[RecordFields]
    ) -> CommentRecord | None:
        """:meth:`new_id` then :meth:`record`; None for an exact repeat."""
        record_id = self.new_id(base, text)
        return None if record_id is None else self.record(record_id, text, labels, **fields)
