"""starter: the project's own small labelled corpus, shipped inside the package (no dataset folder).

Data: ``commentmod.training/starter/starter.jsonl`` (package data; see ``training/data/starter/README.md``).
JSON lines with keys ``id``, ``lang``, ``article_id``, ``article_title``, ``article_text``, ``text``,
``abusive``, ``mocking``, ``off_topic``; every label is 0 or 1 (the corpus annotates everything).

Mapping: labels are taken as they are (written to ``LABELING.md``). id = ``starter:<id>``;
group = ``starter:article:<article_id>`` so the comments of one article never straddle splits;
lang from the row (ro, en, uk, ru); licence ``MIT`` (the project's own writing); ``synthetic=False``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ....model.labels import LABELS
from ....model.record import CommentRecord
from ._common import ConverterError, RecordMaker, binary, clean_comment, clean_optional, json_objects

SOURCE = "starter"
LICENCE = "MIT"
PACKAGE = "commentmod.training.data"
RESOURCE = ("starter", "starter.jsonl")
LANGS = ("ro", "en", "uk", "ru")
REQUIRED = ("id", "lang", "article_id", "article_title", "article_text", "text", *LABELS)


def read_text() -> str:
    """The raw JSONL text of the starter corpus, read from the installed package data."""
    ref = resources.files(PACKAGE).joinpath(*RESOURCE)
    if not ref.is_file():
        raise ConverterError(
            f"starter corpus {'/'.join(RESOURCE)} is missing from package {PACKAGE}; "
            "reinstall commentmod (pip install -e .) so its package data is present"
        )
    return ref.read_text(encoding="utf-8")


def _where(lineno: int) -> str:
    return f"starter.jsonl line {lineno}"


def _row_to_record(obj: dict[str, Any], where: str, records: RecordMaker) -> CommentRecord:
    missing = [key for key in REQUIRED if key not in obj]
    if missing:
        raise ConverterError(
            f"{where}: missing key(s) {missing}; the starter row format needs {list(REQUIRED)}"
        )
    lang = str(obj["lang"]).strip().lower()
    if lang not in LANGS:
        raise ConverterError(
            f"{where}: lang is {obj['lang']!r}; the starter corpus has only {', '.join(LANGS)}"
        )
    text = clean_comment(str(obj["text"]))
    if not text:
        raise ConverterError(f"{where}: empty comment text")
    return records.record(
        f"{SOURCE}:{obj['id']}",
        text,
        {name: binary(obj[name], where=f"{where}: {name}") for name in LABELS},
        lang=lang,
        article_title=clean_optional(str(obj["article_title"])),
        article_text=clean_optional(str(obj["article_text"])),
        group=f"{SOURCE}:article:{obj['article_id']}",
    )


def parse(text: str, *, langs: Sequence[str] = LANGS) -> Iterator[CommentRecord]:
    """Records from starter-format JSONL ``text``, keeping rows whose ``lang`` is in ``langs``."""
    seen: set[str] = set()
    records = RecordMaker(SOURCE, LICENCE)
    for lineno, obj in json_objects(text.splitlines(), _where):
        where = _where(lineno)
        record = _row_to_record(obj, where, records)
        if record.id in seen:
            raise ConverterError(f"{where}: duplicate id {obj['id']!r}; ids must be unique")
        seen.add(record.id)
        if record.lang in langs:
            yield record


def convert(folder: Path | None = None, **params: Any) -> Iterator[CommentRecord]:
    """The starter corpus as records. ``folder`` is ignored (the data ships with the package).

    Accepted parameter: ``langs`` (languages to keep; default all of ro, en, uk, ru).
    """
    unknown = sorted(set(params) - {"langs"})
    if unknown:
        raise ConverterError(f"unknown parameter(s) {unknown} for the starter converter; it accepts: langs")
    langs = tuple(params.get("langs") or LANGS)
    bad = [lang for lang in langs if lang not in LANGS]
    if bad:
        raise ConverterError(f"langs {bad} are not in the starter corpus; choose from {', '.join(LANGS)}")
    yield from parse(read_text(), langs=langs)
