"""Bounded cost: every reader limit in ReaderOptions turns an oversized record into an error record
(or stops a file that would grow the parser) with memory that does not grow with the input."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.serving.readers import InputRecord, ReaderOptions, read_file
from commentmod.serving.readers.html_text import html_to_text

MIB = 1024 * 1024
DSQ = 'xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals"'


def _peak(fn: Callable[[], list[InputRecord]]) -> tuple[list[InputRecord], int]:
    """Records and the peak of Python memory allocated while reading them."""
    tracemalloc.start()
    try:
        recs = fn()
        return recs, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _post(pid: str, message: str) -> str:
    return f'<post dsq:id="{pid}"><message>{message}</message></post>\n'


def _disqus_file(path: Path, middle: str) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f'<?xml version="1.0" encoding="utf-8"?>\n<disqus {DSQ}>\n')
        fh.write(_post("p1", "before"))
        fh.write(middle)
        fh.write(_post("p3", "after"))
        fh.write("</disqus>\n")
    return path


def test_jsonl_huge_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"id": "a", "text": "first"}\n')
        fh.write(json.dumps({"id": "big", "text": "you are an idiot " * (8 * MIB // 17)}) + "\n")
        fh.write('{"id": "c", "text": "last"}\n')
    options = ReaderOptions(max_record_bytes=MIB)
    recs, peak = _peak(lambda: list(read_file(path, options=options)))
    assert [r.id for r in recs] == ["a", None, "c"]
    assert (
        recs[1].error is not None and "max_record_bytes" in recs[1].error and recs[1].location.endswith(":2")
    )
    assert peak < 4 * MIB, peak


def test_jsonl_line_exactly_at_the_limit_is_read(tmp_path: Path) -> None:
    line = json.dumps({"id": "x", "text": "a" * 100})
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n" + line, encoding="utf-8")
    recs = list(read_file(path, options=ReaderOptions(max_record_bytes=len(line))))
    assert [r.error for r in recs] == [None, None]
    recs = list(read_file(path, options=ReaderOptions(max_record_bytes=len(line) - 1)))
    assert all(r.error is not None for r in recs) and len(recs) == 2


def test_csv_overlong_line_is_an_error_row_and_the_rows_around_it_are_read(tmp_path: Path) -> None:
    big = "x" * 5000
    content = f'id,text\n1,short\n2,{big}\n3,"quoted\n{big}\nend"\n4,after\n'
    path = tmp_path / "c.csv"
    path.write_text(content, encoding="utf-8")
    recs = list(read_file(path, options=ReaderOptions(max_record_bytes=1000)))
    assert [(r.id, r.error is None) for r in recs] == [("1", True), (None, False), (None, False), ("4", True)]
    assert all("max_record_bytes" in (r.error or "") for r in recs[1:3])
    assert recs[1].location.endswith(":3") and recs[2].location.endswith(":4")


def test_deeply_nested_disqus_stops_in_bounded_memory(tmp_path: Path) -> None:
    depth = 400_000  # ~3 MB of <b>: the old reader built every level (98 MB took 3.9 GB)
    path = _disqus_file(tmp_path / "d.xml", _post("p2", "hi " + "<b>" * depth + "x" + "</b>" * depth))
    recs, peak = _peak(lambda: list(read_file(path)))
    assert [r.id for r in recs] == ["p1", "p2"]
    assert recs[0].text == "before"
    assert recs[1].error is not None and "deeper than 64" in recs[1].error
    assert "could not read the rest of the file" in recs[1].error
    assert peak < 2 * MIB, peak


def test_disqus_post_over_the_element_or_text_limit_is_an_error_record(tmp_path: Path) -> None:
    wide = _post("p2", "<b>x</b>" * 50_000)
    path = _disqus_file(tmp_path / "w.xml", wide)
    recs, peak = _peak(lambda: list(read_file(path, options=ReaderOptions(max_xml_record_elements=1000))))
    assert [(r.id, r.error is None) for r in recs] == [("p1", True), ("p2", False), ("p3", True)]
    assert "more than 1,000 XML elements" in (recs[1].error or "")
    assert peak < 2 * MIB, peak
    long_text = _post("p2", "idiot " * 500_000)
    path = _disqus_file(tmp_path / "t.xml", long_text)
    recs, peak = _peak(lambda: list(read_file(path, options=ReaderOptions(max_record_bytes=100_000))))
    assert [(r.id, r.error is None) for r in recs] == [("p1", True), ("p2", False), ("p3", True)]
    assert "characters of text" in (recs[1].error or "") and recs[2].text == "after"
    assert peak < 2 * MIB, peak


def test_xml_distinct_names_and_huge_tokens_stop_the_file(tmp_path: Path) -> None:
    names = "".join(f"<n{i}/>" for i in range(200))
    path = _disqus_file(tmp_path / "n.xml", _post("p2", names))
    recs = list(read_file(path, options=ReaderOptions(max_xml_names=50)))
    assert recs[0].id == "p1" and recs[-1].error is not None and "distinct element" in recs[-1].error
    comment = "<!-- " + "z" * (3 * MIB) + " -->"
    path = _disqus_file(tmp_path / "c.xml", comment)
    recs, peak = _peak(lambda: list(read_file(path, options=ReaderOptions(max_record_bytes=MIB // 2))))
    assert recs[0].id == "p1" and recs[-1].error is not None and "longer than" in recs[-1].error
    assert peak < 3 * MIB, peak


@pytest.mark.parametrize(
    "attack",
    [
        "<!--" * 100_000,
        "</" * 100_000,
        "<a " * 100_000,
        "<!" * 100_000,
        '<a b="' * 50_000,
        "<![CDATA[" * 40_000,
    ],
)
def test_html_to_text_is_linear(attack: str) -> None:
    # html.parser took 20 s on 200 KB of "<!--" (quadratic); a 4 MB comment would never finish
    t0 = time.perf_counter()
    html_to_text(attack + " tail text")
    assert time.perf_counter() - t0 < 3.0


def test_csv_row_spanning_many_lines_is_bounded(tmp_path: Path) -> None:
    many = "\n".join(f"line {i}, still inside the quoted field" for i in range(3000))  # ~120 KB
    path = tmp_path / "c.csv"
    path.write_text(f'id,text\n1,short\n2,"{many}"\n3,"after ""it"""\n4,last\n', encoding="utf-8")
    recs, peak = _peak(lambda: list(read_file(path, options=ReaderOptions(max_record_bytes=10_000))))
    assert [(r.id, r.text) for r in recs] == [
        ("1", "short"),
        (None, None),
        ("3", 'after "it"'),
        ("4", "last"),
    ]
    assert (
        recs[1].error is not None and "row longer than" in recs[1].error and recs[1].location.endswith(":3")
    )
    assert recs[2].location.endswith(f":{3 + 3000}")  # the rest of the broken field is never read as rows
    assert peak < MIB, peak


def test_nesting_allowed_by_the_options_is_read_whole(tmp_path: Path) -> None:
    depth = 3000  # deeper than Python's recursion limit: turning markup into text must not recurse
    path = _disqus_file(tmp_path / "d.xml", _post("p2", "<b>" * depth + "deep" + "</b>" * depth + " after"))
    options = ReaderOptions(max_xml_depth=depth + 10, max_xml_record_elements=depth + 10)
    recs = list(read_file(path, options=options))
    assert [(r.id, r.text) for r in recs] == [("p1", "before"), ("p2", "deep after"), ("p3", "after")]
