"""``commentmod score``: read comment dumps, score them, write one row per record."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from commentmod.model.errors import CommentmodError
from commentmod.serving.pipeline import Summary, run_scoring
from commentmod.serving.readers import FORMATS, InputRecord, ReaderOptions, read_inputs

log = logging.getLogger("commentmod.score")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    parser.add_argument("--model", required=True, type=Path, help="artifact directory (commentmod export)")
    parser.add_argument("--out", required=True, type=Path, help="output file: .jsonl, .csv or .parquet")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: auto)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run into --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--batch-size", type=int, default=64, help="records per scoring batch (default 64)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("--no-text", action="store_true", help="leave the comment text out of the output")
    parser.add_argument("--table", action="store_true", help="print a table of flagged comments")
    parser.add_argument("--include-pingbacks", action="store_true", help="WXR: score pingbacks/trackbacks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    for name in ("text", "id", "title", "context"):
        parser.add_argument(
            f"--{name}-col", default=None, help=f"column holding the {name} (CSV/JSONL/Parquet)"
        )


def _records(args: argparse.Namespace, options: ReaderOptions) -> Iterator[InputRecord]:
    return read_inputs(args.inputs, args.format, options)


def _shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: list[dict[str, Any]], labels: tuple[str, ...], width: int = 70) -> str:
    """A plain-text table of flagged rows: id, flags, scores, start of the text."""
    header = f"{'id':<24} {'flags':<24} " + " ".join(f"{lab[:8]:>8}" for lab in labels) + "  text"
    lines = [header, "-" * len(header)]
    for row in rows:
        flags = ",".join(k for k, v in row["flags"].items() if v)
        scores = " ".join(f"{row['scores'][lab]:>8.2f}" for lab in labels)
        lines.append(
            f"{_shorten(str(row['id']), 24):<24} {flags:<24} {scores}  {_shorten(row.get('text'), width)}"
        )
    return "\n".join(lines)


def format_summary(summary: Summary, labels: tuple[str, ...], out: Path) -> str:
    parts = [
        f"records: {summary.records}",
        f"ok: {summary.status['ok']}",
        f"empty: {summary.status['empty']}",
        f"errors: {summary.status['error']}",
        f"flagged: {summary.any_flagged}",
    ]
    per_label = ", ".join(f"{lab} {summary.flagged[lab]}" for lab in labels)
    return f"{'  '.join(parts)}  ({per_label})  -> {out}"


def run(args: argparse.Namespace) -> int:
    from commentmod.serving.scorer import Scorer

    options = ReaderOptions(
        text_col=args.text_col,
        id_col=args.id_col,
        title_col=args.title_col,
        context_col=args.context_col,
        include_pingbacks=args.include_pingbacks,
    )
    try:
        scorer = Scorer.load(args.model, threads=args.threads)
        # fail fast on unusable input (missing file, unknown or unsafe format) before writing anything
        total = None
        show_progress = sys.stderr.isatty() and not args.no_progress
        if show_progress:
            total = sum(1 for _ in _records(args, options))
        else:
            next(iter(_records(args, options)), None)
        flagged_rows: list[dict[str, Any]] = []

        def keep_flagged(row: dict[str, Any]) -> None:
            if args.table and row["flagged"] and len(flagged_rows) < 200:
                flagged_rows.append(row)

        progress = None
        if show_progress:
            from tqdm import tqdm

            progress = tqdm(total=total, unit="rec", desc="scoring", file=sys.stderr, smoothing=0.1)
        try:
            summary = run_scoring(
                _records(args, options),
                scorer,
                args.out,
                batch_size=args.batch_size,
                resume=args.resume,
                overwrite=args.overwrite,
                include_text=not args.no_text,
                progress=progress,
                on_row=keep_flagged,
            )
        finally:
            if progress is not None:
                progress.close()
    except CommentmodError as exc:
        log.error("%s", exc)
        return 2
    labels = tuple(scorer.labels)
    if args.table:
        print(f"\nFlagged comments ({summary.any_flagged} of {summary.records}):")
        print(format_table(flagged_rows, labels))
        print()
    print(format_summary(summary, labels, args.out), file=sys.stderr)
    return 0
