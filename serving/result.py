"""The one result structure every scoring call returns, one per input, in input order.

Also the one place that builds a not-scored Result (:func:`not_scored`: ``empty`` or ``error``) and
the one serialisation of a Result (:meth:`Result.to_dict`, scores rounded to :data:`SCORE_DECIMALS`
places), shared by the batch outputs (``commentmod score``) and the HTTP responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "empty", "error"]

# ``Result.extra`` key of a comment scored on its first ``max_chars`` characters only:
# ``{"chars": full length in characters, "scored_chars": characters scored}``
TRUNCATED = "truncated"
SCORE_DECIMALS = 6  # places of every serialised score (JSONL, CSV, Parquet, HTTP)


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
        """The serialised form (HTTP results; the score columns of every batch output row): scores
        rounded to :data:`SCORE_DECIMALS` places; ``scores``/``flags``/``truncated`` null when absent."""
        return {
            "id": self.id,
            "scores": None
            if self.scores is None
            else {k: round(float(v), SCORE_DECIMALS) for k, v in self.scores.items()},
            "flags": None if self.flags is None else {k: bool(v) for k, v in self.flags.items()},
            "flagged": bool(self.flagged),
            "status": self.status,
            "error": self.error,
            "truncated": self.truncated,
        }


def not_scored(id: str | None, status: Literal["empty", "error"], error: str | None = None) -> Result:
    """The Result of a comment that was not scored (``empty``, or ``error`` with ``error`` saying
    why): ``scores`` and ``flags`` are None - null in every output, never 0.0 - and not flagged."""
    return Result(id=id, scores=None, flags=None, flagged=False, status=status, error=error)
