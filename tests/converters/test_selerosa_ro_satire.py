"""selerosa-ro-satire converter: hand-made rows in the selerosa.csv format, plus the real folder."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters.selerosa_ro_satire import convert

HEADER = ["index", "news_id", "sentence", "domain", "label_0", "label_1", "label_2", "label", "split"]
ROWS = [
    ["0", "0", "Ambele promiteau un film reușit.", "cronica-de-film", "0", "0", "0", "0", "train"],
    ["1", "0", "Nu toţi angajaţii MAI au terminat abecedarul.", "life-death", "1", "1", "1", "1", "test"],
    ["2", "7", "Când se pune <PERSON> în ostropel?", "it-stiinta", "1", "0", "1", "1", "validation"],
    ["3", "7", "A fost o zi, a explicat <PERSON>.", "it-stiinta", "0", "1", "0", "0", "train"],
]


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "selerosa.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return folder


def test_unanimous_default(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path)))
    assert [r.labels["mocking"] for r in records] == [0, 1, None, None]
    assert all(r.labels["abusive"] is None and r.labels["off_topic"] is None for r in records)
    assert [r.group for r in records] == ["selerosa-ro-satire:news0"] * 2 + ["selerosa-ro-satire:news7"] * 2
    assert records[2].text == "Când se pune <PERSON> în ostropel?"
    assert all(r.lang == "ro" and r.licence == "CC-BY-NC-SA-4.0" and r.article_title is None for r in records)


def test_majority_reproduces_label_column(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path), positive_min_votes=2, negative_max_votes=1))
    assert [r.labels["mocking"] for r in records] == [int(row[7]) for row in ROWS]


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("selerosa-ro-satire")
    records = list(get_converter("selerosa_ro_satire")(folder))
    assert 11700 <= len(records) <= 11797  # 11797 rows here
    mocking = [r.labels["mocking"] for r in records]
    assert set(mocking) <= {0, 1, None}
    known = [m for m in mocking if m is not None]
    assert 0.4 * len(records) <= len(known) <= 0.7 * len(records)  # ~57% unanimous in the original
    assert 0.25 <= sum(known) / len(known) <= 0.5
    assert len({r.group for r in records}) > 800
