"""No single surface cue predicts a label in the starter corpus (LABELING.md, "Surface cues are not labels").

For every label and every cue in ``commentmod.training.data.cues.CUES``, the ROC AUC of the cue value alone
as a score for the label must stay within ``0.5 ± 0.15`` (``max(auc, 1 - auc) <= 0.65``) on the whole
corpus, and the same holds per language for emoji, "!", "?" and length wherever the language has at
least 15 positives of the label. The old corpus failed this: emoji alone scored mocking at AUC 0.95.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training.data.converters.starter import LANGS, convert
from commentmod.training.data.cues import CUES, cue_auc

MAX_AUC = 0.65
PER_LANG_CUES = ("emoji", "exclamation", "question", "length")
MIN_POSITIVES_PER_LANG = 15


def cue_violations(
    rows: Sequence[tuple[str, dict[str, int]]], cues: Iterable[str], *, where: str, min_positives: int = 1
) -> list[str]:
    """One line per (label, cue) whose AUC strength ``max(auc, 1 - auc)`` is above ``MAX_AUC``."""
    found = []
    for label in LABELS:
        truth = [labels[label] for _, labels in rows]
        if sum(truth) < min_positives or sum(truth) == len(truth):
            continue
        for cue in cues:
            auc = cue_auc([CUES[cue](text) for text, _ in rows], truth)
            strength = max(auc, 1.0 - auc)
            if strength > MAX_AUC:
                side = "positive" if auc > 0.5 else "negative"
                found.append(
                    f"{where}: cue {cue!r} alone predicts {label} (AUC {auc:.3f}, strength {strength:.3f} "
                    f"> {MAX_AUC}; higher on the {side} class, n+={sum(truth)})"
                )
    return found


def _rows(records: Iterable[CommentRecord]) -> list[tuple[str, dict[str, int]]]:
    return [(r.text, {k: int(v or 0) for k, v in r.labels.items()}) for r in records]


@pytest.fixture(scope="module")
def records() -> list[CommentRecord]:
    return list(convert())


def test_no_cue_predicts_a_label_on_the_whole_corpus(records: list[CommentRecord]) -> None:
    problems = cue_violations(_rows(records), CUES, where="all languages")
    assert not problems, "surface shortcuts in the starter corpus:\n" + "\n".join(problems)


def test_no_cue_predicts_a_label_within_a_language(records: list[CommentRecord]) -> None:
    problems: list[str] = []
    checked = 0
    for lang in LANGS:
        rows = _rows(r for r in records if r.lang == lang)
        checked += sum(sum(labels[k] for _, labels in rows) >= MIN_POSITIVES_PER_LANG for k in LABELS)
        problems += cue_violations(rows, PER_LANG_CUES, where=lang, min_positives=MIN_POSITIVES_PER_LANG)
    assert checked == len(LANGS) * len(LABELS), "every language should have enough positives to be checked"
    assert not problems, "surface shortcuts within a language:\n" + "\n".join(problems)


def test_the_check_catches_an_emoji_shortcut() -> None:
    # The old corpus in miniature: nearly every mocking comment has an emoji, almost no other one does.
    mocking = {"abusive": 0, "mocking": 1, "off_topic": 0}
    plain = {"abusive": 0, "mocking": 0, "off_topic": 0}
    rows = [(f"Bravo, încă un termen ratat nr. {i} 👏", mocking) for i in range(20)]
    rows += [(f"Termenul nr. {i} era nerealist.", plain) for i in range(18)]
    rows += [(f"Mulțumim pompierilor, echipa {i} 🙏", plain) for i in range(2)]
    problems = cue_violations(rows, ["emoji", "length"], where="toy")
    assert any("'emoji'" in p and "mocking" in p for p in problems), problems
    assert not any("abusive" in p for p in problems)  # one class only: no AUC, no complaint


def test_cue_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=300)
    for values in (rng.normal(size=300) + labels, rng.integers(0, 3, size=300).astype(float)):
        assert cue_auc(values.tolist(), labels.tolist()) == pytest.approx(roc_auc_score(labels, values))
    assert cue_auc([1.0, 1.0, 0.0], [1, 0, 0]) == pytest.approx(0.75)


def test_cue_auc_rejects_one_class_and_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="both classes"):
        cue_auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="2 values but 3 labels"):
        cue_auc([0.1, 0.2], [1, 0, 1])


@pytest.mark.parametrize(
    ("cue", "text", "expected"),
    [
        ("emoji", "Mulțumim ❤️", 1.0),
        ("emoji", "Bravo 👏👏", 1.0),
        ("emoji", "Bravo: 3-0, 100%!", 0.0),
        ("sincere_emoji", "Дякуємо ❤️", 1.0),
        ("sincere_emoji", "🤡", 0.0),
        ("derisive_emoji", "sure 🙄", 1.0),
        ("derisive_emoji", "thanks 🙏", 0.0),
        ("exclamation", "Hai Dacia!", 1.0),
        ("question", "Cine răspunde?", 1.0),
        ("quotes", "«три місяці»", 1.0),
        ("quotes", "it's late", 1.0),
        ("quotes", "Fara ghilimele", 0.0),
        ("length", "abc", 3.0),
        ("caps_share", "ABcd", 0.5),
        ("caps_share", "123", 0.0),
        ("caps_word", "Sefii de la DRDP", 1.0),
        ("caps_word", "I am OK", 0.0),
        ("cyrillic", "Привіт", 1.0),
        ("cyrillic", "Salut", 0.0),
        ("url", "vezi https://x.example/a", 1.0),
        ("url", "Book now at sunnydeals.example", 1.0),
        ("url", "t.me/crypto_signals", 1.0),
        ("url", "3.5 lei, Wi-Fi.", 0.0),
        ("ellipsis", "vom vedea...", 1.0),
        ("ellipsis", "vom vedea…", 1.0),
        ("ellipsis", "vom vedea.", 0.0),
    ],
)
def test_cue_values(cue: str, text: str, expected: float) -> None:
    assert CUES[cue](text) == pytest.approx(expected)


def test_counterfactual_kinds_in_every_language(records: list[CommentRecord]) -> None:
    # The kinds of comment that break each shortcut
    # (training/data/starter/README.md, "Counterfactual design").
    kinds = {
        "mocking without emoji": (15, lambda t, y: y["mocking"] == 1 and CUES["emoji"](t) == 0),
        "mocking with emoji": (5, lambda t, y: y["mocking"] == 1 and CUES["emoji"](t) == 1),
        "sincere emoji, not mocking": (10, lambda t, y: y["mocking"] == 0 and CUES["sincere_emoji"](t) == 1),
        "🙄 😂 🤡, not mocking": (5, lambda t, y: y["mocking"] == 0 and CUES["derisive_emoji"](t) == 1),
        "abusive, over 250 characters": (5, lambda t, y: y["abusive"] == 1 and len(t) > 250),
        "off-topic without a link": (20, lambda t, y: y["off_topic"] == 1 and CUES["url"](t) == 0),
        "on-topic with a link": (1, lambda t, y: y["off_topic"] == 0 and CUES["url"](t) == 1),
        "all caps, not abusive": (5, lambda t, y: y["abusive"] == 0 and CUES["caps_share"](t) > 0.5),
        "all caps, abusive": (2, lambda t, y: y["abusive"] == 1 and CUES["caps_share"](t) > 0.5),
    }
    missing = []
    for lang in LANGS:
        rows = _rows(r for r in records if r.lang == lang)
        for name, (minimum, test) in kinds.items():
            n = sum(test(text, labels) for text, labels in rows)
            if n < minimum:
                missing.append(f"{lang}: {n} comments of kind {name!r}, want at least {minimum}")
    assert not missing, "\n".join(missing)
