"""Whether the transformer reads comments with or without their emoji (``ContextRule.strip_emoji``),
decided on validation when the hybrid stacker is fitted.

"Has an emoji" is not a label (LABELING.md). The data build trains the transformer on emoji-free twins
of mocking rows and on sincere-emoji copies, yet a run can still lean on emoji: the 2026-12-02 full
run recalled 50 % of the probe's mocking comments with an emoji and 28 % of the same comments
without. Hiding emoji from the transformer removes that lean at its root; the hybrid's n-gram model
still reads them (its emoji features are learnt on the balanced counterfactual data) and the stacker
weighs it.

- ``keep``: the transformer reads what it was trained on;
- ``strip``: it reads comments without emoji (the training data holds emoji-free twins, so this is
  within what it saw);
- ``auto``: strip, unless that costs more than ``tolerance`` of cross-validated PR-AUC on some label's
  shipped choice (invariance is the policy, accuracy the check).

Only the validation rows that have an emoji are scored again (a few per cent of them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ...model.emoji import has_emoji
from ...serving.hybrid import HybridSpec

log = logging.getLogger(__name__)

EMOJI_CHOICES = ("keep", "strip", "auto")
DEFAULT_TOLERANCE = 0.005


@dataclass(frozen=True)
class EmojiDecision:
    """What was asked, what the transformer reads now, and the numbers behind it."""

    choice: str
    strip: bool
    emoji_rows: int
    cv_keep: Mapping[str, float | None]
    cv_strip: Mapping[str, float | None]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shipped_cv(spec: HybridSpec) -> dict[str, float | None]:
    """Per label, the cross-validated PR-AUC of the mode the stacker chose (None: not measured)."""
    out: dict[str, float | None] = {}
    for name, stack in spec.per_label.items():
        value = dict(stack.validation.get("cv_pr_auc", {})).get(stack.mode)
        out[name] = None if value is None else float(value)
    return out


def decide(
    choice: str, cv_keep: Mapping[str, float | None], cv_strip: Mapping[str, float | None], tolerance: float
) -> tuple[bool, str]:
    """Pure: strip emoji or not, and why."""
    if choice not in EMOJI_CHOICES:
        raise ValueError(f"transformer emoji choice is {choice!r}; write one of {', '.join(EMOJI_CHOICES)}")
    if choice != "auto":
        return choice == "strip", f"{choice} asked for"
    costs = {
        k: cv_keep[k] - v  # type: ignore[operator]
        for k, v in cv_strip.items()
        if v is not None and cv_keep.get(k) is not None
    }
    worst = max(costs, key=lambda k: costs[k], default=None)
    if worst is not None and costs[worst] > tolerance:
        return False, (f"kept: without emoji the {worst} CV PR-AUC drops {costs[worst]:.4f} (> {tolerance})")
    shown = ", ".join(f"{k} {-c:+.4f}" for k, c in costs.items())
    return True, f"stripped: CV PR-AUC change per label without emoji {shown} (tolerance {tolerance})"


def emoji_rows(texts: Sequence[str]) -> list[int]:
    return [i for i, t in enumerate(texts) if has_emoji(t)]


def choose_emoji_rule(
    run: Any,
    items: Sequence[tuple[str, str | None, str | None]],
    logits: np.ndarray,
    fit: Callable[[np.ndarray], HybridSpec],
    choice: str,
    score: Callable[[Any, Sequence[tuple[str, str | None, str | None]]], np.ndarray],
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[np.ndarray, EmojiDecision, HybridSpec | None]:
    """The validation logits to fit the stacker on, the decision, and the stacker already fitted on
    those logits (``auto`` fits both candidates; None when none was fitted). On ``strip``,
    ``run.info``'s context rule is switched (the caller saves it). ``fit``: logits -> stacker;
    ``score``: (rule, items) -> transformer logits."""
    rule = run.info.context_rule
    rows = emoji_rows([it[0] for it in items])
    if choice == "keep" or rule.strip_emoji or not rows:
        why = "the rule already strips emoji" if rule.strip_emoji else f"{choice}: transformer reads emoji"
        if not rows and choice != "keep":
            why = "no validation row has an emoji: nothing to decide, transformer reads emoji"
        return logits, EmojiDecision(choice, bool(rule.strip_emoji), len(rows), {}, {}, why), None
    stripped_rule = replace(rule, strip_emoji=True)
    stripped = np.array(logits, copy=True)
    stripped[rows] = score(stripped_rule, [items[i] for i in rows])
    fitted = {"keep": fit(logits), "strip": fit(stripped)} if choice == "auto" else {}
    cv_keep = shipped_cv(fitted["keep"]) if fitted else {}
    cv_strip = shipped_cv(fitted["strip"]) if fitted else {}
    strip, why = decide(choice, cv_keep, cv_strip, tolerance)
    log.info("transformer emoji (%d validation rows with emoji): %s", len(rows), why)
    if strip:
        run.info.context_rule = stripped_rule
    decision = EmojiDecision(choice, strip, len(rows), cv_keep, cv_strip, why)
    return (stripped if strip else logits), decision, fitted.get("strip" if strip else "keep")
