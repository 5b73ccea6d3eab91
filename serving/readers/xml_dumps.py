"""Disqus XML exports and WordPress WXR exports, parsed safely and streamed.

Safety: parsed with defusedxml: a DOCTYPE, entity declaration or external
reference is refused (so a billion-laughs file fails fast with a clear error).
Streaming: ``iterparse`` with elements cleared once used; memory holds one
WXR item (with its comments) or, for Disqus, the thread table (title, link,
article text per thread), never the posts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from commentmod.serving.readers.base import InputRecord, ReaderError, ReaderOptions
from commentmod.serving.readers.html_text import html_to_text

DSQ_NS = "http://disqus.com/disqus-internals"
WP_NS_PREFIX = "http://wordpress.org/export/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def safe_iterparse(path: Path, events: tuple[str, ...] = ("start", "end")) -> Iterator[tuple[str, Element]]:
    """``iterparse`` that refuses DTDs, entities and external references with a ReaderError."""
    try:
        yield from iterparse(
            str(path), events=events, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ReaderError(
            f"{path}: refused unsafe XML ({type(exc).__name__}: DTDs and entity declarations are not "
            "allowed); export the file again without a DOCTYPE"
        ) from exc
    except ParseError as exc:
        raise ReaderError(f"{path}: XML is not well-formed ({exc})") from exc


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
    for _event, elem in safe_iterparse(path, events=("start",)):
        name = local(elem.tag)
        if name == "disqus":
            return "disqus"
        if name == "rss":
            return "wxr"
        raise ReaderError(
            f"{path}: unknown XML schema (root element <{name}>); commentmod reads Disqus exports "
            "(<disqus>) and WordPress WXR exports (<rss> with wp: elements)"
        )
    raise ReaderError(f"{path}: empty XML file")


def _child_text(elem: Element, name: str) -> str | None:
    for child in elem:
        if local(child.tag) == name:
            return child.text
    return None


def _dsq_id(elem: Element) -> str | None:
    return elem.get(f"{{{DSQ_NS}}}id")


def _disqus_threads(path: Path) -> dict[str, dict[str, str | None]]:
    threads: dict[str, dict[str, str | None]] = {}
    depth = 0
    for event, elem in safe_iterparse(path):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 1 and local(elem.tag) == "thread":
            tid = _dsq_id(elem)
            if tid is not None:
                threads[tid] = {
                    "title": (_child_text(elem, "title") or "").strip() or None,
                    "link": _child_text(elem, "link"),
                    "text": html_to_text(_child_text(elem, "message")) or None,
                }
        if depth == 1:
            elem.clear()
    return threads


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def read_disqus(path: Path, options: ReaderOptions = ReaderOptions()) -> Iterator[InputRecord]:
    """Posts of a Disqus export, each joined to its thread (title, link, message as context)."""
    source = str(path)
    threads = _disqus_threads(path)
    depth = 0
    for event, elem in safe_iterparse(path):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth != 1:
            continue
        if local(elem.tag) == "post":
            yield _disqus_post(elem, threads, source)
        elem.clear()


def _disqus_post(elem: Element, threads: dict[str, dict[str, str | None]], source: str) -> InputRecord:
    pid = _dsq_id(elem)
    thread_id = None
    parent = None
    author = None
    for child in elem:
        name = local(child.tag)
        if name == "thread":
            thread_id = _dsq_id(child)
        elif name == "parent":
            parent = _dsq_id(child)
        elif name == "author":
            author = (_child_text(child, "name") or _child_text(child, "username") or "").strip() or None
    thread = threads.get(thread_id or "", {})
    meta: dict[str, Any] = {
        "thread_id": thread_id,
        "parent": parent,
        "created_at": _child_text(elem, "createdAt"),
        "is_deleted": _bool(_child_text(elem, "isDeleted")),
        "is_spam": _bool(_child_text(elem, "isSpam")),
        "url": thread.get("link"),
    }
    location = f"{source}:post {pid}"
    if thread_id is not None and thread_id not in threads:
        meta["warning"] = f"thread {thread_id} not found in the export"
    return InputRecord(
        id=pid,
        text=html_to_text(_child_text(elem, "message")),
        source=source,
        location=location,
        article_title=thread.get("title"),
        article_text=thread.get("text"),
        author=author,
        meta=meta,
    )


def read_wxr(path: Path, options: ReaderOptions = ReaderOptions()) -> Iterator[InputRecord]:
    """Comments of a WordPress WXR export; each item's title and content are the context."""
    source = str(path)
    for _event, elem in safe_iterparse(path, events=("end",)):
        if local(elem.tag) != "item":
            continue
        yield from _wxr_item(elem, source, options)
        elem.clear()


def _wp(elem: Element, name: str) -> str | None:
    for child in elem:
        if local(child.tag) == name and namespace(child.tag).startswith(WP_NS_PREFIX):
            return child.text
    return None


def _wxr_item(item: Element, source: str, options: ReaderOptions) -> Iterator[InputRecord]:
    title = (_child_text(item, "title") or "").strip() or None
    body = None
    for child in item:
        if local(child.tag) == "encoded" and namespace(child.tag) == CONTENT_NS:
            body = html_to_text(child.text) or None
    post_id = _wp(item, "post_id")
    link = _child_text(item, "link")
    for child in item:
        if local(child.tag) != "comment" or not namespace(child.tag).startswith(WP_NS_PREFIX):
            continue
        ctype = (_wp(child, "comment_type") or "comment").strip() or "comment"
        if ctype in ("pingback", "trackback") and not options.include_pingbacks:
            continue
        cid = _wp(child, "comment_id")
        yield InputRecord(
            id=cid,
            text=html_to_text(_wp(child, "comment_content")),
            source=source,
            location=f"{source}:comment {cid}",
            article_title=title,
            article_text=body,
            author=(_wp(child, "comment_author") or "").strip() or None,
            meta={
                "post_id": post_id,
                "url": link,
                "created_at": _wp(child, "comment_date_gmt") or _wp(child, "comment_date"),
                "parent": _wp(child, "comment_parent"),
                "approved": _wp(child, "comment_approved"),
                "comment_type": ctype,
            },
        )


def open_head(path: Path, size: int = 4096) -> bytes:
    fh: IO[bytes]
    with path.open("rb") as fh:
        return fh.read(size)
