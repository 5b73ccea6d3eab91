"""The conflict rule: one resolved value per (comment, label) from all decisions on it.

1. Each moderator counts once, with their latest decision (an unnamed moderator is one moderator,
   ``""``). A moderator who changed their mind therefore counts with the new value only.
2. One moderator: their latest decision wins (rule ``latest``).
3. Several moderators: the majority of their latest decisions wins (rule ``majority``); on a tie,
   the latest of those decisions wins (rule ``tie-latest``).

"Latest" orders decisions by :attr:`Vote.order`: the decision time (the import's time when the
file gave none), then the import, then the row and part in its file, then the insertion order.
A (comment, label) is a conflict when its decisions hold both 1 and 0, whichever rule settled it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RULES: tuple[str, ...] = ("latest", "majority", "tie-latest")


@dataclass(frozen=True)
class Vote:
    """One stored decision on one label of one comment."""

    value: int
    moderator: str
    order: tuple[str, int, int, int, int]  # (effective time, import id, line, part, decision id)


@dataclass(frozen=True)
class Resolution:
    """The resolved value, the rule that gave it, and whether the decisions disagreed."""

    value: int
    rule: str
    conflict: bool


def latest_per_moderator(votes: Sequence[Vote]) -> list[Vote]:
    """Each moderator's latest vote, in moderator order."""
    latest: dict[str, Vote] = {}
    for vote in votes:
        kept = latest.get(vote.moderator)
        if kept is None or vote.order > kept.order:
            latest[vote.moderator] = vote
    return [latest[name] for name in sorted(latest)]


def resolve(votes: Sequence[Vote]) -> Resolution:
    """The value of one (comment, label) under the module's rule; ``votes`` must not be empty."""
    if not votes:
        raise ValueError("resolve() needs at least one vote")
    conflict = len({vote.value for vote in votes}) > 1
    heads = latest_per_moderator(votes)
    newest = max(heads, key=lambda vote: vote.order)
    if len(heads) == 1:
        return Resolution(newest.value, "latest", conflict)
    yes = sum(vote.value for vote in heads)
    no = len(heads) - yes
    if yes == no:
        return Resolution(newest.value, "tie-latest", conflict)
    return Resolution(int(yes > no), "majority", conflict)
