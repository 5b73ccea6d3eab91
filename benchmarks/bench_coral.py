"""Latency of the Coral endpoint for one comment, as Coral calls it (one comment per request).

Coral waits for an external moderation phase ``timeout`` ms (200 by default in its admin UI) and
lets the comment through on a timeout, so p99 of a single-comment request is the number to watch.

In-process (the endpoint over ``Scorer.load``, signed requests through FastAPI's TestClient)::

    .venv/bin/python benchmarks/bench_coral.py --model artifacts/full [--n 200] [--threads 2]

Against a running ``commentmod serve --model DIR --coral-secret-file FILE …`` (network and uvicorn
included)::

    .venv/bin/python benchmarks/bench_coral.py --url http://127.0.0.1:8000 --secret-file FILE

Prints one table: per comment size (short / medium / long HTML) and article (story found in the
store / missing): p50, p90, p99 and max in ms and how many requests took over 200 ms; in-process,
also ``Scorer.score`` alone for the same comment (the endpoint's own overhead is the difference).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from commentmod.serving.coral import MODERATE_PATH, CoralSettings, coral_router
from commentmod.serving.coral_signature import SIGNATURE_HEADER, load_secrets, sign
from commentmod.serving.stories import Story, StoryStore

CORAL_TIMEOUT_MS = 200.0
STORY = Story(
    "bench-story",
    "https://example.org/stiri/buget-2026",
    "Primăria Clujului a aprobat bugetul pe anul viitor",
    "Consiliul local a votat noul buget, care include o linie de tramvai, reabilitarea a trei școli "
    "și un parc nou în cartierul Sopor. Opoziția a criticat lipsa fondurilor pentru transport. " * 6,
)
SHORT = "<p>Ești un idiot, nu ai citit articolul.</p>"
MEDIUM = (
    "<p>Nu înțeleg de ce se cheltuie atâția bani pe un parc când transportul public e praf. "
    "Am așteptat azi 40 de minute autobuzul 35, iar primarul ne spune că totul e bine.</p>" * 3
)
LONG = (
    "<p>"
    + ("Bugetul acesta este o glumă proastă și cine l-a votat ar trebui să-și dea demisia. " * 40)
    + "</p>"
)
SIZES = {"short": SHORT, "medium": MEDIUM, "long": LONG}


def request_body(text: str, found: bool) -> bytes:
    story = {"id": STORY.id, "url": STORY.url} if found else {"id": "nope", "url": "https://example.org/nope"}
    data = {
        "action": "NEW",
        "comment": {"body": text, "parentID": None},
        "author": {"id": "bench-author", "role": "COMMENTER"},
        "story": story,
        "site": {"id": "bench-site"},
        "tenantID": "bench-tenant",
        "tenantDomain": "localhost",
    }
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")  # as Coral sends it


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], Any], n: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def row(name: str, times: list[float]) -> str:
    over = sum(t > CORAL_TIMEOUT_MS for t in times)
    cells = [percentile(times, q) for q in (0.5, 0.9, 0.99)] + [max(times)]
    return f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {over}/{len(times)} |"


def post_fn(client: Any, body: bytes, secret: bytes, base: str = "") -> Callable[[], Any]:
    headers = {SIGNATURE_HEADER: sign(body, (secret,)), "Content-Type": "application/json"}

    def call() -> Any:
        resp = client.post(base + MODERATE_PATH, content=body, headers=headers)
        if resp.status_code not in (200, 204):
            raise SystemExit(f"endpoint answered {resp.status_code}: {resp.text[:200]}")
        return resp

    return call


def bench_in_process(args: argparse.Namespace) -> list[str]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from commentmod.serving.scorer import Scorer

    scorer = Scorer.load(args.model, threads=args.threads)
    secret = b"empsec_bench"
    tmp = tempfile.TemporaryDirectory()
    stories = StoryStore(Path(tmp.name) / "stories.sqlite", create=True)
    stories.upsert([STORY])

    async def score(items: list[dict[str, Any]]) -> Any:
        return await asyncio.to_thread(scorer.score, items)

    app = FastAPI()
    app.include_router(coral_router(CoralSettings((secret,), stories=stories), score))
    rows = [f"model {scorer.model_id}, in-process, {args.n} requests per row, threads={args.threads}", ""]
    rows += ["| case | p50 ms | p90 ms | p99 ms | max ms | over 200 ms |", "|---|---|---|---|---|---|"]
    with TestClient(app) as client:
        for size, text in SIZES.items():
            for found in (True, False):
                call = post_fn(client, request_body(text, found), secret)
                rows.append(row(f"{size}, story {'found' if found else 'missing'}", timed(call, args.n)))
            item = {"text": text, "article_title": STORY.title, "article_text": STORY.text}
            rows.append(
                row(f"{size}, Scorer.score alone", timed(lambda item=item: scorer.score([item]), args.n))
            )
    stories.close()
    tmp.cleanup()
    return rows


def bench_remote(args: argparse.Namespace) -> list[str]:
    import httpx

    secret = load_secrets(args.secret_file)[0]
    rows = [f"{args.url}, {args.n} requests per row (the server's own story store)", ""]
    rows += ["| case | p50 ms | p90 ms | p99 ms | max ms | over 200 ms |", "|---|---|---|---|---|---|"]
    with httpx.Client(timeout=10.0) as client:
        for size, text in SIZES.items():
            for found in (True, False):
                call = post_fn(client, request_body(text, found), secret, args.url.rstrip("/"))
                rows.append(row(f"{size}, story {'as stored' if found else 'missing'}", timed(call, args.n)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", type=Path, help="artifact directory (in-process benchmark)")
    target.add_argument("--url", help="base URL of a running `commentmod serve` with the Coral endpoint")
    parser.add_argument("--secret-file", type=Path, help="the server's --coral-secret-file (with --url)")
    parser.add_argument("--n", type=int, default=200, help="requests per row (default 200)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (in-process)")
    args = parser.parse_args(argv)
    if args.url and args.secret_file is None:
        parser.error("--url needs --secret-file")
    print("\n".join(bench_in_process(args) if args.model else bench_remote(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
