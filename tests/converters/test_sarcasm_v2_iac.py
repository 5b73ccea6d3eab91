from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.sarcasm_v2_iac import convert, replace_emoticons

SOURCE = "sarcasm-v2-iac"
CSV = (
    "Corpus,Label,ID,Quote Text,Response Text\n"
    'GEN,sarc,GEN_sarc_0001,"Abstinence is the best way.","Yep, suppressing natural behavior is always '
    'the way to go. emoticonXRolleyes"\n'
    'GEN,notsarc,GEN_notsarc_0001,"Any evidence?","The study is linked above, page 4, emoticonXGoodWow."\n'
    'RQ,sarc,RQ_sarc_0001,"Abstinence is the best way.","Yep, suppressing natural behavior is always the '
    'way to go. emoticonXRolleyes"\n'
    'HYP,notsarc,HYP_notsarc_0001,"x","A million people were there, literally emoticonXBouncer"\n'
    'GEN,notsarc,GEN_notsarc_0002,"y",""\n'
)


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "sarcasm_v2.csv").write_text(CSV, encoding="utf-8")
    return folder


def test_labels_context_emoticons_and_repeats(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "iac")))
    assert [(r.id, r.labels["mocking"]) for r in recs] == [
        ("sarcasm-v2-iac:GEN_sarc_0001", 1),
        ("sarcasm-v2-iac:GEN_notsarc_0001", 0),
        # RQ_sarc_0001 repeats GEN_sarc_0001 (same text): merged into it; the empty reply is dropped
        ("sarcasm-v2-iac:HYP_notsarc_0001", 0),
    ]
    assert recs[0].text == "Yep, suppressing natural behavior is always the way to go. 🙄"
    assert recs[1].text == "The study is linked above, page 4, 👍 Wow."  # glued word kept apart
    assert recs[2].text == "A million people were there, literally"  # unknown smiley dropped
    assert recs[0].article_title is None and recs[0].article_text == "Abstinence is the best way."
    assert all(r.source == SOURCE and r.licence == "research-only" and r.lang == "en" for r in recs)
    assert all(r.labels["abusive"] is None and r.labels["off_topic"] is None for r in recs)
    assert recs[0].group != recs[1].group and recs[0].group.startswith(f"{SOURCE}:quote-")


def test_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "iac")
    recs = list(convert(folder, corpora=("RQ", "HYP")))
    assert [r.id.split(":")[1] for r in recs] == ["RQ_sarc_0001", "HYP_notsarc_0001"]
    assert next(convert(folder, emoticons="strip")).text.endswith("the way to go.")
    assert next(convert(folder, emoticons="keep")).text.endswith("emoticonXRolleyes")
    with pytest.raises(ConverterError, match="unknown corpus"):
        list(convert(folder, corpora=("SARC",)))
    with pytest.raises(ConverterError, match="emoticons"):
        list(convert(folder, emoticons="ascii"))
    (folder / "sarcasm_v2.csv").write_text(
        "Corpus,Label,ID,Quote Text,Response Text\nGEN,maybe,X,q,r\n", encoding="utf-8"
    )
    with pytest.raises(ConverterError, match="maybe"):
        list(convert(folder))


def test_replace_emoticons_handles_runs_and_glued_words() -> None:
    assert replace_emoticons("no emoticonXKillemoticonXKillemoticonXBanghead", "emoji") == "no 😡 😡 🤦"
    assert (
        replace_emoticons("emoticonXRolleyesso what\nnext emoticonXClown", "emoji") == "🙄 so what\nnext 🤡"
    )
    assert replace_emoticons("plain text", "strip") == "plain text"


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("sarcasm_v2_iac")(shared_dataset(SOURCE)))
    counts = collections.Counter(r.labels["mocking"] for r in recs)
    # 3744 rows here (80% of 4692), 1888 sarc; repeats of the same reply (GEN + RQ) merged
    assert 3650 <= len(recs) <= 3744 and 1800 <= counts[1] <= 1888 and counts[0] >= 1800
    assert set(counts) == {0, 1}
    assert not any("emoticonX" in r.text for r in recs)
    assert all(r.article_text for r in recs)
