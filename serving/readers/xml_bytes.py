"""Raw-byte scans of an XML file, used to skip a part the parser refused (see ``xml_stream``).

Each scan is linear, reads the file in blocks and holds at most one block plus ``limit`` bytes.
They do not parse XML: :func:`unit_end` counts start and end tags of one name, so markup of that
name inside a comment or CDATA section can mislead it; the parser that resumes afterwards then
fails on what follows and reading stops there, as it would have without the skip.
"""

from __future__ import annotations

import re
from typing import IO

QNAME = re.compile(rb"<([^\s/>!?]+)")
# a comment, CDATA section or processing instruction: its opening and its closing bytes
CLOSERS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}
BLOCK = 1 << 18
_TAG_STOP = re.compile(rb"[\"'>]")


def read_at(fh: IO[bytes], offset: int, size: int) -> bytes:
    fh.seek(offset)
    return fh.read(size)


def find(fh: IO[bytes], offset: int, needle: bytes) -> int | None:
    """Offset just past the first ``needle`` at or after ``offset`` (a streaming scan), or None."""
    fh.seek(offset)
    base, tail = offset, b""
    while block := fh.read(BLOCK):
        buf = tail + block
        i = buf.find(needle)
        if i >= 0:
            return base + i + len(needle)
        keep = min(len(buf), len(needle) - 1)
        base += len(buf) - keep
        tail = buf[len(buf) - keep :] if keep else b""
    return None


def tag_end(fh: IO[bytes], offset: int, limit: int | None = None) -> int | None:
    """Offset just past the ``>`` of the tag at ``offset`` (quoted attribute values may hold ``>``);
    None at the end of the file or past ``limit`` bytes."""
    fh.seek(offset)
    quote: bytes | None = None
    scanned = 0
    while block := fh.read(BLOCK):
        i = 0
        while True:
            if quote is not None:
                j = block.find(quote, i)
                if j < 0:
                    break
                quote, i = None, j + 1
                continue
            m = _TAG_STOP.search(block, i)
            if m is None:
                break
            if m.group() == b">":
                length = scanned + m.end()
                return None if limit is not None and length > limit else offset + length
            quote, i = m.group(), m.end()
        scanned += len(block)
        if limit is not None and scanned > limit:
            return None
    return None


def prefix_bytes(fh: IO[bytes], ancestors: list[tuple[int, int | None]], limit: int) -> bytes | None:
    """The XML declaration (if any) and the raw start tags of ``ancestors``, to feed a fresh parser."""
    head = read_at(fh, 0, 1024)
    parts = [head[: head.index(b"?>") + 2] + b"\n"] if head.startswith(b"<?xml") and b"?>" in head else []
    for offset, _ in ancestors:
        end = tag_end(fh, offset, limit)
        if end is None:
            return None
        parts.append(read_at(fh, offset, end - offset))
    return b"".join(parts)


def unit_end(fh: IO[bytes], start: int, qname: bytes, limit: int, depth: int = 0) -> tuple[int, int] | None:
    """(offset just past the end tag of the element open at ``start`` - its start tag, or just after
    it with ``depth`` 1 -, newlines skipped), by a linear scan of the raw bytes counting start and end
    tags of the same name; None at the end of the file or at a tag longer than ``limit``."""
    tags = re.compile(rb"<(/?)" + re.escape(qname) + rb"(?=[\s/>])")
    fh.seek(start)
    base, newlines, buf = start, 0, b""
    while block := fh.read(BLOCK):
        buf += block
        done = 0  # bytes of buf fully scanned
        for m in tags.finditer(buf):
            close = buf.find(b">", m.end())
            if close < 0:  # this tag goes on in the next block
                done = m.start()
                break
            depth += -1 if m.group(1) else (0 if buf[close - 1 : close] == b"/" else 1)
            done = close + 1
            if depth == 0:
                return base + done, newlines + buf.count(b"\n", 0, done)
        else:  # keep a tail that may be the start of a tag cut by the block's end
            done = max(done, len(buf) - len(qname) - 2)
        if len(buf) - done > limit:
            return None
        newlines += buf.count(b"\n", 0, done)
        base, buf = base + done, buf[done:]
    return None
