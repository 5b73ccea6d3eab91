from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.one_million_posts import convert

DATASET = "one-million-posts"  # folder under the data root (../shared/datasets)

HEADER = (
    "ID_Post,ID_Parent_Post,ID_Article,ID_User,CreatedAt,Status,Headline,Body,"
    "PositiveVotes,NegativeVotes,Category,Value,Fold"
)


def _rows(post: str, article: str, headline: str, body: str, values: dict[str, int]) -> list[str]:
    prefix = f"{post},,{article},12071,2015-06-01 08:58:32.363,online,{headline},{body},0,1"
    return [f"{prefix},{cat},{val},{i % 10 + 1}" for i, (cat, val) in enumerate(values.items())]


LABELLED = {"SentimentNegative": 0, "OffTopic": 0, "Inappropriate": 0, "Discriminating": 0}


def _write(folder: Path, extra: list[str] | None = None) -> Path:
    folder.mkdir()
    rows = [
        # off-topic post; body with CRLF inside the quotes (as in the raw file)
        *_rows(
            "10",
            "1",
            "",
            '"Sehr geehrte Community!\r\n\r\nWer kennt einen guten Zahnarzt?"',
            {**LABELLED, "OffTopic": 1},
        ),
        # discriminating only -> abusive 1
        *_rows(
            "11",
            "1",
            "Früher",
            '"Solche Frauen hat man verbrannt, ""wirklich"" 🙄"',
            {**LABELLED, "Discriminating": 1, "SentimentNegative": 1},
        ),
        # annotated only for PersonalStories -> no labels of ours -> dropped by default
        *_rows("12", "2", "", "Meine Erfahrung mit Scheren", {"PersonalStories": 1}),
        # plain on-topic, not abusive
        *_rows("13", "2", "", "Völlig richtig!", LABELLED),
    ]
    # a post's rows need not be adjacent: move one of post 10's rows to the end
    rows.append(rows.pop(0))
    text = "\r\n".join([HEADER, *rows, *(extra or [])]) + "\r\n"
    (folder / "posts_labeled.csv").write_bytes(text.encode("utf-8"))
    return folder


def test_pivot_and_mapping(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "omp")))
    assert [r.id for r in recs] == ["one-million-posts:10", "one-million-posts:11", "one-million-posts:13"]
    assert [dict(r.labels) for r in recs] == [
        {"abusive": 0, "mocking": None, "off_topic": 1},
        {"abusive": 1, "mocking": None, "off_topic": 0},
        {"abusive": 0, "mocking": None, "off_topic": 0},
    ]
    assert recs[0].text == "Sehr geehrte Community!\n\nWer kennt einen guten Zahnarzt?"
    assert recs[1].text == 'Früher\nSolche Frauen hat man verbrannt, "wirklich" 🙄'
    assert recs[0].group == recs[1].group == "one-million-posts:article:1"
    assert all(r.lang == "de" and r.licence == "CC-BY-NC-SA-4.0" and r.article_title is None for r in recs)


def test_parameters_and_partial_annotation(tmp_path: Path) -> None:
    folder = _write(tmp_path / "omp")
    recs = list(convert(folder, keep_unlabelled=True))
    assert len(recs) == 4 and dict(recs[2].labels) == {"abusive": None, "mocking": None, "off_topic": None}
    recs = list(convert(folder, abusive_categories=("Inappropriate",)))
    assert recs[1].labels["abusive"] == 0
    # Inappropriate annotated 0 but Discriminating missing -> unknown, not 0
    partial = tmp_path / "p"
    partial.mkdir()
    lines = [HEADER, *_rows("20", "3", "", "Text", {"Inappropriate": 0, "OffTopic": 0})]
    (partial / "posts_labeled.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert dict(next(iter(convert(partial))).labels) == {"abusive": None, "mocking": None, "off_topic": 0}


def test_conflicting_values_raise(tmp_path: Path) -> None:
    folder = _write(tmp_path / "omp", extra=_rows("13", "2", "", "Völlig richtig!", {"OffTopic": 1}))
    with pytest.raises(ConverterError, match="conflicting values for 'OffTopic'"):
        list(convert(folder))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("one_million_posts")(shared_dataset(DATASET)))
    assert 2400 <= len(recs) <= 3599  # PROVENANCE: 3599 posts with OffTopic labels in the full original
    for name in ("abusive", "off_topic"):
        counts = collections.Counter(r.labels[name] for r in recs)
        assert set(counts) == {0, 1} and 250 <= counts[1] <= 600
    assert all(r.labels["mocking"] is None for r in recs)
