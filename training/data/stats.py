"""Counts of a build: rows per source x language (x synthetic/augmented) per split and label values
1/0/None, and the plain-text table ``commentmod data build|stats`` prints.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...model.labels import LABELS
from ...model.record import CommentRecord
from .build_io import records_to_columns
from .catalog import SPLIT_NAMES

LABEL_VALUES: tuple[str, ...] = ("1", "0", "None")


@dataclass
class Stats:
    """Counts per (source, lang, kind): rows per split and label values 1/0/None.

    ``kind`` is ``""`` for real rows, ``"synthetic"`` for off-topic pairs, ``"augmented"`` for copies.
    """

    rows: dict[tuple[str, str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    labels: dict[tuple[str, str, str], dict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: {n: Counter() for n in LABELS})
    )
    split_labels: dict[str, dict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: {n: Counter() for n in LABELS})
    )


def stats_from_columns(columns: Mapping[str, Mapping[str, Sequence[Any]]]) -> Stats:
    """Count rows and label values from ``{split: {column: values}}``."""
    stats = Stats()
    for split, cols in columns.items():
        n = len(cols["id"])
        augmented = cols.get("augmented") or [False] * n
        for i in range(n):
            kind = "synthetic" if cols["synthetic"][i] else "augmented" if augmented[i] else ""
            key = (str(cols["source"][i]), str(cols["lang"][i]), kind)
            stats.rows[key][split] += 1
            for name in LABELS:
                value = str(cols[name][i])
                stats.labels[key][name][value] += 1
                stats.split_labels[split][name][value] += 1
    return stats


def stats_from_records(splits: Mapping[str, Sequence[CommentRecord]]) -> Stats:
    return stats_from_columns({name: records_to_columns(recs) for name, recs in splits.items()})


def _label_cell(counter: Counter[str]) -> str:
    return "/".join(str(counter.get(v, 0)) for v in LABEL_VALUES)


def format_stats(stats: Stats) -> str:
    """A plain-text table: rows per source x language (x synthetic) per split, label counts 1/0/None."""
    head = ["source", "lang", "train", "valid", "test", "total"] + [f"{n} 1/0/None" for n in LABELS]
    lines: list[list[str]] = []
    totals: Counter[str] = Counter()
    for key in sorted(stats.rows):
        source, lang, kind = key
        counts = stats.rows[key]
        totals.update(counts)
        lines.append(
            [
                source + (f" [{kind}]" if kind else ""),
                lang,
                *(str(counts.get(s, 0)) for s in SPLIT_NAMES),
                str(sum(counts.values())),
                *(_label_cell(stats.labels[key][n]) for n in LABELS),
            ]
        )
    all_labels = {n: sum((stats.split_labels[s][n] for s in stats.split_labels), Counter()) for n in LABELS}
    lines.append(
        [
            "TOTAL",
            "",
            *(str(totals.get(s, 0)) for s in SPLIT_NAMES),
            str(sum(totals.values())),
            *(_label_cell(all_labels[n]) for n in LABELS),
        ]
    )
    table = _render([head, *lines])
    split_head = ["split", "rows"] + [f"{n} 1/0/None" for n in LABELS]
    split_lines = [
        [s, str(totals.get(s, 0)), *(_label_cell(stats.split_labels[s][n]) for n in LABELS)]
        for s in SPLIT_NAMES
    ]
    return table + "\n\n" + _render([split_head, *split_lines])


def _render(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
