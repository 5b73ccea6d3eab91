"""``commentmod labels``: import moderators' decisions into a label store, and print its stats.

``commentmod labels import FILE --store labels.sqlite --format csv|jsonl|labelstudio|coral``
exits 0 when a row was imported or every usable row was already in the store, 1 when no row was
usable (all bad or without a label, or no rows), 2 when the file or the store cannot be read.
``commentmod labels stats --store labels.sqlite`` prints counts per label and language, conflicts
and moderators. ``commentmod labels export-tasks --scored scored.jsonl --n 500 --strategy
uncertainty|flagged|random --out tasks.json`` writes a Label Studio import file of the comments to
label next (with the model's pre-annotations) and the labeling config beside it (``tasks.xml``);
exit 0 when tasks were written, 1 when no scored row was usable, 2 on an error.
The store and the formats: :mod:`commentmod.training.labels`, ``docs/labels.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...model.errors import CommentmodError
from ..labels.coral import load_reason_map
from ..labels.export_tasks import STRATEGIES, ExportOptions, export_tasks
from ..labels.importers import FORMATS
from ..labels.store import DEFAULT_LICENCE, LabelStore
from ..labels.summary import MAX_LISTED, ImportReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import a file of moderators' decisions into the store")
    imp.add_argument("file", type=Path, help="the file to import")
    imp.add_argument("--store", required=True, type=Path, help="the SQLite label store (created if missing)")
    imp.add_argument("--format", required=True, choices=FORMATS, help="the file's format")
    imp.add_argument(
        "--licence",
        default=DEFAULT_LICENCE,
        help=f"licence recorded for this import's comments (default {DEFAULT_LICENCE}: the site's own)",
    )
    imp.add_argument(
        "--reason-map",
        type=Path,
        default=None,
        help="coral only: YAML mapping rejection reason codes to labels, overriding the defaults",
    )
    stats = sub.add_parser("stats", help="counts per label and language, conflicts, moderators")
    stats.add_argument("--store", required=True, type=Path, help="the SQLite label store")
    _add_export_tasks(sub)


def _add_export_tasks(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exp = sub.add_parser(
        "export-tasks",
        help="pick the comments to label next from `commentmod score` output: a Label Studio import file",
        description="Write a Label Studio import file (tasks with the model's pre-annotations) and the "
        "labeling config (XML) to create the project with. See docs/labels.md.",
    )
    exp.add_argument("--scored", required=True, type=Path, help="JSONL output of `commentmod score`")
    exp.add_argument("--out", required=True, type=Path, help="the tasks file to write (JSON)")
    exp.add_argument("--n", type=int, default=500, help="how many tasks (default 500)")
    exp.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="uncertainty",
        help="uncertainty: closest to a threshold (needs --model); flagged: flagged first, highest "
        "score first; random: a seeded uniform sample (default uncertainty)",
    )
    exp.add_argument("--seed", type=int, default=0, help="seed of --strategy random (default 0)")
    exp.add_argument(
        "--model", type=Path, default=None, help="the artifact that scored the file (thresholds)"
    )
    exp.add_argument(
        "--input",
        action="append",
        default=[],
        help="original input(s) of the scoring, to take texts (--no-text), titles and article texts "
        "from, joined by id; repeatable",
    )
    exp.add_argument(
        "--config-out", type=Path, default=None, help="labeling config XML (default: --out with .xml)"
    )
    exp.add_argument(
        "--skip-store", type=Path, default=None, help="label store whose decided comments are left out"
    )
    exp.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _print_import(report: ImportReport) -> None:
    for line in report.summary_lines():
        print(line)
    listed = report.bad_lines()
    for line in listed[:MAX_LISTED]:
        print(f"bad row: {line}", file=sys.stderr)
    if len(listed) > MAX_LISTED:
        print(f"... and {len(listed) - MAX_LISTED} more bad row(s)", file=sys.stderr)


def _run_import(args: argparse.Namespace) -> int:
    if args.reason_map is not None and args.format != "coral":
        print("error: --reason-map applies to --format coral only", file=sys.stderr)
        return 2
    reason_map = load_reason_map(args.reason_map) if args.reason_map is not None else None
    with LabelStore(args.store) as store:
        report = store.import_file(args.file, args.format, licence=args.licence, reason_map=reason_map)
    _print_import(report)
    print(f"store: {args.store}")
    return 0 if report.imported or report.duplicates else 1


def _run_stats(args: argparse.Namespace) -> int:
    with LabelStore(args.store, create=False) as store:
        stats = store.stats()
    for line in stats.lines():
        print(line)
    return 0


def _run_export_tasks(args: argparse.Namespace) -> int:
    options = ExportOptions(
        scored=args.scored,
        out=args.out,
        n=args.n,
        strategy=args.strategy,
        seed=args.seed,
        model_dir=args.model,
        inputs=tuple(args.input),
        config_out=args.config_out,
        skip_store=args.skip_store,
        overwrite=args.overwrite,
    )
    report = export_tasks(options)
    for line in report.summary_lines(options):
        print(line)
    for line in report.bad[:MAX_LISTED]:
        print(f"bad row: {line}", file=sys.stderr)
    if len(report.bad) > MAX_LISTED:
        print(f"... and {len(report.bad) - MAX_LISTED} more bad row(s)", file=sys.stderr)
    return 0 if report.tasks else 1


def run(args: argparse.Namespace) -> int:
    try:
        if args.labels_command == "import":
            return _run_import(args)
        if args.labels_command == "export-tasks":
            return _run_export_tasks(args)
        return _run_stats(args)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
