"""``commentmod stories``: fill the story store the Coral endpoint reads (import), look a story up.

commentmod stories import FILE [FILE ...] --stories stories.sqlite [--format auto|wxr|disqus|csv]
commentmod stories lookup --stories stories.sqlite [--id ID] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..model.errors import CommentmodError
from .stories import StoryStore
from .stories_import import FORMATS, import_stories

log = logging.getLogger("commentmod.stories")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="upsert the articles of WXR / Disqus / CSV files into the store")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="WXR, Disqus export or CSV")
    imp.add_argument("--stories", required=True, type=Path, help="story store (SQLite; created if missing)")
    imp.add_argument("--format", choices=FORMATS, default="auto", help="file format (default: detected)")
    look = sub.add_parser("lookup", help="the story the Coral endpoint would use for an id / URL")
    look.add_argument("--stories", required=True, type=Path, help="story store (SQLite)")
    look.add_argument("--id", default=None, help="Coral story id")
    look.add_argument("--url", default=None, help="Coral story URL")


def run(args: argparse.Namespace) -> int:
    try:
        return _import(args) if args.action == "import" else _lookup(args)
    except CommentmodError as exc:
        log.error("%s", exc)
        return 2


def _import(args: argparse.Namespace) -> int:
    failed = False
    with StoryStore(args.stories, create=True) as store:
        for path in args.files:
            report = import_stories(store, path, args.format)
            print(f"{path} ({report.format}): {report.stories} stories written, {report.skipped} skipped")
            for problem in report.problems:
                print(f"  skipped: {problem}")
            failed |= report.stories == 0 and report.skipped > 0
        print(f"{args.stories}: {store.count()} stories")
    return 1 if failed else 0


def _lookup(args: argparse.Namespace) -> int:
    with StoryStore(args.stories) as store:
        story = store.get(args.id, args.url)
    if story is None:
        print("not found: the comment would be scored without article context (off_topic not judged)")
        return 1
    text = story.text or ""
    shown = {"id": story.id, "url": story.url, "title": story.title, "text": text[:200]}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return 0
