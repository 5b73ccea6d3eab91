"""The description of a build (``build_info.json``): sources with licence, counts and rows per split,
filters, dedup report and config; and what training and the model card read from it.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...model.record import CommentRecord
from .catalog import SPLIT_NAMES, DataCatalog
from .dedup import DedupReport
from .selection import Selection
from .source_load import SourceLoad

BUILD_FORMAT = "commentmod-data/1"


def _rows_by_kind(
    splits: Mapping[str, Sequence[CommentRecord]],
) -> dict[str, dict[str, Counter[str]]]:
    """``kind`` (real, synthetic, augmented) -> source -> rows per split."""
    kinds: dict[str, dict[str, Counter[str]]] = {
        kind: defaultdict(Counter) for kind in ("real", "synthetic", "augmented")
    }
    for split, recs in splits.items():
        for rec in recs:
            kind = "synthetic" if rec.synthetic else "augmented" if rec.augmented else "real"
            kinds[kind][rec.source][split] += 1
    return kinds


def _source_entry(
    load: SourceLoad, dedup_report: DedupReport, rows: Mapping[str, Mapping[str, Counter[str]]]
) -> dict[str, Any]:
    """One source of ``build_info["sources"]``: its catalog entry, what loading it gave, its rows."""
    spec = load.spec
    return {
        "name": spec.name,
        "status": load.status,
        "reason": load.reason,
        "licence": spec.licence,
        "licence_class": spec.licence_class,
        "languages": list(spec.languages),
        "converter": spec.converter,
        "path": spec.path,
        "params": dict(spec.params),
        "weight": spec.weight,
        "max_rows": spec.max_rows,
        "max_positive_rate": dict(spec.max_positive_rate),
        "read": load.read,
        "dropped_lang": load.dropped_lang,
        "dropped_empty": load.dropped_empty,
        "dropped_cap": load.dropped_cap,
        "capped_positives": load.capped_positives,
        "dropped_positive_rate": load.dropped_positive_rate,
        "dropped_duplicates": dedup_report.removed.get(spec.name, 0),
        "rows": {s: rows["real"][spec.name][s] for s in SPLIT_NAMES},
        "synthetic_rows": {s: rows["synthetic"][spec.name][s] for s in SPLIT_NAMES},
        "augmented_rows": {s: rows["augmented"][spec.name][s] for s in SPLIT_NAMES},
        "seconds": round(load.seconds, 2),
    }


def build_info(
    catalog: DataCatalog,
    selection: Selection,
    data_root: Path,
    loads: Sequence[SourceLoad],
    splits: Mapping[str, Sequence[CommentRecord]],
    dedup_report: DedupReport,
) -> dict[str, Any]:
    """The JSON-able description of a build (sources with licence and rows per split, config, seed)."""
    rows = _rows_by_kind(splits)
    return {
        "format": BUILD_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": catalog.seed,
        "data_root": str(data_root),
        "filters": {
            "sources": [s.name for s in selection.sources],
            "langs": None if selection.langs is None else list(selection.langs),
            "commercial_ok": selection.commercial_ok,
        },
        "excluded": [{"name": n, "reason": r} for n, r in selection.excluded],
        "skipped": [{"name": ld.spec.name, "reason": ld.reason} for ld in loads if ld.status != "used"],
        "sources": [_source_entry(load, dedup_report, rows) for load in loads],
        "splits": {s: len(splits[s]) for s in SPLIT_NAMES},
        "synthetic": {s: sum(1 for r in splits[s] if r.synthetic) for s in SPLIT_NAMES},
        "augmented": {s: sum(1 for r in splits[s] if r.augmented) for s in SPLIT_NAMES},
        "dedup": dedup_report.to_dict(),
        "config": catalog.to_dict(),
    }


def source_weights(info: Mapping[str, Any]) -> dict[str, float]:
    """Per-source loss weight from a build's info (the catalog's `weight`, 0 included; sources not listed
    weigh 1.0): the one reading of it, used by training."""
    return {s["name"]: float(s.get("weight", 1.0)) for s in info.get("sources", [])}


def data_sources_for_card(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The used sources with licence and row counts, for ``RunInfo.data_sources`` / the model card."""
    return [
        {
            "name": s["name"],
            "licence": s["licence"],
            "languages": s["languages"],
            "rows": s["rows"],
            "synthetic_rows": s.get("synthetic_rows", {}),
        }
        for s in info.get("sources", [])
        if s.get("status") == "used"
    ]
