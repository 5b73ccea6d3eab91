"""The label set: names, order and meaning. Order is the model's output order."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

LABELS: Final[tuple[str, ...]] = ("abusive", "mocking", "off_topic")

LABEL_DESCRIPTIONS: Final = MappingProxyType(
    {
        "abusive": "Insults, slurs, threats, harassment, profanity aimed at people or groups.",
        "mocking": "Ridicule, sarcasm, derision of a person, group or the article.",
        "off_topic": "Unrelated to the article: spam, ads, links for money, talk of another subject.",
    }
)

# labels judged against the article: a model that reads the comment alone (the character n-gram
# model) may help them only inside a blend with the transformer, never on its own
CONTEXT_LABELS: Final[tuple[str, ...]] = ("off_topic",)


def label_index(name: str) -> int:
    """Position of ``name`` in :data:`LABELS`; raises ``KeyError`` naming the valid labels."""
    try:
        return LABELS.index(name)
    except ValueError:
        raise KeyError(f"unknown label {name!r}; valid labels are {', '.join(LABELS)}") from None
