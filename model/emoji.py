"""What counts as an emoji, in one place: the data build's cues and counterfactual copies, and the
model input rule that can hide emoji from the transformer (``ContextRule.strip_emoji``)."""

from __future__ import annotations

import re

# Code point ranges that render as emoji: pictographs, emoticons, transport, supplemental symbols,
# regional-indicator flags, and the older "misc symbols" and dingbats blocks (☀ ❤ ✨ ❄ ➡ ✅).
EMOJI_RANGES: tuple[tuple[int, int], ...] = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x231A, 0x231B),
    (0x23E9, 0x23FA),
)
# the same ranges as the body of a regex character class: f"[{EMOJI_CLASS}]"
EMOJI_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in EMOJI_RANGES)
_EMOJI = re.compile(f"[{EMOJI_CLASS}]")
# An emoji and what glues emoji into sequences (variation selectors, ZWJ, keycaps, tag characters;
# skin tones sit inside the first range of EMOJI_CLASS).
_EMOJI_SEQUENCE = re.compile(
    f"[{EMOJI_CLASS}](?:[\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f]|\u200d?[{EMOJI_CLASS}])*"
)
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:)])")
_RUNS_OF_SPACES = re.compile(r"[ \t]{2,}")


def has_emoji(text: str) -> bool:
    """True when the text has an emoji character (a code point in :data:`EMOJI_RANGES`)."""
    return bool(_EMOJI.search(text))


def strip_emoji(text: str) -> str:
    """``text`` without its emoji (whole sequences: skin tones, ZWJ, variation selectors), spacing tidied."""
    if not has_emoji(text):
        return text
    out = _EMOJI_SEQUENCE.sub(" ", text)
    out = _SPACE_BEFORE_PUNCT.sub(r"\1", out)
    lines = [_RUNS_OF_SPACES.sub(" ", line).strip() for line in out.split("\n")]
    return "\n".join(line for line in lines if line)
