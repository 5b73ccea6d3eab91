"""The story store (SQLite) and ``commentmod stories import`` from WXR, Disqus and CSV files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from commentmod.serving.cli import main
from commentmod.serving.stories import Story, StoryStore, StoryStoreError, url_key
from commentmod.serving.stories_import import StoryImportError, import_stories

WXR = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>The Valley Courier</title>
  <link>https://example.org</link>
  <item>
    <title><![CDATA[Town Votes To Close Its Library]]></title>
    <link>https://example.org/2026/11/library-closure/</link>
    <guid isPermaLink="false">https://example.org/?p=4512</guid>
    <content:encoded><![CDATA[<p>The council voted 5-4.</p><script>tracking()</script>
<p>Books move downtown.</p>]]></content:encoded>
    <excerpt:encoded><![CDATA[EXCERPT NOT STORED]]></excerpt:encoded>
    <wp:post_id>4512</wp:post_id>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <wp:comment><wp:comment_id>1</wp:comment_id><wp:comment_content>first!</wp:comment_content></wp:comment>
  </item>
  <item>
    <title>About us</title>
    <link>https://example.org/about/</link>
    <content:encoded><![CDATA[We are a local paper.]]></content:encoded>
    <wp:post_id>2</wp:post_id>
    <wp:post_type>page</wp:post_type>
  </item>
  <item>
    <title>logo.png</title>
    <link>https://example.org/logo/</link>
    <wp:post_id>3</wp:post_id>
    <wp:post_type>attachment</wp:post_type>
  </item>
  <item>
    <title>No id at all</title>
  </item>
</channel>
</rss>
"""

DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <thread dsq:id="7700001">
    <id>article-tramvai</id>
    <link>https://example.org/stiri/tramvaiul-101-redeschis</link>
    <title>Tramvaiul 101 va circula din nou</title>
    <message><![CDATA[<p>Linia 101 va fi redeschisă în martie.</p>]]></message>
  </thread>
  <thread dsq:id="7700002">
    <id />
    <link>https://example.org/sport/stadion-nou</link>
    <title>Stadionul</title>
  </thread>
  <post dsq:id="9900001">
    <message><![CDATA[<p>Era și timpul.</p>]]></message>
    <thread dsq:id="7700001" />
  </post>
</disqus>
"""

CSV = (
    "\ufeffID;URL;Title;Text\n"
    "a1;https://example.org/a;Budget;<p>The council passed the <b>budget</b>.</p>\n"
    ";https://example.org/b;No id;uses its URL as id\n"
    ";;Nothing;no id and no url\n"
    'a3;;"Quoted; title";"multi\nline text"\n'
)


@pytest.fixture
def store(tmp_path: Path) -> StoryStore:
    return StoryStore(tmp_path / "stories.sqlite", create=True)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.example.org/a/b/", "http://example.org/a/b"),
        ("https://example.org/a?utm_source=x&fbclid=1#top", "example.org/a"),
        ("https://Example.ORG:443/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
        ("https://example.org/%C8%99tiri/", "https://example.org/știri"),
    ],
)
def test_url_key_matches_variants(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


def test_url_key_keeps_what_names_another_page() -> None:
    assert url_key("https://example.org/?p=1") != url_key("https://example.org/?p=2")
    assert url_key("https://example.org/a") != url_key("https://example.org/b")
    assert url_key("https://example.org:8080/a") != url_key("https://example.org/a")
    assert url_key("") is None and url_key(None) is None


def test_store_lookup_upsert_and_reopen(tmp_path: Path, store: StoryStore) -> None:
    store.upsert([Story("1", "https://example.org/a/", "A", "text a"), Story("2", None, "B", None)])
    assert store.get("1") == Story("1", "https://example.org/a/", "A", "text a")
    assert store.get(None, "http://www.example.org/a?utm_medium=email") == store.get("1")
    assert store.get("unknown", "https://example.org/a") == store.get("1")  # id unknown: the URL
    assert store.get("unknown", "https://example.org/zzz") is None
    assert not Story("3").has_context and Story("4", title="T").has_context
    store.upsert([Story("1", "https://example.org/a/", "A2", "text a2")])
    assert store.count() == 2 and store.get("1").title == "A2"  # type: ignore[union-attr]
    store.close()
    with StoryStore(tmp_path / "stories.sqlite") as again:
        assert again.count() == 2
        mode = again._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_store_refuses_missing_foreign_and_other_versions(tmp_path: Path) -> None:
    with pytest.raises(StoryStoreError, match="does not exist"):
        StoryStore(tmp_path / "nope.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database " * 100, encoding="utf-8")
    with pytest.raises(StoryStoreError, match="not a usable story store"):
        StoryStore(tmp_path / "text.sqlite")
    StoryStore(tmp_path / "old.sqlite", create=True).close()
    with sqlite3.connect(tmp_path / "old.sqlite") as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoryStoreError, match="schema version 99"):
        StoryStore(tmp_path / "old.sqlite")


def test_import_wxr_items_idempotent(tmp_path: Path, store: StoryStore) -> None:
    path = _write(tmp_path, "site.xml", WXR)
    report = import_stories(store, path)
    assert (report.format, report.stories, report.skipped) == ("wxr", 2, 1)
    assert "no post id" in report.problems[0]
    post = store.get("4512")
    assert post is not None
    assert post.title == "Town Votes To Close Its Library"
    assert post.text == "The council voted 5-4.\nBooks move downtown."
    assert store.get(None, "https://example.org/about") == Story(
        "2", "https://example.org/about/", "About us", "We are a local paper."
    )
    assert store.get("3") is None  # attachment
    again = import_stories(store, path, "wxr")
    assert again.stories == 2 and store.count() == 2


def test_import_disqus_threads(tmp_path: Path, store: StoryStore) -> None:
    report = import_stories(store, _write(tmp_path, "disqus.xml", DISQUS), "disqus")
    assert (report.format, report.stories, report.skipped) == ("disqus", 2, 0)
    tram = store.get("article-tramvai")
    assert tram is not None and tram.text == "Linia 101 va fi redeschisă în martie."
    stadium = store.get(None, "https://example.org/sport/stadion-nou/")
    assert stadium is not None and stadium.id == "7700002" and stadium.text is None


def test_import_csv(tmp_path: Path, store: StoryStore) -> None:
    report = import_stories(store, _write(tmp_path, "stories.csv", CSV))
    assert (report.format, report.stories, report.skipped) == ("csv", 3, 1)
    assert store.get("a1") == Story("a1", "https://example.org/a", "Budget", "The council passed the budget.")
    assert store.get("https://example.org/b") is not None
    assert store.get("a3") == Story("a3", None, "Quoted; title", "multi\nline text")


def test_import_broken_and_wrong_files(tmp_path: Path, store: StoryStore) -> None:
    cut = _write(tmp_path, "cut.xml", DISQUS[: DISQUS.index('<thread dsq:id="7700002">') + 40])
    report = import_stories(store, cut)
    assert report.stories == 1 and "reading stopped" in report.problems[-1]
    with pytest.raises(StoryImportError, match="wxr export"):
        import_stories(store, _write(tmp_path, "site.xml", WXR), "disqus")
    with pytest.raises(StoryImportError, match="not a story file"):
        import_stories(store, _write(tmp_path, "c.jsonl", '{"text": "x"}\n'))
    with pytest.raises(StoryImportError, match="does not exist"):
        import_stories(store, tmp_path / "missing.xml")
    bad_csv = _write(tmp_path, "bad.csv", "name,body\nx,y\n")
    assert "no id or url column" in import_stories(store, bad_csv).problems[0]


def test_cli_import_and_lookup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "new" / "s.sqlite"  # parent folders made
    files = [str(_write(tmp_path, "site.xml", WXR)), str(_write(tmp_path, "d.xml", DISQUS))]
    assert main(["stories", "import", *files, "--stories", str(db)]) == 0
    assert main(["stories", "import", files[0], "--stories", str(db), "--format", "wxr"]) == 0
    out = capsys.readouterr().out
    assert "2 stories written, 1 skipped" in out and f"{db}: 4 stories" in out
    assert main(["stories", "lookup", "--stories", str(db), "--url", "https://example.org/about"]) == 0
    assert '"id": "2"' in capsys.readouterr().out
    assert main(["stories", "lookup", "--stories", str(db), "--id", "nope"]) == 1
    assert main(["stories", "lookup", "--stories", str(tmp_path / "none.sqlite"), "--id", "x"]) == 2
    assert main(["stories", "import", files[0], "--stories", str(db), "--format", "disqus"]) == 2


def test_shared_sample_exports(shared_dir: Path, store: StoryStore) -> None:
    samples = shared_dir / "samples"
    disqus = import_stories(store, samples / "disqus-export.xml")
    wxr = import_stories(store, samples / "wordpress-export.xml")
    assert (disqus.format, disqus.stories, wxr.format, wxr.stories) == ("disqus", 2, "wxr", 1)
    tram = store.get(None, "https://example.org/stiri/tramvaiul-101-redeschis")
    assert tram is not None and tram.id == "article-2026-11-14-tramvai" and tram.title and tram.text
    library = store.get("4512")
    assert library is not None and library.title == "Town Votes To Close Its Last Public Library Branch"
