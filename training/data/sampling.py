"""Seeded, machine-independent sampling: the hash unit every build decision draws from, row caps,
and the cap on a label's positive share.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from ...model.record import CommentRecord


def stable_unit(seed: int, key: str) -> float:
    """A number in [0, 1) from ``seed`` and ``key``; the same on every run and machine."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def cap_records(records: list[CommentRecord], max_rows: int | None, seed: int) -> list[CommentRecord]:
    """At most ``max_rows`` records, a seeded sample that keeps the original order."""
    if max_rows is None or len(records) <= max_rows:
        return records
    order = sorted(range(len(records)), key=lambda i: stable_unit(seed, records[i].id))
    keep = sorted(order[:max_rows])
    return [records[i] for i in keep]


def limit_positive_rate(
    records: list[CommentRecord], rates: Mapping[str, float], seed: int
) -> tuple[list[CommentRecord], int, int]:
    """Cap each label's positive share among the rows that know it: ``{mocking: 0.25}``.

    For a label with ``p`` positives and ``n`` negatives, at most ``floor(rate / (1 - rate) * n)``
    positives keep the value 1 (a seeded choice by id); the others get None for that label, and a
    row left with no known label is dropped. A source with no negatives loses all its positives.
    Returns ``(records, positives capped, rows dropped)``.
    """
    capped: dict[int, set[str]] = defaultdict(set)
    for label, rate in rates.items():
        positives = [i for i, r in enumerate(records) if r.labels[label] == 1]
        negatives = sum(1 for r in records if r.labels[label] == 0)
        keep = len(positives) if rate >= 1 else math.floor(rate / (1 - rate) * negatives + 1e-9)
        order = sorted(positives, key=lambda i: stable_unit(seed, f"posrate:{label}:{records[i].id}"))
        for i in order[keep:]:
            capped[i].add(label)
    out: list[CommentRecord] = []
    for i, rec in enumerate(records):
        if i not in capped:
            out.append(rec)
            continue
        kept = replace(rec, labels={**rec.labels, **dict.fromkeys(capped[i])})
        if any(v is not None for v in kept.labels.values()):
            out.append(kept)
    return out, sum(len(v) for v in capped.values()), len(records) - len(out)
