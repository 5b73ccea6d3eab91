"""Merging repeated rows of one source: one record per distinct (text, article context).

Kept apart from ``_common.py`` so converters opt in explicitly.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import ParamSpec

from ....model.labels import LABELS
from ....model.record import CommentRecord, LabelValue

log = logging.getLogger(__name__)


def context_key(record: CommentRecord) -> Hashable:
    """Default duplicate key: the same text under the same article."""
    return (record.text, record.article_title or "", record.article_text or "")


def merge_labels(values: Iterable[LabelValue]) -> LabelValue:
    """One label from repeats: the agreed value; None when repeats disagree (or none is known)."""
    known = {v for v in values if v is not None}
    return known.pop() if len(known) == 1 else None


def merge_duplicates(
    records: Iterable[CommentRecord],
    key: Callable[[CommentRecord], Hashable] = context_key,
    *,
    drop_unlabelled: bool = True,
) -> Iterator[CommentRecord]:
    """Yield one record per ``key`` in first-seen order, labels merged with :func:`merge_labels`.

    The first record's id, group and metadata are kept. A label the repeats disagree on becomes None;
    a merged record left with no known label is dropped when ``drop_unlabelled`` (it teaches nothing).
    """
    first: dict[Hashable, CommentRecord] = {}
    labels: dict[Hashable, list[dict[str, LabelValue]]] = {}
    for record in records:
        k = key(record)
        if k not in first:
            first[k] = record
            labels[k] = []
        labels[k].append(dict(record.labels))
    conflicts = 0
    for k, record in first.items():
        seen = labels[k]
        if len(seen) == 1:
            yield record
            continue
        merged = {name: merge_labels(d[name] for d in seen) for name in LABELS}
        if any(merged[name] != record.labels[name] for name in LABELS):
            conflicts += 1
        if drop_unlabelled and all(v is None for v in merged.values()):
            continue
        yield dataclasses.replace(record, labels=merged)
    if conflicts:
        log.info("merged repeats with conflicting labels into None for %d record(s)", conflicts)


P = ParamSpec("P")


def merged(fn: Callable[P, Iterable[CommentRecord]]) -> Callable[P, Iterator[CommentRecord]]:
    """Decorate a converter so its output goes through :func:`merge_duplicates`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[CommentRecord]:
        return merge_duplicates(fn(*args, **kwargs))

    return wrapper
