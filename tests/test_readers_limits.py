"""Bounded cost: every reader limit in ReaderOptions turns an oversized record into an error record
(or stops a file that would grow the parser) with memory that does not grow with the input."""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_deeply_nested_disqus_post_is_an_error_record_and_the_next_posts_are_read(tmp_path: Path) -> None:
    depth = 400_000  # ~3 MB of <b>: the old reader built every level (98 MB took 3.9 GB)
    path = _disqus_file(tmp_path / "d.xml", _post("p2", "hi " + "<b>" * depth + "x" + "</b>" * depth))
    recs, peak = _peak(lambda: list(read_file(path)))
    assert [r.id for r in recs] == ["p1", "p2", "p3"]
    assert recs[0].text == "before" and recs[2].text == "after"
    assert recs[1].error is not None and "deeper than 64" in recs[1].error
    assert "skipped to the end of this post" in recs[1].error and recs[1].location.endswith("post p2")
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


def test_xml_distinct_names_and_huge_tokens_skip_that_post_or_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names = "".join(f"<n{i}/>" for i in range(200))
    path = _disqus_file(tmp_path / "n.xml", _post("p2", names))
    recs = list(read_file(path, options=ReaderOptions(max_xml_names=50)))
    assert [r.id for r in recs] == ["p1", "p2", "p3"] and "distinct element" in (recs[1].error or "")
    options = ReaderOptions(max_record_bytes=MIB // 2)
    inside = _post("p2", "<!-- " + "z" * (3 * MIB) + " -->")  # a huge comment inside a post
    path = _disqus_file(tmp_path / "i.xml", inside)
    recs, peak = _peak(lambda: list(read_file(path, options=options)))
    assert [r.id for r in recs] == ["p1", "p2", "p3"] and "longer than" in (recs[1].error or "")
    assert peak < 3 * MIB, peak
    between = "<!-- " + "z" * (3 * MIB) + " -->\n<?pi " + "y" * (3 * MIB) + " ?>\n"  # outside any post
    path = _disqus_file(tmp_path / "c.xml", between)
    with caplog.at_level(logging.WARNING):
        recs, peak = _peak(lambda: list(read_file(path, options=options)))
    assert [(r.id, r.text) for r in recs] == [("p1", "before"), ("p3", "after")]
    assert any("outside any record; skipped it" in m for m in caplog.messages)
    assert peak < 3 * MIB, peak
    tag = '<post dsq:id="p2" junk="' + "a>" * (2 * MIB) + '"><message>m</message></post>\n'  # huge start tag
    path = _disqus_file(tmp_path / "t.xml", tag)
    recs, peak = _peak(lambda: list(read_file(path, options=options)))
    assert [r.id for r in recs] == ["p1", None, "p3"] and "longer than" in (recs[1].error or "")
    assert peak < 3 * MIB, peak


def test_skipping_keeps_going_over_many_bad_posts_and_wxr_comments(tmp_path: Path) -> None:
    bomb = "<b>" * 100 + "x" + "</b>" * 100
    same_name = "<post>" * 100 + "</post>" * 100  # nesting of the unit's own name is counted
    middle = _post("p2", bomb) + _post("p2b", same_name) + _post("p2c", "fine") + _post("p2d", bomb)
    recs = list(read_file(_disqus_file(tmp_path / "d.xml", middle)))
    assert [(r.id, r.error is None) for r in recs] == [
        ("p1", True),
        ("p2", False),
        ("p2b", False),
        ("p2c", True),
        ("p2d", False),
        ("p3", True),
    ]
    wxr = tmp_path / "w.xml"
    comment = (
        "<wp:comment><wp:comment_id>{}</wp:comment_id>"
        "<wp:comment_content>{}</wp:comment_content></wp:comment>"
    )
    wxr.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wp="http://wordpress.org/export/1.2/">'
        "<channel><item><title>A</title>"
        + comment.format(1, "one")
        + comment.format(2, bomb)
        + comment.format(3, "three")
        + "</item><item><title>B</title>"
        + comment.format(4, "four")
        + "</item></channel></rss>\n",
        encoding="utf-8",
    )
    recs = list(read_file(wxr))
    assert [(r.id, r.text, r.article_title) for r in recs] == [
        ("1", "one", "A"),
        ("2", None, None),
        ("3", "three", "A"),
        ("4", "four", "B"),
    ]
    assert "deeper than 64" in (recs[1].error or "") and "end of this comment" in (recs[1].error or "")


def test_a_skip_that_cannot_resume_stops_the_file_with_one_error(tmp_path: Path) -> None:
    bomb = "<b>" * 100
    # the post's end tag inside CDATA misleads the raw scan: the parser after it fails, reading stops
    fake_end = _disqus_file(tmp_path / "f.xml", _post("p2", "<![CDATA[</post>]]>" + bomb + "</b>" * 100))
    recs = list(read_file(fake_end))
    assert [r.id for r in recs] == ["p1", "p2", None] and "could not read the rest" in (recs[2].error or "")
    truncated = tmp_path / "t.xml"  # the post never ends
    truncated.write_text(
        f'<?xml version="1.0"?>\n<disqus {DSQ}>\n' + _post("p1", "ok") + '<post dsq:id="p2">' + bomb
    )
    recs = list(read_file(truncated))
    assert [r.id for r in recs] == ["p1", "p2"] and "could not read the rest" in (recs[1].error or "")
    # line numbers stay right after a skip
    broken = _disqus_file(tmp_path / "b.xml", _post("p2", bomb + "</b>" * 100) + "\n<post <<broken\n")
    recs = list(read_file(broken))
    assert recs[-1].error is not None and recs[-1].location.endswith(":6"), recs[-1].location


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


_ATTACKS = {
    "fine": lambda pid, n: _post(pid, "fine"),
    "deep": lambda pid, n: _post(pid, "<b>" * n + "x" + "</b>" * n),
    "names": lambda pid, n: _post(pid, "".join(f"<{pid}n{j}/>" for j in range(n))),
    "comment inside": lambda pid, n: _post(pid, "a<!--" + "z" * (40 * n) + "-->"),
    "comment before": lambda pid, n: "<!--" + "z" * (40 * n) + "-->" + _post(pid, "ok"),
    "pi before": lambda pid, n: "<?pi " + "z" * (40 * n) + "?>" + _post(pid, "ok"),
    "huge start tag": lambda pid, n: (
        f'<post dsq:id="{pid}" a="' + "q>" * (20 * n) + '"><message>m</message></post>'
    ),
}


@settings(max_examples=60, deadline=None)
@given(
    posts=st.lists(st.tuples(st.sampled_from(sorted(_ATTACKS)), st.integers(1, 120)), min_size=1, max_size=6),
    depth=st.sampled_from([4, 16, 64]),
    names=st.sampled_from([12, 40, 1000]),
    record_bytes=st.sampled_from([300, 2000]),
)
def test_every_post_gives_one_record_whatever_limits_it_breaks(
    posts: list[tuple[str, int]], depth: int, names: int, record_bytes: int
) -> None:
    import tempfile

    middle = "\n".join(_ATTACKS[kind](f"p{i}", n) for i, (kind, n) in enumerate(posts))
    with tempfile.TemporaryDirectory() as tmp:
        path = _disqus_file(Path(tmp) / "d.xml", middle + "\n")
        options = ReaderOptions(max_xml_depth=depth, max_xml_names=names, max_record_bytes=record_bytes)
        recs = list(read_file(path, options=options))
    assert len(recs) == len(posts) + 2  # p1 and p3 around them
    assert not any("could not read the rest" in (r.error or "") for r in recs)
    # in order, none twice; only a post whose start tag is over the limit may lose its id
    ids = [r.id for r in recs if r.id is not None]
    expected = ["p1", *(f"p{i}" for i in range(len(posts))), "p3"]
    must = ["p1", *(f"p{i}" for i, (kind, _) in enumerate(posts) if kind != "huge start tag"), "p3"]
    assert [x for x in expected if x in ids] == ids and set(must) <= set(ids)
    assert recs[0].text == "before" and recs[-1].text == "after"
