"""The errors of ``commentmod retrain``."""

from __future__ import annotations

from ...model.errors import CommentmodError


class RetrainError(CommentmodError):
    """A retrain cannot start or finish (missing parent files, base data, too few new labels)."""
