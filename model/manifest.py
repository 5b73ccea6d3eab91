"""The artifact manifest (``commentmod.json``): what a serving artifact is and how to check it.

An artifact directory holds ``model.onnx``, ``tokenizer.json``, ``MODEL_CARD.md``
and this manifest. Loading verifies the format version and the sha256 of every
listed file, and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commentmod.model.errors import ManifestError
from commentmod.model.inputs import ContextRule, SpecialIds
from commentmod.model.labels import LABELS

MANIFEST_NAME = "commentmod.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DataSource:
    """A training data source, with its licence and how many rows of it were used."""

    name: str
    licence: str
    rows: int = 0
    commercial_ok: bool = False


@dataclass(frozen=True)
class Manifest:
    """Self-description of a serving artifact."""

    name: str
    labels: tuple[str, ...] = LABELS
    thresholds: Mapping[str, float] = field(default_factory=lambda: {k: 0.5 for k in LABELS})
    context_rule: ContextRule = field(default_factory=ContextRule)
    special_ids: SpecialIds = field(default_factory=SpecialIds)
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    output_names: tuple[str, ...] = ("logits",)
    output_kind: str = "logits"  # sigmoid is applied by the scorer
    temperature: Mapping[str, float] = field(default_factory=lambda: {k: 1.0 for k in LABELS})
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256
    data_sources: tuple[DataSource, ...] = ()
    library_versions: Mapping[str, str] = field(default_factory=dict)
    quantization: str = "none"
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        missing = [k for k in self.labels if k not in self.thresholds]
        if missing:
            raise ManifestError(f"manifest {self.name!r}: no threshold for label(s) {missing}")

    @property
    def licences(self) -> list[str]:
        return sorted({s.licence for s in self.data_sources})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["input_names"] = list(self.input_names)
        data["output_names"] = list(self.output_names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError(
                f"artifact format version is {version!r}, this commentmod reads version {FORMAT_VERSION}; "
                "re-export the model with this version (commentmod export) or install the matching commentmod"
            )
        try:
            return cls(
                name=data["name"],
                labels=tuple(data["labels"]),
                thresholds=dict(data["thresholds"]),
                context_rule=ContextRule.from_dict(data["context_rule"]),
                special_ids=SpecialIds(**data.get("special_ids", {})),
                input_names=tuple(data["input_names"]),
                output_names=tuple(data["output_names"]),
                output_kind=data.get("output_kind", "logits"),
                temperature=dict(data.get("temperature") or {k: 1.0 for k in data["labels"]}),
                files=dict(data["files"]),
                data_sources=tuple(DataSource(**s) for s in data.get("data_sources", [])),
                library_versions=dict(data.get("library_versions", {})),
                quantization=data.get("quantization", "none"),
                extra=dict(data.get("extra", {})),
                created_at=data["created_at"],
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"manifest is malformed ({exc!r}); re-export the artifact") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_files(directory: Path, names: list[str]) -> dict[str, str]:
    """sha256 of each named file in ``directory``."""
    return {name: sha256_file(directory / name) for name in sorted(names)}


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = Path(directory) / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(directory: Path, verify: bool = True) -> Manifest:
    """Read ``commentmod.json`` from an artifact directory; with ``verify`` check every file's sha256."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(
            f"{directory} has no {MANIFEST_NAME}; point --model at a directory written by `commentmod export`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); re-export the artifact") from exc
    manifest = Manifest.from_dict(data)
    if verify:
        verify_files(directory, manifest)
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    for name, expected in manifest.files.items():
        file = directory / name
        if not file.is_file():
            raise ManifestError(
                f"artifact file {file} listed in the manifest is missing; re-export the artifact"
            )
        actual = sha256_file(file)
        if actual != expected:
            raise ManifestError(
                f"sha256 of {file} is {actual[:12]}…, the manifest says {expected[:12]}…: "
                "the file was changed or corrupted; re-export or restore the artifact"
            )
