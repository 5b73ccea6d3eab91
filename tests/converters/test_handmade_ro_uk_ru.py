from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.handmade_ro_uk_ru import convert


def _row(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": f"hm-{i:03d}",
        "lang": "ro",
        "text": f"\ufeffComentariul {i} despre tramvai",
        "article_id": "tram",
        "article_title": "Linie nouă de tramvai",
        "article_text": "Primăria a anunțat o linie nouă.",
        "abusive": 0,
        "mocking": 1,
        "off_topic": 0,
    }
    row.update(over)
    return row


def _write(folder: Path, rows: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    (folder / "comments.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return folder


def test_maps_labels_context_group_and_ids(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "d",
        [
            _row(0),
            _row(1, lang="uk", article_id="svitlo", abusive=1, mocking=0, off_topic=1, text="Ти дурень"),
        ],
    )
    recs = list(convert(folder))
    assert [r.id for r in recs] == ["handmade-ro-uk-ru:hm-000", "handmade-ro-uk-ru:hm-001"]
    first, second = recs
    assert first.text == "Comentariul 0 despre tramvai"  # BOM stripped
    assert first.labels == {"abusive": 0, "mocking": 1, "off_topic": 0}
    assert first.article_title == "Linie nouă de tramvai"
    assert first.group == "handmade-ro-uk-ru:article:tram"
    assert first.licence == "CC0-1.0" and first.source == "handmade-ro-uk-ru"
    assert second.lang == "uk" and second.labels == {"abusive": 1, "mocking": 0, "off_topic": 1}
    assert second.group == "handmade-ro-uk-ru:article:svitlo"


def test_lang_param_filters_and_empty_text_is_dropped(tmp_path: Path) -> None:
    folder = _write(tmp_path / "d", [_row(0), _row(1, lang="ru"), _row(2, text="  ")])
    assert [r.lang for r in convert(folder, langs=("ru",))] == ["ru"]
    assert len(list(convert(folder))) == 2


@pytest.mark.parametrize("bad", [{"abusive": 2}, {"lang": "de"}])
def test_bad_rows_raise_with_location(tmp_path: Path, bad: dict[str, object]) -> None:
    folder = _write(tmp_path / "d", [_row(0, **bad)])
    with pytest.raises(ConverterError, match="record 1"):
        list(convert(folder))


def test_missing_key_or_file_is_a_clear_error(tmp_path: Path) -> None:
    row = _row(0)
    del row["mocking"]
    with pytest.raises(ConverterError, match="mocking"):
        list(convert(_write(tmp_path / "d", [row])))
    with pytest.raises(ConverterError, match="does not exist"):
        list(convert(tmp_path / "nowhere"))


def test_registered_under_its_catalog_name() -> None:
    assert get_converter("handmade_ro_uk_ru") is convert


def test_real_folder_counts(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("handmade-ro-uk-ru")
    recs = list(convert(folder))
    langs = {lang: sum(r.lang == lang for r in recs) for lang in ("ro", "uk", "ru")}
    assert langs == {"ro": 72, "uk": 34, "ru": 24}  # PROVENANCE.md: 130 rows (hm-103 on added)
    assert all(v is not None for r in recs for v in r.labels.values())
    assert all(r.article_title for r in recs)
    assert len({r.id for r in recs}) == len(recs)
