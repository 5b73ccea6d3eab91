"""The record every reader yields, options shared by readers, and reader errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commentmod.model.errors import CommentmodError


class ReaderError(CommentmodError):
    """An input file cannot be read at all (unknown format, unsafe or unknown XML, missing file)."""


@dataclass(frozen=True)
class InputRecord:
    """One comment read from a dump, with its article context and where it came from.

    ``error`` is set when the record could not be read; the scorer then reports it
    with status ``error`` and ``location`` instead of failing the run.
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

    def as_item(self) -> dict[str, Any]:
        """The dict the Scorer accepts."""
        return {
            "id": self.id,
            "text": self.text,
            "article_title": self.article_title,
            "article_text": self.article_text,
        }


@dataclass(frozen=True)
class ReaderOptions:
    """Column overrides and switches; ``None`` means auto-detect."""

    text_col: str | None = None
    id_col: str | None = None
    title_col: str | None = None
    context_col: str | None = None
    include_pingbacks: bool = False
    csv_delimiter: str | None = None


TEXT_COLUMNS = ("text", "comment", "comment_text", "body", "message", "content")
ID_COLUMNS = ("id", "comment_id", "post_id", "_id", "uid")
TITLE_COLUMNS = ("article_title", "title", "thread_title", "headline")
CONTEXT_COLUMNS = ("article_text", "article", "article_body", "thread_text", "context")
AUTHOR_COLUMNS = ("author", "author_name", "user", "username", "name")


def pick_column(
    columns: list[str], override: str | None, candidates: tuple[str, ...], what: str
) -> str | None:
    """The column to use: the override (which must exist) or the first known name present."""
    if override is not None:
        if override not in columns:
            raise ReaderError(
                f"column {override!r} given for the {what} is not in the file; columns are {columns}"
            )
        return override
    lowered = {c.lower().strip(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):  # NaN from CSV/parquet
        return None
    return str(value)
