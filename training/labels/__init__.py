"""The label store: moderators' decisions imported from CSV/JSONL, Label Studio and Coral into SQLite.

:class:`~.store.LabelStore` holds the decisions with their provenance, resolves conflicts
(:mod:`.resolve`) and reads the result back as ``CommentRecord`` objects for retraining.
``commentmod labels import|stats|export-tasks`` is the command line (:mod:`commentmod.training.cli.labels`);
``docs/labels.md`` documents the formats.
"""

from __future__ import annotations

from .decisions import LabelStoreError
from .importers import FORMATS
from .labelstudio import labeling_config
from .store import DEFAULT_LICENCE, SOURCE, LabelStore

__all__ = ["DEFAULT_LICENCE", "FORMATS", "SOURCE", "LabelStore", "LabelStoreError", "labeling_config"]
