"""What the Scorer accepts: lists of comments only, strings only as text, any characters, bounded size.

Property-based (hypothesis) on arbitrary strings - NUL, lone surrogates, zalgo, emoji, RTL marks:
``score`` never raises, gives one Result per input, and ``ok`` scores are finite and in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commentmod.serving import Result, Scorer
from commentmod.serving.result import TRUNCATED
from commentmod.serving.scorer import DEFAULT_CHUNK_SIZE
from commentmod.serving.scorer_inputs import DEFAULT_MAX_CHARS, parse_input

ZALGO = "".join("z" + "\u0300\u0301\u0302\u0316\u0317\u0318\u0352\u0353" for _ in range(120_000))[:1_000_000]
EMOJI = "🙄😂👏🏽🇷🇴👨‍👩‍👧" * 1_000  # 5,000 emoji (with modifiers, flags and ZWJ sequences)
RTL = "\u200f\u202eاحمق\u202c \u200eשלום\u2067abc\u2069 \u061c"


@pytest.fixture(scope="module")
def scorer(tiny_artifact_dir: Path) -> Scorer:
    # fp32: int8 dynamic quantisation makes a score depend slightly on what shares its batch
    return Scorer.load(tiny_artifact_dir, threads=1, model_file="model.fp32.onnx")


def _assert_well_formed(results: list[Result], n: int, labels: tuple[str, ...]) -> None:
    assert len(results) == n
    for r in results:
        assert isinstance(r, Result) and r.status in ("ok", "empty", "error")
        if r.status == "ok":
            assert r.scores is not None and r.flags is not None and set(r.scores) == set(labels)
            assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in r.scores.values())
        else:
            assert r.scores is None and r.flags is None and not r.flagged


# --------------------------------------------------------------------------- a batch, not one comment


@pytest.mark.parametrize(
    ("items", "said"),
    [
        ("hello", "a single str ('hello')"),
        ({"text": "hi", "id": "1"}, "a single dict (keys: text, id)"),
        (b"hello", "Got bytes"),
        (bytearray(b"x"), "Got bytearray"),
        (42, "Got int, which is not iterable"),
        (None, "Got NoneType, which is not iterable"),
    ],
)
def test_a_single_comment_is_a_type_error(scorer: Scorer, items: Any, said: str) -> None:
    for method in (scorer.score, scorer.score_iter):
        with pytest.raises(TypeError) as err:
            method(items)  # score_iter raises at once, not on the first next()
        message = str(err.value)
        assert said in message and "list" in message and "score_iter" in message


def test_a_dataframe_or_single_record_is_a_type_error(scorer: Scorer) -> None:
    from commentmod.model.record import CommentRecord

    class DataFrame:  # what iterating a pandas DataFrame would silently score: its column names
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(["id", "text"])

    with pytest.raises(TypeError, match=r"DataFrame.*to_dict\('records'\)"):
        scorer.score(DataFrame())
    with pytest.raises(TypeError, match="a single record"):
        scorer.score(CommentRecord(id="r", text="hi", source="t", licence="MIT"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- text must be a string


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (5, "got int"),
        (True, "got bool"),
        (2.5, "got float"),
        (b"bytes", "decode it"),
        ({"nested": "dict"}, "got dict"),
        (["a", "list"], "got list"),
        (None, "null"),
    ],
)
def test_non_string_text_is_an_error_never_its_repr(scorer: Scorer, text: Any, said: str) -> None:
    (result,) = scorer.score([{"id": "x", "text": text}])
    assert result.status == "error" and result.id == "x" and result.scores is None
    assert said in (result.error or "")


def test_items_that_are_not_comments_are_errors(scorer: Scorer) -> None:
    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    class Raising(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("broken mapping")

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(["text"])

        def __len__(self) -> int:
            return 1

    items = [b"raw bytes", 3, {"id": Weird(), "text": "hi"}, Raising(), {"text": "ok", "article_text": 7}]
    results = scorer.score(items)
    assert [r.status for r in results] == ["error"] * 5
    assert "decode" in (results[0].error or "") and "no str for you" in (results[2].error or "")
    assert "broken mapping" in (results[3].error or "") and "article_text" in (results[4].error or "")


# --------------------------------------------------------------------------- characters


def _same_scores(scorer: Scorer, a: Any, b: Any) -> bool:
    """``a`` and ``b``, each scored alone, get the same ok scores."""
    (ra,), (rb,) = scorer.score([a]), scorer.score([b])
    assert ra.status == rb.status == "ok" and ra.scores is not None and rb.scores is not None
    return ra.scores == pytest.approx(rb.scores, abs=1e-5)


def test_lone_surrogates_become_replacement_characters(scorer: Scorer) -> None:
    assert _same_scores(scorer, "you \udc80 idiot", "you \ufffd idiot")
    parsed = parse_input({"text": "a\ud800", "id": "i\udfff", "article_title": "t\udc00"})
    assert parsed.item == ("a\ufffd", "t\ufffd", None) and parsed.id == "i\ufffd"


def test_control_characters_are_dropped_or_spaced(scorer: Scorer) -> None:
    assert _same_scores(scorer, "id\x00i\x1bot\x7f", "idiot")  # NUL/ESC/DEL no longer split a word
    assert _same_scores(scorer, "you\x0bidiot\x0cnow", "you idiot now")  # VT, FF, NEL ... separate words
    assert [r.status for r in scorer.score(["\x00\x01\x02", "\x1b\x7f\x9f \t"])] == ["empty", "empty"]
    assert parse_input("tab\tnew\nline\r").item == ("tab\tnew\nline\r", None, None)


# --------------------------------------------------------------------------- bounded size


def test_long_comment_scored_on_its_first_max_chars(tiny_artifact_dir: Path) -> None:
    small = Scorer.load(tiny_artifact_dir, threads=1, max_chars=300, model_file="model.fp32.onnx")
    text = "Ești un cretin, taci din gură. " * 40  # 1,240 characters
    long, head, short = small.score([text, text[:300], "scurt"])
    assert long.extra[TRUNCATED] == {"chars": len(text), "scored_chars": 300}
    assert head.extra == {} and short.extra == {}
    assert _same_scores(small, text, text[:300])
    assert DEFAULT_MAX_CHARS == 20_000 and Scorer.load(tiny_artifact_dir).max_chars == DEFAULT_MAX_CHARS
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="max_chars"):
            Scorer.load(tiny_artifact_dir, max_chars=bad)  # type: ignore[arg-type]


def test_huge_context_is_bounded_too(scorer: Scorer) -> None:
    parsed = parse_input({"text": "x", "article_title": "t" * 10**6, "article_text": "b" * 10**6}, 100, 6000)
    assert parsed.item is not None and parsed.truncated_from is None
    assert len(parsed.item[1] or "") == 6000 and len(parsed.item[2] or "") == 6000
    assert scorer.context_chars >= 4 * scorer.rule.article_text_chars


def test_score_works_in_bounded_chunks(scorer: Scorer) -> None:
    chunks: list[int] = []
    real = scorer._score_chunk

    def spy(items: list[Any], windows_per_batch: int | None = None) -> list[Result]:
        chunks.append(len(items))
        return real(items, windows_per_batch)

    items = [f"comentariu {i}" if i % 7 else "" for i in range(2 * DEFAULT_CHUNK_SIZE + 5)]
    scorer._score_chunk = spy  # type: ignore[method-assign]
    try:
        results = scorer.score(iter(items))  # any iterable, consumed chunk by chunk
    finally:
        del scorer._score_chunk
    assert chunks == [DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE, 5]
    assert [r.status for r in results] == ["ok" if i % 7 else "empty" for i in range(len(items))]


# --------------------------------------------------------------------------- properties

ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
NASTY = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u200f", "\u202e", "\ufeff", "\u0301", "🙄", "\r\n", " "]
)
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=200),
    st.lists(st.one_of(NASTY, st.text(ANY_CHAR, max_size=5)), max_size=60).map("".join),
    st.sampled_from([ZALGO, EMOJI, RTL * 50, "\x00" * 50_000, "\ud800" * 30_000]),
)
ITEMS = st.one_of(
    TEXTS,
    st.fixed_dictionaries(
        {"text": st.one_of(TEXTS, st.integers(), st.booleans(), st.none(), st.binary(max_size=10))},
        optional={"id": st.one_of(st.text(ANY_CHAR, max_size=10), st.integers()), "article_title": TEXTS},
    ),
    st.integers(),
    st.none(),
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(items=st.lists(ITEMS, max_size=6))
def test_any_input_gives_one_well_formed_result_each(scorer: Scorer, items: list[Any]) -> None:
    results = scorer.score(items)
    _assert_well_formed(results, len(items), scorer.labels)
    for item, result in zip(items, results, strict=True):
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            assert result.status == "error"  # never the repr of a non-string scored as ok


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_any_string_scores_or_is_empty(scorer: Scorer, text: str) -> None:
    (result,) = scorer.score([text])
    _assert_well_formed([result], 1, scorer.labels)
    assert result.status in ("ok", "empty")
    assert (TRUNCATED in result.extra) == (len(text) > scorer.max_chars and result.status == "ok")


def test_the_named_attacks(scorer: Scorer) -> None:
    attacks = [ZALGO, EMOJI, RTL, "a\x00b" * 1000, "\udc80" * 10, "\x00", "\u202e" * 100]
    results = scorer.score(attacks)
    _assert_well_formed(results, len(attacks), scorer.labels)
    assert [r.status for r in results] == ["ok"] * 5 + ["empty", "ok"]
    assert TRUNCATED in results[0].extra and TRUNCATED not in results[1].extra
