from __future__ import annotations

import pytest

from commentmod.model import (
    LABELS,
    CommentRecord,
    ContextRule,
    RecordError,
    assemble_windows,
    context_text,
    normalise_for_dedup,
)


def test_labels_order_is_fixed() -> None:
    assert LABELS == ("abusive", "mocking", "off_topic")


def test_record_fills_missing_labels_with_none_and_roundtrips() -> None:
    rec = CommentRecord(id="1", text="hi", source="s", licence="MIT", labels={"abusive": True})
    assert rec.labels == {"abusive": 1, "mocking": None, "off_topic": None}
    assert rec.group == "s:1"
    assert CommentRecord.from_row(rec.to_row()) == rec


@pytest.mark.parametrize("bad", [{"abusive": 2}, {"spam": 1}, {"mocking": "yes"}])
def test_record_rejects_bad_labels(bad: dict) -> None:
    with pytest.raises(RecordError):
        CommentRecord(id="1", text="x", source="s", licence="MIT", labels=bad)


def test_context_text_joins_title_and_body_and_handles_none() -> None:
    rule = ContextRule(article_text_chars=5)
    assert context_text(None, "  ", rule) is None
    assert context_text("Title", "Body text here", rule) == "Title\nBody "


def test_short_comment_with_context_is_one_pair_window() -> None:
    rule = ContextRule(max_length=32, min_context_tokens=4, max_context_tokens=16, stride=2)
    windows = assemble_windows([10, 11], [20, 21, 22], rule)
    assert windows == [[0, 10, 11, 2, 2, 20, 21, 22, 2]]
    assert assemble_windows([10], None, rule) == [[0, 10, 2]]


def test_context_is_truncated_before_comment_then_comment_is_windowed() -> None:
    rule = ContextRule(max_length=32, min_context_tokens=4, max_context_tokens=16, stride=2)
    ctx = list(range(100, 120))
    # comment of 20 tokens: context shrinks to 32-4-20 = 8 tokens, comment kept whole
    windows = assemble_windows(list(range(20)), ctx, rule)
    assert len(windows) == 1 and len(windows[0]) == 32
    assert windows[0][1:21] == list(range(20))
    # comment of 60 tokens: context at its minimum (4), comment split into overlapping windows
    comment = list(range(1000, 1060))
    windows = assemble_windows(comment, ctx, rule)
    assert len(windows) > 1
    assert all(len(w) <= 32 for w in windows)
    seen = [t for w in windows for t in w if t >= 1000]
    assert set(seen) == set(comment)
    assert all(w[-5:-1] == ctx[:4] for w in windows)


def test_dedup_key_folds_case_diacritics_and_punctuation() -> None:
    assert normalise_for_dedup("Ești  un CRETIN!!") == normalise_for_dedup("esti un cretin")
    assert normalise_for_dedup("Şi ţara") == normalise_for_dedup("și țara")


class _Enc:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids


class _CharTokenizer:
    """One id per character (code point), enough to see what the model would read."""

    def encode_batch(self, inputs: list[str], add_special_tokens: bool = False) -> list[_Enc]:
        return [_Enc([ord(c) for c in text]) for text in inputs]


def test_strip_emoji_rule_reads_the_comment_without_its_emoji() -> None:
    from commentmod.model.emoji import strip_emoji
    from commentmod.model.inputs import Item, encode_items

    text = "Truly inspiring leadership 👏👏🏽, as always 🙄"
    items = [Item.clean(text, "Council budget", None), Item.clean("👍", None, None)]
    plain, stripped = ContextRule(), ContextRule(strip_emoji=True)
    kept = encode_items(_CharTokenizer(), items, plain)
    hidden = encode_items(_CharTokenizer(), items, stripped)
    assert kept[0] != hidden[0]
    assert (
        hidden[0]
        == encode_items(_CharTokenizer(), [Item.clean(strip_emoji(text), "Council budget")], plain)[0]
    )
    assert "".join(map(chr, hidden[0][0][1:])).startswith("Truly inspiring leadership, as always\x02")
    assert hidden[1] == [[0, 2]]  # an emoji-only comment is an empty comment to the transformer
    assert ContextRule.from_dict(stripped.to_dict()) == stripped
    assert ContextRule.from_dict({"max_length": 256}).strip_emoji is False  # rules written before it
    with pytest.raises(ValueError, match="strip_emoji is a str 'yes', expected true or false"):
        ContextRule.from_dict({"strip_emoji": "yes"})
    with pytest.raises(ValueError, match="max_length is a bool True, expected an integer"):
        ContextRule.from_dict({"max_length": True})
