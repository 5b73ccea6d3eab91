"""Attacks on ``commentmod score`` (the batch CLI and its output), as in issue 14.

Each attack runs the real CLI in a subprocess on a fresh temporary directory and
reports what happened: exit code, whether the input survived, records lost or
duplicated, a traceback or a clear message. The figures of ``RELIABILITY.md``
(batch section) come from this script::

    .venv/bin/python benchmarks/attack_batch.py --model ARTIFACT_DIR [--only NAME ...]

Any artifact works (the tiny random one of the test fixtures is enough). Prints a
markdown table: attack | outcome | figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

TEXTS = ["Ești un cretin, taci!", "Felicitări, geniu curat 🙄", "Vând Logan, detalii în privat", "ok"]


def write_jsonl(path: Path, ids: list[str], extra: dict[str, str] | None = None) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i, ident in enumerate(ids):
            row = {"id": ident, "text": f"{TEXTS[i % 4]} {i}", **(extra or {})}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def out_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    ids = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            ids.append(json.loads(line).get("id"))
        except json.JSONDecodeError:
            ids.append("<torn>")
    return ids


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Runner:
    def __init__(self, model: Path, work: Path) -> None:
        self.model = model
        self.work = work

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "commentmod.serving.cli", "score", *args, "--model", str(self.model)]

    def run(
        self, *args: str, timeout: float = 120, preexec: Callable[[], None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.cmd(*args, "--threads", "1"),
                capture_output=True,
                text=True,
                timeout=timeout,
                preexec_fn=preexec,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 124, "", f"timed out after {timeout}s")


def brief(proc: subprocess.CompletedProcess[str]) -> str:
    err = proc.stderr.strip().splitlines()
    if "Traceback" in proc.stderr:
        last = next((line for line in reversed(err) if line and not line.startswith(" ")), "")
        return f"exit {proc.returncode}, traceback: {last[:90]}"
    msg = next((line for line in err if "error" in line.lower() or "refus" in line.lower()), "")
    return f"exit {proc.returncode}" + (f", says: {msg[:110]}" if msg else "")


def lost_dup(expected: list[str], got: list[str]) -> str:
    counts = Counter(i for i in got if i is not None)  # error rows of unreadable records have no id
    lost = sum(1 for i in expected if counts[i] == 0)
    dup = sum(c - 1 for c in counts.values() if c > 1)
    return f"records lost: {lost}, duplicated: {dup}"


# ----------------------------------------------------------------------------- attacks


def out_is_input(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "x.jsonl"
    write_jsonl(src, [f"c{i}" for i in range(20)])
    before = sha(src)
    proc = r.run(str(src), "--out", str(src), "--overwrite")
    return brief(proc), f"input intact: {sha(src) == before}; input rows left: {len(out_ids(src))}/20"


def out_symlink_to_input(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "x.jsonl"
    write_jsonl(src, [f"c{i}" for i in range(20)])
    link = d / "link.jsonl"
    link.symlink_to(src)
    before = sha(src)
    proc = r.run(str(src), "--out", str(link), "--overwrite")
    return brief(proc), f"input intact: {sha(src) == before}"


def out_hardlink_to_input(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "x.jsonl"
    write_jsonl(src, [f"c{i}" for i in range(20)])
    link = d / "hard.jsonl"
    os.link(src, link)
    before = sha(src)
    proc = r.run(str(src), "--out", str(link), "--overwrite")
    return brief(proc), f"input intact: {sha(src) == before}"


def out_inside_input_dir(r: Runner, d: Path) -> tuple[str, str]:
    dump = d / "dump"
    dump.mkdir()
    write_jsonl(dump / "a.jsonl", [f"c{i}" for i in range(20)])
    out = dump / "scores.jsonl"
    proc = r.run(str(dump), "--out", str(out), "--batch-size", "4", timeout=60)
    n = len(out_ids(out))
    return brief(proc), f"output rows: {n} for 20 records"


def two_writers(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    ids = [f"c{i}" for i in range(3000)]
    write_jsonl(src, ids)
    out = d / "out.jsonl"
    procs = [
        subprocess.Popen(
            r.cmd(str(src), "--out", str(out), "--threads", "1", "--batch-size", "16"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    ]
    time.sleep(0.3)
    procs.append(
        subprocess.Popen(
            r.cmd(str(src), "--out", str(out), "--threads", "1", "--resume", "--batch-size", "16"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    codes = []
    msgs = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        codes.append(p.returncode)
        msgs.append(next((line for line in err.splitlines() if "lock" in line.lower()), ""))
    msg = next((m for m in msgs if m), "")
    return f"exits {codes}" + (f", second says: {msg[:100]}" if msg else ""), lost_dup(ids, out_ids(out))


def resume_changed_input(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    ids = [f"c{i}" for i in range(20)]
    write_jsonl(src, ids)
    out = d / "out.jsonl"
    r.run(str(src), "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:10]), encoding="utf-8")  # an interrupted run
    new_ids = [f"new{i}" for i in range(5)] + ids
    time.sleep(0.01)
    write_jsonl(src, new_ids)  # rows added at the top
    proc = r.run(str(src), "--out", str(out), "--resume")
    got = out_ids(out)
    if proc.returncode != 0:
        return brief(proc), "output left as it was (10 rows); nothing appended"
    return brief(proc), lost_dup(new_ids, got)


def lone_surrogate(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    ids = [f"c{i}" for i in range(6)]
    write_jsonl(src, ids)
    with src.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "s", "text": "bad \\udc80 text"}\n')
        fh.write('{"id": "after", "text": "still here"}\n')
    out = d / "out.jsonl"
    proc = r.run(str(src), "--out", str(out))
    again = r.run(str(src), "--out", str(out), "--resume")
    return brief(proc) + f"; --resume: exit {again.returncode}", lost_dup([*ids, "s", "after"], out_ids(out))


def nested_arrays(r: Runner, d: Path) -> tuple[str, str]:
    """4 lines; the deep one can only be an error row; a record without any row is lost."""
    src = d / "in.jsonl"
    write_jsonl(src, ["c0", "c1"])
    with src.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "deep", "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        fh.write('{"id": "after", "text": "still here"}\n')
    out = d / "out.jsonl"
    proc = r.run(str(src), "--out", str(out))
    got = rows(out) if out.exists() else []
    errors = sum(1 for row in got if row.get("status") == "error")
    return brief(proc), f"rows: {len(got)} for 4 records (records lost: {4 - len(got)}); error rows: {errors}"


def truncated_among_several(r: Runner, d: Path) -> tuple[str, str]:
    dump = d / "dump"
    dump.mkdir()
    write_jsonl(dump / "a.jsonl", [f"a{i}" for i in range(5)])
    repo = Path(__file__).resolve().parent.parent
    xml = (repo / "examples" / "disqus.xml").read_bytes()
    (dump / "b.xml").write_bytes(xml[: len(xml) * 2 // 3])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [f"p{i}" for i in range(5)], "text": ["hi"] * 5}), dump / "c.parquet")
    good = (dump / "c.parquet").read_bytes()
    (dump / "c2.parquet").write_bytes(good[: len(good) // 2])
    write_jsonl(dump / "d.jsonl", [f"d{i}" for i in range(5)])
    out = d / "out.jsonl"
    proc = r.run(str(dump), "--out", str(out))
    got = rows(out) if out.exists() else []
    good_ids = [f"a{i}" for i in range(5)] + [f"d{i}" for i in range(5)]
    errors = sum(1 for row in got if row.get("status") == "error")
    return brief(proc), lost_dup(good_ids, [row["id"] for row in got]) + f"; error rows: {errors}"


def hidden_dirs(r: Runner, d: Path) -> tuple[str, str]:
    dump = d / "dump"
    (dump / ".git").mkdir(parents=True)
    write_jsonl(dump / "a.jsonl", ["a0", "a1"])
    write_jsonl(dump / ".git" / "hidden.jsonl", ["h0", "h1"])
    write_jsonl(dump / ".hidden.jsonl", ["h2"])
    out = d / "out.jsonl"
    proc = r.run(str(dump), "--out", str(out))
    hidden = sum(1 for i in out_ids(out) if i.startswith("h"))
    return brief(proc), f"rows from hidden files: {hidden}"


def not_scored_values(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    src.write_text('{"id": "e", "text": "   "}\n{"id": "b", "text": ' + '"x"' + "\n", encoding="utf-8")
    figures = []
    for ext in ("jsonl", "csv", "parquet"):
        out = d / f"out.{ext}"
        r.run(str(src), "--out", str(out))
        if ext == "jsonl":
            row = rows(out)[0]
            figures.append(f"jsonl scores={json.dumps(row['scores'])}")
        elif ext == "csv":
            import csv

            with out.open(encoding="utf-8", newline="") as fh:
                first = next(csv.DictReader(fh))
            figures.append(f"csv score_abusive={first.get('score_abusive')!r}")
        else:
            import pyarrow.parquet as pq

            col = pq.read_table(out).column("score_abusive").to_pylist()
            figures.append(f"parquet score_abusive={col[0]!r}")
    return "empty and error rows", "; ".join(figures)


def page_without_comments(r: Runner, d: Path) -> tuple[str, str]:
    page = d / "page.txt"
    page.write_text("Titlu\n\nUn articol fără niciun comentariu.\nAlt paragraf.\n", encoding="utf-8")
    out = d / "out.jsonl"
    proc = r.run(str(page), "--out", str(out))
    said = [line for line in proc.stderr.splitlines() if "page.txt" in line and "comment" in line.lower()]
    return f"exit {proc.returncode}, rows {len(out_ids(out))}", f"warnings naming the file: {len(said)}"


def long_comment_marked(r: Runner, d: Path) -> tuple[str, str]:
    """A comment longer than --max-chars: scored on its first N characters and marked in every format."""
    src = d / "in.jsonl"
    src.write_text(
        json.dumps({"id": "long", "text": "Ești un cretin. " * 400})
        + "\n"
        + '{"id": "short", "text": "ok"}\n',
        encoding="utf-8",
    )
    figures = []
    for ext in ("jsonl", "csv"):
        out = d / f"out.{ext}"
        proc = r.run(str(src), "--out", str(out), "--max-chars", "1000")
        if "unrecognized arguments" in proc.stderr:  # before --max-chars existed
            return brief(proc), "no way to bound or mark it"
        if ext == "jsonl":
            figures.append(f"jsonl truncated={[row.get('truncated') for row in rows(out)]}")
        else:
            import csv

            with out.open(encoding="utf-8", newline="") as fh:
                cells = [
                    (row.get("truncated_chars"), row.get("truncated_scored_chars"))
                    for row in csv.DictReader(fh)
                ]
            figures.append(f"csv truncated_chars/scored={cells}")
    return brief(proc), "; ".join(figures)


def csv_formula(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    texts = ['=HYPERLINK("http://evil","click")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"]
    src.write_text(
        "".join(json.dumps({"id": f"=c{i}", "text": t}) + "\n" for i, t in enumerate(texts)),
        encoding="utf-8",
    )
    out = d / "out.csv"
    proc = r.run(str(src), "--out", str(out))
    import csv

    with out.open(encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    raw = sum(1 for row in got for k in ("id", "text") if row[k][:1] in ("=", "+", "-", "@", "\t"))
    return brief(proc), f"cells starting with a formula character: {raw}"


def table_ansi(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    texts = ["\x1b[2J\x1b[31mred alert\x1b[0m you idiot", "bell \x07 and \x1b]0;title\x07 idiot"]
    src.write_text(
        "".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts * 5)),
        encoding="utf-8",
    )
    out = d / "out.jsonl"
    proc = r.run(str(src), "--out", str(out), "--table")
    esc = proc.stdout.count("\x1b") + proc.stdout.count("\x07")
    return brief(proc), f"escape/control characters printed: {esc}"


def progress_not_tty(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    write_jsonl(src, [f"c{i}" for i in range(6000)])
    out = d / "out.jsonl"
    args = ["--batch-size", "16", "--progress-every", "1"]
    proc = subprocess.run(
        [*r.cmd(str(src), "--out", str(out), "--threads", "1"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if "unrecognized arguments" in proc.stderr:  # before --progress-every existed
        proc = subprocess.run(
            [*r.cmd(str(src), "--out", str(out), "--threads", "1"), "--batch-size", "16"],
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in proc.stderr.splitlines() if "records/s" in line or "rec/s" in line]
    return f"exit {proc.returncode}", f"progress lines on a non-terminal stderr: {len(lines)}"


def resume_report(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    write_jsonl(src, [f"c{i}" for i in range(20)])
    out = d / "out.csv"
    journal = d / "out.csv.partial.jsonl"
    r.run(str(src), "--out", str(d / "tmp.jsonl"))
    lines = (d / "tmp.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[:12]), encoding="utf-8")
    proc = r.run(str(src), "--out", str(out), "--resume")
    said = [line for line in proc.stderr.splitlines() if "kept" in line or "skipp" in line]
    return f"exit {proc.returncode}", f"says: {said[0][:100] if said else 'nothing about kept/skipped rows'}"


def _limit_fsize(limit: int) -> Callable[[], None]:
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def disk_full(r: Runner, d: Path) -> tuple[str, str]:
    src = d / "in.jsonl"
    ids = [f"c{i}" for i in range(500)]
    write_jsonl(src, ids)
    shutil.copy(src, d / "keep.jsonl")
    out = d / "out.jsonl"
    proc = r.run(str(src), "--out", str(out), "--batch-size", "16", preexec=_limit_fsize(40_000))
    size = out.stat().st_size if out.exists() else 0
    again = r.run(str(src), "--out", str(out), "--resume")
    return (
        brief(proc) + f" (output {size} bytes); --resume with space: exit {again.returncode}",
        lost_dup(ids, out_ids(out)),
    )


ATTACKS: dict[str, Callable[[Runner, Path], tuple[str, str]]] = {
    "out-is-input": out_is_input,
    "out-symlink-to-input": out_symlink_to_input,
    "out-hardlink-to-input": out_hardlink_to_input,
    "out-inside-input-dir": out_inside_input_dir,
    "two-writers-same-out": two_writers,
    "resume-after-input-changed": resume_changed_input,
    "lone-surrogate": lone_surrogate,
    "nested-arrays": nested_arrays,
    "truncated-among-several": truncated_among_several,
    "hidden-dirs": hidden_dirs,
    "not-scored-values": not_scored_values,
    "page-without-comments": page_without_comments,
    "long-comment-marked": long_comment_marked,
    "csv-formula": csv_formula,
    "table-ansi": table_ansi,
    "progress-not-tty": progress_not_tty,
    "resume-report": resume_report,
    "disk-full": disk_full,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(ATTACKS))
    args = parser.parse_args()
    print("| attack | outcome | figure |\n|---|---|---|")
    for name in args.only or ATTACKS:
        with tempfile.TemporaryDirectory(prefix=f"attack-{name}-") as tmp:
            outcome, figure = ATTACKS[name](Runner(args.model, Path(tmp)), Path(tmp))
        print(f"| {name} | {outcome.replace('|', '/')} | {figure.replace('|', '/')} |", flush=True)


if __name__ == "__main__":
    main()
