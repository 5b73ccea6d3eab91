"""Labels the new decisions do not teach keep the parent's parts (fast mode).

A site's moderators judge some labels and not others: a spam queue says nothing about mocking, and
Coral approvals give 0 for every label but no positive for mocking. A label needs at least
``min_each`` positives and ``min_each`` negatives among the new labels' train part to be learnt
from them; otherwise refitting it only moves it on the replay sample's noise (two real trials
refused honest batches for labels the site had not judged: off_topic ro -0.027 after an abusive-only
site). Such a label keeps, exactly, the parent's head row, temperature, transformer threshold, stacker
entry and stacked threshold; its new rows are masked in the n-gram refit, so its n-gram head is
fitted on the base rows alone, as the parent's was.

The head's loss is a sum over labels of per-row BCE with no shared parameter, so putting the
parent's row back is the same as not refitting that label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ...model.record import CommentRecord
from ...serving.hybrid import HybridSpec, LabelStack

DEFAULT_MIN_EACH = 10


@dataclass(frozen=True)
class LabelSupport:
    """Positives and negatives of one label among the new train rows."""

    positives: int
    negatives: int

    def teaches(self, min_each: int) -> bool:
        return self.positives >= min_each and self.negatives >= min_each


def label_support(records: Sequence[CommentRecord], labels: Sequence[str]) -> dict[str, LabelSupport]:
    """Per label, the positives and negatives among ``records`` (None = not judged, not counted)."""
    out = {}
    for name in labels:
        values = [r.labels.get(name) for r in records]
        out[name] = LabelSupport(sum(v == 1 for v in values), sum(v == 0 for v in values))
    return out


def kept_labels(records: Sequence[CommentRecord], labels: Sequence[str], min_each: int) -> tuple[str, ...]:
    """The labels ``records`` cannot teach (fewer than ``min_each`` positives or negatives)."""
    support = label_support(records, labels)
    return tuple(name for name in labels if not support[name].teaches(min_each))


def mask_labels(records: Sequence[CommentRecord], names: Sequence[str]) -> list[CommentRecord]:
    """``records`` with the labels ``names`` set to None (not judged)."""
    if not names:
        return list(records)
    return [replace(r, labels={**r.labels, **dict.fromkeys(names)}) for r in records]


def keep_head_rows(
    weight: np.ndarray,
    bias: np.ndarray,
    parent_weight: np.ndarray,
    parent_bias: np.ndarray,
    rows: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the refitted head with the parent's rows ``rows`` put back."""
    weight, bias = np.array(weight, copy=True), np.array(bias, copy=True)
    for j in rows:
        weight[j], bias[j] = parent_weight[j], parent_bias[j]
    return weight, bias


def keep_values(
    new: Mapping[str, float], parent: Mapping[str, float], names: Sequence[str]
) -> dict[str, float]:
    """``new`` with the parent's values for ``names`` (labels the parent lacks keep the new value)."""
    return {k: float(parent[k]) if k in names and k in parent else float(v) for k, v in new.items()}


def parent_stack(spec: HybridSpec | None, name: str, temperature: float) -> LabelStack:
    """The parent's stacker entry for ``name``; without a stacker, the transformer alone at its
    temperature (``sigmoid(logit / T)``: what the parent served)."""
    if spec is not None:
        return spec.per_label[name]
    return LabelStack("transformer", 1.0 / temperature, 0.0, 0.0, why="parent served the transformer alone")


def keep_stack(
    child: HybridSpec, parent: HybridSpec | None, temperatures: Mapping[str, float], names: Sequence[str]
) -> HybridSpec:
    """``child`` with the parent's per-label entries for ``names``, each saying why."""
    per_label = dict(child.per_label)
    for name in names:
        kept = parent_stack(parent, name, temperatures[name])
        per_label[name] = replace(
            kept, why=f"kept from the parent: the new labels do not teach it ({kept.why})"
        )
    return replace(child, per_label=per_label)
