"""Counterfactual shortcut probe: does a model flag by surface cue (emoji, length, links) or by meaning?

Data: ``commentmod.training.report/probe/probe.jsonl`` (package data, MIT, written for this project; see
``tests/test_probe.py``). One JSON object per line with keys ``id``, ``lang``, ``kind``,
``article_title``, ``article_text``, ``text``, ``abusive``, ``mocking``, ``off_topic``. Each ``kind``
fixes all three labels (:data:`KIND_LABELS`), so a rate on a kind is a recall or a false-flag rate:

- ``sincere_emoji``: thanks, praise, condolences with 👏🙏❤️😊😢👍 (all labels 0);
- ``mocking_emoji`` / ``mocking_no_emoji``: the same sarcastic comment with and without 🙄😂🤡👏
  (mocking 1); every ``mocking_emoji`` row has a twin whose text is its own with the emoji removed;
- ``insult_long`` / ``clean_long``: long polite comments (>= 250 chars) with / without one buried insult;
- ``disagree_civil``: firm on-topic disagreement (all 0); ``spam_no_link``: ads with no URL (off_topic 1).

:func:`probe_report` turns a model's probabilities on these rows into a JSON-ready dict (overall and per
language, every rate with its counts, plus pass/fail targets); :func:`.probe_render.render_probe_md`
compares several models' reports in one Markdown table. numpy only: no torch, no scikit-learn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from ...model.emoji import has_emoji, strip_emoji
from ...model.errors import CommentmodError
from ...model.labels import LABELS

Item = tuple[str, str | None, str | None]

PACKAGE: Final = "commentmod.training.report"
RESOURCE: Final = ("probe", "probe.jsonl")
LANGS: Final = ("ro", "en", "uk", "ru")
KINDS: Final = (
    "sincere_emoji",
    "mocking_emoji",
    "mocking_no_emoji",
    "insult_long",
    "clean_long",
    "disagree_civil",
    "spam_no_link",
)
# (abusive, mocking, off_topic) every row of a kind must carry.
KIND_LABELS: Final = MappingProxyType(
    {
        "sincere_emoji": {"abusive": 0, "mocking": 0, "off_topic": 0},
        "mocking_emoji": {"abusive": 0, "mocking": 1, "off_topic": 0},
        "mocking_no_emoji": {"abusive": 0, "mocking": 1, "off_topic": 0},
        "insult_long": {"abusive": 1, "mocking": 0, "off_topic": 0},
        "clean_long": {"abusive": 0, "mocking": 0, "off_topic": 0},
        "disagree_civil": {"abusive": 0, "mocking": 0, "off_topic": 0},
        "spam_no_link": {"abusive": 0, "mocking": 0, "off_topic": 1},
    }
)
LONG_MIN_CHARS: Final = 250
FIELDS: Final = ("id", "lang", "kind", "article_title", "article_text", "text", *LABELS)
SINCERE_MOCKING_MAX: Final = 0.10  # target: sincere emoji comments flagged mocking <= 10 %
EMOJI_GAP_MAX_POINTS: Final = 10.0  # target: |recall with emoji - recall without| <= 10 points

URL_RE: Final = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|net|org|ro|ua|ru|md|kz|uk|io|example)\b", re.I)
ID_RE: Final = re.compile(r"^probe-(ro|en|uk|ru)-\d{3}$")


class ProbeError(CommentmodError, ValueError):
    """The probe file, or the probabilities passed to score it, are malformed."""


@dataclass(frozen=True)
class ProbeRow:
    """One probe comment with its article context and its three labels."""

    id: str
    lang: str
    kind: str
    text: str
    article_title: str
    article_text: str
    labels: Mapping[str, int]

    @property
    def item(self) -> Item:
        """``(text, article_title, article_text)``, the scorer's input triple."""
        return (self.text, self.article_title, self.article_text)


def _row_problems(obj: Mapping[str, Any]) -> list[str]:
    """What is wrong with one parsed row (empty list when it is valid)."""
    missing = [k for k in FIELDS if k not in obj]
    extra = sorted(set(obj) - set(FIELDS))
    if missing or extra:
        return [f"keys: missing {missing}, unexpected {extra}; a probe row has exactly {list(FIELDS)}"]
    problems = [f"{k} must be a non-empty string" for k in FIELDS[:6] if not str(obj[k]).strip()]
    problems += [
        f"{k} is {obj[k]!r}; use 0 or 1" for k in LABELS if obj[k] not in (0, 1) or isinstance(obj[k], bool)
    ]
    if problems:
        return problems
    lang, kind, text = obj["lang"], obj["kind"], obj["text"]
    if lang not in LANGS:
        problems.append(f"lang {lang!r} is not one of {', '.join(LANGS)}")
    match = ID_RE.match(obj["id"])
    if match is None or match.group(1) != lang:
        problems.append(f"id {obj['id']!r} must look like probe-{lang}-001")
    if kind not in KINDS:
        return [*problems, f"kind {kind!r} is not one of {', '.join(KINDS)}"]
    wrong = {k: obj[k] for k, v in KIND_LABELS[kind].items() if obj[k] != v}
    if wrong:
        problems.append(f"labels {wrong} contradict kind {kind!r}, which needs {dict(KIND_LABELS[kind])}")
    if kind in ("sincere_emoji", "mocking_emoji") and not has_emoji(text):
        problems.append(f"kind {kind!r} needs at least one emoji in the text")
    if kind == "mocking_no_emoji" and has_emoji(text):
        problems.append("kind 'mocking_no_emoji' must not contain emoji")
    if kind in ("insult_long", "clean_long") and len(text) < LONG_MIN_CHARS:
        problems.append(f"kind {kind!r} needs >= {LONG_MIN_CHARS} characters, text has {len(text)}")
    if kind == "spam_no_link" and URL_RE.search(text):
        problems.append("kind 'spam_no_link' must not contain a URL")
    return problems


def parse_probe(text: str, where: str = "probe.jsonl") -> list[ProbeRow]:
    """Validated rows from probe-format JSONL ``text``; raises :class:`ProbeError` listing every problem."""
    rows: list[ProbeRow] = []
    errors: list[str] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where} line {lineno}: not JSON ({exc.msg})")
            continue
        problems = _row_problems(obj) if isinstance(obj, dict) else ["not a JSON object"]
        if not problems and obj["id"] in seen_ids:
            problems.append(f"duplicate id {obj['id']!r}")
        if not problems and " ".join(obj["text"].split()).casefold() in seen_texts:
            problems.append("duplicate text")
        if problems:
            errors += [f"{where} line {lineno}: {p}" for p in problems]
            continue
        seen_ids.add(obj["id"])
        seen_texts.add(" ".join(obj["text"].split()).casefold())
        rows.append(_to_row(obj))
    if errors:
        raise ProbeError(f"{len(errors)} problem(s) in the probe set; fix the JSONL:\n" + "\n".join(errors))
    if not rows:
        raise ProbeError(f"{where} has no rows")
    return rows


def _to_row(obj: Mapping[str, Any]) -> ProbeRow:
    return ProbeRow(
        id=obj["id"],
        lang=obj["lang"],
        kind=obj["kind"],
        text=obj["text"],
        article_title=obj["article_title"],
        article_text=obj["article_text"],
        labels=MappingProxyType({k: int(obj[k]) for k in LABELS}),
    )


def load_probe(path: Path | None = None) -> list[ProbeRow]:
    """The probe rows from ``path``, or from the packaged ``probe/probe.jsonl`` when ``path`` is None."""
    if path is not None:
        if not Path(path).is_file():
            raise ProbeError(f"probe file {path} not found; omit the path to use the packaged probe set")
        return parse_probe(Path(path).read_text(encoding="utf-8"), where=str(path))
    ref = resources.files(PACKAGE).joinpath(*RESOURCE)
    if not ref.is_file():
        raise ProbeError(
            f"probe set {'/'.join(RESOURCE)} is missing from package {PACKAGE}; "
            "reinstall commentmod (pip install -e .) so its package data is present"
        )
    return parse_probe(ref.read_text(encoding="utf-8"), where="/".join(RESOURCE))


def probe_items(rows: Sequence[ProbeRow]) -> list[Item]:
    """The scorer's input triples, in row order."""
    return [r.item for r in rows]


def counterfactual_pairs(rows: Sequence[ProbeRow]) -> list[tuple[int, int]]:
    """``(i, j)`` indices: row i is ``mocking_emoji``, row j the same comment and article without emoji."""
    plain = {(r.lang, r.article_title, r.text): j for j, r in enumerate(rows) if r.kind == "mocking_no_emoji"}
    pairs = []
    for i, r in enumerate(rows):
        j = plain.get((r.lang, r.article_title, strip_emoji(r.text))) if r.kind == "mocking_emoji" else None
        if j is not None:
            pairs.append((i, j))
    return pairs


# --------------------------------------------------------------------------- report


def _rate(flags: np.ndarray) -> dict[str, Any]:
    n, k = int(flags.size), int(flags.sum())
    return {"n": n, "flagged": k, "rate": k / n if n else None}


def _check_probs(rows: Sequence[ProbeRow], probs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(rows), len(labels)):
        raise ProbeError(
            f"probs has shape {p.shape}; expected ({len(rows)}, {len(labels)}): "
            f"one row per probe row, one column per label of {list(labels)}"
        )
    if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise ProbeError("probs must be finite probabilities in [0, 1]; pass sigmoid outputs, not logits")
    return p


def _on(kinds: np.ndarray, flagged: Mapping[str, np.ndarray], kind: str, label: str) -> dict[str, Any]:
    """The rate at which rows of ``kind`` are flagged for ``label``."""
    return _rate(flagged[label][kinds == kind])


def _mocking(kinds: np.ndarray, m: np.ndarray, pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Mocking recall with and without emoji, their gap in points, and the twin pairs' agreement."""
    plain = _rate(m[kinds == "mocking_no_emoji"])
    emoji = _rate(m[kinds == "mocking_emoji"])
    gap = None
    if plain["rate"] is not None and emoji["rate"] is not None:
        gap = round(100.0 * (emoji["rate"] - plain["rate"]), 6)
    both = sum(1 for i, j in pairs if m[i] and m[j])
    emoji_only = sum(1 for i, j in pairs if m[i] and not m[j])
    plain_only = sum(1 for i, j in pairs if m[j] and not m[i])
    return {
        "recall_no_emoji": plain,
        "recall_emoji": emoji,
        "gap_points": gap,
        "pairs": {"n": len(pairs), "both": both, "emoji_only": emoji_only, "no_emoji_only": plain_only},
    }


def _section(kinds: np.ndarray, flagged: Mapping[str, np.ndarray], pairs: Sequence[tuple[int, int]]) -> dict:
    """All checks on one subset (``kinds`` and ``flagged`` already restricted to it)."""
    out: dict[str, Any] = {"n": int(kinds.size)}
    out["sincere_emoji"] = {label: _on(kinds, flagged, "sincere_emoji", label) for label in flagged}
    any_flag = np.logical_or.reduce(list(flagged.values())) if flagged else np.zeros(kinds.size, bool)
    out["disagree_civil"] = {label: _on(kinds, flagged, "disagree_civil", label) for label in flagged}
    out["disagree_civil"]["any"] = _rate(any_flag[kinds == "disagree_civil"])
    if "mocking" in flagged:
        out["mocking"] = _mocking(kinds, flagged["mocking"], pairs)
    if "abusive" in flagged:
        out["abusive"] = {
            "recall_insult_long": _on(kinds, flagged, "insult_long", "abusive"),
            "flag_rate_clean_long": _on(kinds, flagged, "clean_long", "abusive"),
        }
    if "off_topic" in flagged:
        out["off_topic"] = {"recall_spam_no_link": _on(kinds, flagged, "spam_no_link", "off_topic")}
    return out


def _targets(overall: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    sincere = overall["sincere_emoji"].get("mocking", {}).get("rate")
    gap = overall.get("mocking", {}).get("gap_points")
    return {
        "sincere_emoji_mocking": {
            "description": "sincere comments with emoji flagged mocking",
            "value": sincere,
            "limit": SINCERE_MOCKING_MAX,
            "rule": "value <= limit",
            "passed": None if sincere is None else bool(sincere <= SINCERE_MOCKING_MAX + 1e-9),
        },
        "mocking_emoji_gap": {
            "description": "mocking recall with emoji minus without, in points",
            "value": gap,
            "limit": EMOJI_GAP_MAX_POINTS,
            "rule": "abs(value) <= limit",
            "passed": None if gap is None else bool(abs(gap) <= EMOJI_GAP_MAX_POINTS + 1e-9),
        },
    }


def probe_report(
    rows: Sequence[ProbeRow],
    probs: np.ndarray,
    thresholds: Mapping[str, float],
    labels: Sequence[str] = LABELS,
) -> dict[str, Any]:
    """JSON-ready probe results of one model: ``probs[i, j]`` is P(labels[j]) for ``rows[i]``.

    A comment is flagged for a label when ``p >= thresholds[label]`` (0.5 when a label has no threshold,
    as in ``evaluate``). Sections ``overall`` and ``by_lang[lang]`` hold every rate as
    ``{"n", "flagged", "rate"}`` (rate None when n is 0); ``targets`` and ``passed`` (None when a target
    cannot be computed) say whether the two shortcut targets hold overall; each ``by_lang`` section
    carries its own ``targets`` too (informative: a language has few rows).
    """
    p = _check_probs(rows, probs, labels)
    used = {name: float(thresholds.get(name, 0.5)) for name in labels}
    flagged = {name: p[:, j] >= used[name] for j, name in enumerate(labels)}
    kinds = np.asarray([r.kind for r in rows], dtype=object)
    langs = np.asarray([r.lang for r in rows], dtype=object)
    pairs = counterfactual_pairs(rows)
    overall = _section(kinds, flagged, pairs)
    by_lang = {}
    for lang in dict.fromkeys(r.lang for r in rows):
        idx = np.flatnonzero(langs == lang)
        remap = {int(old): new for new, old in enumerate(idx)}
        sub_pairs = [(remap[i], remap[j]) for i, j in pairs if i in remap and j in remap]
        by_lang[lang] = _section(kinds[idx], {k: v[idx] for k, v in flagged.items()}, sub_pairs)
        by_lang[lang]["targets"] = _targets(by_lang[lang])
    targets = _targets(overall)
    verdicts = [t["passed"] for t in targets.values()]
    return {
        "n": len(rows),
        "labels": list(labels),
        "thresholds": used,
        "counts": {lang: {k: int(np.sum((langs == lang) & (kinds == k))) for k in KINDS} for lang in by_lang},
        "overall": overall,
        "by_lang": by_lang,
        "targets": targets,
        "passed": None if None in verdicts else all(verdicts),
    }
