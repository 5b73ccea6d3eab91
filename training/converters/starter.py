"""starter: the project's own small labelled corpus, shipped inside the package (no dataset folder).

Data: ``commentmod.training/starter/starter.jsonl`` (package data; see ``training/starter/README.md``).
JSON lines with keys ``id``, ``lang``, ``article_id``, ``article_title``, ``article_text``, ``text``,
``abusive``, ``mocking``, ``off_topic``; every label is 0 or 1 (the corpus annotates everything).

Mapping: labels are taken as they are (written to ``LABELING.md``). id = ``starter:<id>``;
group = ``starter:article:<article_id>`` so the comments of one article never straddle splits;
lang from the row (ro, en, uk, ru); licence ``MIT`` (the project's own writing); ``synthetic=False``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training.converters._common import ConverterError, binary, clean_comment, clean_optional

SOURCE = "starter"
LICENCE = "MIT"
PACKAGE = "commentmod.training"
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


def _row_to_record(obj: dict[str, Any], where: str) -> CommentRecord:
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
    return CommentRecord(
        id=f"{SOURCE}:{obj['id']}",
        text=text,
        source=SOURCE,
        licence=LICENCE,
        lang=lang,
        article_title=clean_optional(str(obj["article_title"])),
        article_text=clean_optional(str(obj["article_text"])),
        labels={name: binary(obj[name], where=f"{where}: {name}") for name in LABELS},
        group=f"{SOURCE}:article:{obj['article_id']}",
        synthetic=False,
    )


def parse(text: str, *, langs: Sequence[str] = LANGS) -> Iterator[CommentRecord]:
    """Records from starter-format JSONL ``text``, keeping rows whose ``lang`` is in ``langs``."""
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"starter.jsonl line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConverterError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ConverterError(f"{where}: expected a JSON object, found {type(obj).__name__}")
        record = _row_to_record(obj, where)
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
