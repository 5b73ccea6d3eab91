"""End-to-end `commentmod score` on the tiny exported artifact, incl. kill -9 and --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commentmod.model.cli import main

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
    assert all(set(r["scores"]) == {"abusive", "mocking", "off_topic"} for r in rows)
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
