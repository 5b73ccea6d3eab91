"""Surface cues of a comment and how well one cue alone separates a label (ROC AUC).

A surface cue is something a model can read off the text without understanding it: an emoji, a "!",
the length, capital letters, the script, a link. Labels must follow meaning (``LABELING.md``,
"Surface cues are not labels"), so a labelled corpus should not let any single cue predict a label.
``tests/test_starter_cues.py`` checks the starter corpus with these functions; probe sets can reuse
them.

API: ``CUES`` maps a cue name to a function ``text -> float`` (1.0/0.0 for yes/no cues), and
``cue_auc(values, labels)`` is the ROC AUC of the values as a score for the positive label (0.5 = no
signal; a value under 0.5 means the cue predicts the negative class, so callers that only care about
strength use ``max(auc, 1 - auc)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ...model.emoji import has_emoji

SINCERE_EMOJI = ("👏", "🙏", "❤", "😊", "😢")  # ❤ matches ❤️ too (the variation selector follows)
DERISIVE_EMOJI = ("🙄", "😂", "🤡")
QUOTE_CHARS = "\"“”«»„'‘’"  # straight and typographic quotes, apostrophes
_URL = re.compile(
    r"https?://|www\.|\bt\.me/|\b[a-z0-9][a-z0-9-]*\.(?:example|com|net|org|ro|md|ua|ru|uk|io|info)\b",
    re.IGNORECASE,
)


def _flag(hit: bool) -> float:
    return 1.0 if hit else 0.0


def emoji_cue(text: str) -> float:
    """1.0 when the text has any emoji character."""
    return _flag(has_emoji(text))


def has_sincere_emoji(text: str) -> float:
    """1.0 when the text has one of the emoji usually read as sincere: 👏 🙏 ❤️ 😊 😢."""
    return _flag(any(e in text for e in SINCERE_EMOJI))


def has_derisive_emoji(text: str) -> float:
    """1.0 when the text has one of the emoji usually read as derisive: 🙄 😂 🤡."""
    return _flag(any(e in text for e in DERISIVE_EMOJI))


def has_exclamation(text: str) -> float:
    return _flag("!" in text)


def has_question(text: str) -> float:
    return _flag("?" in text)


def has_quotes(text: str) -> float:
    """1.0 when the text has a quotation mark or apostrophe of any style (" “ ” « » „ ' ‘ ’)."""
    return _flag(any(ch in QUOTE_CHARS for ch in text))


def length(text: str) -> float:
    """Length in characters."""
    return float(len(text))


def caps_share(text: str) -> float:
    """Share of the letters that are upper case (0.0 when there are no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ch.isupper() for ch in letters) / len(letters)


def has_caps_word(text: str) -> float:
    """1.0 when a word of three or more letters is written in capitals (shouting, acronyms)."""
    return _flag(any(len(w) >= 3 and w.isupper() for w in re.findall(r"[^\W\d_]+", text)))


def cyrillic_share(text: str) -> float:
    """Share of the letters that are Cyrillic: 0.0 for Latin script, 1.0 for Cyrillic."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum("\u0400" <= ch <= "\u04ff" for ch in letters) / len(letters)


def has_url(text: str) -> float:
    """1.0 when the text has a link or a bare domain (http://, www., t.me/, name.com)."""
    return _flag(bool(_URL.search(text)))


def has_ellipsis(text: str) -> float:
    return _flag("..." in text or "…" in text)


CUES: dict[str, Callable[[str], float]] = {
    "emoji": emoji_cue,
    "sincere_emoji": has_sincere_emoji,
    "derisive_emoji": has_derisive_emoji,
    "exclamation": has_exclamation,
    "question": has_question,
    "quotes": has_quotes,
    "length": length,
    "caps_share": caps_share,
    "caps_word": has_caps_word,
    "cyrillic": cyrillic_share,
    "url": has_url,
    "ellipsis": has_ellipsis,
}


def cue_auc(values: Sequence[float], labels: Sequence[int]) -> float:
    """ROC AUC of ``values`` as a score for ``labels`` == 1; ties count half (Mann-Whitney U).

    Raises ``ValueError`` when the lengths differ or one class is empty (the AUC is undefined).
    """
    scores = np.asarray(values, dtype=float)
    truth = np.asarray(labels, dtype=int)
    if scores.shape != truth.shape:
        raise ValueError(f"cue_auc: {scores.size} values but {truth.size} labels; pass one value per label")
    n_pos = int((truth == 1).sum())
    n_neg = int((truth == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"cue_auc: needs both classes, found {n_pos} positive and {n_neg} negative labels")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=float)
    start = 0
    while start < scores.size:  # average rank over each run of tied scores
        end = start
        while end + 1 < scores.size and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    u = ranks[truth == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
