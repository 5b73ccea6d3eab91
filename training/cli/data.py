"""``commentmod data build|stats``: build the training DatasetDict from the catalog, print its stats."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from ...model.errors import CommentmodError

logger = logging.getLogger(__name__)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="Build the DatasetDict (Arrow) and build_info.json.")
    build.add_argument("--config", type=Path, default=Path("configs/data.yaml"), help="catalog YAML")
    build.add_argument("--out", type=Path, required=True, help="output directory (replaced if a build)")
    build.add_argument(
        "--data-root",
        default=None,
        help="folder of dataset folders (default: env COMMENTMOD_DATA, the catalog, ../shared/datasets)",
    )
    build.add_argument(
        "--sources", type=_csv, default=None, help="comma-separated source names (default: all)"
    )
    build.add_argument("--langs", type=_csv, default=None, help="comma-separated language codes, e.g. ro,en")
    build.add_argument(
        "--commercial-ok",
        action="store_true",
        default=None,
        help="keep only Apache/MIT/BSD/CC0/CC-BY sources",
    )
    build.add_argument("--seed", type=int, default=None, help="override the catalog's seed")
    build.add_argument(
        "--strict", action="store_true", help="stop when a converter fails instead of skipping"
    )
    build.set_defaults(_data_run=run_build)

    stats = sub.add_parser("stats", help="Print rows per source x language x label value, and per split.")
    stats.add_argument("dataset_dir", type=Path, help="a directory written by `commentmod data build`")
    stats.set_defaults(_data_run=run_stats)


def _quiet_datasets() -> None:
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()


def run_build(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..data.build import build_dataset
    from ..data.build_io import save_build
    from ..data.catalog_load import load_catalog
    from ..data.selection import resolve_data_root, select_sources
    from ..data.stats import format_stats, stats_from_records

    _quiet_datasets()
    start = time.perf_counter()
    catalog = load_catalog(args.config)
    if args.seed is not None:
        catalog = replace(catalog, seed=args.seed)
    selection = select_sources(catalog, args.sources, args.langs, args.commercial_ok)
    data_root = resolve_data_root(args.data_root, catalog.data_root)
    logger.info("data root %s; %d source(s) selected", data_root, len(selection.sources))
    if selection.excluded:
        logger.info("excluded: %s", "; ".join(f"{n} ({r})" for n, r in selection.excluded))
    result = build_dataset(catalog, selection, data_root, strict=args.strict)
    out = save_build(result, args.out)
    print(format_stats(stats_from_records(result.splits)))
    skipped = result.info["skipped"]
    if skipped:
        print("\nskipped sources:")
        for item in skipped:
            print(f"  {item['name']}: {item['reason']}")
    _print_augment(result.info.get("augment", {}))
    print(f"\nwrote {out} in {time.perf_counter() - start:.1f}s")
    return 0


def _print_augment(report: dict[str, Any]) -> None:
    """One line per cell: the share of rows with emoji per mocking value, before -> after augmenting."""
    if not report.get("enabled"):
        return
    print(f"\nemoji counterfactuals (train only): {report['copies']} copies")
    for cell, item in report["cells"].items():
        before, after = item["before"]["emoji_share"], item["after"]["emoji_share"]
        print(
            f"  {cell}: P(emoji | mocking=1) {before['1']:.3f} -> {after['1']:.3f}, "
            f"P(emoji | mocking=0) {before['0']:.3f} -> {after['0']:.3f} "
            f"(+{item['copies']['1']} / +{item['copies']['0']} rows)"
        )


def run_stats(args: argparse.Namespace) -> int:
    from ..data.build_io import load_build_info, load_columns
    from ..data.stats import format_stats, stats_from_columns

    _quiet_datasets()
    info = load_build_info(args.dataset_dir)
    print(format_stats(stats_from_columns(load_columns(args.dataset_dir))))
    skipped = info.get("skipped", [])
    if skipped:
        print("\nskipped sources: " + ", ".join(s["name"] for s in skipped))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return int(args._data_run(args))
    except CommentmodError as exc:
        logger.error("%s", exc)
        return 2
