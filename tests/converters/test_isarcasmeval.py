from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.isarcasmeval import convert

DATASET = "isarcasmeval"  # folder under the data root (../shared/datasets)

EN = (
    ",tweet,sarcastic,rephrase,sarcasm,irony,satire,understatement,overstatement,rhetorical_question\r\n"
    "0,The only thing I got from college is a caffeine addiction,1,"
    '"College is really difficult, expensive, tiring. ",0,1,0,0,0,0\r\n'
    "1,Genius plan from the council \u2019as always\u2019 \U0001f644,1,"
    "The council's plan is bad.,1,0,0,0,0,1\r\n"
    '2,"@KellyMartin_UK You\u2019re right, it\u2019s all one big conspiracy",1,'
    "I disagree.,0,0,1,0,0,0\r\n"
    "3,thinkin abt coochie,0,,,,,,,\r\n"
    "4,,0,,,,,,,\r\n"
)
AR = (
    "id,text,sarcastic,rephrase,dialect\n"
    "1,\u0636\u0628\u0637 \u0634\u062e\u0635,1,\u0634\u062e\u0635 \u064a\u0646\u062a\u062d\u0644,nile\n"
    "2,\u0645\u0634 \u0645\u0639\u0646\u0649,0,,msa\n"
)


def _write(folder: Path) -> Path:
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "train.En.csv").write_bytes(EN.encode("utf-8"))
    (folder / "train" / "train.Ar.csv").write_bytes(AR.encode("utf-8"))
    return folder


def test_sarcasm_maps_to_mocking_by_category(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "isa")))
    assert [(r.lang, r.labels["mocking"]) for r in recs] == [
        ("en", None),  # irony only: nobody targeted -> unknown, not 0
        ("en", 1),  # sarcasm
        ("en", 1),  # satire
        ("en", 0),  # not sarcastic
        ("ar", 1),  # Arabic: no categories, sarcastic -> 1
        ("ar", 0),
    ]
    assert all(r.labels["abusive"] is None and r.labels["off_topic"] is None for r in recs)
    assert recs[1].text.endswith("\U0001f644") and "\u2019as always\u2019" in recs[1].text
    assert [r.id for r in recs][:2] == ["isarcasmeval:en:0", "isarcasmeval:en:1"]
    assert recs[4].id == "isarcasmeval:ar:1" and recs[4].group == recs[4].id
    assert all(r.licence == "MIT" for r in recs)


def test_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "isa")
    recs = list(convert(folder, langs=("en",), mocking_categories=("sarcasm", "irony")))
    assert [r.labels["mocking"] for r in recs] == [1, 1, None, 0]
    recs = list(convert(folder, langs=("ar",), uncategorised_sarcastic_as=None))
    assert [r.labels["mocking"] for r in recs] == [None, 0]
    recs = list(convert(folder, langs=("en",), include_rephrases=True))
    rephrases = [r for r in recs if r.id.endswith(":rephrase")]
    assert rephrases[0].text == "College is really difficult, expensive, tiring."
    assert all(r.labels["mocking"] == 0 for r in rephrases) and len(rephrases) == 3
    assert rephrases[0].group == "isarcasmeval:en:0"
    with pytest.raises(ConverterError, match="unknown lang"):
        list(convert(folder, langs=("fr",)))
    with pytest.raises(ConverterError, match="unknown category"):
        list(convert(folder, mocking_categories=("snark",)))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("isarcasmeval")(shared_dataset(DATASET)))
    assert 6000 <= len(recs) <= 6570  # PROVENANCE: 3467 en + 3102 ar here (1 empty tweet)
    assert collections.Counter(r.lang for r in recs).keys() == {"en", "ar"}
    counts = collections.Counter(r.labels["mocking"] for r in recs)
    assert set(counts) == {0, 1, None} and 1200 <= counts[1] <= 1612 and counts[0] > 4000
