from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.fanchuan_parody_en import convert, thread_roots

SOURCE = "fanchuan-parody-en"
HEAD = "id,comment_id,parent_comment_id,user_id,parent_user_id,parent_content,content,support,parody\n"
REDDIT_TRAIN = HEAD + (
    '1,c1,,10,,,"He\'s been tested, more than anyone, by the best doctors. Incredible.",1,1\n'
    '2,c2,c1,11,10.0,"He\'s been tested, more than anyone.","Where\'s the LECTERN, Sarah?",2,0\n'
    '3,c3,c2,12,11.0,"Where\'s the LECTERN?","Such a stable genius, bwahaha!!!",2,1\n'
    "4,c4,,13,,,,0,1\n"
)
REDDIT_VAL = HEAD + '5,c5,,14,,,"A very normal, very coherent speech.",0,1\n'
TIKTOK_TRAIN = HEAD + '1,t1,p9,20,21.0,"Who is she?","She did a great job bringing up solid points",0,1\n'
TIKTOK_VAL = HEAD + '2,t2,,22,,,"The IUD part was wrong, it does not work like that.",0,0\n'


def _write(folder: Path) -> Path:
    for subset, files in (
        ("Reddit-Trump", {"train": REDDIT_TRAIN, "val": REDDIT_VAL}),
        ("Tiktok-Trump", {"train": TIKTOK_TRAIN, "val": TIKTOK_VAL}),
    ):
        (folder / subset).mkdir(parents=True)
        for name, text in files.items():
            (folder / subset / f"comments_{name}.csv").write_text(text, encoding="utf-8")
    return folder


def test_parody_is_mocking_and_non_parody_is_unknown(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "fc")))
    # non-parody rows (c2, t2) are not "not mocking": dropped by default; the empty c4 too
    assert [r.id for r in recs] == [
        "fanchuan-parody-en:reddit:c1",
        "fanchuan-parody-en:reddit:c3",
        "fanchuan-parody-en:reddit:c5",
        "fanchuan-parody-en:tiktok:t1",
    ]
    assert all(r.labels == {"abusive": None, "mocking": 1, "off_topic": None} for r in recs)
    assert all(r.source == SOURCE and r.licence == "MIT" and r.lang == "en" for r in recs)
    by_id = {r.id.rsplit(":", 1)[1]: r for r in recs}
    assert by_id["c1"].article_text is None and by_id["c3"].article_text == "Where's the LECTERN?"
    assert by_id["c1"].group == by_id["c3"].group  # c3 -> c2 -> c1: one thread, one split
    assert by_id["c5"].group != by_id["c1"].group


def test_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "fc")
    recs = list(convert(folder, non_parody_as=0))
    assert sorted((r.id.rsplit(":", 1)[1], r.labels["mocking"]) for r in recs if not r.labels["mocking"]) == [
        ("c2", 0),
        ("t2", 0),
    ]
    recs = list(convert(folder, subsets=("Tiktok-Trump",), files=("train",)))
    assert [r.id for r in recs] == ["fanchuan-parody-en:tiktok:t1"]
    with pytest.raises(ConverterError, match="unknown subset"):
        list(convert(folder, subsets=("CS2",)))
    with pytest.raises(ConverterError, match="unknown file"):
        list(convert(folder, files=("dev",)))
    with pytest.raises(ConverterError, match="does not exist"):
        list(convert(folder, files=("test",)))  # held out of this copy
    with pytest.raises(ConverterError, match="non_parody_as"):
        list(convert(folder, non_parody_as=-1))


def test_thread_roots() -> None:
    roots = thread_roots([("b", "a"), ("c", "b"), ("d", ""), ("e", "x")])
    assert roots["c"] == roots["b"] == roots["a"] and roots["d"] == "d" and roots["e"] == roots["x"]


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("fanchuan_parody_en")(shared_dataset(SOURCE)))
    # PROVENANCE: parody in train + val: Reddit 74 + 52, TikTok 37 + 20
    assert collections.Counter(r.id.split(":")[1] for r in recs) == {"reddit": 126, "tiktok": 57}
    assert all(r.labels["mocking"] == 1 for r in recs)
    assert 60 <= sum(1 for r in recs if r.article_text) <= 120
    every = list(get_converter("fanchuan_parody_en")(shared_dataset(SOURCE), non_parody_as=0))
    assert len(every) == 2115  # 972 + 1144 rows, one with empty content
    assert collections.Counter(r.labels["mocking"] for r in every)[0] == 2115 - 183
