"""Coral Talk moderation decisions (JSON lines) and the map from rejection reasons to labels.

One decision per line (field aliases in brackets)::

    {"comment_id" [id, commentID]: "c1",
     "body" [text]: "the comment",
     "story" [story_id, storyID]: "s9" or {"id": "s9", "url": "...", "title": "...",
                                           "metadata": {"title": "..."}, "text": "..."},
     "status": "APPROVED" | "REJECTED",
     "rejection_reason" [rejectionReason, reason]: {"code": "ABUSIVE", ...} or "ABUSIVE",
     "moderator" [moderatorID, moderator_id]: "m1" or {"id": ..., "username": ..., "email": ...},
     "created_at" [createdAt, decided_at]: ISO time, epoch number or {"$date": ...},
     "lang": "ro"}

APPROVED sets every label to 0. REJECTED sets the labels its reason maps to (see
:data:`DEFAULT_REASON_MAP`) to 1 and leaves the others not judged; a reason that maps to no label
(OTHER, BANNED_WORD, none given) and any other status (NONE, PREMOD, SYSTEM_WITHHELD) carry no
label and are skipped. ``--reason-map FILE`` (YAML ``CODE: label | [labels] | null``) overrides
the defaults code by code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from ...model.labels import LABELS
from ...model.record import LabelValue
from ...model.yamlfile import YamlFileError, load_yaml_mapping
from .decisions import (
    BadRow,
    LabelStoreError,
    Parsed,
    SkippedRow,
    comment_fields,
    json_objects,
    make_decision,
    optional_str,
    parse_time,
)

ReasonMap = Mapping[str, tuple[str, ...]]

DEFAULT_REASON_MAP: Final[ReasonMap] = MappingProxyType(
    {
        "ABUSIVE": ("abusive",),
        "OFFENSIVE": ("abusive",),
        "HATE_SPEECH": ("abusive",),
        "HARASSMENT_BULLYING": ("abusive",),
        "SPAM": ("off_topic",),
        "AD": ("off_topic",),
        "IRRELEVANT_CONTENT": ("off_topic",),
    }
)
ID_KEYS: Final = ("comment_id", "id", "commentID")
TEXT_KEYS: Final = ("body", "text")
STORY_KEYS: Final = ("story", "story_id", "storyID")
REASON_KEYS: Final = ("rejection_reason", "rejectionReason", "reason")
MODERATOR_KEYS: Final = ("moderator", "moderatorID", "moderator_id")
TIME_KEYS: Final = ("created_at", "createdAt", "decided_at")


def _labels_of(code: str, value: Any, path: Path) -> tuple[str, ...]:
    names = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LabelStoreError(
            f"reason map {path}: {code} maps to {value!r}; write a label, a list of labels or null"
        )
    unknown = [n for n in names if n not in LABELS]
    if unknown:
        raise LabelStoreError(
            f"reason map {path}: {code} maps to unknown label(s) {unknown}; valid labels are "
            f"{', '.join(LABELS)}"
        )
    return tuple(names)


def load_reason_map(path: Path | str) -> ReasonMap:
    """The default reason map with the codes of the YAML file at ``path`` overriding it.

    The file maps a rejection reason code (any case) to a label, a list of labels, or null
    (the reason says nothing about the labels), e.g. ``INSULT: abusive``, ``SELF_PROMO: [off_topic]``.
    """
    path = Path(path)
    try:
        data = load_yaml_mapping(
            path, "Coral reason map", hint="pass --reason-map with an existing YAML file"
        )
    except YamlFileError as exc:
        raise LabelStoreError(str(exc)) from None
    merged = dict(DEFAULT_REASON_MAP)
    for code, value in data.items():
        merged[str(code).strip().upper()] = _labels_of(str(code), value, path)
    return MappingProxyType(merged)


def _first(obj: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((obj[k] for k in keys if obj.get(k) not in (None, "")), None)


def reason_code(raw: Any) -> str | None:
    """The upper-case code of a rejection reason given as ``{"code": ...}`` or a string."""
    if isinstance(raw, Mapping):
        raw = raw.get("code")
    code = optional_str(raw)
    return code.upper() if code else None


def moderator_name(raw: Any) -> str:
    """The moderator of a decision: a string id, or the username/email/id of an object."""
    if isinstance(raw, Mapping):
        raw = _first(raw, ("username", "email", "id"))
    return optional_str(raw) or ""


def _story_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    story = _first(obj, STORY_KEYS)
    if not isinstance(story, Mapping):
        return {} if story is None else {"article_id": story}
    metadata = story.get("metadata")
    title = story.get("title") or (metadata.get("title") if isinstance(metadata, Mapping) else None)
    found = {
        "article_id": _first(story, ("id", "url")),
        "article_title": title,
        "article_text": story.get("text"),
    }
    return {key: value for key, value in found.items() if value is not None}


def _status_labels(status: str, reason: str | None, reason_map: ReasonMap) -> dict[str, LabelValue]:
    if status == "APPROVED":
        return dict.fromkeys(LABELS, 0)
    return dict.fromkeys(reason_map.get(reason or "", ()), 1)


def coral_row(obj: Mapping[str, Any], line: int, reason_map: ReasonMap) -> Parsed:
    """One Coral decision as a :class:`Decision`, or why it is bad or skipped."""
    where = f"line {line}"
    status = (optional_str(obj.get("status")) or "").upper()
    if status not in ("APPROVED", "REJECTED"):
        return SkippedRow(where, f"status {status or 'missing'} is not a moderator's decision")
    try:
        fields = comment_fields({**obj, **_story_fields(obj)}, id_keys=ID_KEYS, text_keys=TEXT_KEYS)
        decided_at = parse_time(_first(obj, TIME_KEYS))
    except ValueError as exc:
        return BadRow(where, str(exc))
    reason = reason_code(_first(obj, REASON_KEYS))
    labels = _status_labels(status, reason, reason_map)
    if not labels:
        return SkippedRow(where, f"rejection reason {reason or 'missing'} maps to no label")
    return make_decision(
        fields,
        labels,
        where=where,
        line=line,
        moderator=moderator_name(_first(obj, MODERATOR_KEYS)),
        decided_at=decided_at,
    )


def parse_coral(text: str, reason_map: ReasonMap = DEFAULT_REASON_MAP) -> Iterator[Parsed]:
    """Decisions of a Coral JSON-lines file; broken JSON is a bad row with its line."""
    for item in json_objects(text):
        yield item if isinstance(item, BadRow) else coral_row(item[1], item[0], reason_map)
