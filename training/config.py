"""Training configuration: typed dataclasses loaded from YAML and validated on load.

Every problem is reported with what was found and what to write instead::

    configs/x.yaml: unknown key 'lr'; did you mean 'learning_rate'?
    configs/x.yaml: batch_size is 'sixteen' (str); write an integer, e.g. 16

Relative paths (``base_model``, ``data.dataset_dir``, ``data.catalog``,
``data.cache_dir``) are relative to the working directory the command runs in.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from commentmod.model.errors import CommentmodError
from commentmod.model.inputs import ContextRule
from commentmod.model.labels import LABELS


class ConfigError(CommentmodError, ValueError):
    """The training configuration is malformed; the message lists every problem and the fix."""


@dataclass(frozen=True)
class DataConfig:
    """Where the training rows come from, and how many of them to use."""

    # a DatasetDict saved by `commentmod data` (splits train/validation/test)
    dataset_dir: str | None = None
    # or: build one on the fly from a catalog and a list of source names (cached under cache_dir)
    catalog: str | None = None
    sources: tuple[str, ...] = ()
    cache_dir: str = "out/cache"
    # caps (train split only; sampled with the run seed)
    max_train_rows: int | None = None
    max_rows_per_source: int | None = None
    source_caps: dict[str, int] = field(default_factory=dict)
    # cap on validation rows used for periodic eval, thresholds and temperature
    max_validation_rows: int | None = None


@dataclass(frozen=True)
class ContextConfig:
    """The input layout (see :class:`commentmod.model.ContextRule`)."""

    max_length: int = 256
    min_context_tokens: int = 32
    max_context_tokens: int = 128
    stride: int = 32
    article_text_chars: int = 1500

    def rule(self) -> ContextRule:
        return ContextRule(
            max_length=self.max_length,
            min_context_tokens=self.min_context_tokens,
            max_context_tokens=self.max_context_tokens,
            stride=self.stride,
            article_text_chars=self.article_text_chars,
        )


@dataclass(frozen=True)
class TrainConfig:
    """All knobs of one fine-tuning run."""

    base_model: str = "artifacts/base-e5"
    data: DataConfig = field(default_factory=DataConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    # optimisation
    batch_size: int = 16
    eval_batch_size: int = 64
    grad_accum: int = 1
    learning_rate: float = 5e-5
    head_lr: float | None = 1e-3  # None: same as learning_rate
    embedding_lr: float | None = None  # word-embedding lr; None: same as learning_rate
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    dropout: float = 0.1
    epochs: int = 3
    max_steps: int | None = None  # optimizer steps; caps epochs
    # wall-clock budget of the training loop (evaluations included): after 20 steps and a tenth of the
    # budget the schedule (total steps, LR decay, embedding unfreeze) is shortened to fit at the
    # measured speed, and the loop stops (evaluates, keeps the best) if it still runs over
    max_train_minutes: float | None = None
    warmup_ratio: float = 0.06
    # word embeddings (250k x 384 for e5-small): frozen, or trained with sparse gradients
    freeze_word_embeddings: bool = False
    unfreeze_embeddings_last_epoch: bool = False
    sparse_embeddings: bool = True  # when trained: sparse grads + SparseAdam instead of dense AdamW
    # loss
    pos_weight: dict[str, float] = field(default_factory=dict)
    label_weights: dict[str, float] = field(default_factory=dict)
    # batching: shuffle, then sort by length inside chunks of batch_size * length_group_factor
    length_group_factor: int = 50
    # evaluation / early stopping / checkpoints (None: once per epoch / off / off)
    eval_every_steps: int | None = None
    early_stopping_patience: int | None = None
    checkpoint_every_steps: int | None = None
    seed: int = 13
    # torch threads; None: one per core that other processes leave free (commentmod.training.hardware)
    num_threads: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # matmul precision of the forward/backward pass (weights stay fp32): auto = bf16 autocast on a CPU
    # with AMX/AVX512-BF16 or a CUDA GPU with bf16, else fp32; bf16 without hardware support falls back
    # to fp32 with a warning (commentmod.training.hardware)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # decision thresholds and calibration (fitted on validation)
    threshold_mode: Literal["f1", "precision"] = "f1"
    target_precision: float = 0.9
    calibrate: bool = True

    @property
    def rule(self) -> ContextRule:
        return self.context.rule()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["data"]["sources"] = list(self.data.sources)
        return data


T = TypeVar("T")


# common names from other trainers -> ours
ALIASES: dict[str, str] = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "wd": "weight_decay",
    "epoch": "epochs",
    "num_epochs": "epochs",
    "num_train_epochs": "epochs",
    "steps": "max_steps",
    "warmup": "warmup_ratio",
    "warmup_steps": "warmup_ratio",
    "gradient_accumulation_steps": "grad_accum",
    "per_device_train_batch_size": "batch_size",
    "model": "base_model",
    "base": "base_model",
    "max_len": "max_length",
    "patience": "early_stopping_patience",
    "threads": "num_threads",
    "dtype": "precision",
    "mixed_precision": "precision",
    "amp": "precision",
    "bf16": "precision",
}


def suggest(key: str, valid: list[str]) -> str | None:
    """The valid key most likely meant by ``key`` (alias, initials, then difflib), or None."""
    if ALIASES.get(key) in valid:
        return ALIASES[key]
    initials = [v for v in valid if "".join(part[:1] for part in v.split("_")) == key]
    if len(initials) == 1:
        return initials[0]
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return close[0] if close else None


# --- generic YAML -> dataclass conversion ----------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if origin is dict:
        k, v = get_args(tp)
        return f"a mapping of {_type_name(k)} to {_type_name(v)}"
    if origin in (tuple, list):
        return f"a list of {_type_name(get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _example(tp: Any, default: Any) -> str:
    if default is not None and default is not dataclasses.MISSING and not isinstance(default, (dict, tuple)):
        return (
            f", e.g. {yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}"
        )
    return ""


def _convert(value: Any, tp: Any, where: str, default: Any, errors: list[str]) -> Any:
    origin = get_origin(tp)
    hint = f"; write {_type_name(tp)}{_example(tp, default)}"
    found = f"{where} is {value!r} ({type(value).__name__})"
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            sub: list[str] = []
            out = _convert(value, arg, where, default, sub)
            if not sub:
                return out
        errors.append(found + hint)
        return default
    if origin is Literal:
        if value in get_args(tp):
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in get_args(tp)], n=1, cutoff=0.5)
        more = f"; did you mean {close[0]!r}?" if close else ""
        errors.append(f"{where} is {value!r}; write {_type_name(tp)}{more}")
        return default
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            errors.append(found + hint)
            return tp()
        return _build(tp, value, where + ".", errors)
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(found + hint)
            return {}
        _, vt = get_args(tp)
        return {str(k): _convert(v, vt, f"{where}.{k}", None, errors) for k, v in value.items()}
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            errors.append(found + hint)
            return ()
        (et, *_) = get_args(tp)
        return tuple(_convert(v, et, f"{where}[{i}]", None, errors) for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        errors.append(found + hint)
        return default
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        errors.append(found + hint)
        return default
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-5" as a string
            try:
                return float(value)
            except ValueError:
                pass
        errors.append(found + hint)
        return default
    if tp is str:
        if isinstance(value, str):
            return value
        errors.append(found + hint)
        return default
    errors.append(f"{where}: unsupported type {tp!r} (a bug in commentmod)")
    return default


def _build(cls: type[T], data: dict[str, Any], prefix: str, errors: list[str]) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        if key not in fields:
            close = suggest(key, list(fields))
            more = f"; did you mean '{prefix}{close}'?" if close else f"; valid keys: {', '.join(fields)}"
            errors.append(f"unknown key '{prefix}{key}'{more}")
            continue
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        kwargs[key] = _convert(value, hints[key], prefix + key, default, errors)
    return cls(**kwargs)


# --- range checks ---------------------------------------------------------------------------------


def _check(cfg: TrainConfig) -> list[str]:
    errs: list[str] = []

    def positive(name: str, value: float | None, allow_none: bool = True) -> None:
        if value is None and allow_none:
            return
        if value is None or value <= 0:
            errs.append(f"{name} is {value!r}; write a number > 0")

    for name in ("batch_size", "eval_batch_size", "grad_accum", "epochs", "length_group_factor"):
        positive(name, getattr(cfg, name), allow_none=False)
    for name in (
        "max_steps",
        "eval_every_steps",
        "early_stopping_patience",
        "checkpoint_every_steps",
        "num_threads",
        "head_lr",
        "embedding_lr",
        "max_grad_norm",
        "max_train_minutes",
    ):
        positive(name, getattr(cfg, name))
    positive("learning_rate", cfg.learning_rate, allow_none=False)
    if cfg.learning_rate > 0.1:
        errs.append(
            f"learning_rate is {cfg.learning_rate}; that is far too high for fine-tuning, use e.g. 5e-5"
        )
    if not 0.0 <= cfg.warmup_ratio < 1.0:
        errs.append(f"warmup_ratio is {cfg.warmup_ratio}; write a fraction in [0, 1), e.g. 0.06")
    if not 0.0 <= cfg.dropout < 1.0:
        errs.append(f"dropout is {cfg.dropout}; write a fraction in [0, 1), e.g. 0.1")
    if cfg.weight_decay < 0:
        errs.append(f"weight_decay is {cfg.weight_decay}; write a number >= 0, e.g. 0.01")
    if not 0.0 < cfg.target_precision <= 1.0:
        errs.append(f"target_precision is {cfg.target_precision}; write a fraction in (0, 1], e.g. 0.9")
    if cfg.unfreeze_embeddings_last_epoch and not cfg.freeze_word_embeddings:
        errs.append(
            "unfreeze_embeddings_last_epoch is true but freeze_word_embeddings is false (they are trained "
            "all along); set freeze_word_embeddings: true, or drop unfreeze_embeddings_last_epoch"
        )
    for section in ("pos_weight", "label_weights"):
        for label, w in getattr(cfg, section).items():
            if label not in LABELS:
                close = difflib.get_close_matches(label, LABELS, n=1)
                more = f"; did you mean '{close[0]}'?" if close else f"; labels are {', '.join(LABELS)}"
                errs.append(f"{section}.{label}: unknown label{more}")
            elif w is not None and w <= 0:
                errs.append(f"{section}.{label} is {w}; write a number > 0")
    d = cfg.data
    if d.dataset_dir and (d.catalog or d.sources):
        errs.append(
            "data has both dataset_dir and catalog/sources; use dataset_dir (a built DatasetDict) "
            "or catalog + sources (built on the fly), not both"
        )
    if not d.dataset_dir and not d.sources:
        errs.append(
            "data names no rows; write data.dataset_dir: DIR (from `commentmod data`) "
            "or data.sources: [starter, ...] (with data.catalog when the sources are not built in)"
        )
    for name in ("max_train_rows", "max_rows_per_source", "max_validation_rows"):
        positive(f"data.{name}", getattr(d, name))
    for src, cap in d.source_caps.items():
        if cap < 0:
            errs.append(f"data.source_caps.{src} is {cap}; write a row count >= 0")
    try:
        cfg.context.rule()
    except ValueError as exc:
        errs.append(f"context: {exc}")
    return errs


def config_from_dict(data: dict[str, Any] | None, origin: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig`; raises :class:`ConfigError` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: the top level is a {type(data).__name__}; write a mapping of key: value"
        )
    errors: list[str] = []
    cfg = _build(TrainConfig, data, "", errors)
    if not errors:
        errors = _check(cfg)
    if errors:
        raise ConfigError("\n".join(f"{origin}: {e}" for e in errors))
    return cfg


def load_config(path: Path | str) -> TrainConfig:
    """Read a YAML training config and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass e.g. --config configs/quick.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    return config_from_dict(data, origin=str(path))


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy with top-level fields replaced (None values are ignored), re-validated."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return cfg
    new = dataclasses.replace(cfg, **changes)
    errors = _check(new)
    if errors:
        raise ConfigError("\n".join(f"override: {e}" for e in errors))
    return new


def with_dataset_dir(cfg: TrainConfig, dataset_dir: str) -> TrainConfig:
    """A copy that reads rows from a built DatasetDict instead of the configured source."""
    data = dataclasses.replace(cfg.data, dataset_dir=dataset_dir, catalog=None, sources=())
    return dataclasses.replace(cfg, data=data)
