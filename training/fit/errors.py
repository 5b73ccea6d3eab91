"""The error a fine-tuning run raises when it cannot start or continue."""

from __future__ import annotations

from ...model.errors import CommentmodError


class TrainError(CommentmodError):
    """Training cannot start or continue (missing data, bad run directory, mismatched resume)."""
