"""Named exception types shared by training and serving."""

from __future__ import annotations


class CommentmodError(Exception):
    """Base class of every error commentmod raises on purpose."""


class RecordError(CommentmodError, ValueError):
    """A comment record is malformed (wrong type, bad label value, missing text)."""


class ManifestError(CommentmodError):
    """An artifact manifest is missing, malformed, of an unknown format, or does not match its files."""
