"""What one imported row says: the :class:`Decision` type, row problems, value and time parsing.

Every importer (CSV/JSONL, Label Studio, Coral) turns a file into a stream of :class:`Decision`
(one moderator's yes/no/not-judged on the labels of one comment), :class:`BadRow` (malformed,
reported with its place and skipped) and :class:`SkippedRow` (well-formed but carrying no label,
e.g. a comment still awaiting moderation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...model.errors import CommentmodError
from ...model.labels import LABELS
from ...model.record import LabelValue
from ..data.converters._common import clean_comment, clean_optional


class LabelStoreError(CommentmodError):
    """The label store or an import file cannot be used (unreadable, wrong shape, wrong schema)."""


_YES = frozenset({"1", "true", "yes"})
_NO = frozenset({"0", "false", "no"})
_EPOCH_MS_ABOVE = 1e11  # a number this large is milliseconds since the epoch, not seconds


@dataclass(frozen=True)
class Decision:
    """One moderator's decision on the labels of one comment, from one row of one file.

    ``labels`` holds 1, 0 or None (not judged: masked, never read as 0) for every label.
    ``line`` is the row's line in the file (the task's position for Label Studio) and ``part``
    the annotation within it (0 when a row holds one decision); together with the file's hash
    they make the decision's provenance and its idempotency key.
    """

    comment_id: str
    text: str
    labels: Mapping[str, LabelValue]
    line: int
    part: int = 0
    moderator: str = ""
    decided_at: str | None = None
    lang: str = "und"
    article_id: str | None = None
    article_title: str | None = None
    article_text: str | None = None

    def judged(self) -> dict[str, int]:
        """The labels this decision judged (1 or 0), by name."""
        return {name: value for name, value in self.labels.items() if value is not None}


@dataclass(frozen=True)
class BadRow:
    """A malformed row: ``where`` is e.g. ``line 12`` or ``task 3 (id 17)``; it is skipped."""

    where: str
    message: str


@dataclass(frozen=True)
class SkippedRow:
    """A well-formed row that carries no label (pending status, unmapped reason, nothing judged)."""

    where: str
    reason: str


Parsed = Decision | BadRow | SkippedRow


def json_objects(text: str) -> Iterator[tuple[int, dict[str, Any]] | BadRow]:
    """``(line, object)`` for each non-blank line of a JSON-lines text; a :class:`BadRow` for a
    line that is not valid JSON or not an object."""
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield BadRow(f"line {line}", f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield BadRow(f"line {line}", f"expected a JSON object, found a {type(obj).__name__}")
            continue
        yield line, obj


@dataclass
class RowFields:
    """The comment fields every format shares, before they become a :class:`Decision`."""

    comment_id: str
    text: str
    lang: str = "und"
    article_id: str | None = None
    article_title: str | None = None
    article_text: str | None = None


def label_value(raw: Any) -> LabelValue:
    """A label cell as 1, 0 or None (empty/null = not judged); ``ValueError`` for anything else.

    Accepts 1/0 (numbers, booleans, strings), ``true``/``false`` and ``yes``/``no``
    (any case). Empty never becomes 0.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int | float) and raw in (0, 1):
        return int(raw)
    if isinstance(raw, str):
        token = raw.strip().lower()
        if not token:
            return None
        if token in _YES:
            return 1
        if token in _NO:
            return 0
    raise ValueError(f"{raw!r}")


def parse_time(raw: Any) -> str | None:
    """A decision time as ISO 8601 UTC (``2024-05-01T10:00:00.000000Z``, sortable as text), or None.

    Accepts ISO 8601 strings (naive times are taken as UTC), epoch seconds or milliseconds, and
    MongoDB's ``{"$date": ...}``; raises ``ValueError`` saying what it found for anything else.
    """
    try:
        return _parse_time(raw)
    except (ValueError, TypeError, OverflowError, OSError):
        raise ValueError(
            f"time {raw!r} is not an ISO 8601 time (2024-05-01T10:00:00Z), an epoch number or "
            '{"$date": ...}'
        ) from None


def _parse_time(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, Mapping) and "$date" in raw:
        inner = raw["$date"]
        if isinstance(inner, Mapping) and "$numberLong" in inner:
            inner = int(inner["$numberLong"])
        return _parse_time(inner)
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r}")
    if isinstance(raw, int | float):
        seconds = raw / 1000 if raw > _EPOCH_MS_ABOVE else raw
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    elif isinstance(raw, str):
        moment = datetime.fromisoformat(raw.strip())
    else:
        raise ValueError(f"{raw!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def optional_str(raw: Any) -> str | None:
    """A stripped string, or None for missing/empty values."""
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def comment_fields(
    obj: Mapping[str, Any], *, id_keys: tuple[str, ...], text_keys: tuple[str, ...]
) -> RowFields:
    """The shared comment fields of ``obj``; ``ValueError`` naming what is missing.

    The comment id is the first present of ``id_keys``, the text the first of ``text_keys``
    (cleaned as the converters clean it); ``lang``, ``article_id``, ``article_title`` and
    ``article_text`` are optional.
    """
    comment_id = next((optional_str(obj.get(k)) for k in id_keys if optional_str(obj.get(k))), None)
    if comment_id is None:
        raise ValueError(f"missing comment id (give one of {', '.join(id_keys)})")
    raw_text = next((obj.get(k) for k in text_keys if obj.get(k) is not None), None)
    if raw_text is not None and not isinstance(raw_text, str):
        raise ValueError(f"text is a {type(raw_text).__name__}, not a string")
    text = clean_comment(raw_text)
    if not text:
        raise ValueError(f"missing text (give the comment in {' or '.join(text_keys)})")
    return RowFields(
        comment_id=comment_id,
        text=text,
        lang=optional_str(obj.get("lang")) or "und",
        article_id=optional_str(obj.get("article_id")),
        article_title=_clean_opt(obj.get("article_title")),
        article_text=_clean_opt(obj.get("article_text")),
    )


def _clean_opt(raw: Any) -> str | None:
    return clean_optional(raw) if isinstance(raw, str) else None


def make_decision(
    fields: RowFields,
    labels: Mapping[str, LabelValue],
    *,
    where: str,
    line: int,
    part: int = 0,
    moderator: str = "",
    decided_at: str | None = None,
) -> Decision | SkippedRow:
    """A :class:`Decision`, or a :class:`SkippedRow` when no label was judged."""
    full = {name: labels.get(name) for name in LABELS}
    if all(value is None for value in full.values()):
        return SkippedRow(where, "no label judged")
    return Decision(
        comment_id=fields.comment_id,
        text=fields.text,
        labels=full,
        line=line,
        part=part,
        moderator=moderator,
        decided_at=decided_at,
        lang=fields.lang,
        article_id=fields.article_id,
        article_title=fields.article_title,
        article_text=fields.article_text,
    )
