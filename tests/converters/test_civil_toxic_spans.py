from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.civil_toxic_spans import convert, span_segments

DATASET = "civil-toxic-spans"  # folder under the data root (../shared/datasets)

TRAIN = (
    "spans,text\r\n"
    '"[15, 16, 17, 18, 19, 27, 28, 29, 30, 31]",Because he\'s a moron and a bigot. Simple.\r\n'
    '"[0, 1, 2, 3]","Damn, a whole family. Sad indeed."\r\n'
    '[],"Russia under Putin is a corrupt, paranoid, gangster state."\r\n'
    '"[6, 7, 8, 9, 10, 11]","""who do you think should do the killing?""\n\nAnyone, you idiots."\r\n'
)
TRIAL = 'spans,text\r\n"[8, 9, 10, 11, 12]","You are stupid."\r\n'


def _write(folder: Path) -> Path:
    (folder / "SemEval2021").mkdir(parents=True)
    (folder / "SemEval2021" / "tsd_train.csv").write_bytes(TRAIN.encode("utf-8"))
    (folder / "SemEval2021" / "tsd_trial.csv").write_bytes(TRIAL.encode("utf-8"))
    return folder


def test_spans_map_to_abusive_never_zero(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "cts")))
    assert [r.labels["abusive"] for r in recs] == [1, None, None, 1, 1]
    # 1: insult spans; None: only an untargeted expletive; None: empty span list (still toxic per source)
    assert all(r.labels["mocking"] is None and r.labels["off_topic"] is None for r in recs)
    assert recs[3].text.startswith('"who do you think') and "\n\nAnyone" in recs[3].text
    assert recs[0].id.startswith("civil-toxic-spans:train:") and recs[4].id.startswith(
        "civil-toxic-spans:trial:"
    )
    assert recs[0].group == recs[0].id
    assert all(r.licence == "CC0-1.0" and r.lang == "en" for r in recs)


def test_expletives_and_splits_are_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "cts")
    assert [r.labels["abusive"] for r in convert(folder, expletives=())] == [1, 1, None, 1, 1]
    assert len(list(convert(folder, splits=("trial",)))) == 1
    with pytest.raises(ConverterError, match="unknown split"):
        list(convert(folder, splits=("test",)))


def test_span_segments_and_bad_spans(tmp_path: Path) -> None:
    assert span_segments([4, 0, 1, 2, 99], "abc de") == ["abc", "d"]
    folder = tmp_path / "bad"
    (folder / "SemEval2021").mkdir(parents=True)
    (folder / "SemEval2021" / "tsd_train.csv").write_text('spans,text\n"[1, oops]",x\n', encoding="utf-8")
    with pytest.raises(ConverterError, match="JSON list"):
        list(convert(folder, splits=("train",)))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("civil_toxic_spans")(shared_dataset(DATASET)))
    assert 8000 <= len(recs) <= 8700  # PROVENANCE: 7936 train + 689 trial here
    counts = collections.Counter(r.labels["abusive"] for r in recs)
    assert counts[0] == 0 and counts[1] > 7000 and set(counts) <= {1, None}
    assert len({r.id for r in recs}) == len(recs)
