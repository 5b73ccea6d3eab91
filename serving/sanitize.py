"""Text made safe at the edges of a batch run: records on the way in, cells and terminals on the way out.

* :func:`clean_record` - lone UTF-16 surrogates (``"\\udc80"`` from a JSON escape) become U+FFFD in
  every text field, and a text that is not a string makes the record an ``error`` record, so
  nothing downstream (tokenizer, JSON writer) can fail on it.
* :func:`neutralise_cell` - CSV formula injection (OWASP "CSV Injection"): a cell starting with
  ``=`` ``+`` ``-`` ``@``, tab or carriage return gets a leading single quote, so a spreadsheet
  shows it as text instead of running it. Applied to text-like CSV columns only.
* :func:`terminal_safe` - ANSI escape sequences, C0/C1 control characters and bidirectional
  overrides removed before a comment is printed to a terminal (``--table``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from .readers.base import InputRecord

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), other two-byte ESC sequences
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
# C0 and C1 controls (tab/newline included: a table row is one line), DEL, bidi embeddings/isolates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TEXT_FIELDS = ("id", "text", "source", "location", "article_title", "article_text", "author", "error")


def fix_surrogates(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (a no-op for valid text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_record(record: InputRecord) -> InputRecord:
    """The record with every text field encodable as UTF-8; a non-string text makes it an error record."""
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is None or isinstance(value, str):
            fixed = None if value is None else fix_surrogates(value)
            if fixed is not value:
                changes[name] = fixed
        elif name == "text":
            changes["text"] = None
            changes["error"] = f"comment text is a {type(value).__name__}, not a string"
        else:
            changes[name] = fix_surrogates(str(value))
    return replace(record, **changes) if changes else record


def neutralise_cell(value: Any) -> Any:
    """A CSV cell value that a spreadsheet will not evaluate as a formula (strings only)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def terminal_safe(text: str | None) -> str:
    """``text`` without escape sequences or control characters (for printing to a terminal)."""
    if not text:
        return ""
    return _CONTROL.sub(" ", _ANSI.sub("", text))
