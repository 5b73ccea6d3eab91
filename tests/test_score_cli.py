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

from commentmod.model.cli import main
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


def test_kill_9_then_resume_gives_every_record_once(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    ids = _write_jsonl(src, 6000)
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "commentmod.model.cli",
        "score",
        str(src),
        "--model",
        str(tiny_artifact_dir),
        "--out",
        str(out),
        "--batch-size",
        "16",
        "--threads",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.stat().st_size > 40_000:
            break
        if proc.poll() is not None:
            pytest.fail("scoring finished before it could be killed; raise the record count")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = out.read_text(encoding="utf-8").count("\n")
    assert 0 < partial < len(ids)
    done = subprocess.run(
        [*cmd, "--resume"], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert _ids(out) == ids
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
    cmd = [sys.executable, "-m", "commentmod.model.cli", "score", str(src), "--model", str(tiny_artifact_dir)]
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
