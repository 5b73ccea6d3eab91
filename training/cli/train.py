"""``commentmod train``: fine-tune the classifier from a YAML config into a run directory."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...model.errors import CommentmodError

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..fit.config import TrainConfig
    from ..fit.train import TrainResult

log = logging.getLogger("commentmod.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..fit.config import config_field_docs  # pydantic only, no torch

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = config_field_docs()
    parser.add_argument(
        "--config", required=True, type=Path, help="YAML training config, e.g. configs/quick.yaml"
    )
    parser.add_argument("--out", required=True, type=Path, help="run directory to write, e.g. runs/quick")
    parser.add_argument("--base", default=None, help="base encoder directory (overrides base_model)")
    parser.add_argument("--data", default=None, help="built DatasetDict directory (overrides data.*)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--max-steps", type=int, default=None, help="cap optimizer steps (CI-sized runs)")
    parser.add_argument("--epochs", type=int, default=None, help="override epochs")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: config, else one per free core)"
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default=None,
        help=(
            "forward/backward precision (default: config, else auto = bf16 autocast on a CPU with "
            "AMX/AVX512-BF16 or a CUDA GPU with bf16); weights and the export stay fp32"
        ),
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="log lines (step, rows/s, ETA) instead of a progress bar (default when stderr is no terminal)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        result = train_from_args(args)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config file with the command line's overrides applied."""
    from ..fit.config import load_config, with_dataset_dir, with_overrides

    cfg = load_config(args.config)
    cfg = with_overrides(
        cfg,
        base_model=args.base,
        max_steps=args.max_steps,
        epochs=args.epochs,
        num_threads=args.threads,
        precision=args.precision,
    )
    return with_dataset_dir(cfg, args.data) if args.data else cfg


class ProgressBar:
    """A tqdm bar fed by ``train(on_step=...)``; made at the first step, when the total is known."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True)
        self.bar.total = total
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_from_args(args: argparse.Namespace) -> TrainResult:
    """Train as the command line says: a progress bar on a terminal, else progress log lines."""
    cfg = config_from_args(args)
    from ..fit.train import train

    bar = ProgressBar() if not args.no_progress and sys.stderr.isatty() else None
    try:
        return train(cfg, args.out, resume=args.resume, on_step=bar)
    finally:
        if bar is not None:
            bar.close()


def print_summary(result: TrainResult) -> None:
    """Run directory, steps, precision, and per label the best PR-AUC, threshold and temperature."""
    info = result.info
    print(f"run directory: {result.out_dir}")
    sps = info.extra["seconds_per_step"]
    print(f"steps: {result.state.step} (best step {result.state.best_step}), {sps:.3f} s/step")
    print(
        f"precision: {info.extra['precision']} (requested {info.extra['precision_requested']}: "
        f"{info.extra['precision_reason']}), {info.extra['threads']} thread(s), "
        f"{info.extra['train_rows']} train rows"
    )
    print(f"{'label':<10} {'PR-AUC':>7} {'threshold':>9} {'T':>6}")
    best = next((h for h in info.extra["history"] if h["step"] == result.state.best_step), None)
    for name in info.labels:
        pr = best["pr_auc"].get(name) if best else None
        pr_s = "-" if pr is None else f"{pr:.4f}"
        print(f"{name:<10} {pr_s:>7} {info.thresholds[name]:>9.4f} {info.temperature[name]:>6.3f}")
    log.info(
        "next: commentmod evaluate --model %s / commentmod export --model %s", result.out_dir, result.out_dir
    )
