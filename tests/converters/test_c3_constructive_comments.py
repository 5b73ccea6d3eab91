from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.c3_constructive_comments import convert, parse_votes

DATASET = "c3-constructive-comments"  # folder under the data root (../shared/datasets)

HEADER = (
    "article_id,comment_author,comment_counter,comment_text,njudgements_constructiveness_expt,"
    "njudgements_toxicity_expt,agree_constructiveness_expt,agree_toxicity_expt,constructive,"
    "crowd_toxicity_level,has_content,crowd_discard,constructive_characteristics,"
    "non_constructive_characteristics,toxicity_characteristics,crowd_comments_constructiveness_expt,"
    "crowd_comments_toxicity_expt,other_con_chars,other_noncon_chars,other_toxic_chars,"
    "constructive_binary,pp_comment_text"
)


def _row(aid: str, counter: str, text: str, n_con: str, n_tox: str, noncon: str, toxic: str) -> str:
    # the raw file's style: CRLF rows, LF inside quoted multi-line cells
    return (
        f'{aid},0,{counter},"{text}",{n_con},{n_tox},0.6,0.6,1.0,1.2,,,"dialogue:2",'
        f'"{noncon}","{toxic}","\n\n","\n\n","\n\n","\n\n","\n\n",1.0,pp text'
    )


def _write(folder: Path) -> Path:
    folder.mkdir()
    rows = [
        # 2 sarcastic votes -> mocking 1; 1 non_relevant vote -> off_topic None; no toxic votes -> abusive 0
        _row(
            "111",
            "source1_111_1",
            "Genius plan, truly.",
            "5.0",
            "5.0",
            "sarcastic:2\nnon_relevant:1\nno_non_con:2",
            "no_toxic:5",
        ),
        # personal_attack 3 -> abusive 1; teasing 1 -> None but OR with sarcastic 0 stays None
        _row(
            "111",
            "source1_111_2",
            'You are an idiot, ""sir"".',
            "5.0",
            "3.0",
            "no_non_con:5",
            "personal_attack:3\nteasing:1\nno_toxic:1",
        ),
        # non_relevant 2 -> off_topic 1; inflammatory is not mapped -> abusive 0
        _row(
            "222",
            "source2_222_7",
            "\ufeffAnyone know a good dentist?",
            "5.0",
            "5.0",
            "non_relevant:2\nno_non_con:3",
            "inflammatory:2\nno_toxic:3",
        ),
        # toxicity experiment without judges -> abusive None, teasing-side of mocking None
        _row("222", "source2_222_8", "Fine comment.", "5.0", "", "no_non_con:5", ""),
        # empty text -> dropped
        _row("222", "source2_222_9", "   ", "5.0", "5.0", "no_non_con:5", "no_toxic:5"),
    ]
    (folder / "C3_anonymized.csv").write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode("utf-8"))
    return folder


def test_vote_mapping_none_vs_zero(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "c3")))
    assert [r.id for r in recs] == [
        "c3-constructive-comments:source1_111_1",
        "c3-constructive-comments:source1_111_2",
        "c3-constructive-comments:source2_222_7",
        "c3-constructive-comments:source2_222_8",
    ]
    labels = [dict(r.labels) for r in recs]
    assert labels[0] == {"abusive": 0, "mocking": 1, "off_topic": None}
    assert labels[1] == {"abusive": 1, "mocking": None, "off_topic": 0}
    assert labels[2] == {"abusive": 0, "mocking": 0, "off_topic": 1}
    assert labels[3] == {"abusive": None, "mocking": None, "off_topic": 0}
    assert recs[1].text == 'You are an idiot, "sir".'
    assert recs[2].text == "Anyone know a good dentist?"
    assert recs[0].group == recs[1].group == "c3-constructive-comments:article:111"
    assert all(r.lang == "en" and r.licence == "unknown" and r.article_title is None for r in recs)


def test_thresholds_are_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "c3")
    recs = list(convert(folder, negative_max_votes=1))
    assert recs[0].labels["off_topic"] == 0  # a lone vote now counts as "no"
    assert recs[1].labels["mocking"] == 0
    recs = list(convert(folder, positive_min_votes=3, abusive_from=("personal_attack", "inflammatory")))
    assert recs[0].labels["mocking"] is None  # 2 sarcastic votes are no longer enough
    assert recs[2].labels["abusive"] is None  # inflammatory 2 votes: between thresholds


def test_bad_input_raises(tmp_path: Path) -> None:
    with pytest.raises(ConverterError, match="unknown C3 characteristic"):
        list(convert(_write(tmp_path / "c3"), mocking_from=("snark",)))
    with pytest.raises(ConverterError, match="name:votes"):
        parse_votes("sarcastic", where="x")
    with pytest.raises(ConverterError, match="does not exist"):
        list(convert(tmp_path / "missing"))


def test_real_dataset(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("c3_constructive_comments")(shared_dataset(DATASET)))
    assert 9000 <= len(recs) <= 12000  # PROVENANCE: 9857 rows in this copy
    for name in ("abusive", "mocking", "off_topic"):
        counts = collections.Counter(r.labels[name] for r in recs)
        assert set(counts) <= {0, 1, None} and counts[1] > 300 and counts[0] > 3000
    assert len({r.id for r in recs}) == len(recs)
