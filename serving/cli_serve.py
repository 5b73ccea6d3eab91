"""``commentmod serve``: serve an artifact over HTTP on this machine (needs the [http] extra).

Parses flags into :class:`~commentmod.serving.http.HttpSettings`, loads the artifact, builds the app
(:func:`~commentmod.serving.http.create_app`), adds Coral Talk's webhook when ``--coral-secret-file``
is given, and runs the guarded uvicorn server. Exit codes: 0 after a clean stop (SIGINT/SIGTERM, with
requests in flight finished); 2 when the model, a flag or a key file is unusable; 1 when the server
cannot start (port in use). Reference: ``docs/http.md``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.errors import CommentmodError
from .cli_score import add_backend, add_max_chars, positive_int

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .http import HttpSettings

log = logging.getLogger("commentmod.serve")


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0")
    return number


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="artifact directory (commentmod export)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_max_chars(parser)
    pool = parser.add_argument_group("scoring pool")
    pool.add_argument("--workers", type=positive_int, default=None, help="model threads (default: cores)")
    pool.add_argument(
        "--queue",
        type=_count,
        default=None,
        metavar="N",
        help="requests waiting for a worker; more: 503 (default 4 per worker)",
    )
    pool.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="model threads per model call (default: cores / workers)",
    )
    add_backend(pool)
    limits = parser.add_argument_group("connections")
    limits.add_argument("--max-connections", type=positive_int, default=512, help="open connections (512)")
    limits.add_argument("--header-timeout", type=_seconds, default=10.0, help="seconds to send headers (10)")
    limits.add_argument("--body-timeout", type=_seconds, default=30.0, help="seconds to send a body (30)")
    limits.add_argument("--keep-alive", type=positive_int, default=5, help="idle keep-alive seconds (5)")
    limits.add_argument(
        "--shutdown-timeout",
        type=positive_int,
        default=30,
        help="seconds for requests in flight at stop (30)",
    )
    limits.add_argument("--access-log", action="store_true", help="log one line per request")
    access = parser.add_argument_group("access")
    access.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        help="bearer tokens, one per line, required on every route but /healthz (or set COMMENTMOD_API_KEY)",
    )
    access.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow this browser origin (repeatable; default: CORS off)",
    )
    coral = parser.add_argument_group("Coral Talk webhook (POST /v1/coral/moderate, signed, no bearer token)")
    coral.add_argument("--coral-secret-file", type=Path, default=None, help="Coral's signing secret")
    coral.add_argument("--policy", type=Path, default=None, help="moderation policy file (with Coral)")
    coral.add_argument("--stories", type=Path, default=None, help="story store file (with Coral)")


def settings_from_args(args: argparse.Namespace) -> HttpSettings:
    """The service's settings from the flags (and COMMENTMOD_API_KEY); ApiKeyError, ValueError."""
    from .http import HttpSettings, load_api_keys

    values: dict[str, Any] = {
        "max_connections": args.max_connections,
        "header_timeout_s": args.header_timeout,
        "body_timeout_s": args.body_timeout,
        "keep_alive_s": args.keep_alive,
        "shutdown_timeout_s": args.shutdown_timeout,
        "access_log": args.access_log,
        "api_keys": load_api_keys(args.api_key_file),
        "cors_origins": tuple(args.cors_origin),
    }
    if args.workers is not None:
        values["workers"] = args.workers
    if args.queue is not None:
        values["queue_size"] = args.queue
    return HttpSettings(**values)


def _add_coral(app: FastAPI, args: argparse.Namespace) -> None:
    """Coral Talk's webhook, sharing the scoring pool (and its 503) and exempt from the bearer token."""
    if args.coral_secret_file is None:
        if args.policy is not None or args.stories is not None:
            raise CommentmodError(
                "--policy and --stories configure the Coral webhook; add --coral-secret-file"
            )
        return
    try:
        from .coral import coral_router, load_coral_settings
    except ModuleNotFoundError as exc:
        raise CommentmodError(f"--coral-secret-file needs commentmod.serving.coral, not here: {exc}") from exc
    from .http import include_public_router, pool_of

    coral_settings = load_coral_settings(args.coral_secret_file, args.policy, args.stories)
    include_public_router(app, coral_router(coral_settings, pool_of(app).score))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _announce(args: argparse.Namespace, settings: HttpSettings, threads: int) -> None:
    auth = f"{len(settings.api_keys)} API key(s)" if settings.api_keys else "no auth"
    log.info(
        "serving on http://%s:%d: %d worker(s) x %d thread(s), queue %d, <= %d connections, "
        "body <= %s bytes, "
        "<= %d comments, header/body timeouts %g/%g s, %s, CORS %s",
        args.host, args.port, settings.workers, threads, settings.queue_limit, settings.max_connections,
        f"{settings.max_body_bytes:,}", settings.max_comments, settings.header_timeout_s,
        settings.body_timeout_s, auth, ", ".join(settings.cors_origins) or "off",
    )  # fmt: skip
    if not settings.api_keys and not _is_loopback(args.host):
        log.warning("listening on %s without --api-key-file: anyone who can reach it can score", args.host)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401
    except ModuleNotFoundError:
        log.error("uvicorn is not installed; install the HTTP extra: pip install 'commentmod[http]'")
        return 2
    from pydantic import ValidationError

    from .http import create_app, run_server
    from .http.settings import available_cores
    from .scorer import Scorer

    try:
        settings = settings_from_args(args)
        threads = args.threads or max(1, available_cores() // settings.workers)
        scorer = Scorer.load(args.model, threads=threads, max_chars=args.max_chars, backend=args.backend)
        app = create_app(scorer, settings)
        _add_coral(app, args)
    except (CommentmodError, ValidationError) as exc:
        log.error("%s", exc)
        return 2
    _announce(args, settings, threads)
    return run_server(app, settings, args.host, args.port)
