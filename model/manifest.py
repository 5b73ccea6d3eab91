"""The artifact manifest (``commentmod.json``): what a serving artifact is and how to check it.

An artifact directory holds ``model.onnx``, ``tokenizer.json``, ``MODEL_CARD.md``, this manifest
and its checksum ``commentmod.json.sha256`` (``sha256sum`` format: ``<hex>  commentmod.json``).
Reading one checks, in this order, with one :class:`ManifestError` naming what is wrong:

1. the manifest is UTF-8 JSON of at most :data:`MAX_MANIFEST_BYTES` and of this format version;
2. its checksum (when ``checksum``, default ``verify``). An artifact exported before the checksum
   existed has no ``commentmod.json.sha256``: it still loads, with a warning (its files are still
   covered by their sha256s); re-exporting adds it. After a deliberate hand edit, record the new
   checksum with :func:`seal_manifest` (or ``sha256sum commentmod.json > commentmod.json.sha256``);
3. every value (:func:`check_manifest`): types, thresholds finite in (0, 1), temperatures finite in
   :data:`TEMPERATURE_RANGE`, labels unique, ``files`` plain relative paths with sha256 hex digests;
4. every listed file resolves inside the artifact directory (no symlink escaping it);
5. with ``verify``: the sha256 of every listed file.

The label count against the model's outputs and the hybrid stacker (``extra["hybrid"]``) are
checked by the Scorer, which has the model and ``commentmod.serving.hybrid`` at hand.
``Scorer.load`` reads with ``verify=False`` and, when verifying, checks the files it serves and
then the manifest's checksum (:func:`check_manifest_checksum`).

Over 400 lines because the manifest type, its field checks and its reading from disk are one
contract that training (export) and serving (load) must share exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from numbers import Real
from pathlib import Path, PureWindowsPath
from typing import Any

from .errors import ManifestError
from .inputs import ContextRule, RuleFieldError, SpecialIds
from .labels import LABELS

log = logging.getLogger(__name__)

MANIFEST_NAME = "commentmod.json"
# the artifact's file names (the n-gram model of a hybrid artifact: serving.hybrid.NGRAM_FILE)
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CHECKSUM_NAME = MANIFEST_NAME + ".sha256"
FORMAT_VERSION = 1
TEMPERATURE_RANGE = (0.05, 20.0)  # the bounds of commentmod.training.fit.calibration.fit_temperature
MAX_MANIFEST_BYTES = 8 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64})(?: [ *]" + re.escape(MANIFEST_NAME) + r")?\s*")
_REQUIRED = object()
_FIX = "re-export the artifact (commentmod export)"


@dataclass(frozen=True)
class DataSource:
    """A training data source, with its licence and how many rows of it were used."""

    name: str
    licence: str
    rows: int = 0
    commercial_ok: bool = False


@dataclass(frozen=True)
class Manifest:
    """Self-description of a serving artifact; every instance is valid (:func:`check_manifest`)."""

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
        check_manifest(self)

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
        """The manifest of parsed ``commentmod.json``; ManifestError naming the first bad field."""
        check_format_version(data)
        labels = _sequence("labels", _get(data, "labels"))
        _check_labels(labels)
        try:
            return cls(
                name=_get(data, "name"),
                labels=labels,
                thresholds=_mapping("thresholds", _get(data, "thresholds")),
                context_rule=_context_rule(_get(data, "context_rule")),
                special_ids=_special_ids(_get(data, "special_ids", {})),
                input_names=_sequence("input_names", _get(data, "input_names")),
                output_names=_sequence("output_names", _get(data, "output_names")),
                output_kind=_get(data, "output_kind", "logits"),
                temperature=_mapping(
                    "temperature", _get(data, "temperature", None) or {k: 1.0 for k in labels}
                ),
                files=_mapping("files", _get(data, "files")),
                data_sources=_data_sources(_get(data, "data_sources", [])),
                library_versions=_mapping("library_versions", _get(data, "library_versions", {})),
                quantization=_get(data, "quantization", "none"),
                extra=_mapping("extra", _get(data, "extra", {})),
                created_at=_get(data, "created_at"),
                format_version=data["format_version"],
            )
        except (KeyError, TypeError, ValueError) as exc:  # a case the checks above did not name
            raise ManifestError(f"manifest is malformed ({exc!r}); {_FIX}") from exc


# --------------------------------------------------------------------------- reading raw JSON


def _bad(name: str, problem: str) -> ManifestError:
    return ManifestError(f"manifest field {name!r} {problem}; {_FIX}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _get(data: Mapping[str, Any], key: str, default: Any = _REQUIRED) -> Any:
    if key in data:
        return data[key]
    if default is _REQUIRED:
        raise ManifestError(f"manifest has no field {key!r}; {_FIX}")
    return default


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(name, f"is a {_shown(value)}, expected an object")
    return dict(value)


def _sequence(name: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise _bad(name, f"is a {_shown(value)}, expected a list")
    return tuple(value)


def _context_rule(value: Any) -> ContextRule:
    try:
        return ContextRule.from_dict(_mapping("context_rule", value))
    except RuleFieldError as exc:
        raise _bad(f"context_rule.{exc.field}", exc.problem) from exc
    except ValueError as exc:
        raise _bad("context_rule", f"is invalid: {exc}") from exc


def _special_ids(value: Any) -> SpecialIds:
    data = _mapping("special_ids", value)
    unknown = sorted(set(data) - {f.name for f in fields(SpecialIds)})
    if unknown:
        raise _bad("special_ids", f"has unknown keys {unknown}")
    return SpecialIds(**data)


def _data_sources(value: Any) -> tuple[DataSource, ...]:
    out = []
    for i, item in enumerate(_sequence("data_sources", value)):
        data = _mapping(f"data_sources[{i}]", item)
        unknown = sorted(set(data) - {f.name for f in fields(DataSource)})
        if unknown or "name" not in data or "licence" not in data:
            raise _bad(
                f"data_sources[{i}]", f"has keys {sorted(data)}, expected name, licence, rows, commercial_ok"
            )
        out.append(DataSource(**data))
    return tuple(out)


# --------------------------------------------------------------------------- checking values


def _is_type(value: Any, kind: type) -> bool:
    """``value`` is of ``kind``; a bool is not a number, an int is a float."""
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float):
        return (
            isinstance(value, Real)
            and not isinstance(value, bool)
            and (kind is float or isinstance(value, int))
        )
    return isinstance(value, kind)


def _number(name: str, value: Any) -> float:
    if not _is_type(value, float):
        raise _bad(name, f"is a {_shown(value)}, expected a number")
    if not math.isfinite(value):
        raise _bad(name, f"is {value}, expected a finite number")
    return float(value)


def check_format_version(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise ManifestError(f"manifest is a {type(data).__name__}, expected a JSON object; {_FIX}")
    version = data.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ManifestError(
            f"artifact format version is {version!r}, this commentmod reads version {FORMAT_VERSION}; "
            "re-export the model with this version (commentmod export) or install the matching commentmod"
        )


def check_manifest(m: Manifest) -> None:
    """Every value of ``m`` is usable: ManifestError naming the first field that is not."""
    for name in ("name", "output_kind", "quantization", "created_at"):
        if not isinstance(getattr(m, name), str) or (name == "name" and not m.name):
            raise _bad(name, f"is a {_shown(getattr(m, name))}, expected a non-empty string")
    check_format_version({"format_version": m.format_version})
    _check_labels(m.labels)
    _check_thresholds(m.labels, m.thresholds)
    _check_temperature(m.labels, m.temperature)
    _check_names("input_names", m.input_names, exactly=2)
    _check_names("output_names", m.output_names, exactly=None)
    _check_ints("special_ids", asdict(m.special_ids))
    _check_ints("context_rule", {k: v for k, v in asdict(m.context_rule).items() if k != "title_separator"})
    _check_files(m.files)
    _check_data_sources(m.data_sources)
    for key, value in m.library_versions.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _bad(f"library_versions.{key}", f"is a {_shown(value)}, expected a version string")
    if not isinstance(m.extra, Mapping):
        raise _bad("extra", f"is a {_shown(m.extra)}, expected an object")


def _check_labels(labels: tuple[Any, ...]) -> None:
    if not labels:
        raise _bad("labels", "is empty; an artifact scores at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise _bad(f"labels[{i}]", f"is a {_shown(label)}, expected a non-empty string")
    duplicates = sorted({k for k in labels if labels.count(k) > 1})
    if duplicates:
        raise _bad("labels", f"lists {duplicates} more than once; every label must be unique")


def _check_thresholds(labels: tuple[str, ...], thresholds: Mapping[str, Any]) -> None:
    missing = [k for k in labels if k not in thresholds]
    if missing:
        raise _bad("thresholds", f"has no threshold for label(s) {missing}")
    for k in labels:
        value = _number(f"thresholds.{k}", thresholds[k])
        if not 0.0 < value < 1.0:
            raise _bad(f"thresholds.{k}", f"is {value}, expected a probability strictly between 0 and 1")


def _check_temperature(labels: tuple[str, ...], temperature: Mapping[str, Any]) -> None:
    low, high = TEMPERATURE_RANGE
    for k in labels:
        if k in temperature:
            value = _number(f"temperature.{k}", temperature[k])
            if not low <= value <= high:
                raise _bad(f"temperature.{k}", f"is {value}, expected a number between {low} and {high}")


def _check_names(name: str, names: tuple[Any, ...], exactly: int | None) -> None:
    if (exactly is not None and len(names) != exactly) or not names:
        raise _bad(name, f"lists {len(names)} names, expected {exactly or 'at least 1'}")
    for i, value in enumerate(names):
        if not isinstance(value, str) or not value:
            raise _bad(f"{name}[{i}]", f"is a {_shown(value)}, expected a non-empty string")


def _check_ints(name: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if not _is_type(value, int) or value < 0:
            raise _bad(f"{name}.{key}", f"is a {_shown(value)}, expected a non-negative integer")


def _check_files(files: Mapping[Any, Any]) -> None:
    for file_name, digest in files.items():
        problem = file_name_problem(file_name)
        if problem:
            shown = repr(file_name) if isinstance(file_name, str) else _shown(file_name)
            raise _bad("files", f"lists {shown}, which {problem}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise _bad(
                f"files.{file_name}", f"is a {_shown(digest)}, expected a sha256 (64 lowercase hex digits)"
            )


def file_name_problem(name: Any) -> str | None:
    """Why ``name`` is not a plain relative path inside an artifact directory, or None."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if any(c in name for c in "\\:\x00"):
        return "contains a backslash, colon or NUL (use plain relative paths with '/')"
    if name.startswith("/") or PureWindowsPath(name).is_absolute():
        return "is an absolute path; files must lie inside the artifact directory"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' component; files must lie inside the artifact directory"
    return None


def _check_data_sources(sources: tuple[Any, ...]) -> None:
    for i, source in enumerate(sources):
        if not isinstance(source, DataSource):
            raise _bad(f"data_sources[{i}]", f"is a {_shown(source)}, expected a data source")
        for f in fields(DataSource):
            value = getattr(source, f.name)
            if not _is_type(value, type(f.default) if f.name in ("rows", "commercial_ok") else str):
                raise _bad(f"data_sources[{i}].{f.name}", f"is a {_shown(value)}")
        if source.rows < 0:
            raise _bad(f"data_sources[{i}].rows", f"is {source.rows}, expected >= 0")


# --------------------------------------------------------------------------- files on disk


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_files(directory: Path, names: list[str]) -> dict[str, str]:
    """sha256 of each named file in ``directory``."""
    return {name: sha256_file(directory / name) for name in sorted(names)}


def _checksum_line(payload: bytes) -> str:
    return f"{hashlib.sha256(payload).hexdigest()}  {MANIFEST_NAME}\n"


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``commentmod.json`` and its checksum ``commentmod.json.sha256``; returns the manifest's path."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    payload = (json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path.write_bytes(payload)
    (directory / CHECKSUM_NAME).write_text(_checksum_line(payload), encoding="ascii")
    return path


def seal_manifest(directory: Path) -> Path:
    """Record the checksum of an existing ``commentmod.json`` (after a deliberate edit); checks it first."""
    directory = Path(directory)
    payload = _read_payload(directory / MANIFEST_NAME)
    Manifest.from_dict(_parse(directory / MANIFEST_NAME, payload))
    path = directory / CHECKSUM_NAME
    path.write_text(_checksum_line(payload), encoding="ascii")
    return path


def _read_payload(path: Path) -> bytes:
    if not path.is_file():
        raise ManifestError(
            f"{path.parent} has no {MANIFEST_NAME}; point --model at a directory written by "
            "`commentmod export`"
        )
    with path.open("rb") as fh:
        payload = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(payload) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is over {MAX_MANIFEST_BYTES >> 20} MiB, not a manifest; {_FIX}")
    return payload


def _parse(path: Path, payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ManifestError(f"{path} is not valid JSON ({str(exc)[:200]}); {_FIX}") from exc


def check_checksum(directory: Path, payload: bytes) -> None:
    """``payload`` (the manifest's bytes) matches ``commentmod.json.sha256``; warn when there is none."""
    path = Path(directory) / CHECKSUM_NAME
    if not path.is_file():
        log.warning(
            "%s has no %s (exported before manifests had a checksum): the manifest is not verified; "
            "re-export the artifact to add it",
            directory,
            CHECKSUM_NAME,
        )
        return
    with path.open("rb") as fh:
        text = fh.read(1024).decode("ascii", "replace")
    match = _CHECKSUM_LINE.fullmatch(text)
    if match is None:
        raise ManifestError(f"{path} is not a '<sha256>  {MANIFEST_NAME}' line; {_FIX}")
    actual = hashlib.sha256(payload).hexdigest()
    if match.group(1) != actual:
        raise ManifestError(
            f"sha256 of {Path(directory) / MANIFEST_NAME} is {actual[:12]}…, {CHECKSUM_NAME} says "
            f"{match.group(1)[:12]}…: the manifest was changed or corrupted; {_FIX} or restore it "
            "(after a deliberate edit: commentmod.model.manifest.seal_manifest(directory))"
        )


def check_manifest_checksum(directory: Path) -> None:
    """The artifact's ``commentmod.json`` matches its checksum file (see :func:`check_checksum`)."""
    directory = Path(directory)
    check_checksum(directory, _read_payload(directory / MANIFEST_NAME))


def check_inside(directory: Path, manifest: Manifest) -> None:
    """Every listed file that exists resolves inside ``directory`` (no symlink pointing out of it)."""
    root = Path(directory).resolve()
    for name in manifest.files:
        resolved = (Path(directory) / name).resolve()
        if not resolved.is_relative_to(root):
            raise _bad("files", f"lists {name!r}, which resolves to {resolved}, outside the artifact {root}")


def read_manifest(directory: Path, verify: bool = True, checksum: bool | None = None) -> Manifest:
    """Read and check ``commentmod.json`` of an artifact directory (see the module docstring).

    ``verify``: check every listed file's sha256. ``checksum`` (default: ``verify``): check the
    manifest against ``commentmod.json.sha256``.
    """
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    payload = _read_payload(path)
    data = _parse(path, payload)
    check_format_version(data)
    if verify if checksum is None else checksum:
        check_checksum(directory, payload)
    manifest = Manifest.from_dict(data)
    check_inside(directory, manifest)
    if verify:
        verify_files(directory, manifest)
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    check_inside(directory, manifest)
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
