"""The record every reader yields, options and limits shared by readers, and reader errors.

Contract of every reader (``read_jsonl``, ``read_csv``, ``read_parquet``, ``read_disqus``,
``read_wxr``, ``read_page``): it never raises because of what a file contains. A record that
cannot be read (invalid JSON or UTF-8, a JSON line nested too deeply, a line over the size limit,
a text that is not a string, a post over the XML limits) becomes an :class:`InputRecord` with
``error`` set and its ``location``; a file that breaks mid-way (truncated, not well-formed,
unsafe XML, unreadable Parquet) gives the records read so far and then one error record saying
where reading stopped. Only a wrong *request* raises :class:`ReaderError` (an unknown format
name, a missing input, invalid :class:`ReaderOptions`).

Lone surrogates (``"\\udc80"`` from a JSON escape) are replaced with U+FFFD in every string a
reader yields, so nothing downstream (tokenizer, JSON writer) can fail on them.

Long comments (choice shared with the Scorer): the readers bound the *bytes of one record*
(``max_record_bytes``, 4 MiB: a longer line or post is an error record), not the characters of
a comment; a text within that bound is passed through whole, and the Scorer scores its first
``max_chars`` characters (20,000 by default) in windows and marks the result truncated. Article
context is cut to ``max_context_chars`` at the reader (the model reads its first 1,500).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ...model.errors import CommentmodError


class ReaderError(CommentmodError):
    """A request the readers cannot serve: unknown format, missing input, invalid options."""


@dataclass(frozen=True)
class InputRecord:
    """One comment read from a dump, with its article context and where it came from.

    ``error`` is set when the record could not be read; the pipeline then reports it
    with status ``error`` and ``location`` instead of failing the run. The Scorer takes the
    record as it is (its ``id``, ``text``, ``article_title``, ``article_text`` attributes).
    """

    id: str | None
    text: str | None
    source: str
    location: str
    article_title: str | None = None
    article_text: str | None = None
    author: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


MIB = 1024 * 1024


@dataclass(frozen=True)
class ReaderOptions:
    """Column overrides, switches and the limits that bound a reader's memory and time.

    Columns (``None`` = auto-detect per row): ``text_col``, ``id_col``, ``title_col``,
    ``context_col``; ``include_pingbacks`` (WXR); ``csv_delimiter`` (sniffed when ``None``).

    Limits (a record over a limit becomes an ``error`` record; reading goes on):

    * ``max_record_bytes`` (4 MiB): one JSONL line, one CSV line, or the character data of one
      Disqus post/thread or WXR comment/field; Parquet: characters of one text cell.
      An over-long line is skipped in bounded chunks, never held in memory whole.
    * ``max_page_bytes`` (16 MiB): a page text dump larger than this is one error record.
    * ``max_xml_depth`` (64): element nesting (the parser's own stack would otherwise grow with
      it); a post/thread/comment nested deeper is an error record, skipped to its end tag over
      the raw bytes, and reading goes on after it (deeper outside any post stops the file).
    * ``max_xml_record_elements`` (10,000): elements inside one post/thread/comment.
    * ``max_xml_names`` (10,000): distinct element and attribute names (the XML parser keeps one
      table entry per name); the post that crosses it is an error record, skipped as above, and a
      fresh parser (with an empty table) goes on. The same skip for one token (tag, comment,
      CDATA) longer than ``max_record_bytes``.
    * ``max_context_chars`` (10,000): article title/text kept per record (the model reads the
      first 1,500 characters of the article text).
    """

    text_col: str | None = None
    id_col: str | None = None
    title_col: str | None = None
    context_col: str | None = None
    include_pingbacks: bool = False
    csv_delimiter: str | None = None
    max_record_bytes: int = 4 * MIB
    max_page_bytes: int = 16 * MIB
    max_xml_depth: int = 64
    max_xml_record_elements: int = 10_000
    max_xml_names: int = 10_000
    max_context_chars: int = 10_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("max_") and (not isinstance(value, int) or value < 1):
                raise ReaderError(f"reader option {f.name}={value!r} must be a positive whole number")
        if self.csv_delimiter is not None and len(self.csv_delimiter) != 1:
            raise ReaderError(f"csv_delimiter={self.csv_delimiter!r} must be one character")


TEXT_COLUMNS = ("text", "comment", "comment_text", "body", "message", "content")
ID_COLUMNS = ("id", "comment_id", "post_id", "_id", "uid")
TITLE_COLUMNS = ("article_title", "title", "thread_title", "headline")
CONTEXT_COLUMNS = ("article_text", "article", "article_body", "thread_text", "context")
AUTHOR_COLUMNS = ("author", "author_name", "user", "username", "name")


def pick_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first known column name present (case and surrounding spaces ignored)."""
    lowered: dict[str, str] = {}
    for c in columns:
        lowered.setdefault(c.lower().strip(), c)
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` with lone surrogates replaced by U+FFFD (the same object when there are none)."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def scalar_text(value: Any) -> str | None:
    """A string for an id/title/author-like value: strings and numbers; ``None`` for anything else."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else repr(value)
    return None


def comment_text(value: Any) -> tuple[str | None, str | None]:
    """``(text, error)`` of a comment-text value: ``None``/NaN is an empty comment, a string is the
    text, anything else (number, bool, bytes, dict, list) is an error - never its Python repr."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", None
    if isinstance(value, str):
        return clean_text(value), None
    kind = type(value).__name__
    return None, f"comment text is {'an' if kind[:1] in 'aeiou' else 'a'} {kind}, not a string"


def cap(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (context fields)."""
    return text if text is None or len(text) <= limit else text[:limit]


def error_record(source: str, location: str, message: str, id: str | None = None) -> InputRecord:
    return InputRecord(id=id, text=None, source=source, location=location, error=message)


def clean_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Meta values a writer can always encode: cleaned strings, numbers, booleans, None; others dropped."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, str):
            out[key] = clean_text(value)
        elif (
            value is None
            or isinstance(value, bool | int)
            or (isinstance(value, float) and math.isfinite(value))
        ):
            out[key] = value
    return out
