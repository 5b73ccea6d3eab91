"""ua-surzhyk-abusive-youtube converter: hand-made rows in the labled.csv format, plus the real folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.ua_surzhyk_abusive_youtube import convert, guess_lang

RAW = (
    "id,video_id,author,text,abusive\r\n"
    "Ugg-760PTdEPkXgCoAEC,3KyjqEmLJ7E,ИЛЬЯ МУРОМЕЦ,всем холодный душ из водомётов и не одного евро ,True\r\n"
    "UgjBgygn4Vx-XngCoAEC,BU3i_j000iA,171marela,я поляк я люблю тебе ,False\r\n"
    "UghgaPgvjnQfzHgCoAEC,T6IbEIBhb8o,Мего лалка,росия говно україна країна героїв ,True\r\n"
    "UgjMFUtRFb-b4HgCoAEC,T6IbEIBhb8o,MrDjvira,ты о чем лева ,False\r\n"
    "UgjXXX,T6IbEIBhb8o,x, ,False\r\n"
)


def _write(folder: Path, raw: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labled.csv").write_bytes(raw.encode("utf-8"))
    return folder


def test_mapping_lang_and_group(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, RAW)))
    assert [r.id for r in records] == [
        "Ugg-760PTdEPkXgCoAEC",
        "UgjBgygn4Vx-XngCoAEC",
        "UghgaPgvjnQfzHgCoAEC",
        "UgjMFUtRFb-b4HgCoAEC",
    ]  # the blank comment is skipped
    assert [r.labels["abusive"] for r in records] == [1, 0, 1, 0]
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in records)
    assert [r.lang for r in records] == ["ru", "ru", "uk", "ru"]
    assert records[0].text == "всем холодный душ из водомётов и не одного евро"
    assert records[2].group == records[3].group == "ua-surzhyk-abusive-youtube:video:T6IbEIBhb8o"
    assert all(r.licence == "unknown" and r.article_title is None for r in records)
    assert {r.lang for r in convert(tmp_path, lang="uk")} == {"uk"}


def test_guess_lang_and_bad_label(tmp_path: Path) -> None:
    assert guess_lang("слава україні") == "uk"
    assert guess_lang("у хохлов опять ыллюзорнi мрии") == "ru"  # Russian letters win in a mix
    assert guess_lang("так") == "ru"
    with pytest.raises(ConverterError, match="True or False"):
        list(convert(_write(tmp_path / "b", "id,video_id,author,text,abusive\r\na,v,x,текст,maybe\r\n")))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("ua-surzhyk-abusive-youtube")
    records = list(get_converter("ua_surzhyk_abusive_youtube")(folder))
    assert 1700 <= len(records) <= 1795  # 1795 rows here, ~35 repeated texts
    abusive = [r.labels["abusive"] for r in records]
    assert set(abusive) <= {0, 1} and 0.28 <= abusive.count(1) / len(records) <= 0.38
    langs = [r.lang for r in records]
    assert set(langs) == {"ru", "uk"} and 0.05 <= langs.count("uk") / len(langs) <= 0.2
    assert 150 <= len({r.group for r in records}) <= 197
