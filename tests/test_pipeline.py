from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from commentmod.serving.pipeline import OutputError, journal_path, run_scoring
from commentmod.serving.readers import InputRecord
from commentmod.serving.result import Result

LABELS = ("abusive", "mocking", "off_topic")


class FakeScorer:
    """Deterministic stand-in for Scorer: 'idiot' is abusive, '🙄' mocking, 'http' off-topic."""

    model_id = "fake@000000000000"
    labels = LABELS

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def score(self, items: Sequence[Any]) -> list[Result]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt  # simulates the process dying mid-run
        out = []
        for item in items:
            text = item["text"] or ""
            if not text.strip():
                out.append(
                    Result(
                        item["id"], dict.fromkeys(LABELS, 0.0), dict.fromkeys(LABELS, False), False, "empty"
                    )
                )
                continue
            scores = {
                "abusive": float("idiot" in text),
                "mocking": float("🙄" in text),
                "off_topic": float("http" in text),
            }
            flags = {k: v >= 0.5 for k, v in scores.items()}
            out.append(Result(item["id"], scores, flags, any(flags.values())))
        return out


def _records(n: int) -> list[InputRecord]:
    texts = ["salut", "you idiot", "sure 🙄", "buy http://x", "  "]
    recs = [InputRecord(f"r{i}", texts[i % 5], "in.jsonl", f"in.jsonl:{i + 1}", "Title") for i in range(n)]
    if n > 7:
        recs[7] = InputRecord(None, None, "in.jsonl", "in.jsonl:8", error="invalid JSON (Expecting value)")
    return recs


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_row_per_record_in_order_with_schema(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = run_scoring(_records(20), FakeScorer(), out, batch_size=6)
    rows = _rows(out)
    assert len(rows) == 20 and summary.records == 20
    assert [r["id"] for r in rows][:3] == ["r0", "r1", "r2"]
    assert set(rows[0]) >= {
        "id",
        "source",
        "author",
        "text",
        "article_title",
        "scores",
        "flags",
        "flagged",
        "status",
        "error",
        "model",
    }
    assert rows[1]["flags"]["abusive"] and rows[1]["flagged"]
    assert rows[4]["status"] == "empty"
    assert rows[7]["status"] == "error" and rows[7]["error"].startswith("in.jsonl:8:")
    assert summary.status["error"] == 1 and summary.flagged["abusive"] == 4
    assert all(r["model"] == "fake@000000000000" for r in rows)


def test_no_text_leaves_text_out(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_scoring(_records(5), FakeScorer(), out, include_text=False)
    assert all("text" not in r for r in _rows(out))


def test_resume_after_interruption_and_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_scoring(_records(50), FakeScorer(fail_after=3), out, batch_size=7)
    done = len(_rows(out))
    assert done == 21
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "r21", "sco')  # torn write of a killed process
    with pytest.raises(OutputError, match="--resume"):
        run_scoring(_records(50), FakeScorer(), out)
    summary = run_scoring(_records(50), FakeScorer(), out, batch_size=7, resume=True)
    rows = _rows(out)
    assert [r["id"] for r in rows] == [r.id for r in _records(50)]
    assert summary.records == 50


def test_resume_refuses_another_model(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_scoring(_records(5), FakeScorer(), out)
    other = FakeScorer()
    other.model_id = "other@111111111111"
    with pytest.raises(OutputError, match="written with model"):
        run_scoring(_records(5), other, out, resume=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_outputs_via_journal(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    with pytest.raises(KeyboardInterrupt):
        run_scoring(_records(30), FakeScorer(fail_after=2), out, batch_size=5)
    assert journal_path(out).exists() and not out.exists()
    run_scoring(_records(30), FakeScorer(), out, batch_size=5, resume=True)
    assert out.exists() and not journal_path(out).exists()
    if suffix == ".csv":
        import csv

        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["id"] for r in rows][:2] == ["r0", "r1"] and len(rows) == 30
        assert rows[1]["flag_abusive"] == "True"
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.num_rows == 30 and "score_mocking" in table.column_names
    with pytest.raises(OutputError, match="already complete"):
        run_scoring(_records(30), FakeScorer(), out, resume=True)
