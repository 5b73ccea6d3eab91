"""sfu-ctc converter: hand-made rows in the CrowdFlower CSV format, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters.sfu_ctc import convert

HEADER_LINE = (  # the CrowdFlower export header, verbatim
    "_unit_id,_golden,_unit_state,_trusted_judgments,_last_judgment_at,did_you_read_the_article,"
    "did_you_read_the_article:confidence,is_constructive,is_constructive:confidence,is_toxic_popular_answer_1,"
    "is_toxic_popular_answer_2,is_toxic:confidence_answer1,is_toxic:confidence_answer2,your_comments,"
    "orig__golden,comment,did_you_read_the_article_gold,globe_url,is_constructive_gold,"
    "is_constructive_gold_reason,is_toxic_gold,title,url,your_comments_gold"
)
HEADER = HEADER_LINE.split(",")
UBER = "http://www.theglobeandmail.com/opinion/editorials/yes-to-uber-no-to-taxi-cartels/article25343745/"
APPLE = "http://www.theglobeandmail.com/opinion/as-technology-marches-inexorably-oninvention/article23462276/"


def _row(uid: str, comment: str, level: str, conf: str, title: str, url: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        {"_unit_id": uid, "_golden": "FALSE", "_unit_state": "finalized", "_trusted_judgments": "3",
         "did_you_read_the_article": "1", "is_constructive": "no", "is_toxic_popular_answer_1": level,
         "is_toxic:confidence_answer1": conf, "your_comments": "\n\n", "comment": comment,
         "globe_url": url, "title": title, "url": "http://www.sfu.ca/x.html"}
    )  # fmt: skip
    return row


ROWS = [
    _row("1", "Personal responsibility matters.\n", "1", "1", "Yes to Uber. No to taxi cartels", UBER),
    _row(
        "2", "Another load of tosh from a GTA Liberal", "2", "0.4429", "Yes to Uber. No to taxi cartels", UBER
    ),
    _row("3", "Any idiot can spend money.", "3", "0.3873", "Apple Watch - The Globe and Mail", APPLE),
    _row("4", "Ingrate.", "4", "0.9", "Apple Watch - The Globe and Mail", APPLE),
]


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "SFU_constructiveness_toxicity.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(ROWS)
    return folder


def test_toxicity_levels_to_abusive_with_article_context(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path)))
    assert [r.labels["abusive"] for r in records] == [0, None, 1, 1]
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in records)
    assert records[0].text == "Personal responsibility matters."
    assert records[0].article_title == "Yes to Uber. No to taxi cartels"
    assert records[2].article_title == "Apple Watch"  # site suffix removed
    assert records[0].group == records[1].group != records[2].group == records[3].group
    assert all(r.article_text is None and r.licence == "CC-BY-NC-SA-4.0" and r.lang == "en" for r in records)


def test_thresholds(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path), abusive_min_level=2, min_confidence=0.4))
    assert [r.labels["abusive"] for r in records] == [0, 1, None, 1]
    with pytest.raises(ValueError, match="clean_max_level"):
        list(convert(tmp_path, clean_max_level=3, abusive_min_level=3))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("sfu-ctc")
    records = list(get_converter("sfu_ctc")(folder))
    assert 1100 <= len(records) <= 1118  # 1118 rows here
    abusive = [r.labels["abusive"] for r in records]
    assert 30 <= abusive.count(1) <= 50 and 850 <= abusive.count(0) <= 905 and abusive.count(None) >= 150
    assert all(r.article_title for r in records)
    assert 10 <= len({r.group for r in records}) <= 14
