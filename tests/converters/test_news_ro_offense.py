from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.news_ro_offense import convert

DATASET = "news-ro-offense"  # folder under the data root (../shared/datasets)

ARTICLES = (
    "content_id,article_date,Title,Tags,Content\r\n"
    "0,2022-02-02,Clujul aerist! Cum ar fi fost să nu se toarne atâta beton? - Galerie FOTO,"
    'floresti    manastur    parking,"Clujul a fost un oraș aerist, dar toată dezvoltarea.\u201dImagine."\r\n'
    "7,2022-03-01,Stații de încărcare pentru mașini electrice,electrice,Primăria a montat stații.\r\n"
)
COMMENTS = (
    "comment_id,reply_to_comment_id,comment_nr,content_id,comment_text,LABEL\r\n"
    '0,,0,0,"Sufoca pe ma\'ta, cu cratima cu tot",1\r\n'
    "3,,2,0,Droguri si alcool,0\r\n"
    "69,,0,7,Militia locala =boschetari!,2\r\n"
    '72,69,1,7,"@Kyro: Vând Logan 2012, detalii în privat. ""urgent""",0\r\n'
    "73,69,2,7,Toti sunt la fel,4\r\n"
    "74,69,3,9,Articol fara pereche,3\r\n"
)


def _write(folder: Path, comments: str = COMMENTS) -> Path:
    folder.mkdir()
    (folder / "articles.csv").write_bytes(ARTICLES.encode("utf-8"))
    (folder / "comments.csv").write_bytes(comments.encode("utf-8"))
    return folder


def test_labels_context_and_groups(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "nro")))
    assert [r.labels["abusive"] for r in recs] == [1, 0, 1, 0, 1, 1]
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in recs)
    first = recs[0]
    assert first.id == "news-ro-offense:0" and first.text == "Sufoca pe ma'ta, cu cratima cu tot"
    assert first.article_title and first.article_title.startswith("Clujul aerist!")
    assert first.article_text == "Clujul a fost un oraș aerist, dar toată dezvoltarea.\u201dImagine."
    assert recs[3].text == '@Kyro: Vând Logan 2012, detalii în privat. "urgent"'
    assert recs[3].article_title == "Stații de încărcare pentru mașini electrice"
    assert recs[3].group == "news-ro-offense:article:7"
    assert recs[5].article_title is None and recs[5].group == "news-ro-offense:article:9"
    assert first.lang == "ro" and first.licence == "Apache-2.0"
    assert all(r.article_title is None for r in convert(tmp_path / "nro", with_context=False))


def test_unknown_label_raises(tmp_path: Path) -> None:
    bad = "comment_id,reply_to_comment_id,comment_nr,content_id,comment_text,LABEL\r\n1,,0,0,x,7\r\n"
    with pytest.raises(ConverterError, match="LABEL is 7"):
        list(convert(_write(tmp_path / "nro", bad)))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("news_ro_offense")(shared_dataset(DATASET)))
    assert 2500 <= len(recs) <= 4053  # PROVENANCE: 2753 comments in this copy
    counts = collections.Counter(r.labels["abusive"] for r in recs)
    assert set(counts) == {0, 1} and 700 <= counts[1] <= 1400
    assert all(r.article_title and r.article_text for r in recs)
