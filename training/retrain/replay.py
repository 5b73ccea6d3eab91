"""The parent's base data: where it is, and the seeded samples a retrain replays and tests on.

A run records the data build it was trained on (``RunInfo.extra["dataset_dir"]``, written by
``commentmod train`` and by ``commentmod retrain`` for its children; also the training config's
``data.dataset_dir``, the stacker's provenance and the n-gram model's ``baseline.json``).
:func:`base_data_dir` takes the first of those that is still a data build, or ``--base-data DIR``.

From it a retrain reads a **replay sample** of the train split (mixed with the new labels so the
refitted parts keep the base data's signal), a sample of the validation split (thresholds,
temperatures and the stacker are fitted on it plus the new labels' validation part) and a sample of
the test split (the gate's comparison (a)).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...model.record import CommentRecord
from ..data.build_io import BUILD_INFO_NAME, load_split
from ..fit.baseline_onnx import META_NAME
from ..fit.hybrid_fit import NGRAM_DIR, STACKER_NAME
from ..fit.modeling import RunInfo
from .errors import RetrainError


def _recorded(run_dir: Path, info: RunInfo) -> Iterator[tuple[str, Any]]:
    """(where, path) pairs of every place the run records its data build, most direct first."""
    yield "run info extra.dataset_dir", info.extra.get("dataset_dir")
    data = info.training_config.get("data")
    yield "training config data.dataset_dir", data.get("dataset_dir") if isinstance(data, Mapping) else None
    for where, path, keys in (
        (STACKER_NAME, run_dir / STACKER_NAME, ("provenance", "dataset")),
        (f"{NGRAM_DIR}/{META_NAME}", run_dir / NGRAM_DIR / META_NAME, ("extra", "dataset")),
    ):
        value: Any = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        yield where, value


def is_build(path: Path) -> bool:
    return (path / BUILD_INFO_NAME).is_file() or (path / "dataset_dict.json").is_file()


def base_data_dir(run_dir: Path, info: RunInfo, override: Path | None = None) -> Path:
    """The parent's data build: ``override`` (``--base-data``), else the first recorded one that exists."""
    if override is not None:
        if not is_build(Path(override)):
            raise RetrainError(f"--base-data {override} is not a data build (`commentmod data build --out`)")
        return Path(override)
    tried = []
    for where, value in _recorded(Path(run_dir), info):
        if isinstance(value, str) and value:
            if is_build(Path(value)):
                return Path(value)
            tried.append(f"{where}: {value}")
    listed = "; ".join(tried) if tried else "it records none"
    raise RetrainError(
        f"cannot find the data build {run_dir} was trained on ({listed}); pass --base-data DIR "
        "(the directory `commentmod data build --out` wrote)"
    )


def seeded_sample(records: Sequence[CommentRecord], n: int | None, seed: int) -> list[CommentRecord]:
    """Records with a known label; a seeded random sample of ``n`` of them (all when None or fewer)."""
    known = [r for r in records if any(v is not None for v in r.labels.values())]
    if n is None or n >= len(known):
        return known
    picked = np.sort(np.random.default_rng(seed).choice(len(known), size=n, replace=False))
    return [known[int(i)] for i in picked]


@dataclass(frozen=True)
class BaseRows:
    """The samples of the base data a retrain uses, and the sizes of the splits they come from.

    ``train`` is the replay sample (what the head reads: each row is encoded once); ``train_all`` is
    every labelled base train row, for the n-gram model, which costs no encoding and was trained on all
    of them in the parent: refitting it on the replay sample alone loses what the parent's had learnt."""

    data_dir: Path
    train: list[CommentRecord]
    validation: list[CommentRecord]
    test: list[CommentRecord]
    split_rows: Mapping[str, int]
    train_all: list[CommentRecord] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def load_base_rows(
    data_dir: Path, replay: int | None, validation: int | None, test: int | None, seed: int = 0
) -> BaseRows:
    """Seeded samples of the base build's splits (``None`` = every row); no test rows is an error."""
    splits = {name: load_split(data_dir, name) for name in ("train", "validation", "test")}
    rows = BaseRows(
        data_dir=Path(data_dir),
        train=seeded_sample(splits["train"], replay, seed),
        validation=seeded_sample(splits["validation"], validation, seed + 1),
        test=seeded_sample(splits["test"], test, seed + 2),
        split_rows={name: len(recs) for name, recs in splits.items()},
        train_all=seeded_sample(splits["train"], None, seed),
    )
    if not rows.test:
        raise RetrainError(f"{data_dir} has no labelled test rows: the gate compares models on them")
    return rows
