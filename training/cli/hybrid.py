"""``commentmod hybrid``: fit the hybrid model's per-label stacker on a run's validation split.

Trains the character n-gram model into ``RUN/baseline/`` when it is missing (or was trained on
another dataset), then writes ``RUN/stacker.json``
(see :func:`commentmod.training.fit.hybrid_fit.fit_hybrid`).
``commentmod evaluate`` does this on its own when ``stacker.json`` is missing or stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...model.errors import CommentmodError
from ..fit.emoji_rule import EMOJI_CHOICES
from ..fit.hybrid_fit import DEFAULT_BASE_RATE


def add_emoji_argument(parser: argparse.ArgumentParser) -> None:
    """``--transformer-emoji`` (shared with ``commentmod evaluate``, which fits the stacker when needed)."""
    parser.add_argument(
        "--transformer-emoji",
        choices=EMOJI_CHOICES,
        default="auto",
        help="whether the transformer reads emoji: keep, strip, or auto (default, as `make model` and "
        "`make demo`) = strip unless that lowers some label's cross-validated PR-AUC by more than "
        "0.005 (the n-gram model still reads them); a switch is saved in the run info",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, type=Path, help="run directory written by `commentmod train`"
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="dataset directory from `commentmod data build`"
    )
    parser.add_argument(
        "--max-validation-rows",
        type=int,
        default=None,
        help="fit on a seeded random sample of this many validation rows (default: all)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="transformer batch size (default 32)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the CV folds (default 0)")
    parser.add_argument(
        "--base-rate",
        type=float,
        default=DEFAULT_BASE_RATE,
        help="choose the thresholds for max F1 where this share of comments deserves a flag, not the "
        f"validation set's own share (default {DEFAULT_BASE_RATE}); 0 = validation's share",
    )
    add_emoji_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..fit.hybrid_fit import fit_hybrid

    try:
        spec, thresholds = fit_hybrid(
            args.model,
            args.data,
            max_validation_rows=args.max_validation_rows,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
            base_rate=args.base_rate or None,
            transformer_emoji=args.transformer_emoji,
        )
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in spec.labels:
        s = spec.per_label[name]
        print(f"{name:<10} {s.mode:<12} threshold {thresholds[name]:.3f}  {s.why}")
    print(f"stacker written to {Path(args.model) / 'stacker.json'}")
    return 0
