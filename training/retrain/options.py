"""What ``commentmod retrain`` is asked for (one field per command-line option), checked on creation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import RetrainError
from .gate import GateLimits
from .head import HeadFit
from .keep import DEFAULT_MIN_EACH
from .split import DEFAULT_FRACTIONS, check_fractions

MODES = ("fast", "full")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class RetrainOptions:
    """A retrain: parent run, label store, output run directory, mode, samples, gate and export."""

    parent: Path
    labels: Path
    out: Path
    mode: str = "fast"
    base_data: Path | None = None
    replay_rows: int | None = 5000  # base train rows mixed with the new labels; None: all
    validation_rows: int | None = 2000  # base validation rows for thresholds and the stacker
    test_rows: int | None = 5000  # base test rows for the gate's comparison (a)
    seed: int = 0
    split: tuple[float, float, float] = DEFAULT_FRACTIONS
    limits: GateLimits = field(default_factory=GateLimits)
    head: HeadFit = field(default_factory=HeadFit)
    # fast: a label with fewer positives or negatives among the new train rows keeps the parent's parts
    min_label_decisions: int = DEFAULT_MIN_EACH
    batch_size: int = 32
    device: str = "cpu"
    # the encoder's matmul precision: auto = bf16 autocast where the hardware has fast bf16 (resolved
    # to fp32 or bf16 by the pipeline, training/fit/hardware.py)
    precision: str = "auto"
    threads: int | None = None
    cache: Path | None = None  # the feature cache's directory (None: encode everything every time)
    # promotion: the artifact written when the gate passes (default OUT/artifact)
    artifact: Path | None = None
    name: str | None = None
    int8: bool = True
    force: bool = False  # replace an existing artifact directory

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RetrainError(f"--mode is {self.mode!r}; use one of {', '.join(MODES)}")
        for name in ("replay_rows", "validation_rows", "test_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RetrainError(f"--{name.replace('_', '-')} is {value}; give a positive number of rows")
        if self.precision not in PRECISIONS:
            raise RetrainError(f"--precision is {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.min_label_decisions < 1:
            raise RetrainError(f"--min-label-decisions is {self.min_label_decisions}; give a positive number")
        if self.batch_size < 1:
            raise RetrainError(f"--batch-size is {self.batch_size}; give a positive number")
        check_fractions(self.split)
        if self.limits.max_base_drop < 0 or self.limits.new_tolerance < 0:
            raise RetrainError("--max-base-drop and --new-tolerance are PR-AUC margins; give numbers >= 0")

    @property
    def artifact_dir(self) -> Path:
        return self.artifact if self.artifact is not None else self.out / "artifact"
