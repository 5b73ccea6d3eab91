"""The batch pipeline with a fake scorer: one row per record, resume, isolation of bad records, nulls."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from commentmod.serving import pipeline
from commentmod.serving.journal import OutputLock, lock_path
from commentmod.serving.pipeline import (
    OutputError,
    ScoringAborted,
    journal_path,
    read_files,
    run_scoring,
    score_inputs,
)
from commentmod.serving.progress import Progress
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
            text = item.text or ""
            if not text.strip():
                out.append(Result(item.id, None, None, False, "empty"))
                continue
            if "boom" in text:
                raise ValueError("the model cannot take this comment")
            scores = {
                "abusive": float("idiot" in text),
                "mocking": float("🙄" in text),
                "off_topic": float("http" in text),
            }
            flags = {k: v >= 0.5 for k, v in scores.items()}
            out.append(Result(item.id, scores, flags, any(flags.values())))
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
    summary = run_scoring(_records(20), FakeScorer(), out, records_per_batch=6)
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
    assert rows[4]["status"] == "empty" and rows[4]["scores"] is None and rows[4]["flags"] is None
    assert rows[7]["status"] == "error" and rows[7]["error"].startswith("in.jsonl:8:")
    assert rows[7]["scores"] is None and rows[7]["flags"] is None and rows[7]["flagged"] is False
    assert summary.status["error"] == 1 and summary.flagged["abusive"] == 4
    assert all(r["model"] == "fake@000000000000" for r in rows)


def test_no_text_leaves_text_out(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_scoring(_records(5), FakeScorer(), out, include_text=False)
    assert all("text" not in r for r in _rows(out))


def test_resume_after_interruption_and_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_scoring(_records(50), FakeScorer(fail_after=3), out, records_per_batch=7)
    done = len(_rows(out))
    assert done == 21
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "r21", "sco')  # torn write of a killed process
    with pytest.raises(OutputError, match="--resume"):
        run_scoring(_records(50), FakeScorer(), out)
    summary = run_scoring(_records(50), FakeScorer(), out, records_per_batch=7, resume=True)
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
        run_scoring(_records(30), FakeScorer(fail_after=2), out, records_per_batch=5)
    assert journal_path(out).exists() and not out.exists()
    run_scoring(_records(30), FakeScorer(), out, records_per_batch=5, resume=True)
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


def _write_jsonl(path: Path, ids: list[str]) -> None:
    path.write_text(
        "".join(json.dumps({"id": i, "text": f"hello {i}"}) + "\n" for i in ids), encoding="utf-8"
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_not_scored_is_null_in_every_format(tmp_path: Path, suffix: str) -> None:
    records = [
        InputRecord("e", "   ", "in", "in:1"),
        InputRecord(None, None, "in", "in:2", error="invalid JSON"),
        InputRecord("ok", "you idiot", "in", "in:3"),
    ]
    out = tmp_path / f"out{suffix}"
    run_scoring(records, FakeScorer(), out)
    if suffix == ".jsonl":
        rows = _rows(out)
        assert [r["scores"] for r in rows[:2]] == [None, None] and rows[0]["flags"] is None
        assert rows[2]["scores"]["abusive"] == 1.0 and rows[2]["flags"]["abusive"] is True
    elif suffix == ".csv":
        import csv

        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["score_abusive"] for r in rows] == ["", "", "1.0"]
        assert [r["flag_mocking"] for r in rows] == ["", "", "False"]
        assert [r["flagged"] for r in rows] == ["False", "False", "True"]
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.column("score_abusive").to_pylist() == [None, None, 1.0]
        assert table.schema.field("score_abusive").type == pa.float64()
        assert table.column("flag_abusive").to_pylist() == [None, None, True]


def test_parquet_types_fixed_when_first_chunk_is_all_null(tmp_path: Path) -> None:
    """A first chunk of nulls (empty rows, no authors) must not fix a column's type to null."""
    import pyarrow.parquet as pq

    from commentmod.serving.writers import write_parquet

    journal = tmp_path / "j.jsonl"
    out = tmp_path / "out.parquet"
    run_scoring(
        [InputRecord(f"e{i}", " ", "in", f"in:{i}") for i in range(3)]
        + [InputRecord("x", "you idiot", "in", "in:9", author="Ana")],
        FakeScorer(),
        journal,
    )
    write_parquet(journal, out, LABELS, chunk=2)
    table = pq.read_table(out)
    assert table.column("author").to_pylist() == [None, None, None, "Ana"]
    assert table.column("score_abusive").to_pylist() == [None, None, None, 1.0]


def test_lone_surrogates_and_odd_meta_never_stop_the_writer(tmp_path: Path) -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    records = [
        InputRecord("s", "bad \udc80 text", "in", "in:1", author="x\ud800", meta={"k": "v\udcff"}),
        InputRecord("d", "dated", "in", "in:2", meta={"created_at": datetime.datetime(2024, 5, 1, 12, 0)}),
        InputRecord("c", "circular", "in", "in:3", meta=circular),
        InputRecord(42, 7, "in", "in:4"),  # type: ignore[arg-type]  # a reader gone wrong
        InputRecord("after", "still here", "in", "in:5"),
    ]
    out = tmp_path / "out.jsonl"
    summary = run_scoring(records, FakeScorer(), out)
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "error", "ok"]
    assert rows[0]["text"] == "bad \ufffd text" and rows[0]["author"] == "x\ufffd"
    assert rows[0]["meta"]["k"] in ("v\ufffd", "v?")
    assert rows[1]["meta"]["created_at"] == "2024-05-01 12:00:00"
    assert rows[2]["error"].startswith("in:3: could not write this row") and rows[2]["id"] == "c"
    assert "not a string" in rows[3]["error"] and rows[3]["id"] == "42"
    assert summary.records == 5


def test_a_record_the_model_fails_on_becomes_an_error_row(tmp_path: Path) -> None:
    records = [InputRecord(f"r{i}", "boom" if i == 3 else "you idiot", "in", f"in:{i}") for i in range(8)]
    out = tmp_path / "out.jsonl"
    run_scoring(records, FakeScorer(), out, records_per_batch=5)
    rows = _rows(out)
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(8)]
    assert rows[3]["status"] == "error" and rows[3]["error"].startswith("in:3: could not score")
    assert rows[3]["scores"] is None
    assert all(r["status"] == "ok" for i, r in enumerate(rows) if i != 3)


def test_a_model_failing_on_everything_stops_and_stays_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "MAX_FAILURE_STREAK", 4)
    records = [InputRecord(f"r{i}", "fine" if i < 3 else "boom", "in", f"in:{i}") for i in range(20)]
    out = tmp_path / "out.jsonl"
    with pytest.raises(ScoringAborted, match="failed on 6 records in a row"):
        run_scoring(records, FakeScorer(), out, records_per_batch=3)
    assert len(_rows(out)) == 6  # two batches written; the third trips the limit before it is written
    assert not lock_path(out).exists()


def _raising_reader(path: Path, fmt: str, options: Any, meter: Any = None) -> Any:
    if path.name == "broken.jsonl":
        yield InputRecord("b0", "first", str(path), f"{path}:1")
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
    if path.name == "empty.jsonl":
        return
    yield InputRecord(path.stem, "ok", str(path), f"{path}:1")


def test_a_broken_file_gives_an_error_row_and_the_next_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline, "read_file", _raising_reader)
    files = [tmp_path / n for n in ("a.jsonl", "broken.jsonl", "empty.jsonl", "c.jsonl")]
    with caplog.at_level(logging.WARNING):
        records = list(read_files(files))
    assert [r.id for r in records] == ["a", "b0", None, "c"]
    assert records[2].location == f"{files[1]} after record 1"
    assert "could not read the rest of the file" in (records[2].error or "")
    assert any(str(files[2]) in m and "no comments found" in m for m in caplog.messages)


def test_lock_refuses_a_second_writer_and_is_removed_after(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with OutputLock(out), pytest.raises(OutputError, match="being written by another"):
        run_scoring(_records(3), FakeScorer(), out)
    assert not out.exists()
    run_scoring(_records(3), FakeScorer(), out)
    assert len(_rows(out)) == 3 and not lock_path(out).exists()


def test_score_inputs_refuses_output_that_is_an_input(tmp_path: Path) -> None:
    src = tmp_path / "x.jsonl"
    _write_jsonl(src, ["a", "b"])
    before = src.read_bytes()
    with pytest.raises(OutputError, match="is the input file"):
        score_inputs([str(src)], FakeScorer(), src, overwrite=True)
    assert src.read_bytes() == before


def test_resume_refuses_changed_inputs_and_says_what_changed(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    ids = [f"c{i}" for i in range(12)]
    _write_jsonl(src, ids)
    out = tmp_path / "out.jsonl"
    score_inputs([str(src)], FakeScorer(), out)
    out.write_text("".join(out.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
    _write_jsonl(src, ["new", *ids])
    with pytest.raises(OutputError, match=r"inputs changed.*in\.jsonl changed: size.*--overwrite"):
        score_inputs([str(src)], FakeScorer(), out, resume=True)
    assert len(_rows(out)) == 5  # untouched
    with pytest.raises(OutputError, match="setting include_text"):
        _write_jsonl(src, ids)
        score_inputs([str(src)], FakeScorer(), out, resume=True, include_text=False)
    score_inputs([str(src)], FakeScorer(), out, overwrite=True)
    assert [r["id"] for r in _rows(out)] == ids


def test_resume_reports_kept_rows_and_progress_starts_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    ids = [f"c{i}" for i in range(30)]
    _write_jsonl(src, ids)
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        score_inputs([str(src)], FakeScorer(fail_after=2), out, records_per_batch=5)
    with journal_path(out).open("a", encoding="utf-8") as fh:
        fh.write('{"id": "c10", "sco')
    progress = Progress(interval=0, terminal=False)
    with caplog.at_level(logging.INFO, logger="commentmod.score"):
        summary = score_inputs(
            [str(src)], FakeScorer(), out, records_per_batch=5, resume=True, progress=progress
        )
    assert summary.kept == 10 and summary.records == 30
    size = src.stat().st_size
    assert progress.total_bytes == size and progress.meter is not None and progress.meter.bytes_read == size
    assert any("kept 10 complete rows" in m and "torn last row" in m for m in caplog.messages)
    assert any("skipping the first 10 records" in m for m in caplog.messages)
    # progress from the bytes read (no counting pass): line 15 of 30 is about half the file
    lines = [m for m in caplog.messages if m.startswith("scored 15 records (")]
    assert lines and "records/s" in lines[0] and "% of 1.0 kB read)" in lines[0]
    assert 45 <= int(lines[0].split("(")[1].split("%")[0]) <= 55


def test_resume_refuses_a_journal_longer_than_the_inputs(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_scoring(_records(10), FakeScorer(), out)
    with pytest.raises(OutputError, match="holds 10 rows but the inputs have only 4"):
        run_scoring(_records(4), FakeScorer(), out, resume=True)


def test_disk_full_while_converting_keeps_the_journal_and_resume_converts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from commentmod.serving import writers

    real_write_csv = writers.write_csv

    def full_disk(journal: Path, dest: Path, *args: Any) -> None:
        dest.write_text("id,sou", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out.csv"
    monkeypatch.setattr(writers, "write_csv", full_disk)
    with pytest.raises(OutputError, match=r"disk full .*out\.csv.*--resume"):
        run_scoring(_records(12), FakeScorer(), out)
    assert not out.exists() and not out.with_name("out.csv.tmp").exists()
    assert len(_rows(journal_path(out))) == 12
    monkeypatch.setattr(writers, "write_csv", real_write_csv)
    summary = run_scoring(_records(12), FakeScorer(), out, resume=True)
    assert summary.kept == 12 and summary.records == 12
    assert out.read_text(encoding="utf-8").count("\n") == 13 and not journal_path(out).exists()
