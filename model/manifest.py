"""The artifact manifest (``commentmod.json``): what a serving artifact is, and its value checks.

An artifact directory holds ``model.onnx``, ``tokenizer.json``, ``MODEL_CARD.md``, this manifest
and its checksum, and the files of the runtime plans that passed their gate (``runtime_plans``,
:mod:`.runtime_plans`). :class:`Manifest` is the parsed manifest; every instance is valid
(:func:`check_manifest`): types, thresholds finite in (0, 1), temperatures finite in
:data:`TEMPERATURE_RANGE`, labels unique, ``files`` plain relative paths with sha256 hex digests.
Reading, writing and verifying it on disk (checksum, listed files) is :mod:`.manifest_io`.

The label count against the model's outputs and the hybrid stacker (``extra["hybrid"]``) are
checked by the Scorer, which has the model and ``commentmod.serving.hybrid`` at hand.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from numbers import Real
from pathlib import PureWindowsPath
from typing import Any

from .errors import ManifestError
from .inputs import ContextRule, RuleFieldError, SpecialIds
from .labels import LABELS
from .runtime_plans import PlanFieldError, RuntimePlan, check_plans, plans_from_data

log = logging.getLogger(__name__)

MANIFEST_NAME = "commentmod.json"
# the artifact's file names (the n-gram model of a hybrid artifact: serving.hybrid.NGRAM_FILE)
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1  # every artifact but a vocabulary-pruned one (older readers load these)
# a vocabulary-pruned artifact (vocab_map.npy): a reader older than pruning would feed raw token
# ids into the pruned embedding table, so it must refuse the artifact as a newer format
FORMAT_VERSION_PRUNED = FORMAT_VERSION + 1
READABLE_FORMAT_VERSIONS = (FORMAT_VERSION, FORMAT_VERSION_PRUNED)
TEMPERATURE_RANGE = (0.05, 20.0)  # the bounds of commentmod.training.fit.calibration.fit_temperature
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUIRED = object()
REEXPORT_HINT = "re-export the artifact (commentmod export)"


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
    runtime_plans: tuple[RuntimePlan, ...] = ()  # ways to run the transformer, with their gates
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
        data["runtime_plans"] = [p.to_dict() for p in self.runtime_plans]
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
                runtime_plans=_runtime_plans(_get(data, "runtime_plans", [])),
                extra=_mapping("extra", _get(data, "extra", {})),
                created_at=_get(data, "created_at"),
                format_version=data["format_version"],
            )
        except (KeyError, TypeError, ValueError) as exc:  # a case the checks above did not name
            raise ManifestError(f"manifest is malformed ({exc!r}); {REEXPORT_HINT}") from exc


# --------------------------------------------------------------------------- reading raw JSON


def field_error(name: str, problem: str) -> ManifestError:
    return ManifestError(f"manifest field {name!r} {problem}; {REEXPORT_HINT}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _get(data: Mapping[str, Any], key: str, default: Any = _REQUIRED) -> Any:
    if key in data:
        return data[key]
    if default is _REQUIRED:
        raise ManifestError(f"manifest has no field {key!r}; {REEXPORT_HINT}")
    return default


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise field_error(name, f"is a {_shown(value)}, expected an object")
    return dict(value)


def _sequence(name: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise field_error(name, f"is a {_shown(value)}, expected a list")
    return tuple(value)


def _context_rule(value: Any) -> ContextRule:
    try:
        return ContextRule.from_dict(_mapping("context_rule", value))
    except RuleFieldError as exc:
        raise field_error(f"context_rule.{exc.field}", exc.problem) from exc
    except ValueError as exc:
        raise field_error("context_rule", f"is invalid: {exc}") from exc


def _special_ids(value: Any) -> SpecialIds:
    data = _mapping("special_ids", value)
    unknown = sorted(set(data) - {f.name for f in fields(SpecialIds)})
    if unknown:
        raise field_error("special_ids", f"has unknown keys {unknown}")
    return SpecialIds(**data)


def _runtime_plans(value: Any) -> tuple[RuntimePlan, ...]:
    try:
        return plans_from_data(value)
    except PlanFieldError as exc:
        raise field_error(exc.field, exc.problem) from exc


def _data_sources(value: Any) -> tuple[DataSource, ...]:
    out = []
    for i, item in enumerate(_sequence("data_sources", value)):
        data = _mapping(f"data_sources[{i}]", item)
        unknown = sorted(set(data) - {f.name for f in fields(DataSource)})
        if unknown or "name" not in data or "licence" not in data:
            raise field_error(
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
        raise field_error(name, f"is a {_shown(value)}, expected a number")
    if not math.isfinite(value):
        raise field_error(name, f"is {value}, expected a finite number")
    return float(value)


def check_format_version(data: Any) -> None:
    """``data`` is an object of a format version this commentmod reads (:data:`READABLE_FORMAT_VERSIONS`)."""
    if not isinstance(data, Mapping):
        raise ManifestError(f"manifest is a {type(data).__name__}, expected a JSON object; {REEXPORT_HINT}")
    version = data.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS or not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError(
            f"artifact format version is {version!r}, this commentmod reads versions "
            f"{FORMAT_VERSION} and {FORMAT_VERSION_PRUNED} (vocabulary-pruned); re-export the model "
            "with this version (commentmod export) or install the matching commentmod"
        )


def check_manifest(m: Manifest) -> None:
    """Every value of ``m`` is usable: ManifestError naming the first field that is not."""
    for name in ("name", "output_kind", "quantization", "created_at"):
        if not isinstance(getattr(m, name), str) or (name == "name" and not m.name):
            raise field_error(name, f"is a {_shown(getattr(m, name))}, expected a non-empty string")
    check_format_version({"format_version": m.format_version})
    _check_labels(m.labels)
    _check_thresholds(m.labels, m.thresholds)
    _check_temperature(m.labels, m.temperature)
    _check_names("input_names", m.input_names, exactly=2)
    _check_names("output_names", m.output_names, exactly=None)
    _check_ints("special_ids", asdict(m.special_ids))
    rule = asdict(m.context_rule)
    _check_ints(
        "context_rule", {k: v for k, v in rule.items() if k not in ("title_separator", "strip_emoji")}
    )
    if not isinstance(rule["strip_emoji"], bool):
        raise field_error(
            "context_rule.strip_emoji", f"is a {_shown(rule['strip_emoji'])}, expected true or false"
        )
    _check_files(m.files)
    _check_data_sources(m.data_sources)
    _check_runtime_plans(m.runtime_plans)
    for key, value in m.library_versions.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise field_error(f"library_versions.{key}", f"is a {_shown(value)}, expected a version string")
    if not isinstance(m.extra, Mapping):
        raise field_error("extra", f"is a {_shown(m.extra)}, expected an object")


def _check_labels(labels: tuple[Any, ...]) -> None:
    if not labels:
        raise field_error("labels", "is empty; an artifact scores at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise field_error(f"labels[{i}]", f"is a {_shown(label)}, expected a non-empty string")
    duplicates = sorted({k for k in labels if labels.count(k) > 1})
    if duplicates:
        raise field_error("labels", f"lists {duplicates} more than once; every label must be unique")


def _check_thresholds(labels: tuple[str, ...], thresholds: Mapping[str, Any]) -> None:
    missing = [k for k in labels if k not in thresholds]
    if missing:
        raise field_error("thresholds", f"has no threshold for label(s) {missing}")
    for k in labels:
        value = _number(f"thresholds.{k}", thresholds[k])
        if not 0.0 < value < 1.0:
            raise field_error(
                f"thresholds.{k}", f"is {value}, expected a probability strictly between 0 and 1"
            )


def _check_temperature(labels: tuple[str, ...], temperature: Mapping[str, Any]) -> None:
    low, high = TEMPERATURE_RANGE
    for k in labels:
        if k in temperature:
            value = _number(f"temperature.{k}", temperature[k])
            if not low <= value <= high:
                raise field_error(
                    f"temperature.{k}", f"is {value}, expected a number between {low} and {high}"
                )


def _check_names(name: str, names: tuple[Any, ...], exactly: int | None) -> None:
    if (exactly is not None and len(names) != exactly) or not names:
        raise field_error(name, f"lists {len(names)} names, expected {exactly or 'at least 1'}")
    for i, value in enumerate(names):
        if not isinstance(value, str) or not value:
            raise field_error(f"{name}[{i}]", f"is a {_shown(value)}, expected a non-empty string")


def _check_ints(name: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if not _is_type(value, int) or value < 0:
            raise field_error(f"{name}.{key}", f"is a {_shown(value)}, expected a non-negative integer")


def _check_files(files: Mapping[Any, Any]) -> None:
    for file_name, digest in files.items():
        problem = file_name_problem(file_name)
        if problem:
            shown = repr(file_name) if isinstance(file_name, str) else _shown(file_name)
            raise field_error("files", f"lists {shown}, which {problem}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise field_error(
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


def _check_runtime_plans(plans: Any) -> None:
    try:
        check_plans(plans)
    except PlanFieldError as exc:
        raise field_error(exc.field, exc.problem) from exc
    for i, plan in enumerate(plans):
        problem = file_name_problem(plan.file)
        if problem:
            raise field_error(f"runtime_plans[{i}].file", f"is {plan.file!r}, which {problem}")


def _check_data_sources(sources: tuple[Any, ...]) -> None:
    for i, source in enumerate(sources):
        if not isinstance(source, DataSource):
            raise field_error(f"data_sources[{i}]", f"is a {_shown(source)}, expected a data source")
        for f in fields(DataSource):
            value = getattr(source, f.name)
            if not _is_type(value, type(f.default) if f.name in ("rows", "commercial_ok") else str):
                raise field_error(f"data_sources[{i}].{f.name}", f"is a {_shown(value)}")
        if source.rows < 0:
            raise field_error(f"data_sources[{i}].rows", f"is {source.rows}, expected >= 0")
