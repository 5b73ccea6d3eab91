"""Disqus XML exports and WordPress WXR exports, parsed safely and streamed with bounded memory.

Parsing: :mod:`commentmod.serving.readers.xml_stream` (defusedxml; bounded depth, names,
records). Memory holds one record (a post, or one WXR comment) and, for Disqus, the thread
table (title, link and the start of the article text per thread), never the posts.

Message text: a message may hold HTML as a CDATA section, as escaped text, or as XML markup
(``<message>Hello <b>world</b> you are an idiot</message>``); all three are turned into the
same visible text (:func:`element_html` then :func:`html_to_text`).

A post or WXR comment over a parser limit (nesting depth, distinct names, one huge token) is one
error record and reading goes on after it (``xml_stream`` skips it over its raw bytes). A file that
breaks (truncated, not well-formed, unsafe, over a limit outside any post) gives the records
complete before that point and then one error record saying where reading stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from .base import (
    InputRecord,
    ReaderError,
    ReaderOptions,
    cap,
    clean_meta,
    clean_text,
    error_record,
)
from .html_text import element_html, html_to_text
from .meter import ReadMeter
from .xml_stream import Ended, XmlStop, local, namespace, root_name, stream

DSQ_NS = "http://disqus.com/disqus-internals"
WP_NS_PREFIX = "http://wordpress.org/export/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_LINK_CHARS = 2000


def sniff_xml_kind(head: bytes) -> str | None:
    """'disqus', 'wxr' or None from the first bytes of a file."""
    text = head.decode("utf-8", errors="replace")
    if "<disqus" in text:
        return "disqus"
    if "wordpress.org/export" in text or ("<rss" in text and "wp:" in text):
        return "wxr"
    return None


def root_kind(path: Path) -> str:
    """Kind of XML dump by its root element; ReaderError for anything else."""
    try:
        name = root_name(path)
    except XmlStop as exc:
        raise ReaderError(f"{path}: {exc}") from exc
    if name == "disqus":
        return "disqus"
    if name == "rss":
        return "wxr"
    if name is None:
        raise ReaderError(f"{path}: empty XML file")
    raise ReaderError(
        f"{path}: unknown XML schema (root element <{name}>); commentmod reads Disqus exports "
        "(<disqus>) and WordPress WXR exports (<rss> with wp: elements)"
    )


def find_child(elem: Element, name: str) -> Element | None:
    """The first child of ``elem`` with the local name ``name``."""
    for child in elem:
        if local(child.tag) == name:
            return child
    return None


def child_text(elem: Element, name: str) -> str | None:
    """The cleaned text of that child; None when it is missing or empty."""
    child = find_child(elem, name)
    return None if child is None or child.text is None else clean_text(child.text)


def _visible(elem: Element | None) -> str:
    """Visible text of a message-like element (CDATA HTML, escaped HTML or XML markup)."""
    return "" if elem is None else clean_text(html_to_text(element_html(elem)))


def context_text(elem: Element | None, options: ReaderOptions) -> str | None:
    """The visible text of an article element, cut to ``max_context_chars``; None when empty."""
    if elem is None:
        return None
    # the model reads the start of the article: cut the HTML before converting it
    html = element_html(elem)[: options.max_context_chars * 4]
    return cap(clean_text(html_to_text(html)), options.max_context_chars) or None


def _stop_record(source: str, exc: XmlStop, count: int) -> InputRecord:
    """The error record where reading stopped; it carries the id of the record being read."""
    line = f"{source}:{exc.line}" if exc.line else source
    partial = exc.partial
    rid = None
    if partial is not None:
        rid = dsq_id(partial) or _wp(partial, "comment_id")
    return error_record(
        source, line, f"could not read the rest of the file ({count} records read): {exc}", id=rid
    )


# --------------------------------------------------------------------------- Disqus


def dsq_id(elem: Element | None) -> str | None:
    """The ``dsq:id`` attribute of a Disqus element, cleaned."""
    value = None if elem is None else elem.get(f"{{{DSQ_NS}}}id")
    return None if value is None else clean_text(value)


def _is_top(stack: list[str]) -> bool:
    return len(stack) == 2


def is_thread(stack: list[str]) -> bool:
    """A :func:`stream` filter: the ``<thread>`` elements under a Disqus export's root."""
    return len(stack) == 2 and local(stack[1]) == "thread"


def _add_thread(threads: dict[str, dict[str, str | None]], elem: Element, options: ReaderOptions) -> None:
    tid = dsq_id(elem)
    if tid is not None:
        threads[tid] = {
            "title": cap((child_text(elem, "title") or "").strip(), options.max_context_chars) or None,
            "link": cap(child_text(elem, "link"), _LINK_CHARS),
            "text": context_text(find_child(elem, "message"), options),
        }


def _disqus_threads(path: Path, options: ReaderOptions) -> dict[str, dict[str, str | None]]:
    """Thread table of the export (a file that breaks: the threads before the break)."""
    threads: dict[str, dict[str, str | None]] = {}
    try:
        for ended in stream(path, is_thread, options, unit_depth=2):
            if ended.elem is not None:
                _add_thread(threads, ended.elem, options)
    except XmlStop:
        pass  # reported by the pass over the posts, which stops at the same place
    return threads


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _post_record(ended: Ended, threads: dict[str, dict[str, str | None]], source: str) -> InputRecord:
    location = f"{source}:post {dsq_id(ended.elem)}"
    if ended.problem is not None or ended.elem is None:
        return error_record(source, location, ended.problem or "unreadable post", id=dsq_id(ended.elem))
    return _disqus_post(ended.elem, threads, source, location)


def read_disqus(
    path: Path, options: ReaderOptions = ReaderOptions(), *, meter: ReadMeter | None = None
) -> Iterator[InputRecord]:
    """Posts of a Disqus export, each joined to its thread (title, link, message as context).

    One pass while every post's thread has been seen before it (Disqus writes threads first). At
    the first post whose thread has not been seen, the thread table is read whole by a second
    pass over the file (threads only) and the first pass goes on: each post is parsed once."""
    source = str(path)
    threads: dict[str, dict[str, str | None]] = {}
    table_read = False
    count = 0
    events = stream(path, _is_top, options, unit_depth=2, meter=meter)
    try:
        for ended in events:
            name = local(ended.tag)
            if name == "thread" and ended.elem is not None:
                _add_thread(threads, ended.elem, options)
            elif name == "post":
                if not table_read and _thread_unseen(ended, threads):
                    threads.update(_disqus_threads(path, options))
                    table_read = True
                count += 1
                yield _post_record(ended, threads, source)
    except XmlStop as exc:
        yield _stop_record(source, exc, count)
    finally:
        events.close()


def _thread_unseen(ended: Ended, threads: dict[str, dict[str, str | None]]) -> bool:
    """A post naming a thread not in the table (yet)."""
    tid = None if ended.elem is None else dsq_id(find_child(ended.elem, "thread"))
    return tid is not None and tid not in threads


def _disqus_post(
    elem: Element, threads: dict[str, dict[str, str | None]], source: str, location: str
) -> InputRecord:
    thread_id = dsq_id(find_child(elem, "thread"))
    author_elem = find_child(elem, "author")
    author = None
    if author_elem is not None:
        name = child_text(author_elem, "name") or child_text(author_elem, "username") or ""
        author = name.strip()[:200] or None
    thread = threads.get(thread_id or "", {})
    meta: dict[str, Any] = {
        "thread_id": thread_id,
        "parent": dsq_id(find_child(elem, "parent")),
        "created_at": child_text(elem, "createdAt"),
        "is_deleted": _bool(child_text(elem, "isDeleted")),
        "is_spam": _bool(child_text(elem, "isSpam")),
        "url": thread.get("link"),
    }
    if thread_id is not None and thread_id not in threads:
        meta["warning"] = f"thread {thread_id} not found in the export"
    return InputRecord(
        id=dsq_id(elem),
        text=_visible(find_child(elem, "message")),
        source=source,
        location=location,
        article_title=thread.get("title"),
        article_text=thread.get("text"),
        author=author,
        meta=clean_meta(meta),
    )


# --------------------------------------------------------------------------- WordPress WXR


def is_item_child(stack: list[str]) -> bool:
    """A :func:`stream` filter: the children of a WXR ``<item>``."""
    return len(stack) == 4 and local(stack[2]) == "item"


def is_wp(elem: Element) -> bool:
    """Whether ``elem`` is in a WordPress (``wp:``) namespace."""
    return namespace(elem.tag).startswith(WP_NS_PREFIX)


def _wp(elem: Element, name: str) -> str | None:
    for child in elem:
        if local(child.tag) == name and is_wp(child):
            return None if child.text is None else clean_text(child.text)
    return None


def read_wxr(
    path: Path, options: ReaderOptions = ReaderOptions(), *, meter: ReadMeter | None = None
) -> Iterator[InputRecord]:
    """Comments of a WordPress WXR export; each item's title and content are the context.

    Comments are yielded as they are read, with the item fields read before them (WordPress
    writes title, link, content and post id before the comments)."""
    source = str(path)
    item: dict[str, str | None] = {}
    count = 0
    try:
        for ended in stream(path, is_item_child, options, emit_depth=3, unit_depth=4, meter=meter):
            if ended.elem is None:
                if ended.depth == 3 and local(ended.tag) == "item":
                    item = {}
                continue
            elem, name = ended.elem, local(ended.tag)
            if name == "comment" and is_wp(elem):
                count += 1
                record = _wxr_comment(elem, ended.problem, item, source, options)
                if record is not None:
                    yield record
            elif name == "title" and not is_wp(elem):
                item["title"] = cap((elem.text or "").strip(), options.max_context_chars) or None
            elif name == "link":
                item["link"] = cap(elem.text, _LINK_CHARS)
            elif name == "encoded" and namespace(elem.tag) == CONTENT_NS:
                item["body"] = context_text(elem, options)
            elif name == "post_id" and is_wp(elem):
                item["post_id"] = cap(elem.text, 100)
    except XmlStop as exc:
        yield _stop_record(source, exc, count)


def _wxr_comment(
    elem: Element, problem: str | None, item: dict[str, str | None], source: str, options: ReaderOptions
) -> InputRecord | None:
    ctype = (_wp(elem, "comment_type") or "comment").strip() or "comment"
    if ctype in ("pingback", "trackback") and not options.include_pingbacks:
        return None
    cid = _wp(elem, "comment_id")
    location = f"{source}:comment {cid}"
    if problem is not None:
        return error_record(source, location, problem, id=cid)
    content = find_child(elem, "comment_content")
    return InputRecord(
        id=cid,
        text=_visible(content),
        source=source,
        location=location,
        article_title=clean_text(title) if (title := item.get("title")) else None,
        article_text=clean_text(body) if (body := item.get("body")) else None,
        author=((_wp(elem, "comment_author") or "").strip()[:200]) or None,
        meta=clean_meta(
            {
                "post_id": item.get("post_id"),
                "url": item.get("link"),
                "created_at": _wp(elem, "comment_date_gmt") or _wp(elem, "comment_date"),
                "parent": _wp(elem, "comment_parent"),
                "approved": _wp(elem, "comment_approved"),
                "comment_type": ctype,
            }
        ),
    )
