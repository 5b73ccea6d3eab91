"""``commentmod score``: read comment dumps, score them, write one row per record.

Exit codes: 0 - the run finished and every record has its row (rows of unreadable records or
files have status ``error`` and are counted in the summary); 2 - the model, the arguments or the
output are unusable (missing input, output that is an input, output locked by another run, inputs
changed under ``--resume``, disk full): fix it and rerun, with ``--resume`` when rows were written;
130 - interrupted (rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ..model.errors import CommentmodError
from .backends.choose import AUTO
from .backends.choose import CHOICES as BACKEND_CHOICES
from .pipeline import DEFAULT_RECORDS_PER_BATCH, Summary, score_inputs
from .progress import Progress
from .readers import FORMATS, ReaderOptions
from .sanitize import terminal_safe
from .scorer_inputs import DEFAULT_MAX_CHARS

log = logging.getLogger("commentmod.score")

TABLE_ROWS = 200

# reader limits: flag -> help; each flag sets the ReaderOptions field of its name and defaults to it
READER_LIMITS = {
    "--max-record-bytes": "bytes of one JSONL/CSV line, CSV row or XML post's text; longer: an error row",
    "--max-page-bytes": "bytes of one page text dump; larger: one error row",
    "--max-xml-depth": "XML element nesting; a deeper post is an error row, the next ones are read",
    "--max-xml-record-elements": "elements inside one XML post/thread/comment; more: an error row",
    "--max-xml-names": "distinct element/attribute names in XML; the post crossing it is an error row",
    "--max-context-chars": "characters of article title and text kept per record",
}


def positive_int(value: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be 1 or more")
    return number


def add_max_chars(parser: argparse.ArgumentParser) -> None:
    """``--max-chars`` (shared with ``commentmod serve``)."""
    parser.add_argument(
        "--max-chars",
        type=positive_int,
        default=DEFAULT_MAX_CHARS,
        metavar="N",
        help=f"characters scored per comment; a longer one is scored on its first N and marked "
        f"truncated (default {DEFAULT_MAX_CHARS:,})",
    )


def add_backend(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--backend`` (shared with ``commentmod serve``): which runtime runs the transformer."""
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=AUTO,
        help="runtime of the transformer: auto (default) = the fastest runtime plan of the artifact that "
        "passed its gate and runs here (OpenVINO needs pip install 'commentmod[openvino]'), else "
        "onnxruntime on model.onnx; onnxruntime / openvino ask for one",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    parser.add_argument("--model", required=True, type=Path, help="artifact directory (commentmod export)")
    parser.add_argument(  # a string: --engine spark takes URIs (hdfs:///x), which pathlib would mangle
        "--out", required=True, help="output file: .jsonl, .csv or .parquet (--engine spark: a path or URI)"
    )
    parser.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: auto)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run into --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--batch-size",
        dest="records_per_batch",
        type=int,
        default=DEFAULT_RECORDS_PER_BATCH,
        metavar="N",
        help="records read, scored and written (fsynced) together; a long comment counts once however "
        f"many model windows it takes (default {DEFAULT_RECORDS_PER_BATCH})",
    )
    parser.add_argument("--threads", type=int, default=None, help="model threads (default: all cores)")
    add_backend(parser)
    parser.add_argument("--no-text", action="store_true", help="leave the comment text out of the output")
    parser.add_argument("--table", action="store_true", help="print a table of flagged comments")
    parser.add_argument("--include-pingbacks", action="store_true", help="WXR: score pingbacks/trackbacks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress log lines")
    parser.add_argument(
        "--progress-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="when stderr is not a terminal: a progress log line this often (default 10)",
    )
    for name in ("text", "id", "title", "context"):
        parser.add_argument(
            f"--{name}-col", default=None, help=f"column holding the {name} (CSV/JSONL/Parquet)"
        )
    add_max_chars(parser)
    limits = parser.add_argument_group("reader limits (a record over a limit becomes an error row)")
    defaults = ReaderOptions()
    for flag, text in READER_LIMITS.items():
        default = getattr(defaults, _dest(flag))
        limits.add_argument(
            flag, type=positive_int, default=default, metavar="N", help=f"{text} (default {default:,})"
        )
    from .cli_spark import add_engine_arguments  # --engine spark (serving/cli_spark.py)

    add_engine_arguments(parser)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _shorten(text: str | None, width: int) -> str:
    text = " ".join(terminal_safe(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: list[dict[str, Any]], labels: tuple[str, ...], width: int = 70) -> str:
    """A plain-text table of flagged rows: id, flags, scores, start of the text (terminal-safe)."""
    header = f"{'id':<24} {'flags':<24} " + " ".join(f"{lab[:8]:>8}" for lab in labels) + "  text"
    lines = [header, "-" * len(header)]
    for row in rows:
        flags = ",".join(k for k, v in (row["flags"] or {}).items() if v)
        scores = " ".join(
            f"{'-':>8}" if row["scores"] is None else f"{row['scores'][lab]:>8.2f}" for lab in labels
        )
        lines.append(
            f"{_shorten(str(row['id']), 24):<24} {flags:<24} {scores}  {_shorten(row.get('text'), width)}"
        )
    return "\n".join(lines)


def format_summary(summary: Summary, labels: tuple[str, ...], out: Path | str) -> str:
    parts = [
        f"records: {summary.records}",
        f"ok: {summary.status['ok']}",
        f"empty: {summary.status['empty']}",
        f"errors: {summary.status['error']}",
        f"flagged: {summary.any_flagged}",
    ]
    if summary.truncated:
        parts.append(f"truncated: {summary.truncated}")
    if summary.kept:
        parts.append(f"kept from the interrupted run: {summary.kept}")
    per_label = ", ".join(f"{lab} {summary.flagged[lab]}" for lab in labels)
    return f"{'  '.join(parts)}  ({per_label})  -> {out}"


def run(args: argparse.Namespace) -> int:
    if getattr(args, "engine", "local") == "spark":  # the Spark path, before anything of this one
        from .cli_spark import run_spark

        return run_spark(args)
    from .scorer import Scorer
    from .spark_inputs import is_uri

    if is_uri(args.out):
        log.error("--out %s is a URI: this path writes local files; use --engine spark for URIs", args.out)
        return 2
    out = Path(args.out)

    options = ReaderOptions(
        text_col=args.text_col,
        id_col=args.id_col,
        title_col=args.title_col,
        context_col=args.context_col,
        include_pingbacks=args.include_pingbacks,
        **{_dest(flag): getattr(args, _dest(flag)) for flag in READER_LIMITS},
    )
    flagged_rows: list[dict[str, Any]] = []

    def keep_flagged(row: dict[str, Any]) -> None:
        if args.table and row["flagged"] and len(flagged_rows) < TABLE_ROWS:
            flagged_rows.append(row)

    progress = None if args.no_progress else Progress(interval=args.progress_every)
    try:
        scorer = Scorer.load(args.model, threads=args.threads, max_chars=args.max_chars, backend=args.backend)
        summary = score_inputs(
            args.inputs,
            scorer,
            out,
            fmt=args.format,
            options=options,
            records_per_batch=args.records_per_batch,
            resume=args.resume,
            overwrite=args.overwrite,
            include_text=not args.no_text,
            progress=progress,
            on_row=keep_flagged,
        )
    except CommentmodError as exc:
        log.error("%s", exc)
        return 2
    finally:
        if progress is not None:
            progress.close()
    labels = tuple(scorer.labels)
    if args.table:
        print(f"\nFlagged comments ({summary.any_flagged} of {summary.records}):")
        print(format_table(flagged_rows, labels))
        print()
    print(format_summary(summary, labels, out), file=sys.stderr)
    return 0
