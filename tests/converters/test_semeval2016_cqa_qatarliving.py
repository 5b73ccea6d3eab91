"""semeval2016-cqa-qatarliving converter: hand-made rows of the derived CSV, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.semeval2016_cqa_qatarliving import convert

HEADER = [
    "split", "ORGQ_ID", "RELQ_ID", "RELQ_CATEGORY", "RelQSubject", "RelQBody", "RELC_ID", "RELC_USERID",
    "RelCText", "RELC_RELEVANCE2RELQ", "RELC_RELEVANCE2ORGQ", "RELQ_RELEVANCE2ORGQ",
]  # fmt: skip
SUBJ = "What happens if I break my lease in Doha?"
BODY = "My lease ends in December; but I'm sick of paying."


def _row(orgq: str, relq: str, cid: str, text: str, label: str, body: str = BODY) -> list[str]:
    return [
        "train-part2",
        orgq,
        relq,
        "Qatar Living Lounge",
        SUBJ,
        body,
        cid,
        "U2",
        text,
        label,
        "Bad",
        "Irrelevant",
    ]


def _write(folder: Path, rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "derived_relq_comment_pairs.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return folder


ROWS = [
    _row("Q201", "Q201_R23", "Q201_R23_C1", "You'll lose your deposit; and maybe more.", "Good"),
    _row("Q201", "Q201_R23", "Q201_R23_C2", "Try the labour court.", "PotentiallyUseful"),
    _row("Q201", "Q201_R23", "Q201_R23_C3", "thanks mate", "Bad"),
    # the same thread recurring under another original question: merged, same group
    _row("Q205", "Q205_R4", "Q205_R4_C1", "You'll lose your deposit; and maybe more.", "Good"),
]


def test_mapping_with_question_as_context(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, ROWS)))
    assert [r.id for r in records] == ["Q201_R23_C1", "Q201_R23_C2", "Q201_R23_C3"]
    assert [r.labels["off_topic"] for r in records] == [0, 0, None]
    assert all(r.labels["abusive"] is None and r.labels["mocking"] is None for r in records)
    assert records[0].text == "You'll lose your deposit, and maybe more."
    assert records[0].article_title == SUBJ
    assert records[0].article_text == "My lease ends in December, but I'm sick of paying."
    assert len({r.group for r in records}) == 1
    assert all(r.lang == "en" and r.licence == "research-only" for r in records)


def test_params_and_empty_body(tmp_path: Path) -> None:
    rows = [*ROWS, _row("Q9", "Q9_R1", "Q9_R1_C1", "ok", "Good", body="")]
    records = list(convert(_write(tmp_path, rows), bad=1, potentially_useful=None, restore_commas=False))
    assert [r.labels["off_topic"] for r in records] == [0, None, 1, 0]
    assert records[0].text == "You'll lose your deposit; and maybe more."
    assert records[-1].article_text is None and records[-1].group != records[0].group


def test_unknown_relevance(tmp_path: Path) -> None:
    with pytest.raises(ConverterError, match="RELC_RELEVANCE2RELQ"):
        list(convert(_write(tmp_path, [_row("Q1", "Q1_R1", "Q1_R1_C1", "x", "Meh")])))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("semeval2016-cqa-qatarliving")
    records = list(get_converter("semeval2016_cqa_qatarliving")(folder))
    assert 4500 <= len(records) <= 5394  # 5394 rows here, repeated threads merged
    off = [r.labels["off_topic"] for r in records]
    assert set(off) <= {0, None} and 0.35 <= off.count(None) / len(off) <= 0.6
    assert all(r.article_title for r in records)
    assert 400 <= len({r.group for r in records}) <= 670
