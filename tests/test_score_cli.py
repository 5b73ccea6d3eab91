"""End-to-end `commentmod score` on the tiny exported artifact, incl. kill -9 and --resume."""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commentmod.serving.cli import main
from commentmod.serving.journal import OutputLock, fingerprint_path, lock_path

REPO = Path(__file__).resolve().parent.parent


def _write_jsonl(path: Path, n: int) -> list[str]:
    ids = [f"c{i}" for i in range(n)]
    texts = ["Ești un cretin, taci!", "Felicitări, geniu curat 🙄", "Vând Logan, detalii în privat", "ok"]
    with path.open("w", encoding="utf-8") as fh:
        for i, ident in enumerate(ids):
            row = {"id": ident, "text": f"{texts[i % 4]} {i}", "article_title": "Tramvaiul 101"}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return ids


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_score_examples_all_formats(
    tiny_artifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out.jsonl"
    code = main(
        ["score", str(REPO / "examples"), "--model", str(tiny_artifact_dir), "--out", str(out), "--table"]
    )
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    sources = {Path(r["source"]).name for r in rows}
    assert sources == {"comments.jsonl", "disqus.xml", "page-ro.txt", "wordpress.xml"}
    assert {r["status"] for r in rows} <= {"ok", "empty"}
    assert sum(r["status"] == "empty" for r in rows) == 2  # blank JSONL comment + deleted Disqus post
    assert all(set(r["scores"]) == {"abusive", "mocking", "off_topic"} for r in rows if r["status"] == "ok")
    assert all(r["scores"] is None and r["flags"] is None for r in rows if r["status"] == "empty")
    assert all(r["model"].startswith("tiny@") for r in rows)
    assert "Flagged comments" in capsys.readouterr().out


def test_score_no_text_csv_and_bad_input(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, 10)
    with src.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "broken", "text": "unterminated\n')
    out = tmp_path / "out.csv"
    assert main(["score", str(src), "--model", str(tiny_artifact_dir), "--out", str(out), "--no-text"]) == 0
    import csv

    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 11 and "text" not in rows[0]
    assert rows[-1]["status"] == "error" and "in.jsonl:11" in rows[-1]["error"]
    # unusable input / model -> non-zero exit, nothing written
    assert (
        main(
            [
                "score",
                str(tmp_path / "nope.jsonl"),
                "--model",
                str(tiny_artifact_dir),
                "--out",
                str(tmp_path / "x.jsonl"),
            ]
        )
        == 2
    )
    assert main(["score", str(src), "--model", str(tmp_path), "--out", str(tmp_path / "y.jsonl")]) == 2
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "y.jsonl").exists()


def _stop(proc: subprocess.Popen[bytes]) -> bool:
    """SIGSTOP ``proc`` and wait until it is stopped; False when it exited first (then reaped)."""
    os.kill(proc.pid, signal.SIGSTOP)
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        return True
    proc.returncode = os.waitstatus_to_exitcode(status)
    return False


def _kill_9_mid_run(proc: subprocess.Popen[bytes], out: Path, min_rows: int, slice_s: float = 0.01) -> int:
    """SIGKILL ``proc`` once ``out`` holds ``min_rows`` rows; returns the complete rows it left.

    The scorer runs in ``slice_s`` slices between SIGSTOPs and ``out`` is read only while it is stopped,
    so it cannot finish between the look and the kill, however fast the machine: it would have to score
    every record after the first rows (here 6000 records, 375 fsynced batches) within one 10 ms slice.
    """
    deadline = time.monotonic() + 300
    while _stop(proc):
        if out.is_file() and out.read_bytes().count(b"\n") >= min_rows:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return out.read_bytes().count(b"\n")
        assert time.monotonic() < deadline, f"no {min_rows} rows in {out} after 300 s"
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(slice_s)
    raise AssertionError(f"the scorer exited (code {proc.returncode}) within one {slice_s} s slice")


def test_kill_9_then_resume_gives_every_record_once(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    ids = _write_jsonl(src, 6000)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "commentmod.serving.cli", "score", str(src), "--out", str(out)]
    cmd += ["--model", str(tiny_artifact_dir), "--batch-size", "16", "--threads", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        partial = _kill_9_mid_run(proc, out, min_rows=100)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 100 <= partial < len(ids)
    kept = out.read_text(encoding="utf-8").splitlines()[:partial]
    done = subprocess.run(
        [*cmd, "--resume"], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert _ids(out) == ids  # every record exactly once, in input order
    assert out.read_text(encoding="utf-8").splitlines()[:partial] == kept  # the killed run's rows kept
    assert "records: 6000" in done.stderr


def _score(model: Path, *args: str) -> int:
    return main(["score", *args, "--model", str(model), "--threads", "1"])


def test_output_that_is_an_input_is_refused_and_the_input_kept(
    tiny_artifact_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "x.jsonl"
    _write_jsonl(src, 20)
    before = src.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    hard = tmp_path / "hard.jsonl"
    os.link(src, hard)
    for out in (src, link, hard):
        assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--overwrite") == 2
    assert _score(tiny_artifact_dir, str(tmp_path), "--out", str(tmp_path / "scores.jsonl")) == 2
    assert src.read_bytes() == before and not (tmp_path / "scores.jsonl").exists()


def test_second_writer_is_refused(
    tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, 5)
    out = tmp_path / "out.jsonl"
    with OutputLock(out), caplog.at_level(logging.ERROR):
        assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--resume") == 2
    assert any("being written by another commentmod score" in m for m in caplog.messages)
    assert not out.exists()


def test_bad_records_and_broken_files_never_stop_the_run(
    tiny_artifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    dump = tmp_path / "dump"
    (dump / ".git").mkdir(parents=True)
    _write_jsonl(dump / "a.jsonl", 3)
    with (dump / "a.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "s", "text": "lone \\udc80 surrogate"}\n')
    xml = (REPO / "examples" / "disqus.xml").read_bytes()
    (dump / "b.xml").write_bytes(xml[: len(xml) * 2 // 3])  # truncated mid-way
    (dump / "c.txt").write_text("Titlu\n\nUn articol fără comentarii.\n", encoding="utf-8")
    _write_jsonl(dump / "d.jsonl", 2)
    _write_jsonl(dump / ".git" / "hidden.jsonl", 2)
    (dump / ".hidden.jsonl").write_text('{"id": "h", "text": "x"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with caplog.at_level(logging.WARNING):
        assert _score(tiny_artifact_dir, str(dump), "--out", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_source: dict[str, list[dict]] = {}
    for row in rows:
        by_source.setdefault(Path(row["source"]).name, []).append(row)
    assert set(by_source) == {"a.jsonl", "b.xml", "d.jsonl"}  # hidden skipped, the page has no comments
    assert [r["id"] for r in by_source["a.jsonl"]] == ["c0", "c1", "c2", "s"]
    surrogate = by_source["a.jsonl"][3]
    assert surrogate["status"] == "ok" and surrogate["text"] == "lone \ufffd surrogate"
    assert by_source["b.xml"][-1]["status"] == "error" and "could not read" in by_source["b.xml"][-1]["error"]
    assert [r["id"] for r in by_source["d.jsonl"]] == ["c0", "c1"]
    assert any("c.txt: no comments found" in m for m in caplog.messages)
    assert "errors: 1" in capsys.readouterr().err


def test_csv_output_is_neutralised_and_table_is_terminal_safe(
    tiny_artifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    texts = ['=HYPERLINK("http://evil","click") idiot', "\x1b[2J\x1b[31mred\x1b[0m idiot \x07", "   "]
    src.write_text(
        "".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts)), "utf-8"
    )
    out = tmp_path / "out.csv"
    assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--table") == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed
    import csv

    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["text"].startswith("'=HYPERLINK")
    assert rows[2]["status"] == "empty" and rows[2]["score_abusive"] == "" and rows[2]["flag_abusive"] == ""
    assert float(rows[0]["score_abusive"]) >= 0.0


def test_resume_refuses_changed_input(
    tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, 20)
    out = tmp_path / "out.jsonl"
    assert _score(tiny_artifact_dir, str(src), "--out", str(out)) == 0
    assert fingerprint_path(out).exists() and not lock_path(out).exists()
    out.write_text("".join(out.read_text(encoding="utf-8").splitlines(keepends=True)[:10]), encoding="utf-8")
    src.write_text('{"id": "new", "text": "on top"}\n' + src.read_text(encoding="utf-8"), encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--resume") == 2
    assert any("inputs changed" in m and "--overwrite" in m for m in caplog.messages)
    assert len(_ids(out)) == 10


def _fsize_limit(limit: int):  # type: ignore[no-untyped-def]
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_disk_full_gives_a_clean_error_and_a_resumable_output(
    tiny_artifact_dir: Path, tmp_path: Path, suffix: str
) -> None:
    src = tmp_path / "in.jsonl"
    ids = _write_jsonl(src, 400)
    out = tmp_path / f"out{suffix}"
    cli = "commentmod.serving.cli"
    cmd = [sys.executable, "-m", cli, "score", str(src), "--model", str(tiny_artifact_dir)]
    cmd += ["--out", str(out), "--batch-size", "16", "--threads", "1"]
    full = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, preexec_fn=_fsize_limit(30_000), check=False
    )
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr and "disk full" in full.stderr and out.name in full.stderr
    journal = out if suffix == ".jsonl" else out.with_name(out.name + ".partial.jsonl")
    written = journal.read_bytes()
    assert 0 < len(written) <= 30_000 and written.endswith(b"\n")  # only complete rows
    assert not lock_path(out).exists()
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stderr and "records: 400" in done.stderr
    if suffix == ".jsonl":
        assert _ids(out) == ids
    else:
        import csv

        with out.open(encoding="utf-8", newline="") as fh:
            assert [r["id"] for r in csv.DictReader(fh)] == ids


def test_limit_flags_reach_the_reader_options_and_the_scorer(
    tiny_artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commentmod.serving import cli_score
    from commentmod.serving.pipeline import Summary
    from commentmod.serving.readers import ReaderOptions

    seen: dict[str, object] = {}

    def fake_score_inputs(inputs, scorer, out, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs, max_chars=scorer.max_chars)
        return Summary()

    monkeypatch.setattr(cli_score, "score_inputs", fake_score_inputs)
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, 1)
    flags = {
        "--max-record-bytes": 1001,
        "--max-page-bytes": 1002,
        "--max-xml-depth": 7,
        "--max-xml-record-elements": 1003,
        "--max-xml-names": 1004,
        "--max-context-chars": 1005,
        "--max-chars": 99,
    }
    args = [str(src), "--out", str(tmp_path / "o.jsonl"), *(x for kv in flags.items() for x in map(str, kv))]
    assert _score(tiny_artifact_dir, *args) == 0
    options = seen["options"]
    assert isinstance(options, ReaderOptions)
    for flag, value in flags.items():
        name = flag[2:].replace("-", "_")
        assert (seen["max_chars"] if name == "max_chars" else getattr(options, name)) == value, flag
    # without the flags: ReaderOptions' own defaults and the Scorer's default max_chars
    assert _score(tiny_artifact_dir, str(src), "--out", str(tmp_path / "o.jsonl")) == 0
    assert seen["options"] == ReaderOptions() and seen["max_chars"] == 20_000


def test_cli_max_chars_default_is_the_scorers() -> None:
    from commentmod.serving import cli_score, scorer

    assert cli_score.DEFAULT_MAX_CHARS == scorer.DEFAULT_MAX_CHARS


@pytest.mark.parametrize(
    "bad", [["--max-xml-depth", "0"], ["--max-chars", "-5"], ["--max-page-bytes", "1e6"]]
)
def test_limit_flags_refuse_non_positive_values(
    tiny_artifact_dir: Path, tmp_path: Path, bad: list[str]
) -> None:
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, 1)
    with pytest.raises(SystemExit) as exc:
        _score(tiny_artifact_dir, str(src), "--out", str(tmp_path / "o.jsonl"), *bad)
    assert exc.value.code == 2


def test_reader_limit_flags_change_what_is_read(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [
        {"id": "short", "text": "ok", "article_title": "A title much longer than ten characters"},
        {"id": "long", "text": "x" * 500},
    ]
    (dump / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (dump / "b.xml").write_bytes((REPO / "examples" / "disqus.xml").read_bytes())
    (dump / "c.txt").write_bytes((REPO / "examples" / "page-ro.txt").read_bytes())
    out = tmp_path / "out.jsonl"
    limits = ["--max-record-bytes", "300", "--max-context-chars", "10", "--max-xml-depth", "2"]
    assert _score(tiny_artifact_dir, str(dump), "--out", str(out), *limits, "--max-page-bytes", "100") == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_source = {Path(r["source"]).name: [] for r in got}
    for row in got:
        by_source[Path(row["source"]).name].append(row)
    short, long = by_source["a.jsonl"]
    assert short["status"] == "ok" and short["article_title"] == "A title mu"
    assert long["status"] == "error" and "300" in long["error"]
    # every thread and post nests deeper than 2: each post is an error row, none is lost
    assert [r["id"] for r in by_source["b.xml"]] == ["9001", "9002", "9003", "9004", "9005", "9006"]
    assert all(
        r["status"] == "error" and "nested deeper than 2 levels" in r["error"] for r in by_source["b.xml"]
    )
    (page,) = by_source["c.txt"]
    assert page["status"] == "error" and "limit of 100 (max_page_bytes)" in page["error"]


def test_truncated_comment_is_marked_in_every_output_format(
    tiny_artifact_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    long_text = "Ești un cretin, taci! " * 20  # 440 characters
    src.write_text(
        json.dumps({"id": "long", "text": long_text}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": "short", "text": "scurt"})
        + "\n"
        + json.dumps({"id": "blank", "text": "  "})
        + "\n",
        encoding="utf-8",
    )
    mark = {"chars": len(long_text), "scored_chars": 50}
    out = tmp_path / "out.jsonl"
    assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--max-chars", "50") == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["truncated"] for r in rows] == [mark, None, None]
    assert rows[0]["status"] == "ok" and rows[0]["text"] == long_text  # the output keeps the whole text
    assert "truncated: 1" in capsys.readouterr().err
    # a resume must score with the same --max-chars
    assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--resume", "--max-chars", "60") == 2

    import csv

    import pyarrow.parquet as pq

    csv_out, pq_out = tmp_path / "out.csv", tmp_path / "out.parquet"
    for dest in (csv_out, pq_out):
        assert _score(tiny_artifact_dir, str(src), "--out", str(dest), "--max-chars", "50") == 0
    with csv_out.open(encoding="utf-8", newline="") as fh:
        cells = [(r["truncated_chars"], r["truncated_scored_chars"]) for r in csv.DictReader(fh)]
    assert cells == [(str(len(long_text)), "50"), ("", ""), ("", "")]
    table = pq.read_table(pq_out)
    assert table.column("truncated_chars").to_pylist() == [len(long_text), None, None]
    assert table.column("truncated_scored_chars").to_pylist() == [50, None, None]
    # default --max-chars (20,000): nothing is cut
    assert _score(tiny_artifact_dir, str(src), "--out", str(out), "--overwrite") == 0
    assert all(json.loads(line)["truncated"] is None for line in out.read_text(encoding="utf-8").splitlines())


def test_page_without_comments_is_warned_about_once(
    tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = tmp_path / "page.txt"
    page.write_text("Titlu\n\nUn articol fără niciun comentariu.\nAlt paragraf.\n", encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert _score(tiny_artifact_dir, str(page), str(empty), "--out", str(tmp_path / "o.jsonl")) == 0
    about_page = [m for m in caplog.messages if str(page) in m]
    assert len(about_page) == 1 and "no comments found on this page" in about_page[0]
    assert len([m for m in caplog.messages if str(empty) in m and "no comments found" in m]) == 1
