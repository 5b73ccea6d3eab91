"""Rows of ``commentmod score`` output as candidates for labeling, and the strategies that rank them.

A scored row (JSONL, :func:`commentmod.serving.pipeline.output_row`) has the input ``id``, ``text``
(absent when scored with ``--no-text``), ``article_title``, ``scores``/``flags`` per label,
``status``, ``model`` (the artifact's id, ``name@digest``) and ``meta`` (``lang``/``language`` when
the input had it); it does not carry the thresholds nor the article text.

Strategies (:func:`strategy_keys`; ties go to the earlier row, so the same file, options and seed
give the same selection):

* ``uncertainty``: closest to a threshold first: ``min over labels |logit(score) - logit(threshold)|``.
* ``flagged``: flagged rows first, highest top score first; then the unflagged, likewise.
* ``random``: a uniform sample, keyed by ``sha256(seed, id)`` (independent of the row order).

:func:`read_candidates` skips rows with status ``error``/``empty``, without an id, with an id seen
before, or in ``skip_ids``; :func:`select` keeps only ``n`` candidates in memory.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...model.errors import CommentmodError
from ...model.labels import LABELS
from ...model.numeric import logit

STRATEGIES: Final = ("uncertainty", "flagged", "random")
SKIPPED_STATUSES: Final = ("error", "empty")


class ExportTasksError(CommentmodError):
    """The tasks cannot be written: unreadable scored file, wrong model, missing texts, bad options."""


@dataclass(frozen=True)
class Candidate:
    """One scored comment that may become a task (``position``: its line in the scored file)."""

    position: int
    id: str
    scores: Mapping[str, float]
    flags: Mapping[str, bool]
    model: str
    text: str | None = None
    article_title: str | None = None
    article_text: str | None = None
    lang: str | None = None


@dataclass
class ScoredScan:
    """What reading a scored file found: rows, candidates, rows skipped by reason, bad rows."""

    rows: int = 0
    candidates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)


# -- reading the scored file ----------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def parse_row(row: Any, position: int) -> Candidate | str:
    """A :class:`Candidate` of one scored row, or why it is skipped (``"status error"``, ...).

    Raises ``ValueError`` for a row that is not a ``commentmod score`` output row.
    """
    if not isinstance(row, Mapping):
        raise ValueError(f"a {type(row).__name__}, expected a JSON object (a commentmod score row)")
    status = row.get("status")
    if status in SKIPPED_STATUSES:
        return f"status {status}"
    if status != "ok":
        raise ValueError(f"status {status!r}, expected ok, empty or error")
    rid = row.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    if not opt_str(rid):
        return "no id"
    scores, flags = row.get("scores"), row.get("flags")
    if not isinstance(scores, Mapping) or not isinstance(flags, Mapping):
        raise ValueError("status ok without scores and flags objects")
    parsed = {label: _number(scores.get(label)) for label in LABELS}
    missing = [label for label, p in parsed.items() if p is None or not 0.0 <= p <= 1.0]
    missing += [label for label in LABELS if not isinstance(flags.get(label), bool)]
    if missing:
        raise ValueError(f"no score in [0, 1] or no flag for {sorted(set(missing))}")
    raw_meta = row.get("meta")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    return Candidate(
        position=position,
        id=str(rid),
        scores={label: p for label, p in parsed.items() if p is not None},
        flags={label: bool(flags[label]) for label in LABELS},
        model=opt_str(row.get("model")) or "unknown",
        text=row["text"] if isinstance(row.get("text"), str) else None,
        article_title=opt_str(row.get("article_title")),
        lang=opt_str(meta.get("lang")) or opt_str(meta.get("language")),
    )


def read_candidates(
    path: Path, report: ScoredScan, skip_ids: frozenset[str] = frozenset()
) -> Iterator[Candidate]:
    """The scored rows that may become tasks, in file order; counts the others in ``report``."""
    if path.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq"):
        raise ExportTasksError(
            f"{path}: export-tasks reads the JSONL output of commentmod score; score again with "
            "--out FILE.jsonl"
        )
    seen: set[str] = set()
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for position, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                report.rows += 1
                try:
                    parsed = parse_row(json.loads(line), position)
                except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                    report.bad.append(f"{path}: line {position}: {str(exc)[:200]}")
                    continue
                if isinstance(parsed, str):
                    report.skipped[parsed] += 1
                elif parsed.id in seen:
                    report.skipped["id seen before"] += 1
                elif parsed.id in skip_ids:
                    seen.add(parsed.id)
                    report.skipped["already in the label store"] += 1
                else:
                    seen.add(parsed.id)
                    report.candidates += 1
                    yield parsed
    except OSError as exc:
        raise ExportTasksError(f"cannot read the scored file {path}: {exc.strerror or exc}") from None


# -- strategies -----------------------------------------------------------------------------------

Keys = Callable[[Sequence[Candidate]], list[tuple[float, ...]]]  # sort keys of a chunk, smallest first
CHUNK: Final = 4096  # candidates keyed at once (numpy over the chunk for uncertainty)


def uncertainty_keys(thresholds: Mapping[str, float]) -> Keys:
    """Smallest first: the distance in logit space to the nearest threshold over the labels."""
    cuts = logit([thresholds[label] for label in LABELS])

    def keys(chunk: Sequence[Candidate]) -> list[tuple[float, ...]]:
        scores = np.asarray([[c.scores[label] for label in LABELS] for c in chunk], dtype=np.float64)
        distance = np.abs(logit(scores) - cuts).min(axis=1)
        return [(d,) for d in distance.tolist()]

    return keys


def flagged_keys(chunk: Sequence[Candidate]) -> list[tuple[float, ...]]:
    """Flagged first, then by the highest score over the labels (descending)."""
    return [(0.0 if any(c.flags.values()) else 1.0, -max(c.scores.values())) for c in chunk]


def random_keys(seed: int) -> Keys:
    """A uniform, order-independent draw: the comment's id hashed with the seed."""

    def keys(chunk: Sequence[Candidate]) -> list[tuple[float, ...]]:
        return [
            (int.from_bytes(hashlib.sha256(f"{seed}\x00{c.id}".encode()).digest()[:8], "big"),) for c in chunk
        ]

    return keys


def strategy_keys(strategy: str, seed: int, thresholds: Mapping[str, float] | None) -> Keys:
    if strategy == "uncertainty":
        if thresholds is None:
            raise ExportTasksError(
                "--strategy uncertainty needs the model's thresholds, which scored rows do not carry: "
                "pass --model ARTIFACT (the artifact directory that scored the file)"
            )
        return uncertainty_keys(thresholds)
    if strategy == "flagged":
        return flagged_keys
    if strategy == "random":
        return random_keys(seed)
    raise ExportTasksError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def select(candidates: Iterable[Candidate], n: int, keys: Keys) -> list[Candidate]:
    """The ``n`` candidates with the smallest keys, in key order (ties: file order); keyed a chunk
    at a time, holding ``n`` + :data:`CHUNK` candidates at most."""
    best: list[tuple[tuple[float, ...], int, Candidate]] = []
    iterator = iter(candidates)
    while chunk := list(islice(iterator, CHUNK)):
        keyed = zip(keys(chunk), (c.position for c in chunk), chunk, strict=True)
        best = heapq.nsmallest(n, [*best, *keyed], key=lambda t: (t[0], t[1]))
    return [c for _, _, c in best]
