"""Training configuration: pydantic models read from YAML and validated on load.

Every field carries its description; every problem is reported with the file, the field path, what
was found and what to write instead (:mod:`commentmod.training.fit.config_errors`)::

    configs/x.yaml: unknown key 'lr'; did you mean 'learning_rate'?
    configs/x.yaml: batch_size is 'sixteen' (str); write an integer, e.g. 16 (rows per ...)

The ``context`` section describes a :class:`commentmod.model.inputs.ContextRule` (the one home of the
input layout, its defaults and its checks); :meth:`ContextConfig.rule` builds it.

Relative paths (``base_model``, ``data.dataset_dir``, ``data.catalog``, ``data.cache_dir``) are
relative to the working directory the command runs in.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ...model.errors import CommentmodError
from ...model.inputs import ContextRule
from ...model.labels import LABELS
from ...model.yamlfile import YamlFileError, load_yaml_mapping
from .config_errors import WHOLE_MESSAGE, describe_errors


class ConfigError(CommentmodError, ValueError):
    """The training configuration is malformed; the message lists every problem and the fix."""


# --- value types: YAML scalars as the config reads them ---------------------------------------------


def _whole_number(value: Any) -> Any:
    """YAML may write 2 as 2.0: a whole float is an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _yaml_float(value: Any) -> Any:
    """PyYAML (YAML 1.1) reads ``5e-5`` as a string; an integer is a number too."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _one_or_more(value: Any) -> Any:
    """A single name is a list of one."""
    return [value] if isinstance(value, str) else value


def _allowed(test: Callable[[Any], bool], allowed: str) -> AfterValidator:
    """A check of one value; ``allowed`` says what to write instead (config_errors shows it)."""

    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


def _known_label(name: str) -> str:
    if name not in LABELS:
        close = difflib.get_close_matches(name, LABELS, n=1)
        raise ValueError(
            f"unknown label; did you mean '{close[0]}'?"
            if close
            else f"unknown label; labels are {', '.join(LABELS)}"
        )
    return name


Int = Annotated[int, Strict(), BeforeValidator(_whole_number)]
Number = Annotated[float, Strict(), BeforeValidator(_yaml_float)]
Positive = Annotated[Int, _allowed(lambda v: v > 0, "an integer > 0")]
PositiveNumber = Annotated[Number, _allowed(lambda v: v > 0, "a number > 0")]
Fraction = Annotated[Number, _allowed(lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")]
RowCount = Annotated[Int, _allowed(lambda v: v >= 0, "a row count >= 0")]
Label = Annotated[StrictStr, AfterValidator(_known_label)]
Names = Annotated[tuple[StrictStr, ...], BeforeValidator(_one_or_more)]


def _rule_error(problems: list[str]) -> PydanticCustomError:
    """A complete sentence per problem, shown as is (for rules tying several fields together)."""
    return PydanticCustomError(WHOLE_MESSAGE, "{problems}", {"problems": "\n".join(problems)})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the sections -----------------------------------------------------------------------------------


class DataConfig(_Section):
    """Where the training rows come from, and how many of them to use."""

    dataset_dir: StrictStr | None = Field(
        default=None, description="a DatasetDict saved by `commentmod data` (splits train/validation/test)"
    )
    catalog: StrictStr | None = Field(
        default=None,
        description="the data catalog YAML defining the sources (with sources, instead of dataset_dir)",
    )
    sources: Names = Field(
        default=(), description="source names to build on the fly (cached under cache_dir)"
    )
    cache_dir: StrictStr = Field(default="out/cache", description="where sources built on the fly are cached")
    max_train_rows: Positive | None = Field(
        default=None, description="cap on train rows, sampled with the run seed; null: all"
    )
    max_rows_per_source: Positive | None = Field(
        default=None, description="cap on train rows of each source, sampled with the run seed; null: none"
    )
    source_caps: dict[StrictStr, RowCount] = Field(
        default_factory=dict, description="per-source caps on train rows, instead of max_rows_per_source"
    )
    max_validation_rows: Positive | None = Field(
        default=None, description="cap on validation rows used for periodic eval, thresholds and temperature"
    )

    @model_validator(mode="after")
    def _one_source_of_rows(self) -> DataConfig:
        if self.dataset_dir and (self.catalog or self.sources):
            raise _rule_error(
                [
                    "data has both dataset_dir and catalog/sources; use dataset_dir (a built DatasetDict) "
                    "or catalog + sources (built on the fly), not both"
                ]
            )
        return self


class ContextConfig(_Section):
    """The ``context`` section: the input layout, checked and built by :meth:`rule`."""

    max_length: Int = Field(
        default=ContextRule.max_length,
        description="tokens per input window (comment, context, 4 special tokens)",
    )
    min_context_tokens: Int = Field(
        default=ContextRule.min_context_tokens, description="context tokens kept even beside a long comment"
    )
    max_context_tokens: Int = Field(
        default=ContextRule.max_context_tokens,
        description="at most this many context tokens (<= max_length // 2)",
    )
    stride: Int = Field(
        default=ContextRule.stride, description="tokens shared by consecutive windows of a long comment"
    )
    article_text_chars: Int = Field(
        default=ContextRule.article_text_chars, description="characters of article text read into the context"
    )
    strip_emoji: StrictBool = Field(
        default=ContextRule.strip_emoji,
        description="read comments without their emoji (the hybrid's n-gram model still sees them)",
    )

    @model_validator(mode="after")
    def _valid_layout(self) -> ContextConfig:
        try:
            self.rule()
        except ValueError as exc:
            raise _rule_error([f"context: {exc}"]) from None
        return self

    def rule(self) -> ContextRule:
        """The :class:`ContextRule` of this section (whose checks raise ValueError)."""
        return ContextRule(**self.model_dump())


class TrainConfig(_Section):
    """All knobs of one fine-tuning run."""

    base_model: StrictStr = Field(
        default="artifacts/base-e5", description="the base encoder directory (from `commentmod base-model`)"
    )
    data: DataConfig = Field(default=DataConfig(), description="where the rows come from")
    context: ContextConfig = Field(default=ContextConfig(), description="the input layout")
    # optimisation
    batch_size: Positive = Field(default=16, description="rows per forward/backward pass")
    eval_batch_size: Positive = Field(default=64, description="rows per forward pass when evaluating")
    grad_accum: Positive = Field(default=1, description="forward/backward passes per optimizer step")
    learning_rate: Annotated[
        Number,
        _allowed(lambda v: 0 < v <= 0.1, "a number in (0, 0.1] (fine-tuning wants about 1e-5 to 1e-4)"),
    ] = Field(default=5e-5, description="peak AdamW learning rate of the encoder")
    head_lr: PositiveNumber | None = Field(
        default=1e-3, description="learning rate of the head; null: learning_rate"
    )
    embedding_lr: PositiveNumber | None = Field(
        default=None, description="learning rate of the word embeddings; null: learning_rate"
    )
    weight_decay: Annotated[Number, _allowed(lambda v: v >= 0, "a number >= 0")] = Field(
        default=0.01, description="AdamW weight decay"
    )
    max_grad_norm: PositiveNumber | None = Field(
        default=1.0, description="gradient clipping norm; null: no clipping"
    )
    dropout: Fraction = Field(default=0.1, description="dropout before the head")
    epochs: Positive = Field(default=3, description="passes over the train rows")
    max_steps: Positive | None = Field(
        default=None, description="cap on optimizer steps, capping epochs; null: none"
    )
    max_train_minutes: PositiveNumber | None = Field(
        default=None,
        description=(
            "wall-clock budget of the training loop, evaluations included: after 20 steps and a tenth "
            "of it the schedule is shortened to fit at the measured speed, and the loop stops (keeping "
            "the best) if it still runs over; null: none"
        ),
    )
    warmup_ratio: Fraction = Field(
        default=0.06, description="fraction of the steps with a rising learning rate"
    )
    # word embeddings (250k x 384 for e5-small): frozen, or trained with sparse gradients
    freeze_word_embeddings: StrictBool = Field(default=False, description="keep the word embeddings fixed")
    unfreeze_embeddings_last_epoch: StrictBool = Field(
        default=False, description="train the frozen word embeddings in the last epoch"
    )
    sparse_embeddings: StrictBool = Field(
        default=True,
        description="trained word embeddings get sparse gradients and SparseAdam (else dense AdamW)",
    )
    # loss
    pos_weight: dict[Label, PositiveNumber] = Field(
        default_factory=dict, description="per-label weight of the positive rows in the loss"
    )
    label_weights: dict[Label, PositiveNumber] = Field(
        default_factory=dict, description="per-label weight of the loss"
    )
    length_group_factor: Positive = Field(
        default=50, description="shuffle, then sort by length inside chunks of batch_size * this many rows"
    )
    # evaluation / early stopping / checkpoints
    eval_every_steps: Positive | None = Field(
        default=None, description="steps between evaluations; null: once per epoch"
    )
    early_stopping_patience: Positive | None = Field(
        default=None, description="evaluations without improvement before stopping; null: never stop early"
    )
    checkpoint_every_steps: Positive | None = Field(
        default=None, description="steps between resumable checkpoints; null: none"
    )
    seed: Int = Field(default=13, description="seed of the shuffles, samples and initial head")
    num_threads: Positive | None = Field(
        default=None, description="torch threads; null: one per core other processes leave free"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="where to train; auto: CUDA when present"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description=(
            "matmul precision of the forward/backward pass (weights stay fp32); auto: bf16 autocast on a "
            "CPU with AMX/AVX512-BF16 or a CUDA GPU with bf16, else fp32"
        ),
    )
    # decision thresholds and calibration (fitted on validation)
    threshold_mode: Literal["f1", "precision"] = Field(
        default="f1", description="pick each label's threshold for the best F1, or for target_precision"
    )
    target_precision: Annotated[Number, _allowed(lambda v: 0 < v <= 1, "a fraction in (0, 1]")] = Field(
        default=0.9, description="the precision threshold_mode: precision aims at"
    )
    calibrate: StrictBool = Field(default=True, description="fit a per-label temperature on validation")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        problems = []
        if self.unfreeze_embeddings_last_epoch and not self.freeze_word_embeddings:
            problems.append(
                "unfreeze_embeddings_last_epoch is true but freeze_word_embeddings is false (they are "
                "trained all along); set freeze_word_embeddings: true, or drop unfreeze_embeddings_last_epoch"
            )
        if not self.data.dataset_dir and not self.data.sources:
            problems.append(
                "data names no rows; write data.dataset_dir: DIR (from `commentmod data`) "
                "or data.sources: [starter, ...] (with data.catalog when the sources are not built in)"
            )
        if problems:
            raise _rule_error(problems)
        return self

    @property
    def rule(self) -> ContextRule:
        return self.context.rule()

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values (stored in the run directory and its checkpoints)."""
        return self.model_dump(mode="json")


# --- reading and changing a config ------------------------------------------------------------------


def config_from_dict(data: dict[str, Any] | None, origin: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig`; raises :class:`ConfigError` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: the top level is a {type(data).__name__}; write a mapping of key: value"
        )
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, TrainConfig, origin)) from None


def load_config(path: Path | str) -> TrainConfig:
    """Read a YAML training config and validate it."""
    try:
        data = load_yaml_mapping(path, "training config", hint="pass e.g. --config configs/quick.yaml")
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    return config_from_dict(data, origin=str(path))


def with_changes(cfg: TrainConfig, origin: str = "override", **changes: Any) -> TrainConfig:
    """A copy with top-level fields replaced (None too), validated again (``model_copy`` does not)."""
    return config_from_dict({**cfg.model_dump(), **changes}, origin=origin)


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy with top-level fields replaced (None values are ignored), re-validated."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return with_changes(cfg, **changes) if changes else cfg


def with_dataset_dir(cfg: TrainConfig, dataset_dir: str) -> TrainConfig:
    """A copy that reads rows from a built DatasetDict instead of the configured source."""
    data = {**cfg.data.model_dump(), "dataset_dir": dataset_dir, "catalog": None, "sources": ()}
    return with_changes(cfg, origin="--data", data=data)


def config_field_docs(width: int = 28) -> str:
    """The config's keys with their descriptions, for ``commentmod train --help``."""
    lines = ["config keys (YAML; nested sections as section.key):"]
    sections: list[tuple[str, type[BaseModel]]] = [("", TrainConfig), ("data.", DataConfig)]
    sections.append(("context.", ContextConfig))
    for prefix, model in sections:
        for name, info in model.model_fields.items():
            if name in {"data", "context"} and not prefix:
                continue
            lines.append(f"  {prefix + name:<{width}} {info.description or ''}".rstrip())
    return "\n".join(lines)
