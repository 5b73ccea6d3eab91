"""What an import did (:class:`ImportReport`) and what a store holds (:class:`StoreStats`), as text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ...model.labels import LABELS
from .decisions import BadRow, SkippedRow
from .resolve import RULES

MAX_LISTED = 50  # bad rows listed one by one; the rest are counted


@dataclass
class ImportReport:
    """The outcome of one import: rows imported, duplicates skipped, bad and skipped rows."""

    file: str
    sha256: str
    format: str
    imported: int = 0  # rows that added at least one decision
    decisions: int = 0  # label decisions added
    duplicates: int = 0  # rows whose every decision was already in the store
    bad: list[BadRow] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)

    def bad_lines(self) -> list[str]:
        """``FILE: WHERE: MESSAGE`` for each bad row."""
        return [f"{self.file}: {row.where}: {row.message}" for row in self.bad]

    def summary_lines(self) -> list[str]:
        """The human summary the CLI prints (bad rows are listed by :meth:`bad_lines`)."""
        lines = [
            f"imported {self.imported} row(s) ({self.decisions} label decision(s)) from {self.file}",
            f"duplicates skipped: {self.duplicates}",
            f"bad rows skipped: {len(self.bad)}",
        ]
        reasons = Counter(row.reason for row in self.skipped)
        if reasons:
            detail = "; ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            lines.append(f"rows without a label skipped: {len(self.skipped)} ({detail})")
        return lines


@dataclass(frozen=True)
class LabelCounts:
    """Resolved values of one label in one language."""

    positives: int = 0
    negatives: int = 0
    unjudged: int = 0


@dataclass(frozen=True)
class StoreStats:
    """Counts of a store: imports, comments, decisions, labels by language, conflicts, moderators."""

    path: str
    schema_version: int
    imports: int
    comments: int
    decisions: int
    by_label_lang: dict[tuple[str, str], LabelCounts]
    conflicts: dict[str, int]  # rule that settled a conflicting (comment, label) -> how many
    moderators: dict[str, int]  # moderator ("" = unnamed) -> decisions

    def lines(self) -> list[str]:
        """The text ``commentmod labels stats`` prints."""
        out = [
            f"label store {self.path} (schema {self.schema_version}): {self.imports} import(s), "
            f"{self.comments} comment(s), {self.decisions} label decision(s)",
            "",
            f"{'label':<10} {'lang':<6} {'positives':>9} {'negatives':>9} {'unjudged':>9}",
        ]
        for (label, lang), counts in sorted(self.by_label_lang.items(), key=_label_order):
            out.append(
                f"{label:<10} {lang:<6} {counts.positives:>9} {counts.negatives:>9} {counts.unjudged:>9}"
            )
        total = sum(self.conflicts.values())
        detail = ", ".join(f"{self.conflicts.get(rule, 0)} by {rule}" for rule in RULES)
        out += ["", f"conflicts (comment x label with both yes and no): {total} ({detail})"]
        out.append(f"moderators: {len(self.moderators)}")
        for name, count in sorted(self.moderators.items(), key=lambda item: (-item[1], item[0])):
            out.append(f"  {name or '(unnamed)'}: {count} decision(s)")
        return out


def _label_order(item: tuple[tuple[str, str], LabelCounts]) -> tuple[int, str]:
    (label, lang), _ = item
    return LABELS.index(label), lang
