"""Streaming XML with bounded memory for the Disqus and WXR readers.

The file is fed in 64 KiB chunks to defusedxml's parser (a DOCTYPE, entity declaration or
external reference is refused, so a billion-laughs file fails fast) with our own tree target
instead of ElementTree's: only *record* subtrees (a Disqus post or thread, a WXR item field or
comment, chosen by ``is_record``) are built, and each is bounded in elements and characters; a
record over a bound is still delivered, with its ``problem`` set, so it becomes an error record.

What would grow the parser itself is refused: nesting deeper than ``max_xml_depth`` (expat keeps
a stack entry per open element), more than ``max_xml_names`` distinct element/attribute names
(expat keeps a table entry per name), one token (tag, comment) longer than ``max_record_bytes``
(expat buffers a whole token). When that happens inside a *unit* (the element at ``unit_depth``
that holds a record: a Disqus post or thread, a WXR item field or comment), the parser is dropped,
the raw bytes are scanned to the unit's end tag (same-name nesting counted), the unit is delivered
as a problem record and a fresh parser goes on after it, fed the XML declaration and the raw start
tags of the unit's ancestors first (so namespaces and depths are as before): one bad post costs
one error record, not the rest of the file. Between units, an over-long comment, CDATA section or
processing instruction (or a unit whose start tag is over-long) is skipped the same way up to the
next tag. What cannot be skipped so (a limit hit at the root, a unit whose end tag is not found,
XML that is not well-formed or is unsafe) stops the file with :class:`XmlStop` (after the records
already complete). The raw-byte scans are in :mod:`commentmod.serving.readers.xml_bytes`.

Just over 400 lines: the parser target and the recovery that restarts it share the target's state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO, Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError, SubElement

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from ...model.errors import CommentmodError
from .base import ReaderOptions
from .meter import ReadMeter
from .xml_bytes import (
    CLOSERS,
    QNAME,
    find,
    prefix_bytes,
    read_at,
    tag_end,
    unit_end,
)

log = logging.getLogger(__name__)

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


class _Origin(NamedTuple):
    """Where the bytes fed to the current parser come from: a synthetic prefix, then the file."""

    prefix_bytes: int = 0  # length of the prefix (XML declaration + ancestors' start tags)
    prefix_lines: int = 0  # newlines in the prefix
    offset: int = 0  # file offset of the first byte after the prefix
    line: int | None = 1  # file line of that byte (None: not known)

    def file_pos(self, index: int, line: int) -> tuple[int, int | None] | None:
        """(file offset, file line) of a parser position; None inside the synthetic prefix."""
        if index < self.prefix_bytes:
            return None
        return index - self.prefix_bytes + self.offset, self.file_line(line)

    def file_line(self, line: int | None) -> int | None:
        if line is None or self.line is None or line <= self.prefix_lines:
            return None
        return line - self.prefix_lines - 1 + self.line


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

    def __init__(
        self,
        is_record: Callable[[list[str]], bool],
        options: ReaderOptions,
        emit_depth: int,
        unit_depth: int | None = None,
    ):
        self.is_record = is_record
        self.options = options
        self.emit_depth = emit_depth  # ends of non-record elements this shallow are queued too
        self.unit_depth = unit_depth  # depth of the elements skipped whole when over a limit
        self.starts: list[tuple[int, int | None]] = []  # (file offset, line) of open elements <= unit_depth
        self.last_end: tuple[int, int | None] | None = None  # the last end tag at depth <= unit_depth
        self.origin = _Origin()
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

    def restart(self, origin: _Origin) -> None:
        """State for a fresh parser that starts at ``origin`` (after a skipped unit)."""
        self.origin = origin
        self.stack, self.names, self.record, self.open, self.buf = [], {}, None, [], []
        self.count = self.chars = 0
        self.problem = None
        self.pos = 0
        del self.starts[max(0, (self.unit_depth or 1) - 1) :]

    def in_unit(self) -> bool:
        return self.unit_depth is not None and len(self.starts) == self.unit_depth

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
        depth = len(self.stack) + 1
        if self.unit_depth is not None and depth <= self.unit_depth:
            where = self.origin.file_pos(self.pos, self.expat.CurrentLineNumber)
            if where is not None:  # (ancestors re-fed in a prefix keep their first position)
                del self.starts[depth - 1 :]
                self.starts.append(where)
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
        if self.unit_depth is not None and depth <= self.unit_depth:
            del self.starts[depth - 1 :]
            self.last_end = self.origin.file_pos(self.pos, self.expat.CurrentLineNumber) or self.last_end
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
    path: Path,
    is_record: Callable[[list[str]], bool],
    options: ReaderOptions,
    emit_depth: int = 0,
    unit_depth: int | None = None,
    meter: ReadMeter | None = None,
) -> Generator[Ended, None, None]:
    """Ended record elements of ``path`` in document order (and ends of non-record elements at
    depth <= ``emit_depth``); raises :class:`XmlStop` where reading stops, after yielding
    everything complete before that point. With ``unit_depth``, a limit hit inside an element at
    that depth skips that element (see the module docstring): a record is delivered with its
    ``problem`` set (``elem`` None when the limit hit at its start tag) and reading goes on.
    ``meter``: told the handle the file is read through (progress in bytes)."""
    target = _Target(is_record, options, emit_depth, unit_depth)
    parser = _parser(target)
    fed = 0
    with path.open("rb") as fh:
        if meter is not None:
            meter.watch(fh)
        while True:
            chunk = fh.read(CHUNK)
            stop = None
            limit = False
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except _Limit as exc:
                stop, limit = str(exc), True
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
                stop, limit = f"an XML tag or comment longer than {options.max_record_bytes:,} bytes", True
            if stop is not None and limit:
                resumed = _recover(fh, target, stop)
                if resumed is not None:
                    events, parser, fed = resumed
                    yield from events
                    continue
            if stop is not None:
                line = target.origin.file_line(getattr(target.expat, "CurrentLineNumber", None))
                raise XmlStop(stop, line, target.record)
            if not chunk:
                return


# what a skip leaves: (units skipped, as problem records), resume offset, its line, open ancestors
_Skipped = tuple[list[Ended], int, int | None, list[tuple[int, int | None]]]


def _recover(fh: IO[bytes], target: _Target, why: str) -> tuple[list[Ended], DefusedXMLParser, int] | None:
    """After a limit: skip the open unit (or, between units, the over-long token) over its raw bytes
    and start a fresh parser after it. Returns (the skipped records, as problem records; the parser;
    bytes fed to it), or None when that is not possible (reading then stops as before)."""
    if target.unit_depth is None or not target.starts:
        return None
    limit = target.options.max_record_bytes
    skipped = _skip_unit(fh, target, why, limit) if target.in_unit() else _skip_token(fh, target, why, limit)
    if skipped is None:
        return None
    events, offset, line, ancestors = skipped
    prefix = prefix_bytes(fh, ancestors, limit)
    if prefix is None:
        return None
    target.restart(_Origin(len(prefix), prefix.count(b"\n"), offset, line))
    parser = _parser(target)
    try:
        parser.feed(prefix)
    except (_Limit, DefusedXmlException, ParseError):
        return None
    target.events.clear()
    fh.seek(offset)
    return events, parser, len(prefix)


def _unit_event(target: _Target, depth: int, qname: bytes, why: str) -> Ended | None:
    """The skipped unit as a problem record, or None when it is not a record."""
    record = target.record
    tag = record.tag if record is not None else qname.decode("utf-8", "replace").rsplit(":", 1)[-1]
    # no record built (the limit hit at the unit's own start tag): a record if its name says so
    if record is None and not target.is_record([*target.stack[: depth - 1], tag]):
        return None
    return Ended(depth, tag, record, f"{why}; skipped to the end of this {local(tag)}")


def _skip_unit(fh: IO[bytes], target: _Target, why: str, limit: int) -> _Skipped | None:
    """The open unit, skipped to its end tag."""
    (start, line), ancestors = target.starts[-1], target.starts[:-1]
    match = QNAME.match(read_at(fh, start, 1024))
    end = None if match is None else unit_end(fh, start, match.group(1), limit)
    if match is None or end is None:
        return None
    offset, newlines = end
    event = _unit_event(target, len(target.starts), match.group(1), why)
    return [event] if event is not None else [], offset, None if line is None else line + newlines, ancestors


def _skip_token(fh: IO[bytes], target: _Target, why: str, limit: int) -> _Skipped | None:
    """Between units: from the last tag seen, skip comments, CDATA sections and PIs (the over-long
    one among them) and units whose start tag is over-long; resume at the next ordinary tag."""
    tags = [target.starts[-1][0], *([target.last_end[0]] if target.last_end else [])]
    after = [tag_end(fh, offset) for offset in tags]
    pos = max([x for x in after if x is not None] + [target.origin.offset], default=None)
    events: list[Ended] = []
    skipped = False
    while pos is not None and (lt := find(fh, pos, b"<")) is not None:
        lt -= 1
        head = read_at(fh, lt, 16)
        closer = next((v for k, v in CLOSERS.items() if head.startswith(k)), None)
        match = QNAME.match(head)
        if closer is not None:  # a comment, CDATA section or PI: skipped whole
            pos, skipped = find(fh, lt + 2, closer), True
        elif head.startswith(b"<!") or (match is None and not head.startswith(b"</")):
            return None  # a declaration (DOCTYPE) or not markup: not ours to skip
        elif head.startswith(b"</") or tag_end(fh, lt, limit) is not None:  # an ordinary tag
            if not skipped:
                return None
            if not events:
                log.warning(
                    "%s: %s, outside any record; skipped it and read on", getattr(fh, "name", "?"), why
                )
            return events, lt, None, list(target.starts)
        else:  # a unit whose start tag is over the limit: skipped whole
            assert match is not None
            close = tag_end(fh, lt)
            if close is None:
                return None
            self_closing = read_at(fh, close - 2, 1) == b"/"
            end = (close, 0) if self_closing else unit_end(fh, close, match.group(1), limit, depth=1)
            if end is None:
                return None
            event = _unit_event(target, len(target.stack) + 1, match.group(1), why)
            events += [event] if event is not None else []
            pos, skipped = end[0], True
    return None


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
