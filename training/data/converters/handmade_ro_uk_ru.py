"""handmade-ro-uk-ru: hand-written labelled comments (ro/uk/ru), each under a short written article.

Raw file: ``comments.jsonl`` (JSON lines; keys ``id``, ``lang``, ``text``, ``article_id``,
``article_title``, ``article_text``, ``abusive``, ``mocking``, ``off_topic``; every label is 0 or 1).

Mapping: the three labels are taken as they are (written to ``LABELING.md``, every label decided
for every row). ``article_title`` / ``article_text`` are the article the comment sits under.
id = ``handmade-ro-uk-ru:<id>``; group = the article (``handmade-ro-uk-ru:article:<article_id>``) so
the comments of one article never straddle splits; lang from the row (ro, uk, ru); licence ``CC0-1.0``.
Rows with empty text are dropped; a label other than 0/1 is an error (the file promises every label).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.labels import LABELS
from ....model.record import CommentRecord
from ._common import (
    ConverterError,
    RecordMaker,
    binary,
    clean_comment,
    clean_optional,
    read_jsonl,
)

SOURCE = "handmade-ro-uk-ru"
LICENCE = "CC0-1.0"
FILE_NAME = "comments.jsonl"
LANGS = ("ro", "uk", "ru")
REQUIRED = ("id", "lang", "text", "article_id", "article_title", "article_text", *LABELS)


def convert(folder: Path, *, langs: tuple[str, ...] = LANGS) -> Iterator[CommentRecord]:
    """Records from ``folder/comments.jsonl``, keeping rows whose ``lang`` is in ``langs``."""
    path = Path(folder) / FILE_NAME
    records = RecordMaker(SOURCE, LICENCE)
    for lineno, obj in enumerate(read_jsonl(path, REQUIRED), 1):
        where = f"{path}: record {lineno}"
        lang = str(obj["lang"] or "").strip().lower()
        if lang not in LANGS:
            raise ConverterError(f"{where}: lang is {obj['lang']!r}; this set has only {', '.join(LANGS)}")
        if lang not in langs:
            continue
        text = clean_comment(str(obj["text"] or ""))
        if not text:
            continue
        record_id = records.new_id(f"{SOURCE}:{obj['id']}", text)
        if record_id is None:
            continue
        yield records.record(
            record_id,
            text,
            {name: binary(obj[name], where=f"{where} {name}") for name in LABELS},
            lang=lang,
            article_title=clean_optional(str(obj["article_title"] or "")),
            article_text=clean_optional(str(obj["article_text"] or "")),
            group=f"{SOURCE}:article:{obj['article_id']}",
        )
