"""Streaming XML with bounded memory for the Disqus and WXR readers.

The file is fed in 64 KiB chunks to defusedxml's parser (a DOCTYPE, entity declaration or
external reference is refused, so a billion-laughs file fails fast) with our own tree target
instead of ElementTree's: only *record* subtrees (a Disqus post or thread, a WXR item field or
comment, chosen by ``is_record``) are built, and each is bounded in elements and characters; a
record over a bound is still delivered, with its ``problem`` set, so it becomes an error record.

What would grow the parser itself stops the file with :class:`XmlStop` (after the records
already complete): nesting deeper than ``max_xml_depth`` (expat keeps a stack entry per open
element), more than ``max_xml_names`` distinct element/attribute names (expat keeps a table
entry per name), one token (tag, comment) longer than ``max_record_bytes`` (expat buffers a
whole token), and of course XML that is not well-formed or is unsafe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError, SubElement

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from commentmod.model.errors import CommentmodError
from commentmod.serving.readers.base import ReaderOptions

CHUNK = 1 << 16


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


class XmlStop(CommentmodError):
    """Reading an XML file stopped here; ``partial`` is the record being read, if any."""

    def __init__(self, message: str, line: int | None, partial: Element | None = None):
        super().__init__(message)
        self.line = line
        self.partial = partial


class _Limit(Exception):
    """Raised inside a parser callback to stop the parse (turned into XmlStop)."""


class Ended(NamedTuple):
    """An element that ended: ``elem`` is the built subtree for a record, else None."""

    depth: int
    tag: str
    elem: Element | None
    problem: str | None = None


class _Target:
    """Expat handlers that build bounded record subtrees and queue ``Ended`` events.

    Installed directly on defusedxml's expat parser (ElementTree's per-event wrappers cost
    as much as the parse): names arrive as ``uri}local`` and become ElementTree's
    ``{uri}local``; attributes arrive as a flat ``[name, value, ...]`` list."""

    def __init__(self, is_record: Callable[[list[str]], bool], options: ReaderOptions, emit_depth: int):
        self.is_record = is_record
        self.options = options
        self.emit_depth = emit_depth  # ends of non-record elements this shallow are queued too
        self.stack: list[str] = []
        self.names: dict[str, str] = {}
        self.events: list[Ended] = []
        self.record: Element | None = None
        self.open: list[Element | None] = []
        self.buf: list[str] = []
        self.count = 0
        self.chars = 0
        self.problem: str | None = None
        self.expat: Any = None  # the pyexpat parser, for positions
        self.pos = 0
        self.root: str | None = None

    def install(self, parser: DefusedXMLParser) -> None:
        self.expat = expat = parser.parser
        expat.StartElementHandler = self.start
        expat.EndElementHandler = self.end
        expat.CharacterDataHandler = self.data
        expat.CommentHandler = None
        expat.ProcessingInstructionHandler = None

    def _name(self, raw: str) -> str:
        name = self.names.get(raw)
        if name is None:
            name = self.names[raw] = "{" + raw if "}" in raw else raw
            if len(self.names) > self.options.max_xml_names:
                raise _Limit(f"more than {self.options.max_xml_names:,} distinct element and attribute names")
        return name

    def _flush(self) -> None:
        text = "".join(self.buf)
        self.buf.clear()
        cur = self.open[-1] if self.open else None
        if cur is None:
            return
        if len(cur):
            cur[-1].tail = (cur[-1].tail or "") + text
        else:
            cur.text = (cur.text or "") + text

    def start(self, raw: str, attrs: list[str]) -> None:
        self.pos = self.expat.CurrentByteIndex
        tag = self._name(raw)
        if self.root is None:
            self.root = tag
        stack = self.stack
        stack.append(tag)
        if len(stack) > self.options.max_xml_depth:
            raise _Limit(f"elements nested deeper than {self.options.max_xml_depth} levels")
        attrib = {self._name(attrs[i]): attrs[i + 1] for i in range(0, len(attrs), 2)} if attrs else {}
        if self.record is None:
            if self.is_record(stack):
                self.record = Element(tag, attrib)
                self.open, self.count, self.chars, self.problem = [self.record], 1, 0, None
            return
        if self.buf:
            self._flush()
        self.count += 1
        if self.problem is None and self.count > self.options.max_xml_record_elements:
            self.problem = f"more than {self.options.max_xml_record_elements:,} XML elements in one record"
        parent = self.open[-1]
        if parent is None or self.problem is not None:
            self.open.append(None)
        else:
            self.open.append(SubElement(parent, tag, attrib))

    def data(self, text: str) -> None:
        self.pos = self.expat.CurrentByteIndex
        if self.record is None or self.problem is not None:
            return
        self.chars += len(text)
        if self.chars > self.options.max_record_bytes:
            self.problem = f"more than {self.options.max_record_bytes:,} characters of text in one record"
            return
        self.buf.append(text)

    def end(self, raw: str) -> None:
        self.pos = self.expat.CurrentByteIndex
        depth = len(self.stack)
        tag = self.stack.pop()
        if self.record is None:
            if depth <= self.emit_depth:
                self.events.append(Ended(depth, tag, None))
            return
        if self.buf:
            self._flush()
        self.open.pop()
        if not self.open:
            self.events.append(Ended(depth, tag, self.record, self.problem))
            self.record = None

    def close(self) -> None:
        return None


def _parser(target: _Target) -> DefusedXMLParser:
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    target.install(parser)
    return parser


def stream(
    path: Path, is_record: Callable[[list[str]], bool], options: ReaderOptions, emit_depth: int = 0
) -> Iterator[Ended]:
    """Ended record elements of ``path`` in document order (and ends of non-record elements at
    depth <= ``emit_depth``); raises :class:`XmlStop` where reading stops, after yielding
    everything complete before that point."""
    target = _Target(is_record, options, emit_depth)
    parser = _parser(target)
    fed = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            stop = None
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except _Limit as exc:
                stop = str(exc)
            except DefusedXmlException as exc:
                stop = (
                    f"refused unsafe XML ({type(exc).__name__}: DTDs and entity declarations are not "
                    "allowed); export the file again without a DOCTYPE"
                )
            except ParseError as exc:
                stop = f"XML is not well-formed ({exc})"
            yield from target.events
            target.events.clear()
            fed += len(chunk)
            if stop is None and fed - max(target.pos, 0) > options.max_record_bytes + CHUNK:
                stop = f"an XML tag or comment longer than {options.max_record_bytes:,} bytes"
            if stop is not None:
                line = getattr(target.expat, "CurrentLineNumber", None)
                raise XmlStop(stop, line, target.record)
            if not chunk:
                return


def root_name(path: Path, options: ReaderOptions = ReaderOptions()) -> str | None:
    """Local name of the root element (None for an empty file); XmlStop when unreadable before it."""
    target = _Target(lambda stack: False, options, 0)
    parser = _parser(target)
    with path.open("rb") as fh:
        while target.root is None:
            chunk = fh.read(CHUNK)
            try:
                if not chunk:
                    parser.close()
                    return None
                parser.feed(chunk)
            except (_Limit, DefusedXmlException, ParseError) as exc:
                if target.root is not None:
                    break
                if isinstance(exc, DefusedXmlException):
                    raise XmlStop(
                        f"refused unsafe XML ({type(exc).__name__}: DTDs and entity declarations "
                        "are not allowed); export the file again without a DOCTYPE",
                        1,
                    ) from exc
                raise XmlStop(f"XML is not well-formed ({exc})", None) from exc
    return local(target.root)
