"""A data build on disk: the Arrow ``DatasetDict`` (one column per ``CommentRecord.to_row()`` key)
plus ``build_info.json``; writing it and reading it back (training uses :func:`load_split`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...model.errors import CommentmodError
from ...model.labels import LABELS
from ...model.record import CommentRecord
from .catalog import SPLIT_NAMES

BUILD_INFO_NAME = "build_info.json"
ROW_COLUMNS: tuple[str, ...] = tuple(CommentRecord(id="x", text="", source="s", licence="unknown").to_row())


class DataBuildError(CommentmodError):
    """A data build failed, or a build directory is missing or not a commentmod data build."""


@dataclass
class BuildResult:
    """Records per split plus the build description written to ``build_info.json``."""

    splits: dict[str, list[CommentRecord]]
    info: dict[str, Any]


def _features() -> Any:
    from datasets import Features, Value

    spec: dict[str, Any] = {}
    for col in ROW_COLUMNS:
        if col in LABELS:
            spec[col] = Value("int8")
        elif col in ("synthetic", "augmented"):
            spec[col] = Value("bool")
        else:
            spec[col] = Value("string")
    return Features(spec)


def records_to_columns(records: Sequence[CommentRecord]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {col: [] for col in ROW_COLUMNS}
    for rec in records:
        for col, value in rec.to_row().items():
            columns[col].append(value)
    return columns


def to_dataset_dict(splits: Mapping[str, Sequence[CommentRecord]]) -> Any:
    """A ``datasets.DatasetDict`` with one column per ``CommentRecord.to_row()`` key."""
    from datasets import Dataset, DatasetDict

    features = _features()
    return DatasetDict(
        {
            name: Dataset.from_dict(records_to_columns(splits.get(name, [])), features=features)
            for name in SPLIT_NAMES
        }
    )


def _is_build_dir(path: Path) -> bool:
    return (path / BUILD_INFO_NAME).is_file() or (path / "dataset_dict.json").is_file()


def save_build(result: BuildResult, out: Path) -> Path:
    """Write the DatasetDict and ``build_info.json`` to ``out`` (replacing an earlier build there)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise DataBuildError(f"--out {out} is a file; give a directory path")
        if any(out.iterdir()):
            if not _is_build_dir(out):
                raise DataBuildError(
                    f"--out {out} exists and is not a commentmod data build; choose an empty or new directory"
                )
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    to_dataset_dict(result.splits).save_to_disk(str(out))
    (out / BUILD_INFO_NAME).write_text(
        json.dumps(result.info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return out


def load_build_info(dataset_dir: Path | str) -> dict[str, Any]:
    """The ``build_info.json`` of a build directory."""
    path = Path(dataset_dir) / BUILD_INFO_NAME
    if not path.is_file():
        raise DataBuildError(f"{dataset_dir} has no {BUILD_INFO_NAME}; build it with `commentmod data build`")
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return info


def _load_dataset_dict(dataset_dir: Path | str) -> Any:
    from datasets import load_from_disk

    path = Path(dataset_dir)
    if not _is_build_dir(path):
        raise DataBuildError(f"{path} is not a data build directory; build it with `commentmod data build`")
    return load_from_disk(str(path))


def load_columns(dataset_dir: Path | str) -> dict[str, dict[str, list[Any]]]:
    """Every split of a build as plain column lists."""
    dsd = _load_dataset_dict(dataset_dir)
    return {name: dsd[name].to_dict() for name in SPLIT_NAMES if name in dsd}


def load_split(dataset_dir: Path | str, split: str) -> list[CommentRecord]:
    """The records of one split (``train``, ``validation`` or ``test``)."""
    if split not in SPLIT_NAMES:
        raise DataBuildError(f"unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}")
    dsd = _load_dataset_dict(dataset_dir)
    if split not in dsd:
        raise DataBuildError(f"{dataset_dir} has no {split!r} split; rebuild it with `commentmod data build`")
    columns = dsd[split].to_dict()
    n = len(columns["id"])
    return [CommentRecord.from_row({c: v[i] for c, v in columns.items()}) for i in range(n)]
