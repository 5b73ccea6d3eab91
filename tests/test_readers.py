from __future__ import annotations

import json
from pathlib import Path

import pytest

from commentmod.serving.readers import (
    ReaderError,
    ReaderOptions,
    detect_format,
    expand_inputs,
    parse_page,
    read_file,
    read_inputs,
)

DATA = Path(__file__).parent / "data"


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# --- JSONL -----------------------------------------------------------------


def test_jsonl_detects_columns_and_reports_bad_lines(tmp_path: Path) -> None:
    good = json.dumps({"comment_id": "a", "body": "Bravo 👏", "title": "Tramvai", "article": "Linia 101"})
    path = _write(
        tmp_path / "c.jsonl",
        good.encode()
        + b"\n\n"
        + b"[1, 2]\n"
        + b'{"comment_id": "b", "body": "\xff\xfe bad"}\n'
        + b'{"comment_id": "c", "body": "ok"}\n'
        + b'{"comment_id": "d", "bo',
    )
    recs = list(read_file(path))
    assert [r.id for r in recs] == ["a", None, None, "c", None]
    assert (
        recs[0].text == "Bravo 👏"
        and recs[0].article_title == "Tramvai"
        and recs[0].article_text == "Linia 101"
    )
    assert recs[1].error == "line is a JSON list, not an object" and recs[1].location.endswith(":3")
    assert "invalid UTF-8" in (recs[2].error or "") and recs[2].location.endswith(":4")
    assert recs[3].error is None
    assert "invalid JSON" in (recs[4].error or "") and recs[4].location.endswith(":6")


def test_jsonl_column_override_and_missing_text(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", '{"id": 1, "msg": "salut"}\n{"id": 2}\n')
    recs = list(read_file(path, options=ReaderOptions(text_col="msg")))
    assert recs[0].text == "salut" and recs[0].id == "1"
    assert recs[1].error is not None and "text" in recs[1].error


def test_shared_jsonl_sample(shared_dir: Path) -> None:
    recs = list(read_file(shared_dir / "samples" / "comments.jsonl"))
    assert len(recs) == 6
    assert all(r.error is None for r in recs)
    assert recs[4].text == ""  # empty comment is a record, scored as "empty"


# --- CSV -------------------------------------------------------------------


def test_csv_broken_quoting_and_bad_bytes_become_error_rows(tmp_path: Path) -> None:
    content = (
        b"comment_id,body,thread_title\n"
        b'1,"Era si timpul, doi ani",Tramvai\n'
        b'2,"multi\nline comment",Tramvai\n'
        b'3,"broken "quote" here",Tramvai\n'
        b"4,\xff\xfe,Tramvai\n"
        b"5,too,many,fields\n"
        b"6,last one,Tramvai\n"
    )
    recs = list(read_file(_write(tmp_path / "c.csv", content)))
    ids = [r.id for r in recs]
    assert ids[0:2] == ["1", "2"] and ids[-1] == "6"
    assert recs[1].text == "multi\nline comment"
    errors = [r for r in recs if r.error]
    assert len(errors) == 3
    assert all(":" in r.location for r in errors)
    assert recs[0].article_title == "Tramvai"


def test_csv_semicolon_and_missing_text_column(tmp_path: Path) -> None:
    recs = list(read_file(_write(tmp_path / "a.csv", "\ufeffid;comment\n7;Ești un cretin\n")))
    assert recs[0].id == "7" and recs[0].text == "Ești un cretin"
    (missing,) = list(read_file(_write(tmp_path / "b.csv", "id,foo\n1,bar\n")))
    assert missing.error is not None and "--text-col" in missing.error and missing.location.endswith(":1")


def test_shared_csv_sample(shared_dir: Path) -> None:
    recs = list(read_file(shared_dir / "samples" / "comments.csv"))
    assert [r.id for r in recs] == ["1", "2", "3"]
    assert recs[0].article_title == "Tramvaiul 101 redeschis"


# --- Parquet ---------------------------------------------------------------


def test_parquet_streams_batches(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 5000
    table = pa.table({"id": [f"p{i}" for i in range(n)], "message": [f"text {i}" for i in range(n)]})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=1000)
    recs = list(read_file(tmp_path / "c.parquet"))
    assert len(recs) == n and recs[-1].id == f"p{n - 1}" and recs[-1].text == f"text {n - 1}"


# --- XML -------------------------------------------------------------------

DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <post dsq:id="p1">
    <message><![CDATA[<p>Primul &amp; cel mai bun</p><p>rand doi</p>]]></message>
    <createdAt>2026-11-14T08:01:13Z</createdAt>
    <isDeleted>false</isDeleted><isSpam>true</isSpam>
    <author><name>Ion</name></author>
    <thread dsq:id="t1" />
  </post>
  <post dsq:id="p2">
    <message />
    <isDeleted>true</isDeleted><isSpam>false</isSpam>
    <thread dsq:id="t1" /><parent dsq:id="p1" />
  </post>
  <post dsq:id="p3"><message>orphan</message><thread dsq:id="t9" /></post>
  <thread dsq:id="t1">
    <link>https://example.org/a</link>
    <title>Tramvaiul revine</title>
    <message><![CDATA[<p>Linia 101 redeschisa.</p>]]></message>
  </thread>
</disqus>
"""


def test_disqus_joins_threads_declared_after_posts(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.xml", DISQUS)
    assert detect_format(path) == "disqus"
    recs = list(read_file(path))
    assert [r.id for r in recs] == ["p1", "p2", "p3"]
    first = recs[0]
    assert first.text == "Primul & cel mai bun\nrand doi"
    assert first.article_title == "Tramvaiul revine" and first.article_text == "Linia 101 redeschisa."
    assert (
        first.author == "Ion"
        and first.meta["is_spam"] is True
        and first.meta["url"] == "https://example.org/a"
    )
    assert recs[1].text == "" and recs[1].meta["is_deleted"] is True and recs[1].meta["parent"] == "p1"
    assert recs[2].article_title is None and "not found" in recs[2].meta["warning"]


def test_shared_disqus_and_wxr_samples(shared_dir: Path) -> None:
    disqus = list(read_file(shared_dir / "samples" / "disqus-export.xml"))
    assert len(disqus) == 6 and all(r.article_title for r in disqus)
    wxr = list(read_file(shared_dir / "samples" / "wordpress-export.xml"))
    assert [r.id for r in wxr] == ["801", "802", "803"]  # pingback 804 skipped
    with_pings = list(
        read_file(
            shared_dir / "samples" / "wordpress-export.xml", options=ReaderOptions(include_pingbacks=True)
        )
    )
    assert [r.id for r in with_pings][-1] == "804"
    assert wxr[1].meta["approved"] == "0" and wxr[2].meta["parent"] == "802"
    assert wxr[0].article_text and "Elm Street" in wxr[0].article_text


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<disqus xmlns="http://disqus.com"><post><message>&lol3;</message></post></disqus>
"""


def _only_error(path: Path, fmt: str = "auto") -> str:
    """The error of the single error record a refused file gives."""
    (rec,) = list(read_file(path, fmt))
    assert rec.error is not None and rec.text is None
    return rec.error


def test_billion_laughs_and_external_entities_are_refused(tmp_path: Path) -> None:
    assert "unsafe XML" in _only_error(_write(tmp_path / "bomb.xml", BILLION_LAUGHS))
    xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'
    assert "unsafe XML" in _only_error(_write(tmp_path / "xxe.xml", xxe), fmt="wxr")
    assert "unsafe XML" in _only_error(_write(tmp_path / "xxe2.xml", xxe), fmt="disqus")


def test_unknown_xml_schema_and_malformed_xml(tmp_path: Path) -> None:
    assert "unknown XML schema" in _only_error(_write(tmp_path / "x.xml", "<feed><entry>hi</entry></feed>"))
    broken = _only_error(_write(tmp_path / "y.xml", '<disqus xmlns="http://disqus.com"><post>'))
    assert "not well-formed" in broken and "could not read the rest of the file" in broken
    assert "wxr export" in _only_error(_write(tmp_path / "z.xml", "<rss><channel/></rss>"), fmt="disqus")


# --- pages -----------------------------------------------------------------


def test_shared_ro_page(shared_dir: Path) -> None:
    page = parse_page((shared_dir / "samples" / "pages" / "ro-tramvai-cluj.txt").read_text(encoding="utf-8"))
    assert page.title == "Tramvaiul 101 va circula din nou pe Calea Florești din luna martie"
    assert page.body and "96 de milioane de lei" in page.body and "Prețul apartamentelor" not in page.body
    texts = [c.text for c in page.comments]
    assert len(texts) == 7
    assert texts[0].startswith("Era și timpul") and texts[-1].startswith("sunteti niste idioti")
    assert not any("comment.x" in t or "Notify of" in t for t in texts)
    authors = [c.author for c in page.comments]
    assert authors[:2] == ["Ionel Pop", "Maria"] and "Gigi fan" in authors and "Andrei M." in authors


def test_shared_en_pages(shared_dir: Path) -> None:
    pages = shared_dir / "samples" / "pages"
    lib = parse_page((pages / "en-library-closure.txt").read_text(encoding="utf-8"))
    assert lib.title == "Town Votes To Close Its Last Public Library Branch"
    assert len(lib.comments) == 7
    assert [c.author for c in lib.comments].count("TomR") == 2
    assert all("DONATE" not in c.text and "Support" not in c.text for c in lib.comments)
    none = parse_page((pages / "en-news-without-comments.txt").read_text(encoding="utf-8"))
    assert none.comments == () and not none.has_comment_section
    assert none.title and none.title.startswith("Railway operator adds night trains")


@pytest.mark.parametrize(
    ("name", "n_comments", "authors", "title_start"),
    [
        ("uk-disqus-style.txt", 3, ["Оксана К.", "Петро", None], "У Львові запустять"),
        ("ru-generic.txt", 4, ["Иван_К", "Марина", None, None], "В Казани закрыли"),
        ("ro-no-comments.txt", 0, [], "Scolile din Iasi"),
    ],
)
def test_own_page_fixtures(name: str, n_comments: int, authors: list, title_start: str) -> None:
    page = parse_page((DATA / "pages" / name).read_text(encoding="utf-8"))
    assert len(page.comments) == n_comments
    assert [c.author for c in page.comments] == authors
    assert page.title and page.title.startswith(title_start)
    for c in page.comments:
        assert not any(w in c.text for w in ("Відповісти", "Load more", "Powered by", "©", "тому"))


def test_page_with_nbsp_and_glued_end_marker(tmp_path: Path) -> None:
    text = (
        "Stiri\n\nPrimaria repara podul de pe strada Horea in doua luni\n\n"
        "Lucrarile la podul de pe strada Horea incep luni si vor dura doua luni, a anuntat primaria, "
        "iar traficul va fi deviat.\n\nComentarii\n\nVasile\u00a0B\n\nin sfarsit, era timpul sa il repare\n\n"
        "ce rusine 🙄 Would love your thoughts, please comment.x"
    )
    path = _write(tmp_path / "p.txt", text)
    recs = list(read_file(path))
    assert [r.author for r in recs] == ["Vasile B", None]
    assert recs[1].text == "ce rusine 🙄"
    assert recs[0].article_title == "Primaria repara podul de pe strada Horea in doua luni"


# --- discovery -------------------------------------------------------------


def test_directory_and_glob_inputs_and_detection(tmp_path: Path) -> None:
    _write(tmp_path / "b.jsonl", '{"id": "1", "text": "a"}\n')
    _write(tmp_path / "a.csv", "id,text\n2,b\n")
    _write(tmp_path / "dump", '{"id": "3", "text": "c"}\n')  # no extension: sniffed as JSONL
    assert [p.name for p in expand_inputs([str(tmp_path)])] == ["a.csv", "b.jsonl", "dump"]
    assert [r.id for r in read_inputs([str(tmp_path)])] == ["2", "1", "3"]
    assert [p.name for p in expand_inputs([str(tmp_path / "*.jsonl")])] == ["b.jsonl"]
    with pytest.raises(ReaderError, match="does not exist"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(ReaderError, match="unknown format"):
        list(read_file(tmp_path / "b.jsonl", fmt="xlsx"))
