"""Output hygiene: CSV formula injection, terminal-safe tables, record cleaning, progress, null scores."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from commentmod.serving.cli_score import format_table
from commentmod.serving.progress import Progress
from commentmod.serving.readers import InputRecord
from commentmod.serving.readers.meter import ReadMeter
from commentmod.serving.result import Result
from commentmod.serving.sanitize import clean_record, neutralise_cell, terminal_safe
from commentmod.serving.writers import write_csv

LABELS = ("abusive", "mocking", "off_topic")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain = text", "plain = text"),
        ("", ""),
        (None, None),
        (0.5, 0.5),
    ],
)
def test_neutralise_cell(value: object, expected: object) -> None:
    assert neutralise_cell(value) == expected


def test_csv_neutralises_text_cells_but_not_numbers(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    row = {
        "id": "=1+1",
        "source": "@src",
        "location": "-loc",
        "author": "+a",
        "text": '=HYPERLINK("http://evil","click")',
        "article_title": "\tt",
        "scores": {"abusive": 0.25, "mocking": 0.0, "off_topic": 1.0},
        "flags": {"abusive": False, "mocking": False, "off_topic": True},
        "flagged": True,
        "status": "ok",
        "error": "=err",
        "model": "m@1",
        "meta": {"k": "v"},
    }
    journal.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    write_csv(journal, out, LABELS)
    with out.open(encoding="utf-8", newline="") as fh:
        got = next(csv.DictReader(fh))
    for key in ("id", "source", "location", "author", "text", "article_title", "error"):
        assert got[key].startswith("'"), key
    assert got["score_abusive"] == "0.25" and got["flag_off_topic"] == "True" and got["meta"] == '{"k": "v"}'


def test_terminal_safe_strips_escapes_and_controls() -> None:
    nasty = "\x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07bell\x07 nul\x00 \u202eevil\u202c \x9b31m ok"
    safe = terminal_safe(nasty)
    assert not any(ch in safe for ch in "\x1b\x07\x00\u202e\u202c\x9b")
    assert "red" in safe and "bell" in safe and "ok" in safe and "title" not in safe


def test_table_prints_no_escape_sequences_and_handles_null_scores() -> None:
    rows = [
        {
            "id": "\x1b[31mid",
            "text": "\x1b[2Jyou idiot\x07",
            "scores": {"abusive": 0.9, "mocking": 0.1, "off_topic": 0.0},
            "flags": {"abusive": True, "mocking": False, "off_topic": False},
        },
        {"id": "e", "text": "", "scores": None, "flags": None},
    ]
    table = format_table(rows, LABELS)
    assert "\x1b" not in table and "\x07" not in table
    assert "you idiot" in table and "0.90" in table


def test_clean_record_fixes_surrogates_and_refuses_non_string_text() -> None:
    rec = clean_record(InputRecord("a\udc80", "t\ud800", "s", "s:1", article_title="x\udcff"))
    assert rec.id == "a\ufffd" and rec.text == "t\ufffd" and rec.article_title == "x\ufffd"
    assert rec.error is None
    ok = InputRecord("a", "fine", "s", "s:1")
    assert clean_record(ok) is ok
    bad = clean_record(InputRecord("a", {"nested": 1}, "s", "s:2"))  # type: ignore[arg-type]
    assert bad.text is None and bad.error == "comment text is a dict, not a string"


def test_progress_logs_lines_when_not_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    meter = ReadMeter(total=4000)
    progress = Progress(interval=0, stream=io.StringIO())
    progress.measure(meter)
    assert not progress.terminal
    meter.begin(4000)
    meter.reached(0.1)  # read to skip the 20 records a resume kept
    with caplog.at_level(logging.INFO, logger="commentmod.score"):
        progress.start(20)
        meter.reached(0.5)
        progress.update(30)
        progress.close()
    (line,) = caplog.messages
    assert line.startswith("scored 50 records (50% of 4.0 kB read)") and "records/s" in line and "ETA" in line
    unknown = Progress(interval=3600, stream=io.StringIO())
    unknown.start()
    unknown.update(5)
    assert unknown.line().startswith("scored 5 records, ") and "ETA" not in unknown.line()


def test_read_meter_follows_every_reader_without_a_second_pass(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from commentmod.serving.pipeline import file_size, read_files

    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n' * 7 + '{"text": "no newline"}', encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,text\n1,a\n2,b\n", encoding="utf-8")
    pq.write_table(pa.table({"text": ["x"] * 5}), tmp_path / "c.parquet", row_group_size=2)
    posts = "".join(
        f'<post dsq:id="p{i}"><message>m{i}</message><thread dsq:id="t"/></post>' for i in range(3)
    )
    (tmp_path / "d.xml").write_text(
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        f'{posts}<thread dsq:id="t"><title>T</title></thread></disqus>',
        encoding="utf-8",
    )
    files = sorted(tmp_path.iterdir())
    meter = ReadMeter(total=sum(file_size(f) for f in files))
    seen = []
    for record in read_files(files, meter=meter):
        seen.append(meter.bytes_read)
        assert record.error is None
    assert len(seen) == 8 + 2 + 5 + 3
    assert seen == sorted(seen) and seen[0] > 0 and seen[-1] == meter.bytes_read == meter.total


def test_result_to_dict_not_scored_is_null() -> None:
    blank = Result("x", None, None, False, "empty")
    assert blank.to_dict() == {
        "id": "x",
        "scores": None,
        "flags": None,
        "flagged": False,
        "status": "empty",
        "error": None,
        "truncated": None,
    }
    cut = Result(
        "y", {"abusive": 0.1}, {"abusive": False}, False, extra={"truncated": {"chars": 9, "scored_chars": 5}}
    )
    assert cut.to_dict()["truncated"] == {"chars": 9, "scored_chars": 5} == cut.truncated
