from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.fox_news_comments import convert

DATASET = "fox-news-comments"  # folder under the data root (../shared/datasets)

TITLE = "Navy names ship after gay rights advocate Harvey Milk"
META = "The Navy will name a ship after Harvey Milk, the \u201cgay rights\u201d pioneer."


def _rec(text: str, label: int, user: str = "u1", title: str = TITLE) -> dict[str, object]:
    return {"title": title, "text": text, "label": label, "succ": "", "meta": META, "user": user,
            "mentions": "", "prev": ""}  # fmt: skip


def _write(folder: Path, records: list[dict[str, object]]) -> Path:
    folder.mkdir()
    # the raw file: one JSON object per line, ASCII-escaped like json.dumps defaults
    body = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "fox-news-comments.json").write_text(body, encoding="utf-8")
    return folder


def test_hateful_maps_to_abusive_with_article_context(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "fox",
        [
            _rec("They need to castrate those animals.", 1),
            _rec("Groping people in public wasn't already illegal? \U0001f914", 0, user="u2"),
            _rec("Groping people in public wasn't already illegal? \U0001f914", 0, user="u2"),  # repeat
            _rec("First lady is right.", 0, title="First lady Obama takes swipe at Trump"),
            _rec("   ", 1),
        ],
    )
    recs = list(convert(folder))
    assert [r.labels["abusive"] for r in recs] == [1, 0, 0]
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in recs)
    first = recs[0]
    assert first.article_title == TITLE and first.article_text == META
    assert recs[1].text.endswith("\U0001f914")
    assert recs[0].group == recs[1].group != recs[2].group
    assert recs[0].id.startswith("fox-news-comments:") and len({r.id for r in recs}) == 3
    assert first.licence == "MIT" and first.lang == "en"
    assert [r.labels["abusive"] for r in convert(folder, non_hateful_as=None)] == [1, None, None]


def test_bad_label_raises(tmp_path: Path) -> None:
    folder = _write(tmp_path / "fox", [_rec("x", 2)])
    with pytest.raises(ConverterError, match="expected 0 or 1"):
        list(convert(folder))
    with pytest.raises(ConverterError, match="non_hateful_as"):
        list(convert(folder, non_hateful_as=1))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("fox_news_comments")(shared_dataset(DATASET)))
    assert 1200 <= len(recs) <= 1528  # PROVENANCE: 1268 rows in this copy
    counts = collections.Counter(r.labels["abusive"] for r in recs)
    assert set(counts) == {0, 1} and 250 <= counts[1] <= 435
    assert all(r.article_title and r.article_text for r in recs)
