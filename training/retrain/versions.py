"""Versions and lineage of retrained models.

A run's **model id** is a content hash of what it scores with (the weights, the n-gram model and the
stacker, when present): ``cm-`` + 12 hex digits, the same for the same files wherever they lie.
Its **version** is an integer: a run that was not made by ``commentmod retrain`` is version 1, a
retrained run its parent's version + 1. The **lineage** (:class:`Lineage`) a retrained run records in
``RunInfo.extra["lineage"]`` holds both ids and versions, the label store's snapshot hash and what
was promoted; ``commentmod export`` carries it into the manifest's ``extra["lineage"]``, which
``commentmod models list`` reads.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...model.manifest_io import sha256_file
from ..fit.baseline_onnx import ONNX_NAME
from ..fit.hybrid_fit import NGRAM_DIR, STACKER_NAME
from ..fit.modeling import WEIGHTS_NAME
from .errors import RetrainError

LINEAGE_KEY = "lineage"  # in RunInfo.extra and in the manifest's extra
FIRST_VERSION = 1


def model_id(run_dir: Path) -> str:
    """``cm-<12 hex>``: sha256 over the sha256 of the weights, n-gram graph and stacker (when present)."""
    run_dir = Path(run_dir)
    weights = run_dir / WEIGHTS_NAME
    if not weights.is_file():
        raise RetrainError(f"{run_dir} has no {WEIGHTS_NAME}; point at a run directory")
    digest = hashlib.sha256()
    for path in (weights, run_dir / NGRAM_DIR / ONNX_NAME, run_dir / STACKER_NAME):
        digest.update(f"{path.name}:{sha256_file(path) if path.is_file() else '-'}\n".encode())
    return f"cm-{digest.hexdigest()[:12]}"


def lineage_of(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    """The lineage recorded in a run's or manifest's ``extra`` (empty for a first model)."""
    value = extra.get(LINEAGE_KEY)
    return value if isinstance(value, Mapping) else {}


def version_of(extra: Mapping[str, Any]) -> int:
    """The version a run or artifact records; a model without lineage is version 1."""
    value = lineage_of(extra).get("version", FIRST_VERSION)
    if not isinstance(value, int) or isinstance(value, bool) or value < FIRST_VERSION:
        raise RetrainError(f"lineage version is {value!r}, expected an integer >= {FIRST_VERSION}")
    return value


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Lineage:
    """Where a retrained model comes from (``RunInfo.extra["lineage"]``, manifest ``extra["lineage"]``)."""

    model_id: str
    version: int
    parent_id: str
    parent_version: int
    parent_run: str
    label_snapshot: str  # LabelStore.snapshot_hash() of the labels it was retrained on
    label_store: str
    mode: str
    new_rows: Mapping[str, int]
    replay_rows: Mapping[str, int]
    metrics: Mapping[str, Any] = field(default_factory=dict)  # headline PR-AUCs (models list)
    created_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def headline(cells: list[Mapping[str, Any]]) -> dict[str, float | None]:
    """PR-AUC per label over every language (the ``all`` x ``all`` cells)."""
    return {c["label"]: c.get("pr_auc") for c in cells if c.get("lang") == "all" and c.get("source") == "all"}
