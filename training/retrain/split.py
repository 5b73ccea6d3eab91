"""The new labels split by article into train / validation / test, before anything is fitted.

Each group (the article a comment sits under; a comment without an article is its own group) goes
to one split, chosen by a seeded hash of the group's name, not by a shuffle: an article keeps its
split from one retrain to the next as the label store grows, so a later retrain never tests on an
article an earlier model was trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ...model.record import CommentRecord
from .errors import RetrainError

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def group_of(record: CommentRecord) -> str:
    """The record's split group (its article when known, else the comment itself)."""
    return record.group or f"{record.source}:{record.id}"


def split_of(group: str, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The split of ``group``: a uniform number from ``sha256(seed:group)`` against the fractions."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, share in zip(SPLITS, fractions, strict=True):
        edge += share
        if u < edge:
            return name
    return SPLITS[-1]


@dataclass(frozen=True)
class NewSplits:
    """The new labels by split (each list in the store's order)."""

    train: list[CommentRecord]
    validation: list[CommentRecord]
    test: list[CommentRecord]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}

    def groups(self) -> dict[str, int]:
        """Distinct groups (articles) per split."""
        return {name: len({group_of(r) for r in getattr(self, name)}) for name in SPLITS}


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise RetrainError(
            f"split fractions are {list(fractions)}; give three positive shares of train, validation "
            "and test that add up to 1, e.g. 0.7,0.15,0.15"
        )
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def split_by_group(
    records: Sequence[CommentRecord], seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> NewSplits:
    """Records with at least one known label, split by group; an empty split is an error."""
    shares = check_fractions(fractions)
    parts: dict[str, list[CommentRecord]] = {name: [] for name in SPLITS}
    for rec in records:
        if any(v is not None for v in rec.labels.values()):
            parts[split_of(group_of(rec), seed, shares)].append(rec)
    splits = NewSplits(parts["train"], parts["validation"], parts["test"])
    empty = [name for name, n in splits.counts().items() if n == 0]
    if empty:
        n_groups = len({group_of(r) for r in records})
        raise RetrainError(
            f"the {len(records)} new labels ({n_groups} articles) leave no rows for {', '.join(empty)} "
            "after the split by article; import decisions on more articles, or change --split-seed"
        )
    return splits
