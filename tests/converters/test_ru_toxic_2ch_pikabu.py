"""ru-toxic-2ch-pikabu converter: hand-made rows in the train.csv/val.csv format, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.ru_toxic_2ch_pikabu import convert


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)  # standard quoting, CRLF, like the rewritten files
        writer.writerow(["comment", "labels"])
        writer.writerows(rows)


def test_mapping_toxic_to_abusive(tmp_path: Path) -> None:
    _write(
        tmp_path / "train.csv",
        [
            ("Была на таком мосту, всё понравилось.\n", "0"),
            ("Сдохни, тварь.\n", "1"),
            ('Он сказал "ну, да" и ушёл', "0"),
        ],
    )
    _write(tmp_path / "val.csv", [("Автора на мыло!", "1"), ("Сдохни, тварь.", "1")])
    records = list(convert(tmp_path))
    labels = {r.text: r.labels for r in records}
    assert labels == {
        "Была на таком мосту, всё понравилось.": {"abusive": 0, "mocking": None, "off_topic": None},
        "Сдохни, тварь.": {"abusive": 1, "mocking": None, "off_topic": None},
        'Он сказал "ну, да" и ушёл': {"abusive": 0, "mocking": None, "off_topic": None},
        "Автора на мыло!": {"abusive": 1, "mocking": None, "off_topic": None},
    }
    assert all(
        r.lang == "ru" and r.source == "ru-toxic-2ch-pikabu" and r.licence == "unknown" for r in records
    )
    assert len({r.id for r in records}) == 4


def test_conflicting_repeat_dropped_and_errors(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", [("спорный текст\n", "0"), ("спорный текст", "1"), ("ok", "0")])
    assert [r.text for r in convert(tmp_path)] == ["ok"]
    _write(tmp_path / "bad" / "val.csv", [("x", "2")])
    with pytest.raises(ConverterError, match="expected 0 or 1"):
        list(convert(tmp_path / "bad"))
    with pytest.raises(ConverterError, match="none of"):
        list(convert(tmp_path / "nothing"))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("ru-toxic-2ch-pikabu")
    records = list(get_converter("ru_toxic_2ch_pikabu")(folder))
    assert 12400 <= len(records) <= 12924  # 11487 + 1437 rows here
    abusive = [r.labels["abusive"] for r in records]
    assert set(abusive) <= {0, 1} and 0.28 <= abusive.count(1) / len(records) <= 0.38
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in records)
    assert all(r.text == r.text.strip() and r.lang == "ru" for r in records)
