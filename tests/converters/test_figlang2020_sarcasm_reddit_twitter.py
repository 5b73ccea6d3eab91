from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.figlang2020_sarcasm_reddit_twitter import clean_turn, convert

SOURCE = "figlang2020-sarcasm-reddit-twitter"
REDDIT = [
    {
        "label": "SARCASM",
        "response": "Genius move, truly the best council we ever had",
        "context": ["Council approves tram line", "They delayed it three years", "Better late than never"],
    },
    {
        "label": "NOT_SARCASM",
        "response": "The buses in Gheorgheni are still packed though.",
        "context": ["Council approves tram line", "Finally some good news"],
    },
    {"label": "NOT_SARCASM", "response": "   ", "context": ["Empty reply", "x"]},
]
TWITTER = [
    {
        "label": "SARCASM",
        "response": "@USER @USER Oh sure , because that worked so well last time 🙄",
        "context": ["@USER The plan is back", "@USER @USER It will work this time"],
    },
    {
        "label": "NOT_SARCASM",
        "response": "@USER Thank you so much for the support ! 🙏 #grateful",
        "context": ["@USER Sending love to all of you"],
    },
    # the same response twice, once per label: a disagreeing repeat is dropped
    {"label": "SARCASM", "response": "@USER Great job , Einstein", "context": ["@USER a", "@USER b"]},
    {"label": "NOT_SARCASM", "response": "@USER Great job , Einstein", "context": ["@USER c", "@USER d"]},
    # an agreeing repeat is kept once
    {"label": "SARCASM", "response": "Best . Idea . Ever .", "context": ["one", "two"]},
    {"label": "SARCASM", "response": "Best . Idea . Ever .", "context": ["three", "four"]},
]


def _write(folder: Path) -> Path:
    for part, rows in (("reddit", REDDIT), ("twitter", TWITTER)):
        (folder / part).mkdir(parents=True)
        path = folder / part / f"sarcasm_detection_shared_task_{part}_training.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_labels_context_and_ids(tmp_path: Path) -> None:
    recs = list(convert(_write(tmp_path / "fig")))
    assert [(r.id.split(":", 1)[1], r.labels["mocking"]) for r in recs] == [
        ("reddit:1", 1),
        ("reddit:2", 0),  # Reddit negatives are comparable replies: 0
        ("twitter:1", 1),
        ("twitter:5", 1),  # agreeing repeat kept once; Twitter NOT_SARCASM and the disagreeing pair dropped
    ]
    assert all(r.labels["abusive"] is None and r.labels["off_topic"] is None for r in recs)
    assert all(r.source == SOURCE and r.licence == "unknown" and r.lang == "en" for r in recs)
    first = recs[0]
    # the thread's first turn is the "article title", the parent the "article text"; middle turns dropped
    assert (
        first.article_title == "Council approves tram line" and first.article_text == "Better late than never"
    )
    assert recs[1].group == first.group  # same thread -> same split
    tweet = recs[2]
    assert tweet.text == "Oh sure , because that worked so well last time 🙄"  # leading @USER run removed
    assert tweet.article_title == "The plan is back" and tweet.article_text == "It will work this time"


def test_parameters(tmp_path: Path) -> None:
    folder = _write(tmp_path / "fig")
    recs = list(convert(folder, parts=("twitter",), twitter_not_sarcasm_as=0, strip_mentions=False))
    assert [r.labels["mocking"] for r in recs] == [1, 0, 1]
    assert recs[1].text.startswith("@USER Thank you") and recs[1].article_text is None
    recs = list(convert(folder, parts=("reddit",), context="parent"))
    assert recs[0].article_title is None and recs[0].article_text == "Better late than never"
    recs = list(convert(folder, parts=("reddit",), context="none"))
    assert all(r.article_title is None and r.article_text is None for r in recs)
    with pytest.raises(ConverterError, match="unknown part"):
        list(convert(folder, parts=("facebook",)))
    with pytest.raises(ConverterError, match="context"):
        list(convert(folder, context="all"))
    with pytest.raises(ConverterError, match="twitter_not_sarcasm_as"):
        list(convert(folder, twitter_not_sarcasm_as=2))


def test_bad_label_and_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "fig"
    (folder / "reddit").mkdir(parents=True)
    bad = {"label": "MAYBE", "response": "hm", "context": ["a"]}
    (folder / "reddit" / "sarcasm_detection_shared_task_reddit_training.jsonl").write_text(
        json.dumps(bad) + "\n", encoding="utf-8"
    )
    with pytest.raises(ConverterError, match="MAYBE"):
        list(convert(folder, parts=("reddit",)))
    with pytest.raises(ConverterError, match="does not exist"):
        list(convert(folder, parts=("twitter",)))


def test_clean_turn_rejoins_split_emoji_sequences() -> None:
    raw = "@USER @USER I can ’ t wait 🤦 🏾 \u200d ♂ \ufe0f ok ✌ \ufe0f"
    assert clean_turn(raw, strip_mentions=True) == "I can ’ t wait 🤦🏾\u200d♂\ufe0f ok ✌\ufe0f"


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    recs = list(get_converter("figlang2020_sarcasm_reddit_twitter")(shared_dataset(SOURCE)))
    counts = collections.Counter((r.id.split(":")[1], r.labels["mocking"]) for r in recs)
    # PROVENANCE: reddit 2200/2200; twitter 2500 sarcastic, one of them also labelled NOT_SARCASM (dropped)
    assert counts == {("reddit", 1): 2200, ("reddit", 0): 2200, ("twitter", 1): 2499}
    assert all(r.article_title and r.article_text for r in recs)  # every reply has >= 2 context turns
    assert not any(r.text.startswith("@USER") for r in recs)
    assert len({r.text for r in recs}) == len(recs)
