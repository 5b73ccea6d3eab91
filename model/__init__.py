"""commentmod.model: the contract shared by training and serving (no torch)."""

from .errors import CommentmodError, ManifestError, RecordError
from .inputs import (
    ContextRule,
    SpecialIds,
    assemble_windows,
    clean_text,
    context_text,
    encode_comment,
    encode_comments,
    normalise_for_dedup,
)
from .labels import LABEL_DESCRIPTIONS, LABELS, label_index
from .manifest import FORMAT_VERSION, MANIFEST_NAME, DataSource, Manifest
from .manifest_io import read_manifest, write_manifest
from .record import CommentRecord

__all__ = [
    "FORMAT_VERSION",
    "LABELS",
    "LABEL_DESCRIPTIONS",
    "MANIFEST_NAME",
    "CommentRecord",
    "CommentmodError",
    "ContextRule",
    "DataSource",
    "Manifest",
    "ManifestError",
    "RecordError",
    "SpecialIds",
    "assemble_windows",
    "clean_text",
    "context_text",
    "encode_comment",
    "encode_comments",
    "label_index",
    "normalise_for_dedup",
    "read_manifest",
    "write_manifest",
]
