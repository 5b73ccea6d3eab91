"""Merging duplicate comments across sources: one record per normalised text, labels merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ...model.inputs import clean_text, normalise_for_dedup
from ...model.labels import LABELS
from ...model.record import CommentRecord
from .catalog import DedupSpec


def dedup_key(text: str) -> str:
    """Normalised text; texts that normalise to nothing (emoji only) keep their cleaned form."""
    key = normalise_for_dedup(text)
    return key if key else "raw:" + clean_text(text)


@dataclass
class DedupReport:
    """Duplicates removed per source and label conflicts met while merging."""

    removed: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"removed_per_source": dict(self.removed), "label_conflicts": dict(self.conflicts)}


def merge_labels(
    records: Sequence[CommentRecord], conflict: str, report: DedupReport | None = None
) -> dict[str, int | None]:
    """One label dict for duplicates: known values win over None; disagreement follows ``conflict``."""
    merged: dict[str, int | None] = {}
    for name in LABELS:
        values = [r.labels[name] for r in records if r.labels[name] is not None]
        if not values:
            merged[name] = None
        elif len(set(values)) == 1:
            merged[name] = values[0]
        else:
            if report is not None:
                report.conflicts[name] += 1
            merged[name] = {"unknown": None, "positive": 1, "first": values[0]}[conflict]
    return merged


def deduplicate(
    records: Iterable[CommentRecord], spec: DedupSpec | None = None
) -> tuple[list[CommentRecord], DedupReport]:
    """Keep the first record of each normalised text (catalog order = priority), labels merged."""
    spec = spec or DedupSpec()
    report = DedupReport()
    buckets: dict[str, list[CommentRecord]] = {}
    for rec in records:
        key = dedup_key(rec.text)
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = [rec]
        else:
            bucket.append(rec)
            report.removed[rec.source] += 1
    kept: list[CommentRecord] = []
    for bucket in buckets.values():
        first = bucket[0]
        if len(bucket) > 1:
            labels = merge_labels(bucket, spec.conflict, report)
            if labels != dict(first.labels):
                first = replace(first, labels=labels)
        kept.append(first)
    return kept, report
