"""``commentmod serve``: serve an artifact over HTTP on this machine (needs the [http] extra)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..model.errors import CommentmodError
from .cli_score import add_max_chars

log = logging.getLogger("commentmod.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="artifact directory (commentmod export)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    add_max_chars(parser)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ModuleNotFoundError:
        log.error("uvicorn is not installed; install the HTTP extra: pip install 'commentmod[http]'")
        return 2
    from .http import create_app
    from .scorer import Scorer

    try:
        scorer = Scorer.load(args.model, threads=args.threads, max_chars=args.max_chars)
    except CommentmodError as exc:
        log.error("%s", exc)
        return 2
    uvicorn.run(create_app(scorer), host=args.host, port=args.port, log_level="info")
    return 0
