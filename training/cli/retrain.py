"""``commentmod retrain``: refit a run on the label store's decisions, gate it against the run,
promote (export) it only when it holds.

Exit status: 0 promoted, 3 refused by the gate (the failing cells are printed; nothing written),
1 an error (the message says what to do). docs/retrain.md explains the modes and the gate.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...model.errors import CommentmodError
from ..retrain.keep import DEFAULT_MIN_EACH

if TYPE_CHECKING:
    from ..retrain.options import RetrainOptions
    from ..retrain.pipeline import RetrainResult

log = logging.getLogger("commentmod.retrain")
REFUSED = 3


def _fractions(value: str) -> tuple[float, float, float]:
    parts = value.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{value!r}: give train,validation,test shares, e.g. 0.7,0.15,0.15")
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: the shares must be numbers") from None
    return a, b, c


def _rows(value: str) -> int | None:
    return None if value == "all" else int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``commentmod retrain``, in groups as --help shows them."""
    _what(parser.add_argument_group("what to retrain"))
    _samples(parser.add_argument_group("new labels and base data"))
    _gate(parser.add_argument_group("gate and fit"))
    _runtime(parser.add_argument_group("promotion and runtime"))


def _what(group: argparse._ArgumentGroup) -> None:
    a = group.add_argument
    a("--from", dest="parent", required=True, type=Path, help="the run directory to start from (the parent)")
    a("--labels", required=True, type=Path, help="the label store (`commentmod labels import`)")
    a("--out", required=True, type=Path, help="the new run directory (written only when promoted)")
    a(
        "--mode",
        choices=("fast", "full"),
        default="fast",
        help="fast: frozen encoder, refit head/n-gram/stacker (default); full: continue fine-tuning",
    )


def _samples(group: argparse._ArgumentGroup) -> None:
    a = group.add_argument
    a("--base-data", type=Path, help="the parent's data build (default: the one its run info records)")
    for flag, default, what in (
        ("--replay-rows", 5000, "base train rows replayed with the new labels"),
        ("--validation-rows", 2000, "base validation rows for thresholds and stacker"),
        ("--test-rows", 5000, "base test rows for the gate's comparison (a)"),
    ):
        a(flag, type=_rows, default=default, metavar="N", help=f"{what} (default {default}; 'all')")
    a(
        "--split",
        type=_fractions,
        default=(0.7, 0.15, 0.15),
        metavar="A,B,C",
        help="new labels' train,validation,test shares (default 0.7,0.15,0.15)",
    )
    a("--seed", type=int, default=0, help="seed of the split by article and of the samples (keep it fixed)")


def _gate(group: argparse._ArgumentGroup) -> None:
    a = group.add_argument
    a("--max-base-drop", type=float, default=0.01, help="(a): largest PR-AUC drop per base test cell (0.01)")
    a("--new-tolerance", type=float, default=0.0, help="(b): allowed PR-AUC drop on the new labels (0)")
    a("--min-support", type=int, default=20, help="positives and negatives a cell needs to be judged (20)")
    a("--head-anchor", type=float, default=1e-3, help="fast: pull of the head toward the parent's (1e-3)")
    a("--new-weight", type=float, default=1.0, help="loss weight of a new label's row vs a replay row (1)")
    a(
        "--min-label-decisions",
        type=int,
        default=DEFAULT_MIN_EACH,
        metavar="N",
        help="fast: a label with fewer than N positives or N negatives among the new train rows keeps "
        f"the parent's head, thresholds and stacker ({DEFAULT_MIN_EACH})",
    )


def _runtime(group: argparse._ArgumentGroup) -> None:
    a = group.add_argument
    a("--artifact", type=Path, help="where the promoted artifact goes (default OUT/artifact)")
    a("--name", help="artifact name (default: the --out directory's name)")
    a("--int8", action=argparse.BooleanOptionalAction, default=True, help="export int8 (default) or fp32")
    a("--force", action="store_true", help="replace the artifact directory when it exists")
    a("--batch-size", type=int, default=32, help="windows per encoder pass")
    a("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the encoder runs")
    a(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help="the encoder's matmuls: auto = bf16 autocast on a CPU with AMX/AVX512-BF16 or a CUDA GPU "
        "with bf16, else fp32 (bf16 without it falls back to fp32 with a warning)",
    )
    a("--threads", type=int, help="torch threads (default: one per free core)")
    a("--cache", type=Path, help="encoded rows kept for the next retrain (default: OUT/../.retrain-cache)")
    a("--no-cache", action="store_true", help="encode every row, keep nothing")
    a("--json", type=Path, help="also write the verdict and the evaluation as JSON to this file")


def _options(args: argparse.Namespace) -> RetrainOptions:
    from ..retrain.gate import GateLimits
    from ..retrain.head import HeadFit
    from ..retrain.options import RetrainOptions

    limits = GateLimits(args.max_base_drop, args.new_tolerance, args.min_support, args.min_support)
    return RetrainOptions(
        parent=args.parent,
        labels=args.labels,
        out=args.out,
        mode=args.mode,
        base_data=args.base_data,
        replay_rows=args.replay_rows,
        validation_rows=args.validation_rows,
        test_rows=args.test_rows,
        seed=args.seed,
        split=args.split,
        limits=limits,
        head=HeadFit(anchor=args.head_anchor, new_weight=args.new_weight),
        min_label_decisions=args.min_label_decisions,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        cache=None if args.no_cache else (args.cache or args.out.parent / ".retrain-cache"),
        artifact=args.artifact,
        name=args.name,
        int8=args.int8,
        force=args.force,
    )


def _print_result(result: RetrainResult) -> None:
    verdict = result.verdict
    print(f"rows    : {json.dumps(result.counts)}")
    for comparison in (verdict.base, verdict.new):
        print(f"{comparison.name} ({comparison.rule}):")
        for c in comparison.cells:
            mark = "ok  " if c.passed else "FAIL"
            print(
                f"  {mark} {c.label:<10} {c.lang:<4} {c.parent:.4f} -> {c.child:.4f} ({c.difference:+.4f}) "
                f"[{c.positives}+/{c.negatives}-]"
            )
        if comparison.skipped:
            print(f"  not judged: {len(comparison.skipped)} cell(s) with too few rows")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    print(f"time    : {timings}")
    if result.runtime:
        precision, threads = result.runtime["precision"], result.runtime["threads"]
        enc = result.counts.get("cache", {})
        print(
            f"encoder : {result.runtime['device']}, {precision['used']} ({precision['reason']}), "
            f"{threads['threads']} thread(s); encoded {enc.get('encoded_rows', 0)} rows at "
            f"{enc.get('rows_per_second', 0.0)} rows/s, {enc.get('hits', 0)} row set(s) from the cache"
        )
    if result.lineage is not None and result.export is not None:
        lineage = result.lineage
        print(f"promoted: version {lineage.version} ({lineage.model_id}), parent {lineage.parent_id}")
        print(f"run     : {result.run_dir}")
        print(f"artifact: {result.export.directory} ({result.export.manifest.quantization})")
    else:
        print("refused : the new model is not promoted; nothing was written", file=sys.stderr)
        for reason in verdict.reasons():
            print(f"  {reason}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from ..retrain.pipeline import retrain

    try:
        result = retrain(_options(args))
    except CommentmodError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    _print_result(result)
    if args.json is not None:
        report = {
            "verdict": result.verdict.to_dict(),
            "evaluation": result.evaluation,
            "seconds": result.seconds,
            "counts": result.counts,
            "runtime": result.runtime,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if result.promoted else REFUSED
