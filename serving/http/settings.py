"""The HTTP service's settings, typed and checked on creation (``commentmod serve`` fills them from flags).

Defaults are the documented limits of ``docs/http.md``: a body of at most 2 MB, 256 comments per
request, a scoring pool of one worker per core with a queue of four requests per worker, 10 s to send
the request headers, 30 s to send the body, at most 512 open connections.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MAX_BODY_BYTES = 2_000_000  # 2 MB (decimal): 2,000,001 bytes is refused with 413
MAX_COMMENTS = 256
QUEUE_PER_WORKER = 4


def available_cores() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class HttpSettings(BaseModel):
    """Limits, timeouts, pool size, auth and CORS of one HTTP service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024, description="body limit; larger: 413")
    max_comments: int = Field(default=MAX_COMMENTS, ge=1, description="comments per request; more: 413")
    workers: int = Field(default_factory=available_cores, ge=1, description="threads calling the model")
    queue_size: int | None = Field(
        default=None, ge=0, description=f"requests waiting for a worker (default {QUEUE_PER_WORKER}/worker)"
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After of a 503 answer")
    header_timeout_s: float = Field(default=10.0, gt=0, description="seconds to send request line + headers")
    body_timeout_s: float = Field(default=30.0, gt=0, description="seconds to send the whole body")
    keep_alive_s: int = Field(
        default=5, ge=1, description="idle seconds before a kept-alive connection closes"
    )
    shutdown_timeout_s: int = Field(
        default=30, ge=1, description="graceful stop: seconds for requests in flight"
    )
    max_connections: int = Field(default=512, ge=2, description="open connections; one more: 503, closed")
    max_header_bytes: int = Field(default=16_384, ge=1024, description="request line + headers; more: 431")
    api_keys: tuple[SecretStr, ...] = Field(default=(), description="bearer tokens; empty: no auth")
    cors_origins: tuple[str, ...] = Field(default=(), description="origins allowed by CORS; empty: off")
    access_log: bool = Field(default=False, description="one log line per request (uvicorn's access log)")

    @model_validator(mode="after")
    def _fill_queue(self) -> HttpSettings:
        if self.queue_size is None:
            object.__setattr__(self, "queue_size", QUEUE_PER_WORKER * self.workers)
        return self

    @property
    def queue_limit(self) -> int:
        """Requests that may wait for a worker (``queue_size``, filled on creation)."""
        return int(self.queue_size or 0)

    @property
    def capacity(self) -> int:
        """Scoring requests admitted at once (running + waiting); one more is answered 503."""
        return self.workers + self.queue_limit
