"""ru-vk-distorted-toxicity converter: hand-made rows in the TSV format, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters.ru_vk_distorted_toxicity import convert, strip_vk_mentions

HEADER = ["comment_id", "source", "comments", "distortion", "toxicity", "corrected"]


def _write(folder: Path, rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "russian_distorted_toxicity.tsv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return folder


ROWS = [
    ["188", "медуза", "[id2685300|Максим], а её уже заставили?", "0", "0", ""],
    [
        "396",
        "лентач",
        "настолько по%уй, что не можешь молчать",
        "1",
        "1",
        "настолько похуй, что не можешь молчать",
    ],
    ["1014", "дождь", "", "0", "0", ""],
    ["1101", "дождь", 'опять "иноагенты" пиндосовские', "0", "1", ""],
]


def test_mapping_and_text(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, ROWS)))
    assert [r.id for r in records] == ["meduza:188", "lentach:396", "dozhd:1101"]  # empty comment skipped
    assert records[0].text == "Максим, а её уже заставили?"
    assert records[0].labels == {"abusive": 0, "mocking": None, "off_topic": None}
    assert records[1].text == "настолько по%уй, что не можешь молчать"
    assert records[1].labels["abusive"] == 1
    assert records[2].labels["abusive"] == 1
    assert all(r.lang == "ru" and r.licence == "MIT" and r.article_title is None for r in records)


def test_params(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, ROWS), use_corrected=True, strip_mentions=False))
    assert records[0].text.startswith("[id2685300|Максим]")
    assert records[1].text == "настолько похуй, что не можешь молчать"
    assert strip_vk_mentions("[club1|Группа], привет") == "Группа, привет"


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("ru-vk-distorted-toxicity")
    records = list(get_converter("ru_vk_distorted_toxicity")(folder))
    assert 2100 <= len(records) <= 2422  # 2422 rows here, ~100 empty, ~150 repeated texts
    abusive = [r.labels["abusive"] for r in records]
    assert set(abusive) <= {0, 1} and 350 <= abusive.count(1) <= 500
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in records)
    assert len({r.id for r in records}) == len(records)
