"""The counterfactual shortcut probe set (package data) and its scoring module."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commentmod.model.emoji import has_emoji, strip_emoji
from commentmod.model.inputs import normalise_for_dedup
from commentmod.model.labels import LABELS
from commentmod.training.report.probe import (
    KIND_LABELS,
    KINDS,
    LANGS,
    LONG_MIN_CHARS,
    URL_RE,
    ProbeError,
    ProbeRow,
    counterfactual_pairs,
    load_probe,
    parse_probe,
    probe_items,
    probe_report,
)
from commentmod.training.report.probe_render import render_probe_md


@pytest.fixture(scope="module")
def rows() -> list[ProbeRow]:
    return load_probe()


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, Any]]:
    text = resources.files("commentmod.training.report").joinpath("probe", "probe.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- the data


def test_packaged_file_loads_and_validates(rows: list[ProbeRow], raw_rows: list[dict[str, Any]]) -> None:
    assert 160 <= len(rows) <= 240
    assert len(rows) == len(raw_rows)
    for row, raw in zip(rows, raw_rows, strict=True):
        assert row.id == raw["id"]
        assert row.item == (raw["text"], raw["article_title"], raw["article_text"])
        assert dict(row.labels) == {k: raw[k] for k in LABELS}
    assert probe_items(rows) == [r.item for r in rows]


def test_every_kind_in_every_language(rows: list[ProbeRow]) -> None:
    per_lang = Counter(r.lang for r in rows)
    assert set(per_lang) == set(LANGS)
    assert min(per_lang.values()) >= 40
    assert max(per_lang.values()) <= 1.25 * min(per_lang.values()), per_lang  # roughly equal
    cells = Counter((r.lang, r.kind) for r in rows)
    for lang in LANGS:
        for kind in KINDS:
            assert cells[lang, kind] >= 4, (lang, kind, cells[lang, kind])


def test_labels_and_texts_consistent_with_kinds(raw_rows: list[dict[str, Any]]) -> None:
    for row in raw_rows:
        kind, text = row["kind"], row["text"]
        assert {k: row[k] for k in LABELS} == KIND_LABELS[kind], row["id"]
        if kind in ("sincere_emoji", "mocking_emoji"):
            assert has_emoji(text), row["id"]
        if kind == "mocking_no_emoji":
            assert not has_emoji(text), row["id"]
        if kind in ("insult_long", "clean_long"):
            assert len(text) >= LONG_MIN_CHARS, row["id"]
        if kind == "spam_no_link":
            assert not URL_RE.search(text), row["id"]
            assert "http" not in text.lower(), row["id"]


def test_articles_invented_with_several_comments_each(raw_rows: list[dict[str, Any]]) -> None:
    by_title = Counter((r["lang"], r["article_title"]) for r in raw_rows)
    assert all(n >= 5 for n in by_title.values()), by_title
    for lang in LANGS:
        assert sum(1 for lg, _ in by_title if lg == lang) >= 4
    bodies = {(r["article_title"], r["article_text"]) for r in raw_rows}
    assert len(bodies) == len(by_title)  # one text per title
    for _, body in bodies:
        assert 2 <= sum(body.count(c) for c in ".!?") <= 4, body


def test_no_duplicates(rows: list[ProbeRow]) -> None:
    assert len({r.id for r in rows}) == len(rows)
    assert len({r.text for r in rows}) == len(rows)
    # Folding away emoji, only the counterfactual twins may coincide.
    folded = Counter(normalise_for_dedup(strip_emoji(r.text)) for r in rows)
    twins = {normalise_for_dedup(rows[j].text) for _, j in counterfactual_pairs(rows)}
    assert {key for key, n in folded.items() if n > 1} <= twins
    assert max(folded.values()) <= 2


def test_no_overlap_with_starter(rows: list[ProbeRow]) -> None:
    starter_file = resources.files("commentmod.training.data").joinpath("starter", "starter.jsonl")
    starter = starter_file.read_text("utf-8")
    starter_rows = [json.loads(line) for line in starter.splitlines() if line.strip()]
    simple = {" ".join(r["text"].split()).casefold() for r in starter_rows}
    folded = {normalise_for_dedup(r["text"]) for r in starter_rows}
    titles = {r["article_title"] for r in starter_rows}
    for r in rows:
        assert " ".join(r.text.split()).casefold() not in simple, r.id
        assert normalise_for_dedup(r.text) not in folded, r.id
        assert r.article_title not in titles, r.id


def test_counterfactual_pairs_exist(rows: list[ProbeRow]) -> None:
    pairs = counterfactual_pairs(rows)
    emoji_rows = [i for i, r in enumerate(rows) if r.kind == "mocking_emoji"]
    plain_rows = [j for j, r in enumerate(rows) if r.kind == "mocking_no_emoji"]
    assert sorted(i for i, _ in pairs) == emoji_rows  # every emoji row has a twin
    assert sorted(j for _, j in pairs) == plain_rows  # and every twin is used once
    for i, j in pairs:
        assert rows[i].lang == rows[j].lang and rows[i].article_title == rows[j].article_title
        assert strip_emoji(rows[i].text) == rows[j].text
    per_lang = Counter(rows[i].lang for i, _ in pairs)
    assert all(per_lang[lang] >= 5 for lang in LANGS), per_lang
    # 👏 appears both sincerely and derisively, in every language.
    for lang in LANGS:
        assert any("👏" in r.text for r in rows if r.lang == lang and r.kind == "sincere_emoji"), lang
        assert any("👏" in r.text for r in rows if r.lang == lang and r.kind == "mocking_emoji"), lang


# --------------------------------------------------------------------------- validation

GOOD = {
    "id": "probe-en-001",
    "lang": "en",
    "kind": "sincere_emoji",
    "article_title": "Pool reopens",
    "article_text": "The pool reopened. Entry is free.",
    "text": "Great news 👏",
    "abusive": 0,
    "mocking": 0,
    "off_topic": 0,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mocking": 1}, "contradict kind 'sincere_emoji'"),
        ({"text": "Great news"}, "needs at least one emoji"),
        ({"kind": "mocking_no_emoji", "mocking": 1}, "must not contain emoji"),
        ({"kind": "clean_long", "text": "Too short."}, "needs >= 250 characters"),
        (
            {"kind": "spam_no_link", "off_topic": 1, "text": "Buy now at www.shop.example"},
            "must not contain a URL",
        ),
        ({"kind": "sarcasm"}, "kind 'sarcasm' is not one of"),
        ({"lang": "de"}, "lang 'de' is not one of"),
        ({"id": "probe-ro-001"}, "must look like probe-en-001"),
        ({"abusive": True}, "use 0 or 1"),
        ({"text": "  "}, "text must be a non-empty string"),
        ({"pair": "x"}, "unexpected ['pair']"),
    ],
)
def test_parse_rejects_bad_rows_with_clear_errors(change: dict[str, Any], message: str) -> None:
    bad = {**GOOD, **change}
    with pytest.raises(ProbeError, match="line 1") as info:
        parse_probe(json.dumps(bad, ensure_ascii=False))
    assert message in str(info.value)


def test_parse_rejects_missing_keys_duplicates_and_bad_json() -> None:
    missing = {k: v for k, v in GOOD.items() if k != "kind"}
    with pytest.raises(ProbeError, match=r"missing \['kind'\]"):
        parse_probe(json.dumps(missing))
    twice = json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "text": "Other 👍"})
    with pytest.raises(ProbeError, match="line 2: duplicate id"):
        parse_probe(twice)
    same_text = json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "id": "probe-en-002", "text": " great NEWS 👏"})
    with pytest.raises(ProbeError, match="line 2: duplicate text"):
        parse_probe(same_text)
    with pytest.raises(ProbeError, match="line 2: not JSON"):
        parse_probe(json.dumps(GOOD) + "\n{oops")
    with pytest.raises(ProbeError, match="no rows"):
        parse_probe("\n\n")


def test_load_probe_from_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf-8")
    (row,) = load_probe(path)
    assert row.item == ("Great news 👏", "Pool reopens", "The pool reopened. Entry is free.")
    with pytest.raises(ProbeError, match="not found"):
        load_probe(tmp_path / "absent.jsonl")


# --------------------------------------------------------------------------- report

ART = ("Title", "Body one. Body two.")


def _row(n: int, lang: str, kind: str, text: str) -> ProbeRow:
    labels = dict(KIND_LABELS[kind])
    return ProbeRow(f"probe-{lang}-{n:03d}", lang, kind, text, *ART, labels=labels)


def small_rows() -> list[ProbeRow]:
    """en: 5 sincere, 2 mocking pairs, 2+2 long, 2 disagree, 2 spam; ro: 1 sincere, 1 pair."""
    spec = [
        ("en", "sincere_emoji", "thanks 👏"),
        ("en", "sincere_emoji", "lovely 😊"),
        ("en", "sincere_emoji", "rip 🙏"),
        ("en", "sincere_emoji", "bravo 👍"),
        ("en", "sincere_emoji", "so sad 😢"),
        ("en", "mocking_emoji", "genius plan 🙄"),
        ("en", "mocking_no_emoji", "genius plan"),
        ("en", "mocking_emoji", "ahead of schedule 😂"),
        ("en", "mocking_no_emoji", "ahead of schedule"),
        ("en", "insult_long", "insult a"),
        ("en", "insult_long", "insult b"),
        ("en", "clean_long", "clean a"),
        ("en", "clean_long", "clean b"),
        ("en", "disagree_civil", "no a"),
        ("en", "disagree_civil", "no b"),
        ("en", "spam_no_link", "buy a"),
        ("en", "spam_no_link", "buy b"),
        ("ro", "sincere_emoji", "multumim ❤️"),
        ("ro", "mocking_emoji", "bravo, inca un termen ratat 👏"),
        ("ro", "mocking_no_emoji", "bravo, inca un termen ratat"),
    ]
    return [_row(i, lang, kind, text) for i, (lang, kind, text) in enumerate(spec, 1)]


def by_rule(rows: list[ProbeRow], rule: Any) -> np.ndarray:
    """[N, 3] probabilities: rule(row) -> (abusive, mocking, off_topic)."""
    return np.asarray([rule(r) for r in rows], dtype=np.float64)


def emoji_model(r: ProbeRow) -> tuple[float, float, float]:
    return (0.0, 0.9 if has_emoji(r.text) else 0.1, 0.0)


def meaning_model(r: ProbeRow) -> tuple[float, float, float]:
    return (float(r.labels["abusive"]), 0.8 * r.labels["mocking"], float(r.labels["off_topic"]))


def test_report_emoji_shortcut_model_fails() -> None:
    rows = small_rows()
    rep = probe_report(rows, by_rule(rows, emoji_model), {"mocking": 0.5})
    o = rep["overall"]
    assert o["sincere_emoji"]["mocking"] == {"n": 6, "flagged": 6, "rate": 1.0}
    assert o["mocking"]["recall_emoji"] == {"n": 3, "flagged": 3, "rate": 1.0}
    assert o["mocking"]["recall_no_emoji"] == {"n": 3, "flagged": 0, "rate": 0.0}
    assert o["mocking"]["gap_points"] == 100.0
    assert o["mocking"]["pairs"] == {"n": 3, "both": 0, "emoji_only": 3, "no_emoji_only": 0}
    assert rep["targets"]["sincere_emoji_mocking"]["passed"] is False
    assert rep["targets"]["mocking_emoji_gap"]["passed"] is False
    assert rep["passed"] is False
    json.dumps(rep)  # JSON-ready


def test_report_model_that_ignores_emoji_passes() -> None:
    rows = small_rows()
    rep = probe_report(rows, by_rule(rows, meaning_model), {"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5})
    o = rep["overall"]
    assert o["sincere_emoji"]["mocking"]["rate"] == 0.0
    assert o["mocking"]["recall_emoji"]["rate"] == o["mocking"]["recall_no_emoji"]["rate"] == 1.0
    assert o["mocking"]["gap_points"] == 0.0
    assert o["mocking"]["pairs"]["both"] == 3
    assert o["abusive"] == {
        "recall_insult_long": {"n": 2, "flagged": 2, "rate": 1.0},
        "flag_rate_clean_long": {"n": 2, "flagged": 0, "rate": 0.0},
    }
    assert o["off_topic"]["recall_spam_no_link"] == {"n": 2, "flagged": 2, "rate": 1.0}
    assert o["disagree_civil"]["any"] == {"n": 2, "flagged": 0, "rate": 0.0}
    assert rep["passed"] is True


def test_report_hand_computed_rates_thresholds_and_languages() -> None:
    rows = small_rows()
    probs = np.zeros((len(rows), 3))
    ids = {r.text: i for i, r in enumerate(rows)}
    mocking = {"thanks 👏": 0.7, "genius plan 🙄": 0.95, "ahead of schedule 😂": 0.7, "genius plan": 0.69}
    mocking |= {"bravo, inca un termen ratat": 0.8, "multumim ❤️": 0.1, "no a": 0.9}
    for text, p in mocking.items():
        probs[ids[text], 1] = p
    probs[ids["insult a"], 0] = 0.6  # flagged at abusive threshold 0.6 (p >= t)
    probs[ids["insult b"], 0] = 0.59
    probs[ids["clean b"], 0] = 0.99
    probs[ids["buy a"], 2] = 0.5
    probs[ids["no b"], 2] = 0.5
    rep = probe_report(rows, probs, {"abusive": 0.6, "mocking": 0.7})  # off_topic defaults to 0.5
    assert rep["thresholds"] == {"abusive": 0.6, "mocking": 0.7, "off_topic": 0.5}
    o = rep["overall"]
    assert o["sincere_emoji"]["mocking"] == {"n": 6, "flagged": 1, "rate": 1 / 6}
    assert o["mocking"]["recall_emoji"] == {"n": 3, "flagged": 2, "rate": 2 / 3}  # ro 👏 row is 0.0
    assert o["mocking"]["recall_no_emoji"] == {"n": 3, "flagged": 1, "rate": 1 / 3}
    assert o["mocking"]["gap_points"] == pytest.approx(100 / 3)
    assert o["mocking"]["pairs"] == {"n": 3, "both": 0, "emoji_only": 2, "no_emoji_only": 1}
    assert o["abusive"]["recall_insult_long"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert o["abusive"]["flag_rate_clean_long"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert o["off_topic"]["recall_spam_no_link"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert o["disagree_civil"]["mocking"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert o["disagree_civil"]["off_topic"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert o["disagree_civil"]["any"] == {"n": 2, "flagged": 2, "rate": 1.0}
    en, ro = rep["by_lang"]["en"], rep["by_lang"]["ro"]
    assert en["sincere_emoji"]["mocking"] == {"n": 5, "flagged": 1, "rate": 0.2}
    assert en["mocking"]["gap_points"] == 100.0  # 2/2 vs 0/2
    assert en["mocking"]["pairs"] == {"n": 2, "both": 0, "emoji_only": 2, "no_emoji_only": 0}
    assert ro["mocking"]["gap_points"] == -100.0  # 0/1 vs 1/1
    assert ro["mocking"]["pairs"] == {"n": 1, "both": 0, "emoji_only": 0, "no_emoji_only": 1}
    assert ro["abusive"]["recall_insult_long"] == {"n": 0, "flagged": 0, "rate": None}
    assert ro["targets"]["sincere_emoji_mocking"]["passed"] is True
    assert ro["targets"]["mocking_emoji_gap"]["passed"] is False
    assert rep["counts"]["ro"] == {
        k: (1 if k in ("sincere_emoji", "mocking_emoji", "mocking_no_emoji") else 0) for k in KINDS
    }
    assert rep["targets"]["sincere_emoji_mocking"]["value"] == 1 / 6
    assert rep["targets"]["sincere_emoji_mocking"]["passed"] is False
    assert rep["targets"]["mocking_emoji_gap"]["passed"] is False


def test_targets_pass_exactly_at_the_limits() -> None:
    rows = [_row(i, "en", "sincere_emoji", f"thanks {i} 👏") for i in range(1, 11)]
    for i in range(10):
        rows += [
            _row(20 + 2 * i, "en", "mocking_emoji", f"sure {i} 🙄"),
            _row(21 + 2 * i, "en", "mocking_no_emoji", f"sure {i}"),
        ]
    probs = np.zeros((len(rows), 3))
    probs[0, 1] = 1.0  # 1 of 10 sincere flagged: 10 %
    probs[10:, 1] = 1.0
    probs[11, 1] = 0.0  # the first plain twin missed: 9/10 vs 10/10 = 10 points
    rep = probe_report(rows, probs, {})
    assert rep["targets"]["sincere_emoji_mocking"]["value"] == 0.1
    assert rep["targets"]["mocking_emoji_gap"]["value"] == 10.0
    assert rep["passed"] is True
    probs[1, 1] = 1.0  # 2 of 10: 20 %
    assert probe_report(rows, probs, {})["targets"]["sincere_emoji_mocking"]["passed"] is False


def test_report_on_a_label_subset_and_bad_probs() -> None:
    rows = small_rows()
    probs = by_rule(rows, emoji_model)[:, 1:2]
    rep = probe_report(rows, probs, {"mocking": 0.5}, labels=("mocking",))
    assert "abusive" not in rep["overall"] and "off_topic" not in rep["overall"]
    assert set(rep["overall"]["sincere_emoji"]) == {"mocking"}
    assert rep["passed"] is False
    no_mocking = probe_report(rows, np.zeros((len(rows), 1)), {}, labels=("abusive",))
    assert no_mocking["targets"]["mocking_emoji_gap"]["value"] is None
    assert no_mocking["passed"] is None
    with pytest.raises(ProbeError, match=r"probs has shape \(20, 2\); expected \(20, 3\)"):
        probe_report(rows, np.zeros((len(rows), 2)), {})
    with pytest.raises(ProbeError, match="not logits"):
        probe_report(rows, np.full((len(rows), 3), 3.0), {})
    nan = np.zeros((len(rows), 3))
    nan[0, 0] = np.nan
    with pytest.raises(ProbeError, match="finite"):
        probe_report(rows, nan, {})


def test_packaged_probe_separates_shortcut_from_meaning(rows: list[ProbeRow]) -> None:
    shortcut = probe_report(rows, by_rule(rows, emoji_model), {})
    meaning = probe_report(rows, by_rule(rows, meaning_model), {})
    assert shortcut["passed"] is False and meaning["passed"] is True
    assert shortcut["overall"]["sincere_emoji"]["mocking"]["rate"] == 1.0
    assert set(meaning["by_lang"]) == set(LANGS)
    for lang in LANGS:
        assert shortcut["by_lang"][lang]["targets"]["mocking_emoji_gap"]["passed"] is False
        assert meaning["by_lang"][lang]["targets"]["mocking_emoji_gap"]["passed"] is True


# --------------------------------------------------------------------------- Markdown


def test_render_probe_md_compares_models() -> None:
    rows = small_rows()
    probs = by_rule(rows, meaning_model)
    probs[0, 1] = 0.9  # one sincere en comment flagged mocking: 1/6 overall, 1/5 in en
    reports = {
        "shipped": probe_report(rows, by_rule(rows, emoji_model), {}),
        "transformer": probe_report(rows, probs, {}),
    }
    md = render_probe_md(reports)
    assert "| check | target | shipped | transformer |" in md
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert {ln.count("|") for ln in table} == {5}  # 4 columns in both tables
    line = next(ln for ln in md.splitlines() if ln.startswith("| sincere emoji comments flagged mocking"))
    assert "100.0 % (6/6) **FAIL**" in line
    assert "16.7 % (1/6) **FAIL**" in line
    gap = next(ln for ln in md.splitlines() if ln.startswith("| mocking gap"))
    assert "+100.0 pts **FAIL**" in gap and "+0.0 pts pass" in gap
    assert "| mocking pairs flagged only with emoji |  | 3/3 | 0/3 |" in md
    assert (
        "| en | sincere emoji comments flagged mocking | 100.0 % (5/5) **FAIL** | 20.0 % (1/5) **FAIL** |"
        in md
    )
    assert "| ro | abusive recall, insult in long polite text | – (0/0) | – (0/0) |" in md
    assert "Targets met: shipped **FAIL**, transformer **FAIL**." in md
    with pytest.raises(ProbeError, match="no reports"):
        render_probe_md({})
