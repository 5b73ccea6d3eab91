"""The regression gate: the new model against its parent, per label x language, as pure functions.

Two comparisons of PR-AUC (average precision), each over the cells ``label x language`` (plus the
``all`` language) that have enough positives and negatives:

* (a) the base test split: no cell may drop by more than ``max_base_drop`` (0.01);
* (b) the held-out part of the new labels: no cell may get worse (by more than ``new_tolerance``,
  0 by default).

A comparison with no cell to judge fails too (nothing shows the model holds). The inputs are the
cell lists of :func:`commentmod.training.report.metrics.cell_metrics`; nothing here reads files or
models, so the rule is tested on its own (``tests/test_retrain_gate.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..report.metrics import ALL

EPS = 1e-12  # equal PR-AUCs computed in another order are equal


@dataclass(frozen=True)
class GateLimits:
    """What the gate allows."""

    max_base_drop: float = 0.01
    new_tolerance: float = 0.0
    min_positives: int = 20
    min_negatives: int = 20


@dataclass(frozen=True)
class CellDiff:
    """One label x language cell: parent and child PR-AUC and whether the child is allowed."""

    label: str
    lang: str
    positives: int
    negatives: int
    parent: float
    child: float
    passed: bool

    @property
    def difference(self) -> float:
        return self.child - self.parent

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference": self.difference}


@dataclass(frozen=True)
class Comparison:
    """One of the gate's two comparisons."""

    name: str
    rule: str
    allowed_drop: float
    cells: tuple[CellDiff, ...]
    skipped: tuple[Mapping[str, Any], ...]

    @property
    def failed(self) -> list[CellDiff]:
        return [c for c in self.cells if not c.passed]

    @property
    def passed(self) -> bool:
        return bool(self.cells) and not self.failed

    def reasons(self) -> list[str]:
        if not self.cells:
            return [f"{self.name}: no label x language cell has enough rows to judge ({self.rule})"]
        return [
            f"{self.name}: {c.label} x {c.lang}: PR-AUC {c.parent:.4f} -> {c.child:.4f} "
            f"({c.difference:+.4f}; {self.rule})"
            for c in self.failed
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": self.rule,
            "allowed_drop": self.allowed_drop,
            "passed": self.passed,
            "cells": [c.to_dict() for c in self.cells],
            "skipped": [dict(s) for s in self.skipped],
        }


@dataclass(frozen=True)
class GateVerdict:
    """Both comparisons; the child is promoted only when both pass."""

    base: Comparison
    new: Comparison
    limits: GateLimits

    @property
    def passed(self) -> bool:
        return self.base.passed and self.new.passed

    def reasons(self) -> list[str]:
        """Why the child is refused, one line per failing cell (empty when it passes)."""
        return self.base.reasons() + self.new.reasons()

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "limits": asdict(self.limits),
            "base_test": self.base.to_dict(),
            "new_test": self.new.to_dict(),
            "reasons": self.reasons(),
        }


def _by_key(cells: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(c["label"], c["lang"]): c for c in cells if c.get("source", ALL) == ALL}


def compare_cells(
    name: str,
    parent_cells: Iterable[Mapping[str, Any]],
    child_cells: Iterable[Mapping[str, Any]],
    allowed_drop: float,
    limits: GateLimits,
) -> Comparison:
    """Child vs parent PR-AUC per label x language (source ``all``) with enough support.

    A cell passes when ``child >= parent - allowed_drop``; cells under the support limits, without a
    PR-AUC or missing on one side are listed in ``skipped`` with the reason.
    """
    parents, children = _by_key(parent_cells), _by_key(child_cells)
    rule = f"may drop by at most {allowed_drop:g}" if allowed_drop else "may not get worse"
    cells, skipped = [], []
    for key in sorted(parents, key=lambda k: (k[0], k[1] != ALL, k[1])):
        p, c = parents[key], children.get(key)
        pos, neg = int(p.get("positives", 0)), int(p.get("negatives", 0))
        base = {"label": key[0], "lang": key[1], "positives": pos, "negatives": neg}
        if pos < limits.min_positives or neg < limits.min_negatives:
            why = f"needs >= {limits.min_positives} positives and >= {limits.min_negatives} negatives"
            skipped.append({**base, "reason": why})
            continue
        if c is None or p.get("pr_auc") is None or c.get("pr_auc") is None:
            skipped.append({**base, "reason": "no PR-AUC for " + ("the parent" if c else "the child")})
            continue
        parent, child = float(p["pr_auc"]), float(c["pr_auc"])
        cells.append(CellDiff(*key, pos, neg, parent, child, child >= parent - allowed_drop - EPS))
    return Comparison(name, rule, allowed_drop, tuple(cells), tuple(skipped))


def gate(
    base_parent: Iterable[Mapping[str, Any]],
    base_child: Iterable[Mapping[str, Any]],
    new_parent: Iterable[Mapping[str, Any]],
    new_child: Iterable[Mapping[str, Any]],
    limits: GateLimits = GateLimits(),
) -> GateVerdict:
    """The verdict on (a) the base test split and (b) the held-out new labels (module docstring)."""
    base = compare_cells("base test split", base_parent, base_child, limits.max_base_drop, limits)
    new = compare_cells("held-out new labels", new_parent, new_child, limits.new_tolerance, limits)
    return GateVerdict(base, new, limits)
