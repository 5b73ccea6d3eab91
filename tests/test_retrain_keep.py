"""Labels the new decisions cannot teach keep the parent's parts (training/retrain/keep.py)."""

from __future__ import annotations

import numpy as np
import pytest

from commentmod.model.record import CommentRecord
from commentmod.serving.hybrid import HybridSpec, LabelStack
from commentmod.training.retrain.keep import (
    keep_head_rows,
    keep_stack,
    keep_values,
    kept_labels,
    label_support,
    mask_labels,
)

LABELS = ("abusive", "mocking", "off_topic")


def rows(values: list[dict[str, int | None]]) -> list[CommentRecord]:
    return [
        CommentRecord(id=f"r{i}", text=f"comment {i}", source="site", licence="MIT", lang="en", labels=v)
        for i, v in enumerate(values)
    ]


def test_a_label_needs_positives_and_negatives_to_be_taught() -> None:
    # abusive judged both ways; off_topic only approvals (all 0, as Coral approvals give); mocking never
    records = rows([{"abusive": i % 2, "off_topic": 0} for i in range(30)])
    support = label_support(records, LABELS)
    assert (support["abusive"].positives, support["abusive"].negatives) == (15, 15)
    assert (support["off_topic"].positives, support["off_topic"].negatives) == (0, 30)
    assert (support["mocking"].positives, support["mocking"].negatives) == (0, 0)
    assert kept_labels(records, LABELS, 10) == ("mocking", "off_topic")
    assert kept_labels(records, LABELS, 16) == LABELS
    masked = mask_labels(records, ("off_topic",))
    assert all(r.labels["off_topic"] is None and r.labels["abusive"] is not None for r in masked)
    assert [r.labels["off_topic"] for r in records[:2]] == [0, 0]  # the originals are untouched
    assert mask_labels(records, ()) == records


def test_kept_rows_values_and_stack_entries_are_the_parents() -> None:
    rng = np.random.default_rng(0)
    new_w, old_w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    weight, bias = keep_head_rows(new_w, np.zeros(3), old_w, np.ones(3), [1])
    np.testing.assert_array_equal(weight[1], old_w[1])
    np.testing.assert_array_equal(weight[[0, 2]], new_w[[0, 2]])
    assert bias.tolist() == [0.0, 1.0, 0.0] and not np.array_equal(new_w, weight)  # inputs untouched
    assert keep_values({"abusive": 0.3, "mocking": 0.4}, {"mocking": 0.6}, ["mocking"]) == {
        "abusive": 0.3,
        "mocking": 0.6,
    }
    stack = {k: LabelStack("blend", 1.0, 0.5, -0.1, why="fitted") for k in LABELS}
    child = HybridSpec(LABELS, stack)
    parent = HybridSpec(LABELS, {**stack, "mocking": LabelStack("ngram", 0.0, 1.2, 0.3, why="n-gram")})
    kept = keep_stack(child, parent, dict.fromkeys(LABELS, 1.0), ["mocking"])
    assert kept.per_label["abusive"] == stack["abusive"]
    m = kept.per_label["mocking"]
    assert (m.mode, m.coef_transformer, m.coef_ngram, m.intercept) == ("ngram", 0.0, 1.2, 0.3)
    assert m.why.startswith("kept from the parent") and "n-gram" in m.why
    # a parent without a stacker served sigmoid(logit / T): the kept entry reproduces it
    alone = keep_stack(child, None, {"abusive": 1.0, "mocking": 2.0, "off_topic": 1.0}, ["mocking"])
    t = alone.per_label["mocking"]
    assert (t.mode, t.coef_transformer, t.coef_ngram, t.intercept) == (
        "transformer",
        pytest.approx(0.5),
        0.0,
        0.0,
    )
