from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.ro_offense import convert

DATASET = "ro-offense"  # folder under the data root (../shared/datasets)

TRAIN = (
    "id,text,label\r\n"
    "32674,da de unde stii u mai GSP ca banii au fost pt U cluj?:))),ABUSE\r\n"
    '16514,"bai kakatule...stai in banca ta\nde arbitru prost ce esti",INSULT\r\n'
    "32556,PT ALA CARE ARE TREABA CU RADOI!!ESTI UNUL CARE NU ARE IDEE DE FOTBAL!!,OTHER\r\n"
    "40001,la naiba iar am pierdut meciul asta in prelungiri,PROFANITY\r\n"
    "10142,Aici vezi în timp real fazele VIDEO,OTHER\r\n"
    "10142,Aici vezi Ã®n timp real fazele VIDEO,OTHER\r\n"  # mojibake copy of the row above
)


def _write(folder: Path, body: str = TRAIN) -> Path:
    folder.mkdir()
    (folder / "train.csv").write_bytes(body.encode("utf-8"))
    return folder


def test_classes_map_to_abusive(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "rof")))
    assert [r.labels["abusive"] for r in recs] == [1, 1, 0, 1, 0]  # mojibake duplicate dropped
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in recs)
    assert recs[1].text == "bai kakatule...stai in banca ta\nde arbitru prost ce esti"
    assert recs[4].id == "ro-offense:10142" and recs[4].text == "Aici vezi în timp real fazele VIDEO"
    assert recs[0].id == recs[0].group == "ro-offense:32674"
    assert all(r.lang == "ro" and r.licence == "Apache-2.0" for r in recs)


@pytest.mark.parametrize("profanity_as", [0, None])
def test_profanity_is_a_parameter(tmp_path: Path, profanity_as: int | None) -> None:
    recs = list(convert(_write(tmp_path / "rof"), profanity_as=profanity_as))
    assert recs[3].labels["abusive"] == profanity_as


def test_unknown_class_raises(tmp_path: Path) -> None:
    with pytest.raises(ConverterError, match="'HATE'"):
        list(convert(_write(tmp_path / "rof", "id,text,label\r\n1,x,HATE\r\n")))
    with pytest.raises(ConverterError, match="profanity_as"):
        list(convert(tmp_path / "rof", profanity_as=2))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("ro_offense")(shared_dataset(DATASET)))
    assert 9500 <= len(recs) <= 9953  # PROVENANCE: 9948 rows in this copy
    counts = collections.Counter(r.labels["abusive"] for r in recs)
    assert set(counts) == {0, 1} and 5800 <= counts[1] <= 6400 and 3400 <= counts[0] <= 3700
