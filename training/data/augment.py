"""Emoji counterfactuals for the train split, so that "has an emoji" says nothing about mocking.

:func:`augment_emoji` adds copies (``augmented=True``): emoji-free twins of mocking rows with emoji,
and mocking=0 rows with a sincere emoji appended (or removed) until P(emoji | mocking) is the same
for both values. Which code points are emoji is defined once, in :mod:`commentmod.model.emoji`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ...model.emoji import has_emoji, strip_emoji
from ...model.inputs import normalise_for_dedup
from ...model.record import CommentRecord
from .catalog import EmojiAugmentSpec
from .sampling import stable_unit

AUGMENT_LABEL = "mocking"


def _word_count(text: str) -> int:
    return len(normalise_for_dedup(text).split())


def _emoji_share(records: Sequence[CommentRecord]) -> float | None:
    return sum(has_emoji(r.text) for r in records) / len(records) if records else None


def _copy(rec: CommentRecord, text: str, suffix: str) -> CommentRecord:
    return replace(rec, id=f"{rec.id}#{suffix}", text=text, augmented=True)


def _negative_copies(
    negatives: Sequence[CommentRecord], target: float, spec: EmojiAugmentSpec, seed: int
) -> list[CommentRecord]:
    """Copies of mocking=0 rows that bring their emoji share to ``target`` (or the fixed ``add_rate``).

    Too few emoji: sincere emoji appended to rows without one (never to abusive rows: "hope you
    break a leg 👍" is taunting). Too many (``auto`` only): emoji-free copies of rows with emoji.
    """
    n, e = len(negatives), sum(has_emoji(r.text) for r in negatives)
    plain = [r for r in negatives if not has_emoji(r.text) and r.labels["abusive"] != 1]
    plain.sort(key=lambda r: stable_unit(seed, f"augment:add:{r.id}"))
    if spec.add_rate is not None:
        chosen = [r for r in plain if stable_unit(seed, f"augment:rate:{r.id}") < spec.add_rate]
    elif e < target * n:
        need = len(plain) if target >= 1 else math.ceil((target * n - e) / (1 - target) - 1e-9)
        chosen = plain[:need]
    else:
        emoji_rows = [
            r for r in negatives if has_emoji(r.text) and _word_count(strip_emoji(r.text)) >= spec.min_words
        ]
        emoji_rows.sort(key=lambda r: stable_unit(seed, f"augment:strip0:{r.id}"))
        need = len(emoji_rows) if target <= 0 else math.ceil(e / target - n - 1e-9)
        return [_copy(r, strip_emoji(r.text), "noemoji") for r in emoji_rows[: max(0, need)]]
    out = []
    for rec in chosen:
        emoji = spec.emoji[int(stable_unit(seed, f"augment:which:{rec.id}") * len(spec.emoji))]
        out.append(_copy(rec, f"{rec.text} {emoji}", "emoji"))
    return out


def _cell_report(before: Sequence[CommentRecord], after: Sequence[CommentRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, recs in (("before", before), ("after", after)):
        pos = [r for r in recs if r.labels[AUGMENT_LABEL] == 1]
        neg = [r for r in recs if r.labels[AUGMENT_LABEL] == 0]
        out[tag] = {
            "rows": {"1": len(pos), "0": len(neg)},
            "emoji_share": {"1": _emoji_share(pos), "0": _emoji_share(neg)},
        }
    return out


def _strip_twins(
    positives: Sequence[CommentRecord], spec: EmojiAugmentSpec, seed: int
) -> list[CommentRecord]:
    """Emoji-free copies of mocking=1 rows with emoji (at ``strip_rate``) that keep ``min_words``."""
    return [
        _copy(r, stripped, "noemoji")
        for r in positives
        if has_emoji(r.text)
        and stable_unit(seed, f"augment:strip:{r.id}") < spec.strip_rate
        and _word_count(stripped := strip_emoji(r.text)) >= spec.min_words
    ]


def augment_emoji(
    records: Sequence[CommentRecord], spec: EmojiAugmentSpec, seed: int
) -> tuple[list[CommentRecord], dict[str, Any]]:
    """Emoji counterfactual copies for the train split; returns ``(copies, report)``.

    Per cell (language, or the whole split with ``by: all``) that has both mocking values:
    1. each mocking=1 row with emoji gets (at ``strip_rate``) a copy without them, when at least
       ``min_words`` words remain: the mockery is in the words, not only in the emoji;
    2. mocking=0 rows get copies (:func:`_negative_copies`) until P(emoji | 0) = P(emoji | 1).
    Copies keep source, licence, group (same split), labels and article; id ``#noemoji``/``#emoji``,
    ``augmented=True``. Synthetic pair rows and rows with unknown mocking are neither used nor copied.
    """
    if not spec.enabled:
        return [], {"enabled": False}
    cells: dict[str, list[CommentRecord]] = defaultdict(list)
    for rec in records:
        if not rec.synthetic and not rec.augmented and rec.labels[AUGMENT_LABEL] is not None:
            cells[rec.lang if spec.by == "lang" else "all"].append(rec)
    copies: list[CommentRecord] = []
    report: dict[str, Any] = {"enabled": True, "label": AUGMENT_LABEL, "by": spec.by, "cells": {}}
    for cell, recs in sorted(cells.items()):
        pos = [r for r in recs if r.labels[AUGMENT_LABEL] == 1]
        neg = [r for r in recs if r.labels[AUGMENT_LABEL] == 0]
        if not pos or not neg:
            continue
        twins = _strip_twins(pos, spec, seed)
        target = sum(has_emoji(r.text) for r in pos) / (len(pos) + len(twins))
        added = _negative_copies(neg, target, spec, seed)
        copies += twins + added
        report["cells"][cell] = {
            **_cell_report(recs, [*recs, *twins, *added]),
            "copies": {"1": len(twins), "0": len(added)},
        }
    report["copies"] = len(copies)
    return copies, report
