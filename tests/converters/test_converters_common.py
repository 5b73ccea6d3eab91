from __future__ import annotations

from pathlib import Path

import pytest

from commentmod.model.errors import CommentmodError
from commentmod.training.data.converters._common import (
    ConverterError,
    UniqueIds,
    any_label,
    binary,
    clean_comment,
    fix_mojibake,
    read_csv,
    read_jsonl,
    vote_label,
)


def test_clean_comment_strips_invisibles_keeps_emoji_and_misspellings() -> None:
    raw = "\ufeff  bravo\u200b, încă un termen ratat 👏\r\nsa li se urce la cap\x07 👨\u200d👩\u200d👧 "
    assert clean_comment(raw) == "bravo, încă un termen ratat 👏\nsa li se urce la cap 👨\u200d👩\u200d👧"
    assert clean_comment(None) == ""


def test_fix_mojibake_only_when_it_round_trips() -> None:
    assert fix_mojibake("Aici vezi Ã®n timp real") == "Aici vezi în timp real"
    assert fix_mojibake("TricÄƒ: sÄƒ cÃ®ÅŸtige") == "Trică: să cîştige"
    assert fix_mojibake("AFARÃ DIN CASE") == "AFARÃ DIN CASE"  # not UTF-8 mojibake: left alone
    assert fix_mojibake("Știri de Cluj") == "Știri de Cluj"


def test_vote_label_three_values_and_bad_thresholds() -> None:
    assert [vote_label(v, positive_min_votes=2, negative_max_votes=0) for v in (0, 1, 2, 5)] == [
        0,
        None,
        1,
        1,
    ]
    with pytest.raises(ConverterError):
        vote_label(1, positive_min_votes=1, negative_max_votes=1)


def test_any_label_is_three_valued_or() -> None:
    assert any_label([0, None, 1]) == 1
    assert any_label([0, 0]) == 0
    assert any_label([0, None]) is None
    assert any_label([]) is None


def test_unique_ids_suffix_and_skip_repeats() -> None:
    ids = UniqueIds()
    assert ids.make("a", "x") == "a"
    assert ids.make("a", "x") is None
    assert ids.make("a", "y") == "a#2"


def test_binary_and_errors_are_commentmod_errors() -> None:
    assert binary("1.0", where="w") == 1 and binary(0, where="w") == 0 and binary(True, where="w") == 1
    with pytest.raises(ConverterError, match="expected 0 or 1"):
        binary("2", where="w")
    assert issubclass(ConverterError, CommentmodError)


def test_read_csv_handles_bom_quoted_newlines_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes('\ufeffid,text\r\n1,"two\r\nlines, ""quoted"""\r\n'.encode())
    assert list(read_csv(path, ("id", "text"))) == [{"id": "1", "text": 'two\r\nlines, "quoted"'}]
    with pytest.raises(ConverterError, match="missing column"):
        list(read_csv(path, ("label",)))
    with pytest.raises(ConverterError, match="does not exist"):
        list(read_csv(tmp_path / "nope.csv"))


def test_read_jsonl_reports_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{oops\n', encoding="utf-8")
    with pytest.raises(ConverterError, match=r"a\.jsonl:3"):
        list(read_jsonl(path))
