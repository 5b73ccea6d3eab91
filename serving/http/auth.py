"""Optional bearer-token auth: ``Authorization: Bearer <token>`` on every path but the public ones.

Tokens come from ``--api-key-file`` (one per line, so a key can be rotated without downtime; blank
lines and ``#`` comments are skipped) or the environment variable :data:`API_KEY_ENV` (one token).
A token is compared with :func:`hmac.compare_digest` against every key, on their SHA-256 digests, so
neither the time taken nor the first differing byte tells a client anything. ``/healthz`` is always
public (a load balancer asks it without credentials), and so are the paths of routers with their own
auth (Coral Talk's signed webhook, ``/v1/coral/moderate``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from ...model.errors import CommentmodError
from .asgi import ASGIApp, Receive, Scope, Send, header, send_error

API_KEY_ENV = "COMMENTMOD_API_KEY"
MIN_KEY_CHARS = 16


class ApiKeyError(CommentmodError):
    """The API key file or variable is missing, empty, unreadable or holds a key too short to be safe."""


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _checked(keys: Sequence[str], where: str) -> tuple[str, ...]:
    if not keys:
        raise ApiKeyError(
            f"{where} holds no key; put one token per line (at least {MIN_KEY_CHARS} characters)"
        )
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_CHARS or any(c.isspace() for c in key) or not key.isascii():
            raise ApiKeyError(
                f"key {number} of {where} is not usable: a key is {MIN_KEY_CHARS}+ ASCII characters "
                "without spaces (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
    return tuple(keys)


def read_api_keys(path: Path) -> tuple[str, ...]:
    """The keys of an API key file: one per line, blank lines and ``#`` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiKeyError(f"cannot read the API key file {path}: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    return _checked([line for line in lines if line and not line.startswith("#")], f"API key file {path}")


def load_api_keys(path: Path | None, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Keys from ``path`` or from :data:`API_KEY_ENV`; ``()`` (no auth) when neither is given."""
    from_env = environ.get(API_KEY_ENV, "").strip()
    if path is not None and from_env:
        raise ApiKeyError(f"both --api-key-file and {API_KEY_ENV} are set; use one of them")
    if path is not None:
        return read_api_keys(path)
    return _checked([from_env], API_KEY_ENV) if from_env else ()


def bearer_token(raw: bytes | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if raw is None:
        return None
    scheme, _, token = raw.strip().partition(b" ")
    token = token.strip()
    return token if scheme.lower() == b"bearer" and token else None


def token_matches(token: bytes, key_digests: Sequence[bytes]) -> bool:
    """Whether ``token`` is one of the keys; the same work for every key, whatever matches."""
    given = _digest(token)
    found = False
    for key in key_digests:
        found |= hmac.compare_digest(given, key)
    return found


class BearerAuthMiddleware:
    """401 unless the request carries one of ``keys`` as a bearer token; ``public_paths`` need none.

    ``public_paths`` is read at each request, so routers added after the app was built can be made
    public (:func:`commentmod.serving.http.app.include_public_router`).
    """

    def __init__(self, app: ASGIApp, keys: Sequence[str], public_paths: Collection[str]) -> None:
        self.app = app
        self.key_digests = tuple(_digest(key.encode("utf-8")) for key in keys)
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.key_digests or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        token = bearer_token(header(scope, b"authorization"))
        if token is None or not token_matches(token, self.key_digests):
            detail = (
                "missing bearer token: send 'Authorization: Bearer <key>'"
                if token is None
                else "the bearer token is not a valid key"
            )
            await send_error(send, 401, detail, {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)
