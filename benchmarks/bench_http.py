"""Bounded load test of ``commentmod serve`` on the loopback address: throughput, latency, 503s, memory.

Starts the real server (``python -m commentmod.serving.cli serve``) on a free local port, waits for
``/readyz``, then runs three fixed-length phases of closed-loop clients (each its own connection,
one request in flight at a time, no pause between requests), while a poller asks ``/healthz`` every
50 ms. The phases stop by themselves; then ``/healthz`` is asked once more and the server is
stopped with SIGINT::

    .venv/bin/python benchmarks/bench_http.py --model tests/golden/tiny-fp32      # the tiny artifact
    .venv/bin/python benchmarks/bench_http.py --model artifacts/full --seconds 20  # a real model

Phases (capacity = workers + queue, the scoring requests the server admits at once):

* ``workers``: as many clients as workers; ``capacity``: as many as the capacity - both below or at
  it, so every request must be answered 200 (0 errors);
* ``4x capacity``: four times more clients than the server admits: the excess is answered 503 with
  ``Retry-After`` at once (no queue grows), the rest 200.

Columns: requests/s (all answers), p50/p99 latency of the 200 answers, counts of 200, 503, other 5xx
and failures (connection errors, timeouts, other codes), and the ``/healthz`` polls answered within
2 s. Below the table: the server's RSS before and after the load (and its peak), its exit code and
how many log lines it wrote. Payload: one comment per request with its article (``--batch`` more).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COMMENTS = [
    "Felicitări primăriei, încă un termen ratat. Geniu curat 🙄",
    "Ești un idiot dacă crezi asta, taci din gură!",
    "Bugetul pentru transport e prea mic, cartierele noi nu au nicio linie de autobuz.",
    "Great, another year of roadworks. Well done, council.",
    "Купуйте наші кросівки зі знижкою 70% — посилання в профілі!",
    "Кто вообще это читает? Автор, учи матчасть.",
]
ARTICLE = {
    "title": "Primăria Clujului a aprobat bugetul pe anul viitor",
    "text": "Consiliul local a votat noul buget, care include o linie de tramvai, reabilitarea a trei "
    "școli și un parc nou în cartierul Sopor. Opoziția a criticat lipsa fondurilor pentru transport.",
}


@dataclass
class Tally:
    """What one phase's clients got back."""

    codes: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    ok_ms: list[float] = field(default_factory=list)
    health_ok: int = 0
    health_total: int = 0
    health_max_ms: float = 0.0

    def row(self, name: str, clients: int, seconds: float) -> list[str]:
        answered = sum(self.codes.values())
        other_5xx = sum(n for code, n in self.codes.items() if code >= 500 and code != 503)
        other = sum(n for code, n in self.codes.items() if code not in (200, 503) and code < 500)
        ms = sorted(self.ok_ms)
        p50 = statistics.median(ms) if ms else float("nan")
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else float("nan")
        failed = sum(self.failures.values()) + other
        health = f"{self.health_ok}/{self.health_total} (max {self.health_max_ms:.0f} ms)"
        return [
            name,
            str(clients),
            f"{answered / seconds:,.0f}",
            f"{p50:.1f}",
            f"{p99:.1f}",
            str(self.codes[200]),
            str(self.codes[503]),
            str(other_5xx),
            str(failed),
            health,
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _payload(i: int, batch: int) -> dict[str, Any]:
    comments = [{"id": f"c{i}-{k}", "text": COMMENTS[(i + k) % len(COMMENTS)]} for k in range(batch)]
    return {"comments": comments, "article": ARTICLE}


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: a load generator much lighter than a
    full client library, so that the figures are the server's, not the client's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes]]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:] if b": " in line)
        await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            await self.close()
        return int(lines[0].split(b" ", 2)[1]), headers

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _score_request(i: int, batch: int) -> bytes:
    body = json.dumps(_payload(i, batch), ensure_ascii=False).encode()
    head = "POST /v1/score HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _client(port: int, number: int, batch: int, stop_at: float, tally: Tally) -> None:
    requests = [_score_request(number + k, batch) for k in range(len(COMMENTS))]
    connection = Connection(port)
    i = 0
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        try:
            status, headers = await asyncio.wait_for(connection.request(requests[i % len(requests)]), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            tally.failures[type(exc).__name__] += 1
            await connection.close()
            continue
        tally.codes[status] += 1
        if status == 200:
            tally.ok_ms.append((time.perf_counter() - start) * 1000)
        elif status == 503 and b"retry-after" not in headers:
            tally.failures["503 without Retry-After"] += 1
        i += 1
    await connection.close()


def _health(port: int, stop: threading.Event, tally: Tally) -> None:
    """GET /healthz every 50 ms on a fresh connection, in a thread of its own (not behind the load)."""
    while not stop.is_set():
        start = time.perf_counter()
        tally.health_total += 1
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            tally.health_ok += conn.getresponse().status == 200
            conn.close()
        except OSError:
            pass
        tally.health_max_ms = max(tally.health_max_ms, (time.perf_counter() - start) * 1000)
        stop.wait(0.05)


async def _load(port: int, clients: int, batch: int, seconds: float, tally: Tally) -> None:
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*[_client(port, n * 1000, batch, stop_at, tally) for n in range(clients)])


def _phase(port: int, clients: int, batch: int, seconds: float) -> Tally:
    tally = Tally()
    stop = threading.Event()
    poller = threading.Thread(target=_health, args=(port, stop, tally), daemon=True)
    poller.start()
    try:
        asyncio.run(_load(port, clients, batch, seconds, tally))
    finally:
        stop.set()
        poller.join()
    return tally


def _start(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "commentmod.serving.cli", "serve", "--model", str(args.model)]
    cmd += ["--port", str(port), "--workers", str(args.workers), "--queue", str(args.queue)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"serve was not ready within 300 s:\n{log.read_text()}")


def _table(rows: list[list[str]]) -> str:
    head = [
        "phase",
        "clients",
        "req/s",
        "p50 ms",
        "p99 ms",
        "200",
        "503",
        "other 5xx",
        "failed",
        "/healthz ok",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, type=Path, help="artifact directory")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="server workers")
    parser.add_argument("--queue", type=int, default=None, help="server queue (default 4 per worker)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX threads per call (default: serve's)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--batch", type=int, default=1, help="comments per request")
    args = parser.parse_args()
    args.queue = 4 * args.workers if args.queue is None else args.queue
    capacity = args.workers + args.queue
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        proc = _start(args, port, log)
        try:
            _wait_ready(proc, url, log)
            rss_before = _rss_mb(proc.pid)
            rows = []
            phases = [("workers", args.workers), ("capacity", capacity), ("4x capacity", 4 * capacity)]
            for name, clients in phases:
                tally = _phase(port, clients, args.batch, args.seconds)
                rows.append(tally.row(name, clients, args.seconds))
            after = httpx.get(f"{url}/healthz", timeout=5).status_code
            rss_after, rss_peak = _rss_mb(proc.pid), _rss_mb(proc.pid, "VmHWM")
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        log_lines = len(log.read_text(encoding="utf-8", errors="replace").splitlines())
    print(
        f"commentmod serve --model {args.model}: {args.workers} worker(s), queue {args.queue} "
        f"(capacity {capacity}), {args.seconds:g} s per phase, {args.batch} comment(s) per request\n"
    )
    print(_table(rows))
    print(
        f"\nRSS before {rss_before:.0f} MB, after {rss_after:.0f} MB (peak {rss_peak:.0f} MB); "
        f"/healthz after the load: {after}; server exit code on SIGINT: {code}; server log: {log_lines} lines"
    )


if __name__ == "__main__":
    main()
