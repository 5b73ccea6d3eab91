from __future__ import annotations

import json
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError


def test_own_labels_keep_none_and_context(tmp_path: Path) -> None:
    rows = [
        {
            "id": "1",
            "text": "Ești un cretin",
            "article_id": "a1",
            "article_title": "Tramvai",
            "lang": "ro",
            "abusive": 1,
            "mocking": None,
            "off_topic": False,
        },
        {"id": "2", "text": "Who won the match?", "abusive": 0},
        {"id": "3", "text": "   "},
    ]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    recs = list(get_converter("labelled_jsonl")(tmp_path, file="labels.jsonl", default_lang="en"))
    assert len(recs) == 2
    assert recs[0].labels == {"abusive": 1, "mocking": None, "off_topic": 0}
    assert recs[0].group == "labelled-jsonl:article:a1" and recs[0].article_title == "Tramvai"
    assert recs[1].lang == "en" and recs[1].labels["mocking"] is None and recs[1].article_title is None


def test_bad_label_value_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "comments.jsonl").write_text('{"id": "1", "text": "x", "abusive": 2}\n', encoding="utf-8")
    with pytest.raises(ConverterError, match=r"comments\.jsonl:1 abusive"):
        list(get_converter("labelled_jsonl")(tmp_path))
