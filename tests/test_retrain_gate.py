"""The retrain's pure parts: the gate's rule, the split by article, versions, the card section, the
head refit and the options' checks (no encoder, no files beyond tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commentmod.model.record import CommentRecord
from commentmod.training.report.changes import render_changes
from commentmod.training.retrain.errors import RetrainError
from commentmod.training.retrain.gate import GateLimits, compare_cells, gate
from commentmod.training.retrain.split import split_by_group, split_of
from commentmod.training.retrain.versions import FIRST_VERSION, version_of

LIMITS = GateLimits(min_positives=5, min_negatives=5)


def cells(values: dict[tuple[str, str], float | None], pos: int = 30, neg: int = 70) -> list[dict]:
    return [
        {"label": label, "lang": lang, "source": "all", "pr_auc": v, "positives": pos, "negatives": neg}
        for (label, lang), v in values.items()
    ]


BASE = {("abusive", "all"): 0.90, ("abusive", "ro"): 0.92, ("mocking", "all"): 0.60, ("mocking", "en"): 0.50}
NEW = {("abusive", "all"): 0.70, ("abusive", "ro"): 0.72}


def test_gate_passes_when_base_holds_within_the_margin_and_new_labels_improve() -> None:
    child_base = {**BASE, ("abusive", "ro"): 0.9101, ("mocking", "en"): 0.51}  # -0.0099, +0.01
    child_new = {k: v + 0.1 for k, v in NEW.items()}
    verdict = gate(cells(BASE), cells(child_base), cells(NEW), cells(child_new), LIMITS)
    assert verdict.passed and verdict.reasons() == []
    assert len(verdict.base.cells) == 4 and len(verdict.new.cells) == 2
    ro = next(c for c in verdict.base.cells if c.lang == "ro")
    assert ro.difference == pytest.approx(-0.0099)
    # cells come label by label, "all" first
    assert [(c.label, c.lang) for c in verdict.base.cells][:2] == [("abusive", "all"), ("abusive", "ro")]


def test_gate_names_every_base_cell_that_drops_more_than_the_margin() -> None:
    child_base = {**BASE, ("abusive", "ro"): 0.909, ("mocking", "en"): 0.40}
    verdict = gate(cells(BASE), cells(child_base), cells(NEW), cells(NEW), LIMITS)
    assert not verdict.passed and not verdict.base.passed and verdict.new.passed
    assert [(c.label, c.lang) for c in verdict.base.failed] == [("abusive", "ro"), ("mocking", "en")]
    reasons = verdict.reasons()
    assert reasons[0].startswith("base test split: abusive x ro: PR-AUC 0.9200 -> 0.9090 (-0.0110")
    assert "mocking x en" in reasons[1]


def test_new_labels_may_not_get_worse_by_default_and_a_tolerance_allows_it() -> None:
    child_new = {**NEW, ("abusive", "ro"): 0.7199}
    verdict = gate(cells(BASE), cells(BASE), cells(NEW), cells(child_new), LIMITS)
    assert not verdict.passed and verdict.base.passed
    assert verdict.reasons() == [
        "held-out new labels: abusive x ro: PR-AUC 0.7200 -> 0.7199 (-0.0001; may not get worse)"
    ]
    tolerant = GateLimits(new_tolerance=0.001, min_positives=5, min_negatives=5)
    assert gate(cells(BASE), cells(BASE), cells(NEW), cells(child_new), tolerant).passed
    # equal is not worse
    assert gate(cells(BASE), cells(BASE), cells(NEW), cells(NEW), LIMITS).passed


def test_small_or_undefined_cells_are_skipped_and_nothing_to_judge_fails() -> None:
    small = cells(NEW, pos=3, neg=50)
    verdict = gate(cells(BASE), cells(BASE), small, small, LIMITS)
    assert not verdict.passed and verdict.new.cells == ()
    assert verdict.new.skipped[0]["reason"] == "needs >= 5 positives and >= 5 negatives"
    assert verdict.reasons() == [
        "held-out new labels: no label x language cell has enough rows to judge (may not get worse)"
    ]
    undefined = compare_cells("x", cells({("abusive", "all"): None}), cells(NEW), 0.01, LIMITS)
    assert undefined.cells == () and undefined.skipped[0]["reason"] == "no PR-AUC for the parent"
    missing = compare_cells("x", cells(NEW), [], 0.01, LIMITS)
    assert missing.skipped[0]["reason"] == "no PR-AUC for the child"
    per_source = [{**c, "source": "site-a"} for c in cells(BASE)]
    assert compare_cells("x", per_source, per_source, 0.01, LIMITS).cells == ()


def test_verdict_to_dict_is_json_ready_and_renders_the_changes_section() -> None:
    import json

    child_base = {**BASE, ("mocking", "en"): 0.40}
    verdict = gate(cells(BASE), cells(child_base), cells(NEW), cells(NEW), LIMITS)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["passed"] is False and data["base_test"]["passed"] is False
    lineage = {
        "version": 3, "model_id": "cm-aaa", "mode": "fast", "created_at": "2026-01-01T00:00:00Z",
        "parent_version": 2, "parent_id": "cm-bbb", "label_snapshot": "f" * 64,
        "new_rows": {"train": 70, "validation": 15, "test": 15}, "replay_rows": {"train": 100},
    }  # fmt: skip
    text = render_changes(lineage, data)
    assert text.startswith("## Changes since parent\n")
    assert "Version 3 (`cm-aaa`)" in text and "version 2 (`cm-bbb`)" in text and "Verdict: refused" in text
    assert "| mocking | en | 30 | 70 | 0.5000 | 0.4000 | -0.1000 | **fails** |" in text
    assert "### (b) held-out new labels" in text


def record(i: int, article: str | None) -> CommentRecord:
    return CommentRecord(
        id=f"label-store:c{i}", text=f"comment {i}", source="label-store", licence="proprietary",
        labels={"abusive": i % 2}, group=None if article is None else f"label-store:article:{article}",
    )  # fmt: skip


def test_split_keeps_articles_whole_and_stable_as_the_store_grows() -> None:
    records = [record(i, f"a{i // 5}") for i in range(400)]
    splits = split_by_group(records, seed=0)
    seen = {}
    for name in ("train", "validation", "test"):
        for r in getattr(splits, name):
            assert seen.setdefault(r.group, name) == name  # one split per article
    counts = splits.counts()
    assert sum(counts.values()) == 400 and counts["train"] > counts["validation"] > 0 and counts["test"] > 0
    grown = split_by_group([*records, *(record(i, f"a{i // 5}") for i in range(400, 500))], seed=0)
    before = {r.id: name for name in ("train", "validation", "test") for r in getattr(splits, name)}
    after = {r.id: name for name in ("train", "validation", "test") for r in getattr(grown, name)}
    assert all(after[k] == v for k, v in before.items())
    assert split_of("label-store:article:a1", 0) == split_of("label-store:article:a1", 0)


def test_split_without_rows_for_a_part_says_what_to_do() -> None:
    with pytest.raises(RetrainError, match=r"leave no rows for .*import decisions on more articles"):
        split_by_group([record(i, "only-one") for i in range(20)])
    with pytest.raises(RetrainError, match="add up to 1"):
        split_by_group([record(1, None)], fractions=(0.5, 0.5, 0.5))
    unlabelled = CommentRecord(id="x", text="t", source="s", licence="MIT")
    assert split_by_group([unlabelled, *(record(i, None) for i in range(60))]).counts()["train"] > 0


def test_versions_and_model_ids(tmp_path: Path) -> None:
    from commentmod.training.retrain.versions import model_id

    assert version_of({}) == FIRST_VERSION and version_of({"lineage": {"version": 4}}) == 4
    with pytest.raises(RetrainError, match="lineage version"):
        version_of({"lineage": {"version": "2"}})
    with pytest.raises(RetrainError, match=r"no model\.safetensors"):
        model_id(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    first = model_id(tmp_path)
    assert first.startswith("cm-") and len(first) == 15 and model_id(tmp_path) == first
    (tmp_path / "stacker.json").write_text("{}", encoding="utf-8")
    assert model_id(tmp_path) != first


def test_head_refit_learns_new_rows_and_the_anchor_keeps_it_near_the_parent() -> None:
    from commentmod.training.retrain.head import HeadFit, refit_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    y = (x[:, :3] > 0).astype(np.float32)
    mask = np.ones_like(y)
    mask[::2, 2] = 0  # unknown labels are masked
    w0, b0 = np.zeros((3, 8), np.float32), np.zeros(3, np.float32)
    free = refit_head(x, y, mask, np.ones(200, np.float32), w0, b0, HeadFit(anchor=0.0))
    assert free.loss_after < free.loss_before
    assert all(free.weight[j, j] > 1.0 for j in range(3))
    held = refit_head(x, y, mask, np.ones(200, np.float32), w0, b0, HeadFit(anchor=10.0))
    assert np.abs(held.weight).max() < np.abs(free.weight).max() / 5
    with pytest.raises(RetrainError, match="disagree"):
        refit_head(x, y[:10], mask, np.ones(200, np.float32), w0, b0)
    with pytest.raises(RetrainError, match="anchor must be >= 0"):
        HeadFit(anchor=-1.0)


def test_options_are_checked(tmp_path: Path) -> None:
    from commentmod.training.retrain.options import RetrainOptions

    ok = RetrainOptions(parent=tmp_path, labels=tmp_path / "l.sqlite", out=tmp_path / "out")
    assert ok.artifact_dir == tmp_path / "out" / "artifact"
    with pytest.raises(RetrainError, match="--mode is 'slow'"):
        RetrainOptions(parent=tmp_path, labels=tmp_path, out=tmp_path, mode="slow")
    with pytest.raises(RetrainError, match="--replay-rows is 0"):
        RetrainOptions(parent=tmp_path, labels=tmp_path, out=tmp_path, replay_rows=0)
