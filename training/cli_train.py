"""``commentmod train``: fine-tune the classifier from a YAML config into a run directory."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from commentmod.model.errors import CommentmodError

log = logging.getLogger("commentmod.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    from commentmod.training.config import load_config, with_dataset_dir, with_overrides

    try:
        cfg = load_config(args.config)
        cfg = with_overrides(
            cfg,
            base_model=args.base,
            max_steps=args.max_steps,
            epochs=args.epochs,
            num_threads=args.threads,
            precision=args.precision,
        )
        if args.data:
            cfg = with_dataset_dir(cfg, args.data)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from tqdm import tqdm

    from commentmod.training.train import train

    bar: tqdm | None = None

    def on_step(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True)
        bar.total = total
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")

    draw_bar = not args.no_progress and sys.stderr.isatty()  # else train() logs progress lines
    try:
        result = train(cfg, args.out, resume=args.resume, on_step=on_step if draw_bar else None)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    info = result.info
    if info is None:
        return 1
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
    return 0
