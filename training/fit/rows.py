"""The rows a fine-tuning run trains on: reading the splits (a built DatasetDict, or one built on
the fly into a cache), the row caps of the config (seeded samples), and tokenising them once into
:class:`Encoded` windows, labels, label masks and per-source row weights."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, encode_comments
from ...model.labels import LABELS
from ...model.record import CommentRecord
from ..data.build_info import source_weights
from .config import DataConfig
from .errors import TrainError

log = logging.getLogger(__name__)


def read_split(dataset_dir: Path, split: str) -> list[CommentRecord]:
    """Records of one split of a build directory written by ``commentmod data build``."""
    from ..data.build_io import load_split

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise TrainError(
            f"dataset directory {dataset_dir} does not exist; build it with "
            "`commentmod data build --out DIR` or set data.sources in the config"
        )
    return load_split(dataset_dir, split)


def read_build_info(dataset_dir: Path) -> dict[str, Any]:
    from ..data.build_io import load_build_info

    return load_build_info(dataset_dir)


def build_cached(catalog_path: Path, sources: Sequence[str], cache_dir: Path) -> Path:
    """Build the DatasetDict for ``sources`` of a catalog into ``cache_dir`` (reused when already there).

    The cache key is the catalog file's content, the source list, the pipeline's code (every module
    of ``training/data``, converters included) and the starter corpus shipped in the package;
    the dataset folders are not hashed: delete ``cache_dir`` to force a rebuild after changing them.
    """
    from ..data.build import build_dataset
    from ..data.build_io import BUILD_INFO_NAME, save_build
    from ..data.catalog_load import load_catalog
    from ..data.selection import resolve_data_root, select_sources

    catalog_path = Path(catalog_path)
    catalog = load_catalog(catalog_path)
    digest = hashlib.sha256(catalog_path.read_bytes())
    digest.update(json.dumps(sorted(sources)).encode())
    here = Path(__file__).resolve().parents[1] / "data"
    inputs = [*sorted(here.rglob("*.py")), *sorted((here / "starter").glob("*.jsonl"))]
    for code in inputs:
        if code.is_file():  # a change to the pipeline's code or the starter corpus invalidates the cache
            digest.update(code.read_bytes())
    out = Path(cache_dir) / f"data-{digest.hexdigest()[:12]}"
    if (out / BUILD_INFO_NAME).is_file():
        log.info("using cached data build %s", out)
        return out
    selection = select_sources(catalog, list(sources))
    data_root = resolve_data_root(None, catalog.data_root)
    log.info("building data for %s into %s", ", ".join(sources), out)
    result = build_dataset(catalog, selection, data_root)
    return save_build(result, out)


def resolve_dataset_dir(data: DataConfig) -> Path:
    """The DatasetDict directory: given, or built on the fly from catalog + sources into the cache."""
    if data.dataset_dir:
        return Path(data.dataset_dir)
    return build_cached(Path(data.catalog or "configs/data.yaml"), data.sources, Path(data.cache_dir))


def _sample(indices: list[int], n: int, rng: np.random.Generator) -> list[int]:
    if n >= len(indices):
        return indices
    keep = rng.choice(len(indices), size=n, replace=False)
    return [indices[i] for i in sorted(keep.tolist())]


def cap_train_rows(records: Sequence[CommentRecord], data: DataConfig, seed: int) -> list[CommentRecord]:
    """Drop rows with no known label, then apply per-source caps and ``max_train_rows`` (seeded sample)."""
    rng = np.random.default_rng([seed, 1])
    by_source: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        if any(v is not None for v in rec.labels.values()):
            by_source.setdefault(rec.source, []).append(i)
    kept: list[int] = []
    for source in sorted(by_source):
        cap = data.source_caps.get(source, data.max_rows_per_source)
        idx = by_source[source]
        kept.extend(idx if cap is None else _sample(idx, cap, rng))
    kept.sort()
    if data.max_train_rows is not None:
        kept = _sample(kept, data.max_train_rows, rng)
    return [records[i] for i in kept]


def cap_rows(records: Sequence[CommentRecord], n: int | None, seed: int) -> list[CommentRecord]:
    """The rows with a known label, at most ``n`` of them (seeded sample)."""
    rows = [i for i, r in enumerate(records) if any(v is not None for v in r.labels.values())]
    if n is not None:
        rows = _sample(rows, n, np.random.default_rng([seed, 2]))
    return [records[i] for i in rows]


@dataclass(frozen=True)
class Rows:
    """The capped train and validation records of a run and the build they come from."""

    dataset_dir: Path
    build_info: dict[str, Any]
    train: list[CommentRecord]
    validation: list[CommentRecord]


def load_rows(data: DataConfig, seed: int) -> Rows:
    """Read (or build) the data of ``data`` and apply its caps; no train rows is an error."""
    dataset_dir = resolve_dataset_dir(data)
    build_info = read_build_info(dataset_dir)
    train_records = cap_train_rows(read_split(dataset_dir, "train"), data, seed)
    val_records = cap_rows(read_split(dataset_dir, "validation"), data.max_validation_rows, seed)
    if not train_records:
        raise TrainError(f"{dataset_dir} has no labelled train rows (after caps); check the data config")
    if not val_records:
        log.warning("no validation rows: no early stopping; thresholds stay 0.5")
    return Rows(dataset_dir, build_info, train_records, val_records)


@dataclass
class Encoded:
    """Tokenised rows: windows per row, labels (0 where unknown), mask (1 = known), row weights."""

    windows: list[list[list[int]]]
    labels: np.ndarray
    mask: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(w[0]) for w in self.windows], dtype=np.int64)


def label_arrays(records: Sequence[CommentRecord]) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, mask)``, both ``[N, len(LABELS)]`` float32; unknown labels have mask 0 and label 0."""
    y = np.zeros((len(records), len(LABELS)), dtype=np.float32)
    m = np.zeros_like(y)
    for i, rec in enumerate(records):
        for j, name in enumerate(LABELS):
            value = rec.labels.get(name)
            if value is not None:
                y[i, j] = float(value)
                m[i, j] = 1.0
    return y, m


def encode_records(
    tokenizer: Tokenizer,
    records: Sequence[CommentRecord],
    rule: ContextRule,
    source_weights: dict[str, float] | None = None,
) -> Encoded:
    """Every record's windows (the shared input layout), label arrays and per-source row weights."""
    items = [(r.text, r.article_title, r.article_text) for r in records]
    windows = encode_comments(tokenizer, items, rule) if items else []
    y, m = label_arrays(records)
    sw = source_weights or {}
    w = np.asarray([float(sw.get(r.source, 1.0)) for r in records], dtype=np.float32)
    return Encoded(windows, y, m, w)


def encode_rows(tokenizer: Tokenizer, rows: Rows, rule: ContextRule) -> tuple[Encoded, Encoded]:
    """``(train, validation)`` encoded; train rows weighted by their source's ``weight``."""
    weights = source_weights(rows.build_info)
    t0 = time.perf_counter()
    train_data = encode_records(tokenizer, rows.train, rule, weights)
    val_data = encode_records(tokenizer, rows.validation, rule)
    log.info("tokenised %d + %d rows in %.1fs", len(train_data), len(val_data), time.perf_counter() - t0)
    return train_data, val_data
