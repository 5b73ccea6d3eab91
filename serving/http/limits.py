"""The body limit and the body read timeout, as an ASGI middleware in front of the app.

The middleware reads the request body itself, before the app runs, and hands it on whole:

* a ``Content-Length`` over ``max_bytes`` is answered 413 at once, without reading the body;
* a body without one (chunked) is counted while it streams and answered 413 at the first byte over
  the limit, so at most ``max_bytes`` (+ one network read) is ever held;
* the whole body must arrive within ``timeout_s`` of the request's start (headers received), else
  408: a client sending one byte a second cannot hold the connection (uvicorn has no body timeout);
* a client that disconnects mid-body ends the request with nothing sent.

Rejections ask the server to close the connection (``Connection: close``): the unread rest of the
body must not be parsed as the next request.
"""

from __future__ import annotations

import asyncio

from .asgi import ASGIApp, EventCount, Message, Receive, Scope, Send, header, send_error

BODY_TIMEOUTS = EventCount("answered 408 to %d request(s) whose body took over %g s")


class BodyTooLarge(Exception):
    """The body is over the limit (from Content-Length or counted while it streamed)."""


class BodyTimeout(Exception):
    """The body did not arrive in time."""


class ClientGone(Exception):
    """The client disconnected before the body was complete."""


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None without one (the server has checked that it is a number)."""
    raw = header(scope, b"content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


async def read_body(receive: Receive, max_bytes: int, timeout_s: float) -> bytes:
    """The whole request body; :class:`BodyTooLarge`, :class:`BodyTimeout` or :class:`ClientGone`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise BodyTimeout
        try:
            message = await asyncio.wait_for(receive(), timeout=left)
        except TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body`` in one message, then waits on the real one (disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class BodyLimitMiddleware:
    """Reject bodies over ``max_bytes`` (413) or slower than ``timeout_s`` (408) before the app runs."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            await send_error(send, 413, self._too_large(f"Content-Length is {length:,} bytes"))
            return
        try:
            body = await read_body(receive, self.max_bytes, self.timeout_s)
        except BodyTooLarge:
            await send_error(send, 413, self._too_large("the body streamed past it"))
            return
        except BodyTimeout:
            BODY_TIMEOUTS.hit(self.timeout_s)
            await send_error(
                send, 408, f"the request body did not arrive within {self.timeout_s:g} s; send it faster"
            )
            return
        except ClientGone:
            return
        await self.app(scope, replay(body, receive), send)

    def _too_large(self, what: str) -> str:
        return (
            f"request body over the limit of {self.max_bytes:,} bytes ({what}); "
            "send fewer or shorter comments per request"
        )
