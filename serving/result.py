"""The one result structure every scoring call returns, one per input, in input order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "empty", "error"]

# ``Result.extra`` key of a comment scored on its first ``max_chars`` characters only:
# ``{"chars": full length in characters, "scored_chars": characters scored}``
TRUNCATED = "truncated"


@dataclass(frozen=True)
class Result:
    """Scores and decisions for one comment.

    ``status == "ok"``: ``scores`` maps every label to a probability in [0, 1],
    ``flags[label]`` is ``scores[label] >= threshold[label]`` and ``flagged`` is any flag.
    ``status`` ``"empty"`` or ``"error"`` (not scored): ``scores`` and ``flags`` are ``None``
    (null in JSON, an empty cell in CSV, null in Parquet), ``flagged`` is ``False``.
    ``truncated``: ``{"chars": n, "scored_chars": m}`` when only the first ``m`` of the comment's
    ``n`` characters were scored (``Scorer.load(max_chars=m)``), else ``None``.
    """

    id: str | None
    scores: Mapping[str, float] | None
    flags: Mapping[str, bool] | None
    flagged: bool
    status: Status = "ok"
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> dict[str, int] | None:
        """``{"chars": n, "scored_chars": m}`` when only the first ``m`` characters were scored, or None."""
        value = self.extra.get(TRUNCATED)
        return None if value is None else dict(value)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (HTTP responses): ``scores``/``flags``/``truncated`` are null when absent."""
        return {
            "id": self.id,
            "scores": None if self.scores is None else dict(self.scores),
            "flags": None if self.flags is None else dict(self.flags),
            "flagged": self.flagged,
            "status": self.status,
            "error": self.error,
            "truncated": self.truncated,
        }
