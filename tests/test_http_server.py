"""Limits that hold on a real server: uvicorn with the guarded protocol (serving/http/server.py) on the
loopback address, serving the real tiny artifact, driven over raw sockets.

Each test starts its own server in a thread with short timeouts (2 s), so the slow-client cases
finish in a few seconds: a body larger than 2 MB, a chunked body streaming past it, a body sent one
byte a second, headers sent slowly, a silent connection, one connection over the cap, keep-alive,
and a graceful shutdown with a request in flight.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from commentmod.serving.http import HttpSettings, create_app
from commentmod.serving.http.server import build_config
from commentmod.serving.scorer import Scorer

SCORE_HEAD = "POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def tiny_scorer(tiny_artifact_dir: Path) -> Scorer:
    return Scorer.load(tiny_artifact_dir, threads=1)


@contextlib.contextmanager
def serving(scorer: Scorer, **overrides: Any) -> Iterator[tuple[uvicorn.Server, int]]:
    """A server on 127.0.0.1 (a free port) in a thread; stopped (gracefully) on exit."""
    settings = HttpSettings(**{"workers": 1, "header_timeout_s": 2, "body_timeout_s": 2, **overrides})
    server = uvicorn.Server(build_config(create_app(scorer, settings), settings, "127.0.0.1", 0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    try:
        yield server, port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the server did not stop"


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _read_response(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection (headers, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))[15:]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response else 0


def _body(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def _get(port: int, path: str) -> bytes:
    with _connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return _read_until_closed(sock)


def _drip(sock: socket.socket, data: bytes, every_s: float) -> threading.Thread:
    """Send ``data`` one byte every ``every_s`` seconds in a thread, until the server closes."""

    def run() -> None:
        with contextlib.suppress(OSError):
            for byte in data:
                sock.sendall(bytes([byte]))
                time.sleep(every_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_content_length_over_2_mb_is_413_before_the_body_is_sent(tiny_scorer: Scorer) -> None:
    with serving(tiny_scorer) as (_, port), _connect(port) as sock:
        sock.sendall(f"{SCORE_HEAD}Content-Length: 2000001\r\n\r\n".encode())  # and no body at all
        response = _read_until_closed(sock)
    assert _status(response) == 413 and b"connection: close" in response.lower()
    assert "2,000,000 bytes" in _body(response)["detail"]


def test_a_chunked_body_is_cut_while_it_streams_past_2_mb(tiny_scorer: Scorer) -> None:
    chunk = b"x" * 100_000
    with serving(tiny_scorer) as (_, port), _connect(port) as sock:
        sock.sendall(f"{SCORE_HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the server stops reading once it has answered
            for _ in range(40):  # 4 MB offered
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = _read_until_closed(sock)
    assert _status(response) == 413 and "streamed past it" in _body(response)["detail"]


def test_a_body_sent_one_byte_a_second_is_closed_by_the_read_timeout(tiny_scorer: Scorer) -> None:
    body = json.dumps({"comments": ["slow"]}).encode()
    with serving(tiny_scorer, body_timeout_s=2) as (_, port), _connect(port) as sock:
        sock.sendall(f"{SCORE_HEAD}Content-Length: {len(body)}\r\n\r\n".encode())
        start = time.monotonic()
        _drip(sock, body, every_s=1.0)
        assert _status(_get(port, "/healthz")) == 200  # others are served meanwhile
        response = _read_until_closed(sock)
        elapsed = time.monotonic() - start
    assert _status(response) == 408 and "within 2 s" in _body(response)["detail"]
    assert 1.5 <= elapsed <= 5, elapsed


def test_slow_headers_and_silent_connections_are_closed_by_the_header_timeout(tiny_scorer: Scorer) -> None:
    with (
        serving(tiny_scorer, header_timeout_s=2) as (_, port),
        _connect(port) as silent,
        _connect(port) as slow,
    ):
        start = time.monotonic()
        _drip(slow, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 60, every_s=0.5)
        assert _read_until_closed(silent) == b"" and _read_until_closed(slow) == b""
        elapsed = time.monotonic() - start
        assert _status(_get(port, "/healthz")) == 200  # the server itself is fine
    assert 1.5 <= elapsed <= 5, elapsed


def test_one_connection_over_the_cap_gets_503_and_is_closed(tiny_scorer: Scorer) -> None:
    with serving(tiny_scorer, max_connections=4) as (_, port):
        held = [_connect(port) for _ in range(4)]
        time.sleep(0.2)
        with _connect(port) as extra:
            response = _read_until_closed(extra)
        assert _status(response) == 503 and b"Retry-After: 1" in response
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert _status(_get(port, "/healthz")) == 200


def test_kept_alive_connections_serve_requests_spaced_over_the_header_timeout(tiny_scorer: Scorer) -> None:
    with serving(tiny_scorer, header_timeout_s=0.5, keep_alive_s=5) as (_, port), _connect(port) as sock:
        for pause in (0.8, 0.8, 0):  # each request has its own header deadline, not the connection's
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert _read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(pause)


def test_graceful_shutdown_finishes_the_request_in_flight(tiny_scorer: Scorer) -> None:
    body = json.dumps({"comments": ["Ești un cretin!", "Bună ziua"]}).encode()
    with serving(tiny_scorer, body_timeout_s=10) as (server, port), _connect(port) as sock:
        sock.sendall(f"{SCORE_HEAD}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        time.sleep(0.3)
        server.should_exit = True  # what SIGINT/SIGTERM do
        time.sleep(0.5)
        with pytest.raises(OSError):  # no new connections once shutting down
            _connect(port).close()
        sock.sendall(body[10:])
        response = _read_until_closed(sock)
    assert _status(response) == 200
    assert [r["status"] for r in _body(response)["results"]] == ["ok", "ok"]


def test_headers_over_16_kib_are_431_whether_sent_at_once_or_in_pieces(tiny_scorer: Scorer) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    small = big.replace(b"a" * 20_000, b"a" * 15_000).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    with serving(tiny_scorer) as (_, port):
        for pieces in (1, 10):
            step = len(big) // pieces + 1
            with _connect(port) as sock:
                with contextlib.suppress(OSError):  # the server may close before the last piece
                    for start in range(0, len(big), step):
                        sock.sendall(big[start : start + step])
                        time.sleep(0.01)
                assert _status(_read_until_closed(sock)) == 431, pieces
        with _connect(port) as sock:
            sock.sendall(small)
            assert _status(_read_until_closed(sock)) == 200


def test_a_flood_of_refusals_is_one_log_line_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    from commentmod.serving.http.asgi import EventCount

    counter = EventCount("refused %d connection(s) over the cap of %d", every_s=60)
    with caplog.at_level(logging.WARNING, logger="commentmod.http"):
        for _ in range(5000):
            counter.hit(512)
    assert [r.getMessage() for r in caplog.records] == ["refused 1 connection(s) over the cap of 512"]
    assert counter.total == 5000 and counter.count == 4999  # logged with the next line, 60 s on


def test_the_load_benchmark_runs_and_stops_by_itself(tiny_artifact_dir: Path) -> None:
    """benchmarks/bench_http.py, one second per phase: no error below capacity, /healthz always up."""
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_http.py"
    cmd = [sys.executable, str(bench), "--model", str(tiny_artifact_dir), "--seconds", "1"]
    done = subprocess.run(
        [*cmd, "--workers", "1", "--queue", "1"], check=False, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = {
        cells[0]: cells
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| phase")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert set(rows) == {"workers", "capacity", "4x capacity"}
    for name, cells in rows.items():
        assert cells[7:9] == ["0", "0"], f"{name}: other 5xx / failed"  # never a 500, never a failure
        ok, total = cells[9].split(" ")[0].split("/")
        assert ok == total and int(total) > 0, f"{name}: /healthz"
    assert rows["workers"][6] == rows["capacity"][6] == "0"  # no 503 at or below capacity
    assert "server exit code on SIGINT: 0" in done.stdout
