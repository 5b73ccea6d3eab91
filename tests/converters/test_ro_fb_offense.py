from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.ro_fb_offense import convert

DATASET = "ro-fb-offense"  # folder under the data root (../shared/datasets)

TRAIN = (
    "sender,no_reacts,text,label\r\n"
    "$USER0999,0,Îl dăm pe iohanis Jos și arătat și pe tâlhari????,OTHER\r\n"
    "$USER2889,0,Dute dracu faaa matahala.Esti respinsa,ABUSE\r\n"
    '$USER1158,0,"Ministrul Apărării este un bou,o conserva nenorocita",INSULT\r\n'
    "$USER2889,2,Ce p..la mea de vreme iar ploua,PROFANITY\r\n"
    "$USER2889,0,Dute dracu faaa matahala.Esti respinsa,ABUSE\r\n"  # exact repeat
    "$USER0224,0,Va dati mari si tari :))))) \U0001f602,other\r\n"
)


def _write(folder: Path, body: str = TRAIN) -> Path:
    folder.mkdir()
    (folder / "train.csv").write_bytes(body.encode("utf-8"))
    return folder


def test_classes_map_to_abusive_and_sender_groups(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "fb")))
    assert [r.labels["abusive"] for r in recs] == [0, 1, 1, 1, 0]
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in recs)
    assert recs[2].text == "Ministrul Apărării este un bou,o conserva nenorocita"
    assert recs[4].text.endswith("\U0001f602")
    assert recs[1].group == recs[3].group == "ro-fb-offense:sender:$USER2889"
    assert len({r.id for r in recs}) == 5 and all(r.id.startswith("ro-fb-offense:") for r in recs)
    assert all(r.lang == "ro" and r.licence == "Apache-2.0" for r in recs)
    assert [r.labels["abusive"] for r in convert(tmp_path / "fb", profanity_as=None)][3] is None


def test_missing_column_raises(tmp_path: Path) -> None:
    with pytest.raises(ConverterError, match="missing column"):
        list(convert(_write(tmp_path / "fb", "sender,text\r\n$USER1,x\r\n")))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("ro_fb_offense")(shared_dataset(DATASET)))
    assert 3400 <= len(recs) <= 3564  # PROVENANCE: 3560 rows in this copy
    counts = collections.Counter(r.labels["abusive"] for r in recs)
    assert set(counts) == {0, 1} and 1300 <= counts[1] <= 1500
