"""Your own labels: a JSON-lines file in commentmod's record layout (e.g. a moderators' export).

Raw file (``file`` param, default ``comments.jsonl``), one object per line::

    {"id": "c1", "text": "...", "article_title": "...", "article_text": "...", "article_id": "a7",
     "lang": "ro", "abusive": 1, "mocking": null, "off_topic": 0}

Mapping: ``abusive``/``mocking``/``off_topic`` are taken as they are: ``1``/``0``/``true``/``false``,
and ``null`` or a missing key means "not judged" (masked in training, never read as 0). ``id`` is
required; ``article_title``/``article_text`` are the context (optional); the group for the split is
``article_id`` (or ``group``/``thread_id``), else the record itself; ``lang`` falls back to the
``default_lang`` param. Source and licence come from the catalog entry that names this converter.
Rows with empty text are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ....model.labels import LABELS
from ....model.record import CommentRecord, LabelValue
from ._common import (
    RecordMaker,
    binary,
    clean_comment,
    clean_optional,
    read_jsonl,
)

SOURCE = "labelled-jsonl"


def _label(value: Any, where: str) -> LabelValue:
    return None if value is None else binary(value, where=where)


def convert(
    folder: Path, *, file: str = "comments.jsonl", default_lang: str = "und", licence: str = "unknown"
) -> Iterator[CommentRecord]:
    """Records of ``folder/file``; see the module docstring for the layout."""
    path = Path(folder) / file
    records = RecordMaker(SOURCE, licence, default_lang)
    for lineno, obj in enumerate(read_jsonl(path, ("id", "text")), 1):
        text = clean_comment(obj["text"])
        if not text:
            continue
        record_id = records.new_id(f"{SOURCE}:{obj['id']}", text)
        if record_id is None:
            continue
        group = obj.get("article_id") or obj.get("group") or obj.get("thread_id")
        yield records.record(
            record_id,
            text,
            {k: _label(obj.get(k), f"{path}:{lineno} {k}") for k in LABELS},
            lang=str(obj.get("lang") or default_lang),
            article_title=clean_optional(obj.get("article_title")),
            article_text=clean_optional(obj.get("article_text")),
            group=f"{SOURCE}:article:{group}" if group else None,
        )
