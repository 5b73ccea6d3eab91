"""FigLang 2020 sarcasm shared task: English Reddit and Twitter replies with their conversation context.

Raw files (JSON lines; only the training files are in this copy, the testing files are held out):

- ``reddit/sarcasm_detection_shared_task_reddit_training.jsonl`` (SARC subset, labelled by the author's
  "/s", which is removed from the text)
- ``twitter/sarcasm_detection_shared_task_twitter_training.jsonl`` (labelled by #sarcasm-type hashtags,
  removed from the text; user names are ``@USER``, links ``<URL>``)

Each line: ``label`` (``SARCASM`` / ``NOT_SARCASM``), ``response`` (the reply to classify), ``context``
(the parent turns, oldest first: ``context[-1]`` is what the response replies to).

Mapping (only ``mocking``; ``abusive`` and ``off_topic`` are None):

- ``SARCASM`` -> ``mocking`` 1. Self-labelled and not checked by annotators: some labels are wrong, and
  some sarcasm ridicules nobody (LABELING.md: irony about a situation is not mocking); nothing in the
  row tells these apart, so the catalog gives the source a lower loss weight.
- ``NOT_SARCASM`` on Reddit -> 0 (replies from the same threads, comparable to the positives).
- ``NOT_SARCASM`` on Twitter -> ``twitter_not_sarcasm_as`` (default **None**). The Twitter negatives
  were collected differently (tweets with sentiment hashtags: prayers, greetings, promotions): they
  carry hashtags (57% vs 21% of the positives), links (21% vs 6%), emoji (22% vs 6%) and "!" (27% vs
  14%), so as 0 they would teach those cues rather than sarcasm. Set 0 to use them anyway.

Context (``context``): the thread's first turn (the Reddit post title / the first tweet) goes to
``article_title`` and the turn the response replies to goes to ``article_text`` (None when they are
the same turn); turns in between are dropped (the input keeps only the start of the context anyway).
``context="parent"`` keeps only the parent (as ``article_text``); ``context="none"`` drops both.

Text: with ``strip_mentions`` (default) the run of ``@USER`` placeholders that opens a tweet is removed
(reply addressing, not content); emoji sequences split by the Twitter tokeniser (skin tones, ZWJ,
variation selectors) are joined back. Repeated responses (248 in the Twitter file) are merged before
the mapping: one record per response text; repeats that disagree (1 text) are dropped, as are rows
whose label maps to None.

Other fields: id = ``figlang2020-sarcasm-reddit-twitter:<part>:<line>``; group = the thread (a hash of
the first context turn) so replies in one thread share a split; lang ``en``; licence ``unknown``
(none stated; the Reddit part is a SARC subset).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    clean_optional,
    read_jsonl,
    short_hash,
)
from ._dedup import merge_duplicates

SOURCE = "figlang2020-sarcasm-reddit-twitter"
LICENCE = "unknown"
PARTS = {
    "reddit": "reddit/sarcasm_detection_shared_task_reddit_training.jsonl",
    "twitter": "twitter/sarcasm_detection_shared_task_twitter_training.jsonl",
}
CONTEXT_MODES = ("root_and_parent", "parent", "none")
LABEL_VALUES = ("SARCASM", "NOT_SARCASM")
_LEADING_MENTIONS = re.compile(r"^(?:\.?\s*@USER\b\s*)+")
# the Twitter tokeniser split emoji sequences: "🤦 🏾 \u200d ♂ \ufe0f" -> "🤦🏾\u200d♂\ufe0f"
_SPLIT_EMOJI_PART = re.compile("(?<=\\S) (?=[\ufe0f\u200d\U0001f3fb-\U0001f3ff])|(?<=\u200d) ")


def clean_turn(text: Any, *, strip_mentions: bool) -> str:
    """A cleaned turn: the opening ``@USER`` run removed (optionally), variation selectors rejoined."""
    cleaned = clean_comment(str(text or ""))
    cleaned = _SPLIT_EMOJI_PART.sub("", cleaned)
    if strip_mentions:
        cleaned = _LEADING_MENTIONS.sub("", cleaned)
    return cleaned.strip()


def context_fields(turns: Sequence[str], mode: str) -> tuple[str | None, str | None]:
    """``(article_title, article_text)`` from the cleaned context turns, oldest first."""
    kept = [t for t in turns if t]
    if mode == "none" or not kept:
        return None, None
    if mode == "parent":
        return None, kept[-1]
    root, parent = kept[0], kept[-1]
    return root, (parent if len(kept) > 1 else None)


def _label(label: str, *, where: str) -> int:
    if label not in LABEL_VALUES:
        raise ConverterError(f"{where}: label is {label!r}; expected one of {LABEL_VALUES}")
    return 1 if label == "SARCASM" else 0


def _records(folder: Path, part: str, context: str, strip_mentions: bool) -> Iterator[CommentRecord]:
    path = Path(folder) / PARTS[part]
    records = RecordMaker(SOURCE, LICENCE, "en")
    for lineno, obj in enumerate(read_jsonl(path, ("label", "response", "context")), 1):
        text = clean_turn(obj["response"], strip_mentions=strip_mentions)
        if not text:
            continue
        raw_context = obj["context"]
        if not isinstance(raw_context, list):
            raise ConverterError(f"{path}:{lineno}: context is {type(raw_context).__name__}, expected a list")
        turns = [clean_turn(t, strip_mentions=strip_mentions) for t in raw_context]
        title, body = context_fields(turns, context)
        root = next((t for t in turns if t), "")
        yield records.record(
            f"{SOURCE}:{part}:{lineno}",
            text,
            {"mocking": _label(str(obj["label"]), where=f"{path}:{lineno}")},
            article_title=clean_optional(title),
            article_text=clean_optional(body),
            group=f"{SOURCE}:{part}:thread-{short_hash(root or text)}",
        )


def convert(
    folder: Path,
    *,
    parts: Sequence[str] = ("reddit", "twitter"),
    context: str = "root_and_parent",
    strip_mentions: bool = True,
    twitter_not_sarcasm_as: LabelValue = None,
) -> Iterator[CommentRecord]:
    """Records from the FigLang 2020 training files in ``folder``; see the module docstring."""
    if bad := [p for p in parts if p not in PARTS]:
        raise ConverterError(f"unknown part(s) {bad}; this dataset has {sorted(PARTS)}")
    if context not in CONTEXT_MODES:
        raise ConverterError(f"context is {context!r}; use one of {CONTEXT_MODES}")
    if twitter_not_sarcasm_as not in (0, 1, None):
        raise ConverterError(f"twitter_not_sarcasm_as must be 0, 1 or None, got {twitter_not_sarcasm_as!r}")
    for part in parts:
        records = _records(folder, part, context, strip_mentions)
        for rec in merge_duplicates(records, key=lambda r: r.text):
            if part != "twitter" or rec.labels["mocking"] != 0:
                yield rec
            elif twitter_not_sarcasm_as is not None:
                yield replace(rec, labels={"mocking": twitter_not_sarcasm_as})
