"""Articles out of a WordPress WXR export, a Disqus export or a CSV, into the story store.

WXR and Disqus are parsed with the comment readers' streaming XML (:mod:`.readers.xml_stream`,
bounded memory, unsafe XML refused) and their element helpers (:mod:`.readers.xml_dumps`); the
article HTML becomes visible text as it does for scoring (:func:`.readers.html_text.html_to_text`),
cut to ``ReaderOptions.max_context_chars``. What is stored per article:

* WXR: every ``<item>`` except attachments, menu items, revisions and other non-article types:
  id ``wp:post_id`` (else ``guid``, else the link), ``link``, ``title``, ``content:encoded``.
* Disqus: every ``<thread>``: id its ``<id>`` (the site's own identifier; else ``dsq:id``),
  ``link``, ``title``, ``message``.
* CSV with a header ``id, url, title, text`` (names matched case-insensitively; ``story_id``,
  ``link``, ``article_title``, ``article_text``, ``body`` also understood): one row per article; a
  row without id takes its URL as id. Its own small parser: the comment reader's column rules
  would read ``text`` as a comment.

A record that cannot be read (no id and no URL, over a reader limit, a file that breaks) is
reported in :class:`ImportReport` and skipped; what was read before a break is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

from .readers import detect_format
from .readers.base import ReaderError, ReaderOptions
from .readers.html_text import html_to_text
from .readers.xml_dumps import (  # the readers' element helpers, shared rather than copied
    CONTENT_NS,
    child_text,
    context_text,
    dsq_id,
    find_child,
    is_item_child,
    is_thread,
    is_wp,
    root_kind,
)
from .readers.xml_stream import XmlStop, local, namespace, stream
from .stories import Story, StoryStore

FORMATS = ("auto", "wxr", "disqus", "csv")
MAX_PROBLEMS = 20  # problems kept in a report (all are counted)
_NOT_ARTICLES = frozenset(
    {
        "attachment", "nav_menu_item", "revision", "custom_css", "customize_changeset", "oembed_cache",
        "user_request", "wp_block", "wp_template", "wp_template_part", "wp_global_styles",
        "wp_navigation", "wp_font_family", "wp_font_face",
    }
)  # fmt: skip
_WXR_FIELDS = frozenset({"title", "link", "guid", "encoded", "post_id", "post_type"})
_CSV_COLUMNS = {
    "id": ("id", "story_id", "post_id"),
    "url": ("url", "link", "story_url"),
    "title": ("title", "article_title", "headline"),
    "text": ("text", "article_text", "body", "content"),
}

Problem = str  # a record that was skipped, and why
Found = Story | Problem


class StoryImportError(ReaderError):
    """A request the importer cannot serve: unknown format, missing file, not an article dump."""


@dataclass
class ImportReport:
    """What one import did: stories written (inserted or updated) and records skipped."""

    file: str
    format: str
    stories: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def add_problem(self, problem: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def _story(sid: str | None, url: str | None, title: str | None, text: str | None) -> Story | None:
    sid = (sid or "").strip() or (url or "").strip()
    if not sid:
        return None
    return Story(sid, (url or "").strip() or None, (title or "").strip() or None, text or None)


# --------------------------------------------------------------------------- WordPress WXR


def read_wxr_stories(path: Path, options: ReaderOptions) -> Iterator[Found]:
    """Articles of a WXR export, one per ``<item>`` of an article type."""
    fields: dict[str, str | None] = {}
    try:
        for ended in stream(path, is_item_child, options, emit_depth=3, unit_depth=4):
            name = local(ended.tag)
            if ended.elem is None:
                if ended.depth == 3 and name == "item":
                    yield from _wxr_item(fields)
                    fields = {}
                continue
            if name not in _WXR_FIELDS:  # comments, postmeta, categories ... are not needed
                continue
            if ended.problem is not None:
                fields.setdefault("problem", f"{name}: {ended.problem}")
            elif name == "encoded":
                if namespace(ended.tag) == CONTENT_NS:  # not excerpt:encoded
                    fields["text"] = context_text(ended.elem, options)
            elif name in ("post_id", "post_type"):
                if is_wp(ended.elem):
                    fields[name] = _child_text_of(ended.elem)
            else:
                fields[name] = _child_text_of(ended.elem)
    except XmlStop as exc:
        yield f"{path}: reading stopped at line {exc.line}: {exc}"


def _child_text_of(elem: Element) -> str | None:
    return (elem.text or "").strip() or None


def _wxr_item(fields: dict[str, str | None]) -> Iterator[Found]:
    if (fields.get("post_type") or "post") in _NOT_ARTICLES:
        return
    story = _story(
        fields.get("post_id") or fields.get("guid"),
        fields.get("link"),
        fields.get("title"),
        fields.get("text"),
    )
    if story is None:
        yield f"item {fields.get('title')!r}: no post id, guid or link"
    elif fields.get("problem"):
        yield f"item {story.id}: {fields['problem']}"
    else:
        yield story


# --------------------------------------------------------------------------- Disqus


def read_disqus_stories(path: Path, options: ReaderOptions) -> Iterator[Found]:
    """Articles of a Disqus export, one per ``<thread>``."""
    try:
        for ended in stream(path, is_thread, options, unit_depth=2):
            elem = ended.elem
            if ended.problem is not None or elem is None:
                yield f"thread {dsq_id(elem)}: {ended.problem or 'unreadable'}"
                continue
            story = _story(
                child_text(elem, "id") or dsq_id(elem),
                child_text(elem, "link"),
                child_text(elem, "title"),
                context_text(find_child(elem, "message"), options),
            )
            yield story if story is not None else f"thread {child_text(elem, 'title')!r}: no id and no link"
    except XmlStop as exc:
        yield f"{path}: reading stopped at line {exc.line}: {exc}"


# --------------------------------------------------------------------------- CSV


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def read_csv_stories(path: Path, options: ReaderOptions) -> Iterator[Found]:
    """Articles of a CSV with a header naming ``id``/``url``/``title``/``text`` columns."""
    if csv.field_size_limit() < options.max_record_bytes:
        csv.field_size_limit(options.max_record_bytes)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            delimiter = options.csv_delimiter or max((",", ";", "\t"), key=first.count)
            fh.seek(0)
            rows = csv.DictReader(fh, delimiter=delimiter)
            cols = {k: _pick(list(rows.fieldnames or []), names) for k, names in _CSV_COLUMNS.items()}
            if cols["id"] is None and cols["url"] is None:
                yield f"{path}: no id or url column among {rows.fieldnames}; the header is id,url,title,text"
                return
            for row in rows:
                yield _csv_story(row, cols, options, rows.line_num)
    except (csv.Error, UnicodeDecodeError) as exc:
        yield f"{path}: reading stopped: {exc} (save the file as UTF-8 CSV)"


def _csv_story(row: dict[str, str], cols: dict[str, str | None], options: ReaderOptions, line: int) -> Found:
    def value(key: str) -> str | None:
        column = cols[key]
        return None if column is None else row.get(column)

    text = html_to_text(value("text"))[: options.max_context_chars]
    story = _story(value("id"), value("url"), (value("title") or "")[: options.max_context_chars], text)
    return story if story is not None else f"line {line}: no id and no url"


# --------------------------------------------------------------------------- import

_READERS: dict[str, Callable[[Path, ReaderOptions], Iterator[Found]]] = {
    "wxr": read_wxr_stories,
    "disqus": read_disqus_stories,
    "csv": read_csv_stories,
}


def story_format(path: Path, fmt: str = "auto") -> str:
    """``wxr``, ``disqus`` or ``csv``: ``fmt``, or what the file is when ``auto``."""
    if fmt not in FORMATS:
        raise StoryImportError(f"unknown story format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise StoryImportError(f"story file {path} does not exist")
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind in ("wxr", "disqus") and fmt != "auto" and root_kind(path) != kind:
        raise StoryImportError(f"{path}: --format {kind} given but the file is a {root_kind(path)} export")
    if kind not in _READERS:
        raise StoryImportError(
            f"{path} looks like {kind}, not a story file; import a WordPress WXR export, a Disqus "
            "export or a CSV with columns id,url,title,text (or name the format with --format)"
        )
    return kind


def import_stories(
    store: StoryStore, path: Path, fmt: str = "auto", options: ReaderOptions = ReaderOptions()
) -> ImportReport:
    """Upsert the articles of ``path`` into ``store``; skipped records are listed in the report."""
    kind = story_format(Path(path), fmt)
    report = ImportReport(str(path), kind)

    def stories() -> Iterator[Story]:
        for found in _READERS[kind](Path(path), options):
            if isinstance(found, Story):
                yield found
            else:
                report.add_problem(found)

    report.stories = store.upsert(stories(), source=str(path))
    return report
