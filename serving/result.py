"""The one result structure every scoring call returns, one per input, in input order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "empty", "error"]


@dataclass(frozen=True)
class Result:
    """Scores and decisions for one comment.

    ``scores`` are probabilities in [0, 1] (0.0 for every label when status is not ``ok``);
    ``flags[label]`` is ``scores[label] >= threshold[label]``; ``flagged`` is any flag.
    """

    id: str | None
    scores: Mapping[str, float]
    flags: Mapping[str, bool]
    flagged: bool
    status: Status = "ok"
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scores": dict(self.scores),
            "flags": dict(self.flags),
            "flagged": self.flagged,
            "status": self.status,
            "error": self.error,
        }
