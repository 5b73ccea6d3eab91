"""Property-based tests of the readers: arbitrary bytes never raise, and every record found in a
file gives exactly one record out (JSONL: one per non-blank line; CSV, Parquet, Disqus, WXR: one
per row/post/comment written), with every string encodable as UTF-8."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commentmod.serving.readers import FORMATS, InputRecord, ReaderOptions, parse_page, read_file
from commentmod.serving.readers.html_text import html_to_text

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# text a file can hold: no lone surrogates (they cannot be encoded)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
# text an XML 1.0 document can hold
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff", min_codepoint=0x20)
    | st.sampled_from("\t\n"),
    max_size=60,
)


def _check(records: list[InputRecord]) -> None:
    for rec in records:
        assert isinstance(rec, InputRecord)
        if rec.error is None:
            assert isinstance(rec.text, str)
        else:
            assert rec.text is None and rec.error
        for value in (
            rec.id,
            rec.text,
            rec.author,
            rec.article_title,
            rec.article_text,
            rec.error,
            rec.location,
        ):
            if value is not None:
                value.encode("utf-8")
        json.dumps(dict(rec.meta)).encode("utf-8")


def _read(tmp_path: Path, name: str, data: bytes, fmt: str = "auto", **limits: int) -> list[InputRecord]:
    path = tmp_path / name
    path.write_bytes(data)
    records = list(read_file(path, fmt, ReaderOptions(**limits)))
    _check(records)
    return records


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "auto"])
@SETTINGS
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(tmp_path: Path, fmt: str, data: bytes) -> None:
    _read(tmp_path, "f.bin", data, fmt, max_record_bytes=200, max_xml_depth=8, max_xml_names=20)


@SETTINGS
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"<", b"{"]))
def test_arbitrary_bytes_with_detection_never_raise(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    _read(tmp_path, "noext", prefix + data)


LINE = st.one_of(
    st.builds(lambda i, t: json.dumps({"id": i, "text": t}), st.integers(), TEXT),
    st.builds(lambda t: json.dumps({"body": t, "author": t}, ensure_ascii=False), TEXT),
    st.builds(
        lambda v: json.dumps({"text": v}), st.one_of(st.booleans(), st.floats(), st.lists(st.integers()))
    ),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 3000)),
    st.builds(lambda n: '{"text": "x", "n": ' + "9" * n + "}", st.integers(4000, 5000)),
    st.just('{"text": "\\udc80 lone"}'),
    st.just('{"text": "x" '),
    TEXT.filter(lambda s: "\n" not in s and "\r" not in s),
    st.just(""),
    st.just("   \t"),
    st.just("x" * 300),  # over the limit used below
)


@SETTINGS
@given(lines=st.lists(LINE, max_size=12), bom=st.booleans())
def test_jsonl_one_record_per_non_blank_line(tmp_path: Path, lines: list[str], bom: bool) -> None:
    data = ("\ufeff" if bom else "") + "\n".join(lines)
    records = _read(tmp_path, "c.jsonl", data.encode("utf-8"), max_record_bytes=250)
    body = "\n".join(lines).encode("utf-8")  # the BOM is not part of the first line
    numbered = [n for n, raw in enumerate(body.split(b"\n"), start=1) if raw.strip()]
    assert [int(r.location.rsplit(":", 1)[1]) for r in records] == numbered


@SETTINGS
@given(texts=st.lists(TEXT, max_size=10), delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_one_record_per_row(tmp_path: Path, texts: list[str], delimiter: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(["id", "text", "title"])
    for i, text in enumerate(texts):
        writer.writerow([str(i), text, "T"])
    records = _read(tmp_path, "c.csv", buf.getvalue().encode("utf-8"))
    assert [(r.id, r.text) for r in records] == [(str(i), t) for i, t in enumerate(texts)]


@SETTINGS
@given(texts=st.lists(st.one_of(st.none(), TEXT), max_size=30), group=st.integers(1, 8))
def test_parquet_one_record_per_row(tmp_path: Path, texts: list[str | None], group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(
        pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())}),
        path,
        row_group_size=group,
    )
    records = list(read_file(path))
    _check(records)
    assert [(r.id, r.text) for r in records] == [(str(i), t or "") for i, t in enumerate(texts)]


def _disqus(texts: list[str]) -> str:
    posts = "".join(
        f'<post dsq:id="p{i}"><message>{escape(t)}</message><thread dsq:id="t"/></post>\n'
        for i, t in enumerate(texts)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com" '
        'xmlns:dsq="http://disqus.com/disqus-internals">\n<thread dsq:id="t"><title>T</title></thread>\n'
        f"{posts}</disqus>\n"
    )


def _wxr(texts: list[str]) -> str:
    comments = "".join(
        f"<wp:comment><wp:comment_id>{i}</wp:comment_id><wp:comment_content>{escape(t)}"
        "</wp:comment_content></wp:comment>\n"
        for i, t in enumerate(texts)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>T</title>\n'
        f"{comments}</item></channel></rss>\n"
    )


@SETTINGS
@given(texts=st.lists(XML_TEXT, max_size=8), kind=st.sampled_from(["disqus", "wxr"]), cut=st.floats(0, 1))
def test_xml_one_record_per_post_and_truncation_never_raises(
    tmp_path: Path, texts: list[str], kind: str, cut: float
) -> None:
    xml = (_disqus if kind == "disqus" else _wxr)(texts).encode("utf-8")
    ids = [f"p{i}" if kind == "disqus" else str(i) for i in range(len(texts))]
    records = _read(tmp_path, "d.xml", xml, kind)
    assert [r.id for r in records] == ids and all(r.error is None for r in records)
    for rec, text in zip(records, texts, strict=True):
        if "<" not in text and "&" not in text:
            assert rec.text == " ".join(text.split()) or rec.text == text.strip()
    truncated = _read(tmp_path, "t.xml", xml[: int(len(xml) * cut)], kind)
    good = [r for r in truncated if r.error is None]
    assert [r.id for r in good] == ids[: len(good)]
    assert sum(1 for r in truncated if r.error) <= 1 and (
        not truncated or truncated[-1] in good or truncated[-1].error
    )


@SETTINGS
@given(text=st.text(max_size=400))
def test_page_records_are_the_comments_found(tmp_path: Path, text: str) -> None:
    clean = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "")
    records = _read(tmp_path, "p.txt", clean.encode("utf-8"), "page")
    assert len(records) == len(parse_page(clean).comments)


@SETTINGS
@given(
    text=st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "</",
                "<!--",
                "-->",
                "<script>",
                "</script>",
                "<p>",
                "&amp;",
                "<![CDATA[",
                "]]>",
                "a",
                " ",
                "\n",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_html_to_text_never_raises(text: str) -> None:
    out = html_to_text(text)
    assert "\n\n" not in out and out == out.strip()
