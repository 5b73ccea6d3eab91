"""Text encodings (UTF-8 with or without BOM, UTF-16/32) and bounded line reading.

:func:`read_lines` never holds more than ``max_bytes`` (plus one read chunk) of a line in
memory: a longer line is reported as an error and its rest skipped in 64 KiB chunks.
UTF-8 is read as bytes (an invalid line is an error, or escaped with ``surrogateescape`` for
the CSV reader); UTF-16/32 (with a BOM, or without one when the first bytes are ASCII text
with NUL high bytes) are decoded with undecodable bytes as U+FFFD.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .meter import ReadMeter

# UTF-32 LE first: its BOM starts with the UTF-16 LE BOM
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
BLANK = " \t\r\n\x0b\x0c"  # what bytes.strip() strips: a line of only these is blank
_SKIP_CHUNK = 1 << 16


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """``(codec, bytes to skip)`` for a file starting with ``head``: a BOM's codec, UTF-16 without
    BOM when every other byte of the start is NUL, else UTF-8. The UTF-16/32 codecs read the BOM
    themselves, so only the UTF-8 BOM is skipped."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom) if codec == "utf-8" else 0
    sample = head[: len(head[:512]) // 2 * 2]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if _mostly_nul(odd) and even.count(0) * 50 <= len(even):
            return "utf-16-le", 0
        if _mostly_nul(even) and odd.count(0) * 50 <= len(odd):
            return "utf-16-be", 0
    return "utf-8", 0


def _mostly_nul(half: bytes) -> bool:
    """High bytes of UTF-16 text in a Latin/Cyrillic script: mostly NUL (ASCII), else small."""
    return half.count(0) * 10 >= len(half) * 6 and max(half) < 0x30


def file_head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def decode_text(raw: bytes) -> str:
    """A whole (bounded) file's text in its sniffed encoding; undecodable bytes become U+FFFD."""
    codec, skip = sniff_encoding(raw[:4096])
    return raw[skip:].decode(codec, errors="replace")


def _too_long(max_bytes: int) -> str:
    return f"line longer than {max_bytes:,} bytes (limit max_record_bytes); skipped"


def _skip_rest(fh: IO[bytes] | IO[str]) -> None:
    while True:
        chunk = fh.readline(_SKIP_CHUNK)
        if not chunk or chunk[-1:] in (b"\n", "\n"):
            return


def read_lines(
    path: Path,
    max_bytes: int,
    errors: str = "strict",
    newline: str | None = None,
    meter: ReadMeter | None = None,
) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, error)`` per line; ``text`` is None when ``error`` is set.

    ``errors="strict"``: invalid UTF-8 makes the line an error; ``"surrogateescape"``: bad bytes
    become lone surrogates (the caller reports them). ``newline`` as for :func:`open` (UTF-16/32).
    ``meter``: told the handle the file is read through (progress in bytes).
    """
    codec, skip = sniff_encoding(file_head(path))
    if codec == "utf-8":
        yield from _utf8_lines(path, skip, max_bytes, errors, meter)
        return
    unit = 4 if codec == "utf-32" else 2
    limit = max(1, max_bytes // unit)
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding=codec, errors="replace", newline=newline) as fh,
    ):
        if meter is not None:
            meter.watch(raw)
        lineno = 0
        while line := fh.readline(limit + 1):
            lineno += 1
            if len(line) > limit and not line.endswith("\n"):
                _skip_rest(fh)
                yield lineno, None, _too_long(max_bytes)
            else:
                yield lineno, line, None


def _utf8_lines(
    path: Path, skip: int, max_bytes: int, errors: str, meter: ReadMeter | None
) -> Iterator[tuple[int, str | None, str | None]]:
    with path.open("rb") as fh:
        if meter is not None:
            meter.watch(fh)
        fh.seek(skip)
        lineno = 0
        while raw := fh.readline(max_bytes + 1):
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                _skip_rest(fh)
                yield lineno, None, _too_long(max_bytes)
                continue
            try:
                yield lineno, raw.decode("utf-8", errors=errors), None
            except UnicodeDecodeError as exc:
                yield lineno, None, f"invalid UTF-8 ({exc.reason} at byte {exc.start} of the line)"
