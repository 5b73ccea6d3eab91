"""How a comment plus its article context becomes model input.

This is the one place that decides it: training and serving both build an :class:`Item`
(:meth:`Item.clean`: the comment and its context cleaned, once) and encode it with
:func:`encode_items` (training through :func:`encode_comments`), or call
:func:`assemble_windows` on ids they tokenised themselves, so the model sees exactly the
same ids in both.

Layout (XLM-R pair format, the base encoder's own)::

    <s> comment </s></s> article_title \\n article_text_start </s>
    <s> comment </s>                      (no context)

Budget rule: the comment comes first and is kept whole when it fits; the
context is truncated first, down to ``min_context_tokens``; if the comment
alone still does not fit, it is split into overlapping windows (``stride``
tokens shared between neighbours), each window carrying the same context.
Training uses the first window; the scorer scores every window and takes the
maximum per label, so one abusive sentence in a long comment still flags.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple, Protocol

from .emoji import strip_emoji
from .errors import RecordError


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens (XLM-R convention: <s>=0, <pad>=1, </s>=2, <unk>=3)."""

    cls: int = 0
    pad: int = 1
    sep: int = 2
    unk: int = 3


class RuleFieldError(ValueError):
    """A stored context rule holds a value of the wrong type; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class ContextRule:
    """Parameters of the input layout; stored in every run directory and artifact manifest."""

    max_length: int = 256
    min_context_tokens: int = 32
    max_context_tokens: int = 128
    stride: int = 32
    article_text_chars: int = 1500
    title_separator: str = "\n"
    # hide emoji from the transformer (the n-gram model of a hybrid still reads them): "has an emoji" is
    # not a label (LABELING.md), and a transformer trained on emoji-free twins reads the words alone
    strip_emoji: bool = False

    def __post_init__(self) -> None:
        if self.max_length < 16:
            raise ValueError(f"max_length is {self.max_length}; use at least 16 (default 256)")
        if not 0 <= self.min_context_tokens <= self.max_context_tokens:
            raise ValueError(
                f"min_context_tokens={self.min_context_tokens} must be between 0 and "
                f"max_context_tokens={self.max_context_tokens}"
            )
        if self.max_context_tokens > self.max_length // 2:
            raise ValueError(
                f"max_context_tokens={self.max_context_tokens} leaves too little room for the comment; "
                f"use at most max_length // 2 = {self.max_length // 2}"
            )
        if not 0 <= self.stride < (self.max_length - self.max_context_tokens - 4) // 2:
            raise ValueError(f"stride={self.stride} must be >= 0 and well below the comment budget")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as ``context_rule`` in run directories and artifact manifests."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContextRule:
        """The rule stored by :meth:`to_dict`: a missing key takes its default, an unknown key (from a
        newer version) is ignored; :class:`RuleFieldError` names a value of the wrong type, ValueError
        says why the layout is unusable."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value, kind = data[f.name], type(f.default)
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
                shown = f"{type(value).__name__} {repr(value)[:60]}"
                expected = {int: "an integer", bool: "true or false"}.get(kind, "a string")
                raise RuleFieldError(f.name, f"is a {shown}, expected {expected}")
            kwargs[f.name] = value
        return cls(**kwargs)


class TokenizerLike(Protocol):
    """What we need of a ``tokenizers.Tokenizer``."""

    def encode_batch(self, inputs: list[str], add_special_tokens: bool = ...) -> list[Any]: ...


def clean_text(text: str) -> str:
    """NFC-normalise and strip a comment (BOMs, NBSPs and zero-width chars become spaces/nothing)."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\ufeff", "").replace("\u200b", "").replace("\u00a0", " ")
    return text.strip()


class Item(NamedTuple):
    """One comment as the model reads it: its text and article context, each through :func:`clean_text`.

    Build it with :meth:`clean` - the one place a comment is cleaned, in training
    (:func:`encode_comments`) and in serving (the Scorer) alike; :func:`encode_items` and the
    n-gram layout take it as it is. An absent title or article text is ``""``.
    """

    text: str
    article_title: str = ""
    article_text: str = ""

    @classmethod
    def clean(cls, text: str, article_title: str | None = None, article_text: str | None = None) -> Item:
        """The item of a raw comment; :class:`RecordError` when ``text`` is not a string."""
        if not isinstance(text, str):
            raise RecordError(f"comment text must be a string, got {type(text).__name__}")
        return cls(clean_text(text), clean_text(article_title or ""), clean_text(article_text or ""))

    def context(self, rule: ContextRule) -> str | None:
        """The context string (title, then the start of the article text), or None when there is none."""
        parts = [p for p in (self.article_title, self.article_text[: rule.article_text_chars]) if p]
        return rule.title_separator.join(parts) if parts else None


def context_text(article_title: str | None, article_text: str | None, rule: ContextRule) -> str | None:
    """The context string (title, then the start of the article text), or None when there is none."""
    return Item.clean("", article_title, article_text).context(rule)


def assemble_windows(
    comment_ids: Sequence[int],
    context_ids: Sequence[int] | None,
    rule: ContextRule,
    special: SpecialIds = SpecialIds(),
) -> list[list[int]]:
    """Lay out one comment (and optional context) as one or more input-id windows.

    Always returns at least one window; every window is at most ``rule.max_length`` long.
    """
    ctx = list(context_ids or [])
    n_special = 4 if ctx else 2
    room = rule.max_length - n_special
    if ctx:
        ctx = ctx[: rule.max_context_tokens]
        ctx_len = min(len(ctx), max(rule.min_context_tokens, room - len(comment_ids)))
        ctx = ctx[:ctx_len]
        if not ctx:
            n_special = 2
            room = rule.max_length - n_special
    budget = room - len(ctx)
    comment = list(comment_ids)
    chunks: list[list[int]] = []
    if len(comment) <= budget:
        chunks.append(comment)
    else:
        step = max(1, budget - rule.stride)
        start = 0
        while True:
            chunks.append(comment[start : start + budget])
            if start + budget >= len(comment):
                break
            start += step
    windows = []
    for chunk in chunks:
        ids = [special.cls, *chunk, special.sep]
        if ctx:
            ids += [special.sep, *ctx, special.sep]
        windows.append(ids)
    return windows


def encode_comments(
    tokenizer: TokenizerLike,
    items: Sequence[tuple[str, str | None, str | None]],
    rule: ContextRule,
    special: SpecialIds = SpecialIds(),
) -> list[list[list[int]]]:
    """Tokenise raw ``(text, article_title, article_text)`` triples into windows, one list per item
    (each cleaned once by :meth:`Item.clean`, then :func:`encode_items`)."""
    cleaned = [Item.clean(text, title, body) for text, title, body in items]
    return encode_items(tokenizer, cleaned, rule, special)


def encode_items(
    tokenizer: TokenizerLike,
    items: Sequence[Item],
    rule: ContextRule,
    special: SpecialIds = SpecialIds(),
) -> list[list[list[int]]]:
    """Tokenise cleaned :class:`Item` s into windows, one list per item.

    The tokenizer must not add special tokens itself (``add_special_tokens=False`` is passed). Each
    distinct context string is tokenised once per call (comments under one article share it). With
    ``rule.strip_emoji`` the comment is read without its emoji (:func:`commentmod.model.emoji.strip_emoji`).
    """
    texts = [strip_emoji(item.text) if rule.strip_emoji else item.text for item in items]
    contexts: dict[str, int] = {}  # each distinct context once: comments under one article share it
    ctx_index: list[int | None] = []
    for item in items:
        ctx = item.context(rule)
        ctx_index.append(None if ctx is None else contexts.setdefault(ctx, len(contexts)))
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)  # ids only: no offsets
    comment_enc = encode(texts, add_special_tokens=False) if texts else []
    ctx_enc = encode(list(contexts), add_special_tokens=False) if contexts else []
    ctx_ids = [enc.ids for enc in ctx_enc]
    return [
        assemble_windows(enc.ids, None if ci is None else ctx_ids[ci], rule, special)
        for enc, ci in zip(comment_enc, ctx_index, strict=True)
    ]


def encode_comment(
    tokenizer: TokenizerLike,
    text: str,
    article_title: str | None = None,
    article_text: str | None = None,
    rule: ContextRule | None = None,
    special: SpecialIds = SpecialIds(),
) -> list[list[int]]:
    """Windows for a single comment; see :func:`encode_comments`."""
    return encode_comments(tokenizer, [(text, article_title, article_text)], rule or ContextRule(), special)[
        0
    ]


def normalise_for_dedup(text: str) -> str:
    """Key used to find duplicate comments across sources: casefolded, accents and punctuation folded."""
    text = unicodedata.normalize("NFKD", clean_text(text)).casefold()
    text = text.replace("ş", "ș").replace("ţ", "ț")
    kept = [ch for ch in text if not unicodedata.combining(ch) and (ch.isalnum() or ch.isspace())]
    return " ".join("".join(kept).split())
