"""What the Scorer accepts, checked before anything is tokenised (no onnxruntime: the CLI imports it).

One input is a ``str`` (the comment text), a mapping with ``text`` and optional ``id``,
``article_title``, ``article_text``, or any object with those attributes (a reader's
``InputRecord``, a ``CommentRecord``): :func:`parse_input` turns it into a :class:`ParsedInput` -
either the scorable ``(text, title, article_text)`` or the reason it is an ``error`` - and never
raises. :func:`refuse_single_item` refuses a single comment passed where a list of them is expected.

Text at the edge: lone surrogates become U+FFFD; control characters other than tab/newline/CR
are dropped (the whitespace-like ones become a space); the comment is cut to its first
``max_chars`` characters (default :data:`DEFAULT_MAX_CHARS`) and the title and article text to
``context_chars``. ``clean_text`` is not applied here: the Scorer applies it once, when it builds
the model's :class:`commentmod.model.inputs.Item`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from .sanitize import fix_surrogates

# characters scored per comment: a longer one is scored on its first DEFAULT_MAX_CHARS (in windows)
# and its Result carries extra[TRUNCATED] = {"chars": full length, "scored_chars": max_chars}
DEFAULT_MAX_CHARS = 20_000

Triple = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class ParsedInput:
    """One input after validation: ``item`` - the scorable ``(text, title, article_text)`` - or,
    when it is None, ``status="error"`` and the ``error`` message.

    ``truncated_from``: the comment's length in characters when it was cut to ``max_chars``.
    """

    id: str | None
    item: Triple | None
    status: str = "ok"
    error: str | None = None
    truncated_from: int | None = None


# Control characters (Unicode Cc) other than tab, newline and CR: the whitespace-like ones
# (VT, FF, FS..US, NEL) become a space, the rest (NUL, ESC, DEL, C1 ...) are removed. XLM-R's
# tokenizer maps them to <unk>, which splits words ("id\x00iot" -> "id", <unk>, "iot").
_CONTROLS = {
    c: (" " if chr(c).isspace() else None)
    for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if chr(c) not in "\t\n\r"
}
_HAS_CONTROL = re.compile("[" + "".join(map(chr, _CONTROLS)) + "]").search  # 15x faster than translate
_BINARY = (bytes, bytearray, memoryview)
_PREVIEW = 40


def _opt_str(value: Any, field_name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"'{field_name}' must be a string or missing, got {type(value).__name__}")


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _scorable_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, surrogates replaced, control characters dropped."""
    text = fix_surrogates(text[:limit])
    return text.translate(_CONTROLS) if _HAS_CONTROL(text) else text


def _not_text(value: Any) -> str:
    """Why a non-string comment text is refused, in words."""
    if isinstance(value, _BINARY):
        return f"'text' is {type(value).__name__}, not a string; decode it first (e.g. value.decode('utf-8'))"
    if value is None:
        return "'text' is null (None); pass the comment text as a str"
    return f"'text' must be a string, got {type(value).__name__}; pass the comment text as a str"


def _error(ident: str | None, message: str) -> ParsedInput:
    return ParsedInput(ident, None, "error", message)


def parse_input(
    obj: Any, max_chars: int = DEFAULT_MAX_CHARS, context_chars: int | None = None
) -> ParsedInput:
    """Validate one scorer input; never raises (a failure becomes an ``error`` input).

    The comment is cut to its first ``max_chars`` characters (``truncated_from`` records the
    length), the article title and text to ``context_chars`` (default ``max_chars``).
    """
    try:
        return _parse(obj, max_chars, max_chars if context_chars is None else context_chars)
    except Exception as exc:  # isolation boundary: a strange object (raising __str__, __getattr__, ...)
        return _error(None, fix_surrogates(f"could not read this input: {exc!r}"[:500]))


def _parse(obj: Any, max_chars: int, context_chars: int) -> ParsedInput:
    if isinstance(obj, str):
        ident, text, title, body = None, obj, None, None
    elif isinstance(obj, Mapping) or (hasattr(obj, "text") and not isinstance(obj, _BINARY)):
        raw_id = _get(obj, "id")
        ident = None if raw_id is None else fix_surrogates(str(raw_id))
        text = _get(obj, "text")
        if isinstance(obj, Mapping) and "text" not in obj:
            keys = [fix_surrogates(str(k))[:_PREVIEW] for k in islice(obj, 20)]
            fields = (", ".join(keys) or "none") + (", ..." if len(obj) > 20 else "")
            return _error(ident, f"input has no 'text' field (fields: {fields})")
        if not isinstance(text, str):
            return _error(ident, _not_text(text))
        try:
            title = _opt_str(_get(obj, "article_title"), "article_title")
            body = _opt_str(_get(obj, "article_text"), "article_text")
        except TypeError as exc:
            return _error(ident, str(exc))
    else:
        hint = "decode it to a str first" if isinstance(obj, _BINARY) else "pass a str or a dict with 'text'"
        return _error(None, f"cannot score a {type(obj).__name__}; {hint}")
    truncated_from = len(text) if len(text) > max_chars else None
    text = _scorable_text(text, max_chars)
    title = None if title is None else _scorable_text(title, context_chars)
    body = None if body is None else _scorable_text(body, context_chars)
    return ParsedInput(ident, (text, title, body), "ok", None, truncated_from)


def refuse_single_item(items: Any, method: str) -> None:
    """TypeError when ``items`` is one comment (a str, bytes, dict or record) instead of a list of them."""
    usage = (
        f"Scorer.{method}() takes a list (or other iterable) of comments - each a str or a dict with "
        "'text' - and returns one Result per comment; use Scorer.score_iter() for large inputs"
    )
    if isinstance(items, str):
        preview = fix_surrogates(items[:_PREVIEW]) + ("..." if len(items) > _PREVIEW else "")
        raise TypeError(f"{usage}. Got a single str ({preview!r}); wrap it in a list: [text]")
    if isinstance(items, _BINARY):
        raise TypeError(f"{usage}. Got {type(items).__name__}; decode it and wrap it in a list")
    if isinstance(items, Mapping):
        keys = ", ".join(fix_surrogates(str(k))[:_PREVIEW] for k in islice(items, 10))
        raise TypeError(f"{usage}. Got a single {type(items).__name__} (keys: {keys}); wrap it: [item]")
    if type(items).__name__ == "DataFrame":
        raise TypeError(f"{usage}. Got a DataFrame (iterates over column names); pass df.to_dict('records')")
    if not isinstance(items, Iterable):
        what = "a single record" if hasattr(items, "text") else type(items).__name__
        raise TypeError(f"{usage}. Got {what}, which is not iterable; wrap it in a list: [item]")
