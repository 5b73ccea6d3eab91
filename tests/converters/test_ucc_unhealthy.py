"""ucc-unhealthy converter: hand-made rows in the val.csv format, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters.ucc_unhealthy import convert

ATTRS = [
    "antagonize", "condescending", "dismissive", "generalisation", "generalisation_unfair", "healthy",
    "hostile", "sarcastic",
]  # fmt: skip
HEADER = ["_unit_id", "_trusted_judgments", "comment"] + [c for a in ATTRS for c in (a, f"{a}:confidence")]


def _row(uid: str, text: str, **attrs: tuple[int, float]) -> list[str]:
    values = {a: (0, 1.0) for a in ATTRS} | attrs
    cells = []
    for a in ATTRS:
        value, conf = values[a]
        cells += [f"{value}.0" if a == "generalisation_unfair" else str(value), str(conf)]
    return [uid, "3", text, *cells]


ROWS = [
    _row("1", "Beck offers an app. All their taxis are licensed.", healthy=(1, 1.0)),
    _row("2", "Imbeciles, morons and losers.", antagonize=(1, 1.0), hostile=(1, 0.8)),
    _row("3", "Well, thank you, for identifying socialists. You could be right.", sarcastic=(1, 0.79)),
    _row("4", "Maybe you should become a pollster and be wrong like the rest.", condescending=(1, 0.6)),
    _row("5", "What planet do you live on?", dismissive=(1, 0.61)),
    _row("6", "Those people never work.", generalisation_unfair=(1, 0.66), hostile=(0, 0.52)),
    _row("7", "Delusional much?", sarcastic=(1, 0.51), antagonize=(0, 0.6)),
]


def _write(folder: Path, name: str = "val.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return folder


def test_attribute_mapping(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path)))
    got = {r.id: (r.labels["abusive"], r.labels["mocking"]) for r in records}
    assert got == {
        "1": (0, 0),
        "2": (1, 0),
        "3": (0, 1),
        "4": (0, 1),
        "5": (0, None),  # dismissive only: unsure about mocking
        "6": (None, 0),  # unfair generalisation, and hostile=0 only at 0.52 confidence
        "7": (0, None),  # sarcastic at 0.51 < 0.55: not sure
    }
    assert all(r.labels["off_topic"] is None for r in records)
    assert all(r.lang == "en" and r.licence == "CC-BY-NC-SA-4.0" and r.article_title is None for r in records)


def test_params(tmp_path: Path) -> None:
    records = list(
        convert(
            _write(tmp_path),
            min_confidence=0.5,
            mocking_from=("sarcastic",),
            mocking_unsure=(),
            abusive_unsure=(),
        )
    )
    got = {r.id: (r.labels["abusive"], r.labels["mocking"]) for r in records}
    assert got["4"] == (0, 0) and got["5"] == (0, 0) and got["6"] == (0, 0) and got["7"] == (0, 1)


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("ucc-unhealthy")
    records = list(get_converter("ucc_unhealthy")(folder))
    assert 4300 <= len(records) <= 4413  # 4413 rows of val.csv here
    abusive = [r.labels["abusive"] for r in records]
    mocking = [r.labels["mocking"] for r in records]
    assert 150 <= abusive.count(1) <= 250 and abusive.count(0) > 4000
    assert 300 <= mocking.count(1) <= 420 and mocking.count(0) > 3900
    assert all(r.labels["off_topic"] is None for r in records)
