"""Bounded cost end to end: the headline figures of ``RELIABILITY.md`` (issue 14), via ``commentmod score``.

Each case writes its attack file into a temporary directory, runs the real CLI on it in a fresh
process and reports the exit code, rows written against records in the input (records lost), the
wall time and the peak RSS of that process (``/usr/bin/time``)::

    .venv/bin/python benchmarks/attack_limits.py --model ARTIFACT_DIR [--only NAME ...] [--reader-only]

Any artifact works (the tiny random one of the test fixtures is enough; a real model adds its own
scoring time and about 0.5 GB). Cases: a 20 MB comment (default limits, and with
``--max-record-bytes`` raised so that the Scorer's ``--max-chars`` cut is what bounds it), a 98 MiB
Disqus export with one post nested 14.7 million elements deep, a 100 MB Disqus export of 209,128
ordinary posts, and 50 MB pages (headline-like lines before a wpDiscuz section; a section of
hundreds of thousands of comments). ``--reader-only`` times the readers alone (``read_file`` over
the file, no model) instead of the CLI. Prints a markdown table: case | outcome | figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
DSQ = 'xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals"'
WPDISCUZ = REPO / "tests" / "data" / "pages" / "en-wpdiscuz.txt"
READER_ONLY = """
import json, sys
from pathlib import Path
from commentmod.serving.readers import ReaderOptions, read_file
limits = json.loads(sys.argv[3])
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for r in read_file(Path(sys.argv[1]), options=ReaderOptions(**limits)):
        out.write(json.dumps({"id": r.id, "location": r.location, "error": r.error,
                              "status": "error" if r.error else "ok", "truncated": None}) + "\\n")
"""


class Runner:
    """Runs the CLI (or, with ``reader_only``, the readers alone) on one input in a fresh process."""

    def __init__(self, model: Path, reader_only: bool) -> None:
        self.model = model
        self.reader_only = reader_only

    def run(self, src: Path, out: Path, **limits: int) -> tuple[int, float, float]:
        """(exit code, seconds, peak RSS in MB); ``/usr/bin/time`` measures the process itself (a
        child forked from this benchmark would start with this process's pages)."""
        if self.reader_only:
            cmd = [sys.executable, "-c", READER_ONLY, str(src), str(out), json.dumps(limits)]
        else:
            flags = [x for k, v in limits.items() for x in (f"--{k.replace('_', '-')}", str(v))]
            cmd = [sys.executable, "-m", "commentmod.serving.cli", "score", str(src), "--out", str(out)]
            cmd += [
                "--model",
                str(self.model),
                "--threads",
                "1",
                "--no-progress",
                "--batch-size",
                "256",
                *flags,
            ]
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        seconds, kib = proc.stderr.strip().splitlines()[-1].split()
        return proc.returncode, float(seconds), int(kib) / 1024


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def count_rows(path: Path) -> tuple[int, int]:
    """(rows, error rows) of a JSONL output, streamed."""
    n = errors = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            n += 1
            errors += json.loads(line)["status"] == "error"
    return n, errors


def report(run: tuple[int, float, float], out: Path, records: int, note: str = "") -> tuple[str, str]:
    (code, seconds, rss), (n, errors) = run, count_rows(out)
    outcome = f"exit {code}; {n:,} rows for {records:,} records ({errors} error rows){note}"
    figure = f"records lost: {max(0, records - n)}; {seconds:.1f} s, peak RSS {rss:,.0f} MB"
    return outcome, figure


# --------------------------------------------------------------------------- cases


def _comment_file(d: Path) -> Path:
    src = d / "big.jsonl"
    sentence = "Ești un cretin, taci! Felicitări, geniu curat. "
    text = (sentence * (20_000_000 // len(sentence) + 1))[:20_000_000]
    with src.open("w", encoding="utf-8") as fh:
        fh.write('{"id": "a", "text": "before"}\n')
        fh.write(json.dumps({"id": "big", "text": text}, ensure_ascii=False) + "\n")
        fh.write('{"id": "b", "text": "after"}\n')
    return src


def comment_20mb(r: Runner, d: Path) -> tuple[str, str]:
    src, out = _comment_file(d), d / "out.jsonl"
    run = r.run(src, out)
    big = rows(out)[1]
    return report(run, out, 3, f"; the 20 MB line: {big['status']} (…{(big['error'] or '')[-55:]})")


def comment_20mb_scored(r: Runner, d: Path) -> tuple[str, str]:
    src, out = _comment_file(d), d / "out.jsonl"
    run = r.run(src, out, max_record_bytes=32 * MIB)
    big = rows(out)[1]
    return report(run, out, 3, f"; the 20 MB comment: {big['status']}, truncated {big['truncated']}")


def _post(pid: str, message: str) -> str:
    return f'<post dsq:id="{pid}"><message>{message}</message><thread dsq:id="t1"/></post>\n'


def disqus_98mb_nested(r: Runner, d: Path) -> tuple[str, str]:
    src, out = d / "nested.xml", d / "out.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        fh.write(f'<?xml version="1.0" encoding="utf-8"?>\n<disqus {DSQ}>\n')
        fh.write('<thread dsq:id="t1"><title>A thread</title></thread>\n')
        fh.write(_post("p1", "before"))
        fh.write('<post dsq:id="p2"><message>hi ')
        for _ in range(147):  # 14.7 million levels
            fh.write("<b>" * 100_000)
        fh.write("x")
        for _ in range(147):
            fh.write("</b>" * 100_000)
        fh.write('</message><thread dsq:id="t1"/></post>\n')
        fh.write(_post("p3", "after"))
        fh.write("</disqus>\n")
    run = r.run(src, out)
    return report(run, out, 3, f" ({src.stat().st_size / MIB:.0f} MiB file)")


def disqus_100mb_posts(r: Runner, d: Path) -> tuple[str, str]:
    src, out = d / "posts.xml", d / "out.jsonl"
    n_threads, n_posts = 1000, 209_128
    with src.open("w", encoding="utf-8") as fh:
        fh.write(f'<?xml version="1.0" encoding="utf-8"?>\n<disqus {DSQ}>\n')
        for t in range(n_threads):
            fh.write(
                f'<thread dsq:id="t{t}"><title>Știre {t}</title><message>Articol {t}</message></thread>\n'
            )
        for i in range(n_posts):
            fh.write(
                f'<post dsq:id="p{i}"><message><![CDATA[<p>Nu sunt de acord cu primarul, dar proiectul '
                f"are sens pentru cartier, zice cititorul {i} din Mănăștur.</p><p>Mai vedem ce iese. "
                "Doar că lucrările durează prea mult.</p>]]></message>"
                f"<createdAt>2026-11-20T09:30:00Z</createdAt><isDeleted>false</isDeleted>"
                f"<isSpam>false</isSpam><author><name>Cititor {i}</name><username>u{i}</username>"
                f"<email>u{i}@example.org</email></author><ipAddress>192.0.2.{i % 250}</ipAddress>"
                f'<thread dsq:id="t{i % n_threads}"/></post>\n'
            )
        fh.write("</disqus>\n")
    run = r.run(src, out)
    return report(run, out, n_posts, f" ({src.stat().st_size / 1e6:.0f} MB file)")


def _comment_section() -> tuple[str, int]:
    from commentmod.serving.readers.page import parse_page

    text = WPDISCUZ.read_text(encoding="utf-8")
    return text[text.index("\n6 Comments\n") :], len(parse_page(text).comments)


def _headline_page(path: Path, size: int) -> int:
    section, n_comments = _comment_section()
    words = ["Council", "Approves", "Ferry", "Fare", "Rise", "Harbour", "Islands", "Budget", "Vote"]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("Harbour Council Approves Ferry Fare Rise Of 18 Percent From January\n\n")
        i = 0
        while fh.tell() < size - len(section):
            fh.write(f"{words[i % 9]} {words[(i // 9) % 9]} {words[(i // 81) % 9]} Update {i}\n")
            i += 1
        fh.write("\nThe operator said fuel and insurance costs had risen faster than expected this year.\n")
        fh.write(section)
    return n_comments


def page_50mb(r: Runner, d: Path) -> tuple[str, str]:
    src, out = d / "page.txt", d / "out.jsonl"
    n_comments = _headline_page(src, 50 * 10**6)
    run = r.run(src, out, max_page_bytes=64 * MIB)
    return report(run, out, n_comments, " (--max-page-bytes 64 MiB)")


def page_50mb_default(r: Runner, d: Path) -> tuple[str, str]:
    src, out = d / "page.txt", d / "out.jsonl"
    _headline_page(src, 50 * 10**6)
    code, seconds, rss = r.run(src, out)
    got = rows(out)
    outcome = f"exit {code}; {len(got)} row: {got[0]['status']} (…{(got[0]['error'] or '')[-60:]})"
    return outcome, f"{seconds:.1f} s, peak RSS {rss:,.0f} MB"


def page_50mb_comments(r: Runner, d: Path) -> tuple[str, str]:
    src, out = d / "page.txt", d / "out.jsonl"
    section, per_copy = _comment_section()
    first, last = section.index("merc the jerk"), section.index("Would love your thoughts")
    with src.open("w", encoding="utf-8") as fh:
        fh.write("Harbour Council Approves Ferry Fare Rise Of 18 Percent From January\n\n")
        fh.write("Single ferry tickets between Westgate and the islands will cost 18 percent more.\n\n")
        fh.write(section[:first])
        copies = 0
        while fh.tell() < 50 * 10**6:
            fh.write(section[first:last].replace("Does anyone know", f"Comment {copies}: does anyone know"))
            copies += 1
        fh.write(section[last:])
    run = r.run(src, out, max_page_bytes=64 * MIB)
    return report(run, out, per_copy * copies, " (--max-page-bytes 64 MiB)")


CASES: dict[str, Callable[[Runner, Path], tuple[str, str]]] = {
    "comment-20mb": comment_20mb,
    "comment-20mb-scored": comment_20mb_scored,
    "disqus-98mb-nested": disqus_98mb_nested,
    "disqus-100mb-posts": disqus_100mb_posts,
    "page-50mb": page_50mb,
    "page-50mb-default-limit": page_50mb_default,
    "page-50mb-comments": page_50mb_comments,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES))
    parser.add_argument("--reader-only", action="store_true", help="time the readers alone, no model")
    args = parser.parse_args()
    runner = Runner(args.model.resolve(), args.reader_only)
    print("| case | outcome | figure |\n|---|---|---|", flush=True)
    for name in args.only or CASES:
        with tempfile.TemporaryDirectory(prefix=f"attack-{name}-") as tmp:
            outcome, figure = CASES[name](runner, Path(tmp))
        print(f"| {name} | {outcome.replace('|', '/')} | {figure.replace('|', '/')} |", flush=True)


if __name__ == "__main__":
    main()
