"""youtube-spam-collection converter: hand-made rows in the Youtube0N-*.csv format, plus the real folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.youtube_spam_collection import convert, html_to_text

KATY = (
    "COMMENT_ID,AUTHOR,DATE,CONTENT,label\r\n"
    "z12pgdhovmrktzm3i23es5d5junftft3f,lekanaVEVO1,2014-07-22T15:27:50,"
    '"i love this so much. AND also I Generate Free Leads &amp; You Can  Too! http://www.x.com/m\ufeff",1\r\n'
    "z13yx345uxepetggz04ci5rjcxeohzlrtf4,Pyunghee,2014-07-27T01:57:16,I love this song\ufeff,0\r\n"
)
LMFAO = (
    "COMMENT_ID,AUTHOR,DATE,CONTENT,label\r\n"
    "z13uwn2heqndtr5g304ccv5j5kqqzxjadmc0k,Corey Wilson,2015-05-28T21:39:52.376000,"
    '"<a href=""http://www.youtube.com/watch?v=KQ6zr6kCPj8&amp;t=2m19s"">2:19</a> best part\ufeff",0\r\n'
    "z13tczjy5xj0vjmu5231unho1ofey5zdk,lekanaVEVO1,2015-05-28T19:23:35.355000,"
    '"Hey guys, I&#39;m a human.<br /><br />Subscribe to my channel\ufeff",1\r\n'
)


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Youtube02-KatyPerry.csv").write_bytes(KATY.encode("utf-8"))
    (folder / "Youtube03-LMFAO.csv").write_bytes(LMFAO.encode("utf-8"))
    return folder


def test_spam_to_off_topic_with_video_title(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path)))
    assert [r.labels["off_topic"] for r in records] == [1, 0, 0, 1]
    assert all(r.labels["abusive"] is None and r.labels["mocking"] is None for r in records)
    assert all("\ufeff" not in r.text for r in records)
    assert (
        records[0].text
        == "i love this so much. AND also I Generate Free Leads & You Can  Too! http://www.x.com/m"
    )
    assert records[2].text == "2:19 best part"
    assert records[3].text == "Hey guys, I'm a human.\n\nSubscribe to my channel"
    assert records[0].article_title == "Katy Perry - Roar"
    assert records[2].article_title is not None and "Party Rock Anthem" in records[2].article_title
    assert records[0].group == records[3].group  # same author across videos
    assert records[0].id == "KatyPerry:z12pgdhovmrktzm3i23es5d5junftft3f"
    assert all(r.lang == "en" and r.licence == "unknown" and r.article_text is None for r in records)


def test_params(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path), ham=None, video_titles=False, group_by="video"))
    assert [r.labels["off_topic"] for r in records] == [1, None, None, 1]
    assert all(r.article_title is None for r in records)
    assert records[0].group == records[1].group != records[2].group
    with pytest.raises(ValueError, match="group_by"):
        list(convert(tmp_path, group_by="day"))
    with pytest.raises(ConverterError, match="no Youtube"):
        list(convert(tmp_path / "none"))
    assert html_to_text("a<br>b &gt; c") == "a\nb > c"


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("youtube-spam-collection")
    records = list(get_converter("youtube_spam_collection")(folder))
    assert 1300 <= len(records) <= 1440  # 349 + 347 + 337 + 407 rows here
    off = [r.labels["off_topic"] for r in records]
    assert set(off) == {0, 1} and 0.4 <= off.count(1) / len(off) <= 0.6
    assert all("\ufeff" not in r.text and "<br" not in r.text and "&#39;" not in r.text for r in records)
    assert all(r.article_title for r in records)
