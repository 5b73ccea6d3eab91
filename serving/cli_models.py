"""``commentmod models list DIR``: the artifacts under DIR with version, parent, date and headline metrics.

Reads each ``commentmod.json`` (checked against its checksum file; the model files are not hashed,
so listing is fast) and nothing else: no torch, no training code. Version, parent and metrics come
from the manifest's ``extra["lineage"]``, which ``commentmod retrain`` records when it promotes a
model; an artifact without one is a first model (version 1, no parent, no recorded metrics).
Hidden directories (an export's or a retrain's partial work) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.errors import CommentmodError
from ..model.manifest import MANIFEST_NAME
from ..model.manifest_io import read_manifest

MAX_DEPTH = 3  # DIR/NAME/artifact/commentmod.json is depth 2
HEADLINES = (("base_test", "base"), ("new_test", "new"))


@dataclass(frozen=True)
class ArtifactRow:
    """One artifact as the listing shows it."""

    path: str
    name: str = ""
    version: int | None = None
    model_id: str = ""
    parent: str = ""
    date: str = ""
    quantization: str = ""
    metrics: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    problem: str = ""  # why the manifest could not be read

    def headline(self) -> str:
        """``base abusive .912 mocking .601 · new abusive .950`` (PR-AUC per label), or ``-``."""
        parts = []
        for key, word in HEADLINES:
            values = self.metrics.get(key) or {}
            shown = " ".join(f"{k} {v:.3f}" for k, v in values.items() if isinstance(v, int | float))
            if shown:
                parts.append(f"{word} {shown}")
        return " · ".join(parts) or "-"


def find_artifacts(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Directories at most ``max_depth`` below ``root`` (``root`` included) holding a manifest."""
    root = Path(root)
    found = []
    for here, dirs, files in os.walk(root):
        depth = len(Path(here).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < max_depth)
        if MANIFEST_NAME in files:
            found.append(Path(here))
    return found


def describe(directory: Path) -> ArtifactRow:
    """The listing row of one artifact directory (``problem`` set when its manifest is unusable)."""
    try:
        manifest = read_manifest(directory, verify=False, checksum=True)
    except CommentmodError as exc:
        return ArtifactRow(path=str(directory), problem=str(exc))
    lineage = manifest.extra.get("lineage")
    lineage = lineage if isinstance(lineage, Mapping) else {}
    version = lineage.get("version", 1)
    metrics = lineage.get("metrics")
    return ArtifactRow(
        path=str(directory),
        name=manifest.name,
        version=version if isinstance(version, int) else None,
        model_id=str(lineage.get("model_id", "")),
        parent=str(lineage.get("parent_id", "")),
        date=manifest.created_at,
        quantization=manifest.quantization,
        metrics=metrics if isinstance(metrics, Mapping) else {},
    )


def list_artifacts(root: Path) -> list[ArtifactRow]:
    rows = [describe(d) for d in find_artifacts(root)]
    return sorted(rows, key=lambda r: (r.name, r.version or 0, r.path))


def format_rows(rows: list[ArtifactRow]) -> list[str]:
    """A plain-text table, one line per artifact."""
    header = ("name", "version", "id", "parent", "date", "PR-AUC (test)", "path")
    table = [header]
    for r in rows:
        if r.problem:
            table.append(("?", "?", "", "", "", f"unreadable: {r.problem[:80]}", r.path))
            continue
        version = "?" if r.version is None else str(r.version)
        table.append((r.name, version, r.model_id or "-", r.parent or "-", r.date, r.headline(), r.path))
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]) for row in table
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="list the artifacts under DIR: version, parent, date, headline metrics")
    lst.add_argument("dir", type=Path, help="a directory of artifacts (searched up to 3 levels down)")
    lst.add_argument("--json", action="store_true", help="one JSON object per artifact instead of a table")


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        print(f"error: {args.dir} is not a directory", file=sys.stderr)
        return 2
    rows = list_artifacts(args.dir)
    if args.json:
        for row in rows:
            data: dict[str, Any] = asdict(row)
            data["metrics"] = {k: dict(v) for k, v in row.metrics.items()}
            print(json.dumps(data, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no artifacts (directories with {MANIFEST_NAME}) under {args.dir}")
        return 0
    for line in format_rows(rows):
        print(line.rstrip())
    return 0
