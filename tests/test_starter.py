"""The starter corpus (package data) and its converter."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from commentmod.model.inputs import normalise_for_dedup
from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.starter import LANGS, convert, parse

MIN_PER_LANG = {"ro": 280, "en": 200, "uk": 180, "ru": 200}


@pytest.fixture(scope="module")
def records() -> list[CommentRecord]:
    return list(convert())


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, Any]]:
    text = resources.files("commentmod.training.data").joinpath("starter", "starter.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_loads_enough_comments_per_language(records: list[CommentRecord]) -> None:
    assert len(records) >= 900
    per_lang = Counter(r.lang for r in records)
    assert set(per_lang) == set(LANGS)
    for lang, minimum in MIN_PER_LANG.items():
        assert per_lang[lang] >= minimum, (lang, per_lang[lang])


def test_every_label_has_positives_and_negatives_in_every_language(records: list[CommentRecord]) -> None:
    for lang in LANGS:
        rows = [r for r in records if r.lang == lang]
        for label in LABELS:
            values = Counter(r.labels[label] for r in rows)
            assert values[1] >= 30, (lang, label, values)
            assert values[0] >= 100, (lang, label, values)
            assert set(values) == {0, 1}, (lang, label, values)  # no None: everything is annotated


def test_ids_unique_and_record_metadata(records: list[CommentRecord]) -> None:
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids))
    for r in records:
        assert r.id.startswith(f"starter:{r.lang}-")
        assert r.source == "starter"
        assert r.licence == "MIT"
        assert r.synthetic is False
        assert r.group is not None
        assert r.group.startswith(f"starter:article:{r.lang}-a")


def test_every_comment_has_its_article(records: list[CommentRecord], raw_rows: list[dict[str, Any]]) -> None:
    for r in records:
        assert r.text.strip()
        assert r.article_title
        assert r.article_text
        assert len(r.article_text) > len(r.article_title)
    # one title and one lead per article, and the group follows the article
    by_article: dict[str, set[tuple[str, str]]] = {}
    for row in raw_rows:
        by_article.setdefault(row["article_id"], set()).add((row["article_title"], row["article_text"]))
    assert all(len(v) == 1 for v in by_article.values())
    per_lang = Counter(aid.split("-")[0] for aid in by_article)
    assert all(per_lang[lang] >= 11 for lang in LANGS), per_lang


def test_no_duplicate_normalised_texts(records: list[CommentRecord]) -> None:
    keys = Counter(normalise_for_dedup(r.text) for r in records)
    dupes = [k for k, n in keys.items() if n > 1]
    assert not dupes


def test_raw_labels_are_explicit_ints(raw_rows: list[dict[str, Any]]) -> None:
    for row in raw_rows:
        for label in LABELS:
            assert type(row[label]) is int
            assert row[label] in (0, 1)


def test_catalog_lookup_ignores_folder_and_filters_langs(tmp_path: Path) -> None:
    convert_fn = get_converter("starter")
    uk = list(convert_fn(tmp_path, langs=["uk"]))
    assert uk
    assert {r.lang for r in uk} == {"uk"}
    assert len(uk) == sum(1 for r in convert() if r.lang == "uk")


def test_bad_params_are_named() -> None:
    with pytest.raises(ConverterError, match="unknown parameter"):
        list(convert(None, with_context=True))
    with pytest.raises(ConverterError, match="not in the starter corpus"):
        list(convert(None, langs=["de"]))


def _line(**over: object) -> str:
    row: dict[str, object] = {
        "id": "ro-001",
        "lang": "ro",
        "article_id": "ro-a01",
        "article_title": "Titlu",
        "article_text": "Text despre tramvai.",
        "text": "Un comentariu",
        "abusive": 0,
        "mocking": 1,
        "off_topic": 0,
    }
    row.update(over)
    return json.dumps(row, ensure_ascii=False)


def test_parse_rejects_malformed_rows() -> None:
    with pytest.raises(ConverterError, match="line 2: not valid JSON"):
        list(parse(_line() + "\n{oops\n"))
    with pytest.raises(ConverterError, match="duplicate id"):
        list(parse(_line() + "\n" + _line(text="altceva") + "\n"))
    with pytest.raises(ConverterError, match="expected 0 or 1"):
        list(parse(_line(mocking=2)))
    with pytest.raises(ConverterError, match="missing key"):
        list(parse(json.dumps({"id": "x", "text": "y"})))
    with pytest.raises(ConverterError, match="lang is 'de'"):
        list(parse(_line(lang="de")))
    record = next(parse("\n" + _line() + "\n"))
    assert record.labels == {"abusive": 0, "mocking": 1, "off_topic": 0}
    assert record.group == "starter:article:ro-a01"


def test_readme_counts_match_the_data(records: list[CommentRecord]) -> None:
    readme = resources.files("commentmod.training.data").joinpath("starter", "README.md").read_text("utf-8")
    for lang in LANGS:
        rows = [r for r in records if r.lang == lang]
        cells = [
            f"{sum(r.labels[k] == 1 for r in rows)} / {sum(r.labels[k] == 0 for r in rows)}" for k in LABELS
        ]
        expected = (
            f"| {lang} | {len(rows)} | " + f"{len({r.group for r in rows})} | " + " | ".join(cells) + " |"
        )
        assert expected in readme, f"README counts for {lang} are stale; expected a row starting {expected!r}"
