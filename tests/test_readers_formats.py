"""Right answers or error records from the JSONL, CSV, Parquet, Disqus and WXR readers on the
inputs of issue 14: one bad record never stops a file, nothing is scored as its Python repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commentmod.serving.readers import ReaderError, ReaderOptions, detect_format, read_file
from commentmod.serving.readers.html_text import html_to_text


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# --- JSONL -----------------------------------------------------------------


def test_jsonl_bad_lines_become_error_records_and_reading_goes_on(tmp_path: Path) -> None:
    lines = [
        '{"id": "s", "text": "bad \\udc80 half \\ud83d pair \\ud83d\\ude00"}',  # lone surrogates
        '{"id": "n", "text": "x", "deep": ' + "[" * 1000 + "]" * 1000 + "}",  # RecursionError before
        '{"id": "i", "text": "x", "n": ' + "9" * 5000 + "}",  # int over Python's digit limit
        '{"id": "b", "text": true}',
        '{"id": "d", "text": {"a": 1}}',
        '{"id": "l", "text": ["a"]}',
        '{"id": "f", "text": 1.5}',
        '{"id": "z", "text": null}',
        '{"id": "ok", "text": "fine"}',
    ]
    recs = list(read_file(_write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")))
    assert len(recs) == len(lines)
    assert recs[0].text == "bad \ufffd half \ufffd pair \U0001f600" and recs[0].error is None
    assert recs[1].error == "invalid JSON (nested too deeply)" and recs[1].location.endswith(":2")
    assert recs[2].error is not None and "invalid JSON" in recs[2].error
    for rec, kind in zip(recs[3:7], ("a bool", "a dict", "a list", "a float"), strict=True):
        assert rec.error == f"comment text is {kind}, not a string" and rec.text is None
    assert recs[3].id == "b"  # the id is kept on an error record when it was readable
    assert recs[7].text == "" and recs[7].error is None  # null text: an empty comment
    assert recs[8].text == "fine"


def test_jsonl_columns_are_chosen_per_row(tmp_path: Path) -> None:
    rows = [
        {"text": "first"},
        {"id": "b", "text": "second", "article_title": "T", "author": "Ana"},
        {"comment_id": 7, "body": "third", "title": "T3", "username": "ion"},
    ]
    recs = list(read_file(_write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows))))
    assert [(r.id, r.text, r.article_title, r.author) for r in recs] == [
        ("c.jsonl:1", "first", None, None),
        ("b", "second", "T", "Ana"),
        ("7", "third", "T3", "ion"),
    ]


def test_jsonl_text_column_override_missing_in_a_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", '{"id": 1, "msg": "salut"}\n{"id": 2, "text": "no msg"}\n')
    recs = list(read_file(path, options=ReaderOptions(text_col="msg")))
    assert recs[0].text == "salut"
    assert recs[1].error is not None and "'msg'" in recs[1].error and recs[1].id == "2"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_jsonl_bom_and_utf16_32(tmp_path: Path, encoding: str) -> None:
    content = '{"id": "1", "text": "ești un cretin"}\n{"id": "2", "text": "două"}\n'
    path = _write(tmp_path / "dump", content.encode(encoding))
    assert detect_format(path) == "jsonl"
    recs = list(read_file(path))
    assert [(r.id, r.text, r.error) for r in recs] == [("1", "ești un cretin", None), ("2", "două", None)]


def test_meta_values_are_always_encodable(tmp_path: Path) -> None:
    line = {"id": "1", "text": "x", "url": "http://e.org/\udc80", "parent": {"nested": 1}, "date": 5}
    (rec,) = list(read_file(_write(tmp_path / "c.jsonl", json.dumps(line))))
    assert rec.meta == {"url": "http://e.org/\ufffd", "date": 5}
    json.dumps(dict(rec.meta)).encode("utf-8")


# --- CSV -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_csv_bom_and_utf16(tmp_path: Path, encoding: str) -> None:
    content = 'id,text,title\r\n1,"salut ă, ce faci",T\r\n2,"două\r\nrânduri",T\r\n'
    recs = list(read_file(_write(tmp_path / "c.csv", content.encode(encoding))))
    assert [(r.id, r.text) for r in recs] == [("1", "salut ă, ce faci"), ("2", "două\r\nrânduri")]


def test_csv_missing_override_or_unreadable_header_is_one_error_record(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", "id,text\n1,a\n")
    (rec,) = list(read_file(path, options=ReaderOptions(text_col="body")))
    assert rec.error is not None and "'body'" in rec.error and "could not read the file" in rec.error
    (rec,) = list(read_file(_write(tmp_path / "d.csv", b"id,t\xffext\n1,a\n")))
    assert rec.error is not None and "UTF-8" in rec.error


# --- Parquet ---------------------------------------------------------------


def test_parquet_non_string_text_is_an_error_not_its_repr(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, values in (("int", [1, 2]), ("bin", [b"\x00\xff", b"ok"]), ("struct", [{"x": 1}, {"x": 2}])):
        pq.write_table(pa.table({"id": ["a", "b"], "text": values}), tmp_path / f"{name}.parquet")
        recs = list(read_file(tmp_path / f"{name}.parquet"))
        assert [r.id for r in recs] == ["a", "b"]
        assert all(r.error is not None and "not a string" in r.error and r.text is None for r in recs)
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x", None]}), tmp_path / "null.parquet")
    assert [r.text for r in read_file(tmp_path / "null.parquet")] == ["x", ""]


def test_parquet_truncated_or_corrupt(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 3000
    table = pa.table(
        {"id": [str(i) for i in range(n)], "text": [f"comment number {i} " * 5 for i in range(n)]}
    )
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=1000, compression="snappy")
    data = (tmp_path / "c.parquet").read_bytes()
    (rec,) = list(read_file(_write(tmp_path / "t.parquet", data[: len(data) // 2])))
    assert rec.error is not None and "not a readable Parquet file" in rec.error
    meta = pq.ParquetFile(tmp_path / "c.parquet").metadata.row_group(1).column(1)
    start = min(o for o in (meta.dictionary_page_offset, meta.data_page_offset) if o is not None)
    size = meta.total_compressed_size
    broken = bytearray(data)
    broken[start : start + size] = b"\xff" * size  # garble row group 1's text column
    recs = list(read_file(_write(tmp_path / "b.parquet", bytes(broken))))
    errors = [r for r in recs if r.error]
    assert len(errors) == 1 and "row group 1" in (errors[0].error or "")
    assert [r.id for r in recs if not r.error] == [str(i) for i in range(1000)] + [
        str(i) for i in range(2000, n)
    ]


# --- XML -------------------------------------------------------------------

DSQ = 'xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals"'


def _disqus(*posts: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<disqus {DSQ}>\n' + "\n".join(posts) + "\n</disqus>\n"


def _post(pid: str, message: str) -> str:
    return f'<post dsq:id="{pid}"><message>{message}</message><thread dsq:id="t1"/></post>'


def test_disqus_markup_in_message_is_text(tmp_path: Path) -> None:
    xml = _disqus(
        '<thread dsq:id="t1"><title>Tramvai</title></thread>',
        _post("p1", "Hello <b>world</b> you are an idiot"),
        _post("p2", "<![CDATA[Hello <script> you are an idiot]]>"),
        _post("p3", "<![CDATA[<p>ok</p><script>alert(1)</script><p>after</p>]]>"),
        _post("p4", "<p>para <i>one</i></p><p>two</p>"),
        _post("p5", "<![CDATA[hi <!-- unclosed comment you idiot]]>"),
        _post("p6", "&lt;b&gt;escaped&lt;/b&gt; tags"),
    )
    recs = list(read_file(_write(tmp_path / "d.xml", xml)))
    assert [r.text for r in recs] == [
        "Hello world you are an idiot",
        "Hello you are an idiot",
        "ok\nafter",
        "para one\ntwo",
        "hi unclosed comment you idiot",
        "escaped tags",
    ]
    assert all(r.article_title == "Tramvai" for r in recs)


def test_truncated_disqus_keeps_earlier_posts_and_reports_the_broken_one(tmp_path: Path) -> None:
    xml = _disqus('<thread dsq:id="t1"><title>T</title></thread>', _post("p1", "one"), _post("p2", "two"))
    cut = xml[: xml.index("two") + 2]
    recs = list(read_file(_write(tmp_path / "d.xml", cut)))
    assert [(r.id, r.text) for r in recs[:2]] == [("p1", "one"), ("p2", None)]
    assert (
        recs[1].error is not None and "not well-formed" in recs[1].error and "2 records" not in recs[1].error
    )
    assert len(recs) == 2


def test_disqus_posts_before_their_threads_keep_file_order(tmp_path: Path) -> None:
    xml = _disqus(
        '<thread dsq:id="t0"><title>Zero</title></thread>',
        _post("p1", "one").replace("t1", "t0"),
        _post("p2", "two"),  # thread t1 comes later: the thread table is read in full first
        _post("p3", "three").replace("t1", "t0"),
        '<thread dsq:id="t1"><title>One</title></thread>',
    )
    recs = list(read_file(_write(tmp_path / "d.xml", xml)))
    assert [(r.id, r.article_title) for r in recs] == [("p1", "Zero"), ("p2", "One"), ("p3", "Zero")]


def test_disqus_export_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from commentmod.serving.readers import xml_dumps

    passes: list[str] = []
    real = xml_dumps.stream

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        passes.append(args[1].__name__)
        return real(*args, **kwargs)

    monkeypatch.setattr(xml_dumps, "stream", counted)
    ordered = _disqus('<thread dsq:id="t1"><title>T</title></thread>', _post("p1", "one"), _post("p2", "two"))
    assert [r.id for r in read_file(_write(tmp_path / "a.xml", ordered), "disqus")] == ["p1", "p2"]
    assert passes == ["_is_top"]
    passes.clear()  # a post before its thread: one more pass, over the threads only
    late = _disqus(_post("p1", "one"), '<thread dsq:id="t1"><title>T</title></thread>', _post("p2", "two"))
    assert [r.article_title for r in read_file(_write(tmp_path / "b.xml", late))] == ["T", "T"]
    assert passes == ["_is_top", "is_thread"]


WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Blog</title>
<item><title>Post one</title><link>https://e.org/1</link>
<content:encoded><![CDATA[<p>Body of post one.</p>]]></content:encoded><wp:post_id>1</wp:post_id>
<wp:comment><wp:comment_id>11</wp:comment_id><wp:comment_author>Ana</wp:comment_author>
<wp:comment_content><![CDATA[Nice <b>post</b>]]></wp:comment_content></wp:comment>
<wp:comment><wp:comment_id>12</wp:comment_id>
<wp:comment_content>you <em>idiot</em></wp:comment_content></wp:comment>
</item>
<item><title>Post two</title><wp:post_id>2</wp:post_id>
<wp:comment><wp:comment_id>21</wp:comment_id><wp:comment_content>second post</wp:comment_content></wp:comment>
</item>
</channel></rss>
"""


def test_wxr_streams_comments_with_their_item_context(tmp_path: Path) -> None:
    recs = list(read_file(_write(tmp_path / "w.xml", WXR)))
    assert [(r.id, r.text, r.article_title, r.author) for r in recs] == [
        ("11", "Nice post", "Post one", "Ana"),
        ("12", "you idiot", "Post one", None),
        ("21", "second post", "Post two", None),
    ]
    assert recs[0].article_text == "Body of post one." and recs[2].article_text is None
    assert recs[0].meta["post_id"] == "1" and recs[2].meta["url"] is None


def test_wxr_truncated(tmp_path: Path) -> None:
    recs = list(read_file(_write(tmp_path / "w.xml", WXR[: WXR.index("second post")])))
    assert [r.id for r in recs] == ["11", "12", "21"]
    assert recs[2].error is not None and "not well-formed" in recs[2].error


def test_unsafe_or_unknown_xml_are_error_records_not_exceptions(tmp_path: Path) -> None:
    dtd = '<?xml version="1.0"?><!DOCTYPE disqus [<!ENTITY a "b">]><disqus>&a;</disqus>'
    (rec,) = list(read_file(_write(tmp_path / "a.xml", dtd)))
    assert rec.error is not None and "unsafe XML" in rec.error
    (rec,) = list(read_file(_write(tmp_path / "e.xml", b"")))
    assert rec.error is not None and rec.location == str(tmp_path / "e.xml")


# --- html_to_text and the read_file contract -------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a &amp; b</p><p>c</p>", "a & b\nc"),
        ("x <script>hidden</script> y", "x y"),
        ("x <SCRIPT >hidden</Script > y", "x y"),
        ("x <script> shown because never closed", "x shown because never closed"),
        ("x <style>p{}</style>y", "x y"),
        ("a <!-- c --> b <!-- open", "a b open"),
        ("a < b and c<d <3", "a < b and c<d <3"),
        ("<![CDATA[raw]]> text", "raw text"),
        (">\n\n>", ">\n>"),  # plain text is tidied too (hypothesis found the blank line)
        ("  one \n\n\n  two  ", "one\ntwo"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_read_file_contract(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="unknown format"):
        read_file(tmp_path / "x.jsonl", fmt="xlsx")
    (rec,) = list(read_file(tmp_path / "missing.jsonl"))  # vanished between listing and reading
    assert rec.error is not None and "missing.jsonl" in rec.error
    (rec,) = list(read_file(_write(tmp_path / "blob", b"\x00\x01\x02\x03" * 100)))
    assert rec.error is not None and "binary" in rec.error
    with pytest.raises(ReaderError, match="max_record_bytes"):
        ReaderOptions(max_record_bytes=0)
