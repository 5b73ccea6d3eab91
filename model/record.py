"""The labelled comment record used by converters, training and evaluation.

A label is ``1`` (yes), ``0`` (no) or ``None`` (the source says nothing about it).
``None`` must be masked in training, never read as ``0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import RecordError
from .labels import LABELS

LabelValue = int | None


def _empty_labels() -> dict[str, LabelValue]:
    return {name: None for name in LABELS}


def check_labels(labels: Mapping[str, Any]) -> dict[str, LabelValue]:
    """Return a full label dict (every label present) or raise :class:`RecordError`."""
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise RecordError(f"unknown label(s) {sorted(unknown)}; valid labels are {list(LABELS)}")
    out: dict[str, LabelValue] = {}
    for name in LABELS:
        value = labels.get(name)
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool):
            value = int(value)
        if value not in (0, 1):
            raise RecordError(f"label {name!r} is {value!r}; write 1, 0 or None (None = unknown)")
        out[name] = int(value)
    return out


@dataclass(frozen=True)
class CommentRecord:
    """One labelled comment, optionally with the article it sits under."""

    id: str
    text: str
    source: str
    licence: str
    lang: str = "und"
    article_title: str | None = None
    article_text: str | None = None
    labels: Mapping[str, LabelValue] = field(default_factory=_empty_labels)
    group: str | None = None
    synthetic: bool = False
    augmented: bool = False  # a train-only counterfactual copy of another record (data build)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise RecordError(f"record {self.id!r}: text must be a string, got {type(self.text).__name__}")
        if not self.id:
            raise RecordError("record id is empty; give every record a stable id (e.g. source:row)")
        object.__setattr__(self, "labels", check_labels(self.labels))
        if self.group is None:
            object.__setattr__(self, "group", f"{self.source}:{self.id}")

    def to_row(self) -> dict[str, Any]:
        """Flat dict (one column per label) for Arrow/JSON storage."""
        row: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "article_title": self.article_title,
            "article_text": self.article_text,
            "lang": self.lang,
            "source": self.source,
            "group": self.group,
            "licence": self.licence,
            "synthetic": self.synthetic,
            "augmented": self.augmented,
        }
        row.update(self.labels)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CommentRecord:
        """Inverse of :meth:`to_row`; also accepts a nested ``labels`` mapping."""
        labels = row.get("labels")
        if labels is None:
            labels = {name: row.get(name) for name in LABELS}
        return cls(
            id=str(row["id"]),
            text=row["text"],
            source=row["source"],
            licence=row["licence"],
            lang=row.get("lang") or "und",
            article_title=row.get("article_title"),
            article_text=row.get("article_text"),
            labels=labels,
            group=row.get("group"),
            synthetic=bool(row.get("synthetic", False)),
            augmented=bool(row.get("augmented", False)),
        )
