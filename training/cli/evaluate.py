"""``commentmod evaluate``: score a split with the shipped hybrid, the transformer and the n-gram model.

The options map one to one onto :class:`commentmod.training.report.run_eval.EvaluateOptions`; what
the run does and writes is described in :mod:`commentmod.training.report.run_eval`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...model.errors import CommentmodError
from ..report.render import summary_lines
from ..report.run_eval import DEFAULT_TERMS, EvaluateOptions, evaluate_run
from .hybrid import add_emoji_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, type=Path, help="run directory written by `commentmod train`"
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="dataset directory from `commentmod data build`"
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "validation", "test"), help="split to score"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="report directory (default: the model directory)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="transformer batch size (default 32)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
    parser.add_argument(
        "--identity-terms", type=Path, default=DEFAULT_TERMS, help="YAML of identity terms for the bias check"
    )
    parser.add_argument(
        "--bias-min-support", type=int, default=5, help="min positives and negatives per term"
    )
    parser.add_argument(
        "--compare-min-support", type=int, default=20, help="min positives and negatives per compared cell"
    )
    parser.add_argument(
        "--compare-margin",
        type=float,
        default=0.01,
        help="the shipped model should beat the n-gram model's PR-AUC by at least this much (default 0.01)",
    )
    parser.add_argument(
        "--refit-hybrid",
        action="store_true",
        help="refit the hybrid stacker (RUN/stacker.json) on the validation split even when it is current",
    )
    parser.add_argument(
        "--max-validation-rows",
        type=int,
        default=None,
        help="when (re)fitting the stacker: fit on a seeded random sample of this many validation rows "
        "(default: all)",
    )
    add_emoji_argument(parser)


def run(args: argparse.Namespace) -> int:
    opts = EvaluateOptions(
        model_dir=args.model,
        data_dir=args.data,
        split=args.split,
        out_dir=args.out,
        batch_size=args.batch_size,
        device=args.device,
        identity_terms=args.identity_terms,
        bias_min_support=args.bias_min_support,
        compare_min_support=args.compare_min_support,
        compare_margin=args.compare_margin,
        refit_hybrid=args.refit_hybrid,
        max_validation_rows=args.max_validation_rows,
        transformer_emoji=args.transformer_emoji,
    )
    try:
        metrics = evaluate_run(opts)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(metrics)))
    print(f"reports in {opts.out_dir or opts.model_dir}")
    return 0
