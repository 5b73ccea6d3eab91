"""ROFF converter: hand-made rows in the OLID_ROFF.tsv format, plus the real folder when present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.roff import convert

HEADER = "Tweet\tOffensive\tTargeted\tTarget\r\n"


def _write(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "OLID_ROFF.tsv").write_bytes((HEADER + "".join(r + "\r\n" for r in rows)).encode("utf-8"))
    return folder


def test_mapping_tags_to_abusive(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        [
            "@cineva Bună ziua, ce faceți?\tNOT\tNULL\tNULL",
            "Ești un cretin, taci din gură 🤬\tOFF\tTIN\tIND",
            "CE PULA MEA, iar s-a stricat autobuzul\tOFF\tUNT\tNULL",
            'Nu e o măsură \\"draconică\\".\\nNATO &amp; restul\tNOT\tNULL\tNULL',
        ],
    )
    records = list(convert(folder))
    by_text = {r.text: r for r in records}
    assert len(records) == 4
    assert by_text["@cineva Bună ziua, ce faceți?"].labels == {
        "abusive": 0,
        "mocking": None,
        "off_topic": None,
    }
    assert by_text["Ești un cretin, taci din gură 🤬"].labels["abusive"] == 1
    assert by_text["CE PULA MEA, iar s-a stricat autobuzul"].labels["abusive"] == 0
    assert 'Nu e o măsură "draconică".\nNATO & restul' in by_text
    for r in records:
        assert r.source == "roff" and r.lang == "ro" and r.licence == "unknown" and not r.synthetic
        assert r.article_title is None and r.article_text is None


def test_untargeted_param_and_conflicting_repeats(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        [
            "plm\tOFF\tUNT\tNULL",
            "\ufeffrepetat\tNOT\tNULL\tNULL",
            "repetat\tOFF\tTIN\tGRP",
        ],
    )
    records = list(convert(folder, untargeted=None))
    assert [r.text for r in records] == ["plm"]  # the conflicting repeat has no known label left
    assert records[0].labels["abusive"] is None


def test_bad_tag_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConverterError, match="OLID tags"):
        list(convert(_write(tmp_path / "a", ["x\tMAYBE\tNULL\tNULL"])))
    with pytest.raises(ConverterError, match=r"OLID_ROFF\.tsv"):
        list(convert(tmp_path / "empty"))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("roff")
    records = list(get_converter("roff")(folder))
    assert 3700 <= len(records) <= 3913  # 3913 rows here, ~25 exact repeats in the original
    assert len({r.id for r in records}) == len(records)
    abusive = [r.labels["abusive"] for r in records]
    assert set(abusive) <= {0, 1} and 450 <= abusive.count(1) <= 700
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in records)
    assert all(r.text and "\ufeff" not in r.text for r in records)
