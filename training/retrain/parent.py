"""The inputs of a retrain, loaded once: the parent run, the new labels split by article, the base
data samples."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from ...model.record import CommentRecord
from ..fit.config import ConfigError, TrainConfig, config_from_dict
from ..fit.modeling import CommentClassifier, RunInfo
from ..labels.store import LabelStore
from .cache import FeatureCache
from .errors import RetrainError
from .options import RetrainOptions
from .replay import BaseRows, base_data_dir, load_base_rows
from .served import Served, served_from_run
from .split import NewSplits, split_by_group
from .versions import model_id, version_of

log = logging.getLogger(__name__)


@dataclass
class ParentRun:
    """The run a retrain starts from."""

    run_dir: Path
    model: CommentClassifier
    tokenizer: Tokenizer
    info: RunInfo
    served: Served
    model_id: str
    version: int
    cache: FeatureCache = field(default_factory=lambda: FeatureCache(None))

    @classmethod
    def load(cls, run_dir: Path, cache: Path | None = None) -> ParentRun:
        """The run at ``run_dir``; ``cache``: the feature cache's directory (None: no cache)."""
        run_dir = Path(run_dir)
        model, info = CommentClassifier.load(run_dir)
        tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
        served = served_from_run(run_dir, model, info)
        ident, version = model_id(run_dir), version_of(info.extra)
        return cls(run_dir, model, tokenizer, info, served, ident, version, FeatureCache(cache))

    def train_config(self) -> TrainConfig:
        """The parent's training config (its threshold rule); the defaults when it has none usable."""
        try:
            return config_from_dict(dict(self.info.training_config), origin=f"{self.run_dir} training config")
        except ConfigError as exc:
            log.warning("%s; using the default threshold rule", exc)
            return TrainConfig()


@dataclass(frozen=True)
class RetrainData:
    """The new labels (split by article) and the base data samples."""

    store: Path
    snapshot: str
    new: NewSplits
    base: BaseRows

    @property
    def train(self) -> list[CommentRecord]:
        return [*self.base.train, *self.new.train]

    @property
    def validation(self) -> list[CommentRecord]:
        return [*self.base.validation, *self.new.validation]

    def counts(self) -> dict[str, Any]:
        return {"new": self.new.counts(), "new_articles": self.new.groups(), "replay": self.base.counts()}


def read_labels(path: Path) -> tuple[list[CommentRecord], str]:
    """The label store's resolved records and snapshot hash."""
    if not Path(path).is_file():
        raise RetrainError(f"label store {path} does not exist; create it with `commentmod labels import`")
    with LabelStore(path, create=False) as store:
        return store.records(), store.snapshot_hash()


def load_data(parent: ParentRun, options: RetrainOptions) -> RetrainData:
    """Split the new labels by article, then sample the parent's base data."""
    records, snapshot = read_labels(options.labels)
    new = split_by_group(records, options.seed, options.split)
    data_dir = base_data_dir(parent.run_dir, parent.info, options.base_data)
    base = load_base_rows(
        data_dir, options.replay_rows, options.validation_rows, options.test_rows, options.seed
    )
    log.info(
        "new labels %s (articles %s); base data %s: replay %s",
        new.counts(),
        new.groups(),
        data_dir,
        base.counts(),
    )
    return RetrainData(Path(options.labels), snapshot, new, base)
