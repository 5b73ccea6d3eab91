"""The grouped train/validation/test split: a seeded hash of each group, repaired for small sets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from ...model.record import CommentRecord
from .catalog import SPLIT_NAMES, SplitSpec
from .sampling import stable_unit


def _interval(fractions: Mapping[str, float], name: str) -> tuple[float, float]:
    low = 0.0
    for split in SPLIT_NAMES:
        high = low + fractions[split]
        if split == name:
            return low, high
        low = high
    raise KeyError(name)


def _hash_split(unit: float, fractions: Mapping[str, float]) -> str:
    for split in SPLIT_NAMES:
        low, high = _interval(fractions, split)
        if low <= unit < high:
            return split
    return SPLIT_NAMES[-1]


def _fill_empty_splits(
    out: dict[str, str], units: Mapping[str, float], fractions: Mapping[str, float]
) -> None:
    """Move groups into empty splits (positive fraction) from splits holding more than one group."""
    for empty in SPLIT_NAMES:
        counts = Counter(out.values())
        if fractions[empty] <= 0 or counts[empty]:
            continue
        donors = [s for s in SPLIT_NAMES if counts[s] > 1]
        if not donors:
            continue
        donor = max(donors, key=lambda s: (counts[s], s == "train"))
        low, high = _interval(fractions, empty)

        def distance(g: str, low: float = low, high: float = high) -> tuple[float, str]:
            u = units[g]
            return (0.0 if low <= u < high else min(abs(u - low), abs(u - high)), g)

        moved = min((g for g, s in out.items() if s == donor), key=distance)
        out[moved] = empty


def assign_groups(
    groups: Sequence[str], spec: SplitSpec, seed: int, sources: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Split name for each group, by a seeded hash of the group id.

    A group's split depends only on its id and the seed, so adding sources does not move
    existing groups. Small sets are repaired: when a split with a positive fraction got no group
    but another split holds more than one, the group whose hash is nearest to the empty split's
    interval moves there. The repair runs per cell first (``sources`` maps group -> source or
    source/language; a cell with 3+ groups then appears in every split), then over all groups,
    so tiny builds still have every split non-empty.
    """
    fractions = spec.fractions()
    units = {g: stable_unit(seed, f"split:{g}") for g in groups}
    out = {g: _hash_split(u, fractions) for g, u in units.items()}
    if sources:
        per_source: dict[str, dict[str, str]] = defaultdict(dict)
        for g, split in out.items():
            per_source[sources.get(g, "")][g] = split
        for part in per_source.values():
            _fill_empty_splits(part, units, fractions)
            out.update(part)
    _fill_empty_splits(out, units, fractions)
    return out


def assign_splits(
    records: Sequence[CommentRecord], spec: SplitSpec, seed: int
) -> dict[str, list[CommentRecord]]:
    """Grouped split: every record of a group lands in the same split; input order is kept.

    Small sets are repaired per (source, language of the group's first record), so a source
    with a few article groups per language still has every language in every split.
    """
    cells: dict[str, str] = {}
    for rec in records:
        cells.setdefault(str(rec.group), f"{rec.source}/{rec.lang}")
    where = assign_groups(list(cells), spec, seed, cells)
    splits: dict[str, list[CommentRecord]] = {name: [] for name in SPLIT_NAMES}
    for rec in records:
        splits[where[str(rec.group)]].append(rec)
    return splits
