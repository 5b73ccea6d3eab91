"""The server around the app: uvicorn with a guarded HTTP/1.1 protocol (limits that hold per connection).

uvicorn's h11 protocol alone has no header timeout (a client that connects and sends nothing, or one
header byte a second, holds its connection and file descriptor forever), no cap on connections
(``limit_concurrency`` answers 503 only once a request's headers are in) and no cap on headers that
arrive in one piece. :class:`GuardedH11Protocol` adds them, where the connection is accepted:

* at most ``max_connections`` open: one more is answered 503 (``Retry-After``) and closed at once;
* the request line and headers may hold ``max_header_bytes`` (beyond: 431, closed), and must arrive
  within ``header_timeout_s`` of the connection (or of the first byte of the next request on a
  kept-alive one), else the connection is closed;
* refusals and timeouts are logged at most once per 10 s with a count (:class:`.asgi.EventCount`).

The body's limit and read timeout are the app's (:mod:`.limits`); keep-alive and graceful shutdown
(requests in flight finish, for up to ``shutdown_timeout_s``) are uvicorn's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .asgi import EventCount
from .settings import HttpSettings

log = logging.getLogger("commentmod.http")

FD_RESERVE = 64  # descriptors kept for the listener, the model files, logs


REFUSED = EventCount("refused %d connection(s) over the cap of %d open connections")
HEADER_TIMEOUTS = EventCount("closed %d connection(s) that sent no complete request headers within %g s")


def _raw_response(status: str, detail: str, retry_after_s: int | None = None) -> bytes:
    body = ('{"detail": "' + detail + '"}').encode("ascii")
    retry = f"Retry-After: {retry_after_s}\r\n" if retry_after_s is not None else ""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{retry}Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a header timeout (set by :func:`protocol_class`)."""

    max_connections: ClassVar[int] = 512
    max_header_bytes: ClassVar[int] = 16_384
    header_timeout_s: ClassVar[float] = 10.0
    retry_after_s: ClassVar[int] = 1
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            REFUSED.hit(self.max_connections)
            detail = f"over {self.max_connections} open connections; retry later"
            transport.write(_raw_response("503 Service Unavailable", detail, self.retry_after_s))
            transport.close()
            return
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._headers_too_large(data):
            detail = f"request line and headers over {self.max_header_bytes} bytes"
            self.transport.write(_raw_response("431 Request Header Fields Too Large", detail))
            self.transport.close()
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_timer()  # a request has begun (or is awaited): its headers have a deadline
        else:
            self._cancel_header_timer()

    def _headers_too_large(self, data: bytes) -> bool:
        """Whether the headers being received (buffered + ``data``) are over the cap, complete or not
        (h11's own limit only bounds headers that arrive in several pieces)."""
        pending = self.conn.trailing_data[0] + data
        end = pending.find(b"\r\n\r\n")
        return end > self.max_header_bytes or (end < 0 and len(pending) > self.max_header_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            HEADER_TIMEOUTS.hit(self.header_timeout_s)
            self.transport.close()


def protocol_class(settings: HttpSettings) -> type[GuardedH11Protocol]:
    """:class:`GuardedH11Protocol` with ``settings``' cap and timeout."""
    attrs = {
        "max_connections": settings.max_connections,
        "max_header_bytes": settings.max_header_bytes,
        "header_timeout_s": settings.header_timeout_s,
        "retry_after_s": settings.retry_after_s,
    }
    return type("GuardedH11Protocol", (GuardedH11Protocol,), attrs)


def fit_connections_to_fd_limit(max_connections: int) -> int:
    """``max_connections``, raising the process's open-file limit to fit them when allowed, else lowered."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
        if soft < needed:
            fitted = max(2, soft - FD_RESERVE)
            log.warning(
                "open-file limit %d: serving at most %d connections, not %d", soft, fitted, max_connections
            )
            return fitted
    return max_connections


def build_config(app: Any, settings: HttpSettings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration: the guarded protocol, keep-alive, header size, graceful shutdown."""
    connections = fit_connections_to_fd_limit(settings.max_connections)
    if connections != settings.max_connections:
        settings = settings.model_copy(update={"max_connections": connections})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(settings),
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_s,
        # a backstop: the guarded protocol keeps connections (and so requests) at max_connections
        limit_concurrency=settings.max_connections + 1,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        access_log=settings.access_log,
        log_level="info",
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without raising the signal again after the graceful stop (exit 0, not -15 or 130)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def run_server(app: Any, settings: HttpSettings, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM (graceful: requests in flight finish); 0 after a clean stop."""
    server = _Server(build_config(app, settings, host, port))
    server.run()
    return 0 if server.started else 1
