"""Small helpers shared by the middlewares and the server: a JSON error answer, a header, a log counter."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("commentmod.http")
LOG_EVERY_S = 10.0


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def send_error(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None, close: bool = True
) -> None:
    """Answer ``{"detail": detail}`` with ``status``; ``close``: ask the server to close the connection
    (the request body was not read, so the connection cannot carry another request)."""
    body = json.dumps({"detail": detail}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class EventCount:
    """Counts an event and logs it at most once per ``every_s`` seconds: a flood cannot flood the log."""

    def __init__(self, message: str, every_s: float = LOG_EVERY_S) -> None:
        self.message = message
        self.every_s = every_s
        self.count = 0
        self.total = 0
        self._last = float("-inf")

    def hit(self, *args: Any) -> None:
        self.count += 1
        self.total += 1
        now = time.monotonic()
        if now - self._last >= self.every_s:
            log.warning(self.message, self.count, *args)
            self.count = 0
            self._last = now
