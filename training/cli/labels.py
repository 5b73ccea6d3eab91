"""``commentmod labels``: import moderators' decisions into a label store, and print its stats.

``commentmod labels import FILE --store labels.sqlite --format csv|jsonl|labelstudio|coral``
exits 0 when a row was imported or every usable row was already in the store, 1 when no row was
usable (all bad or without a label, or no rows), 2 when the file or the store cannot be read.
``commentmod labels stats --store labels.sqlite`` prints counts per label and language, conflicts
and moderators. The store and the formats: :mod:`commentmod.training.labels`, ``docs/labels.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...model.errors import CommentmodError
from ..labels.coral import load_reason_map
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


def run(args: argparse.Namespace) -> int:
    try:
        if args.labels_command == "import":
            return _run_import(args)
        return _run_stats(args)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
