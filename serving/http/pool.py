"""The bounded scoring pool: model calls run in ``workers`` threads, at most ``queue_size`` more wait.

Every route that scores (``POST /v1/score``, Coral's ``POST /v1/coral/moderate``) goes through
:meth:`ScoringPool.score`. A call that finds ``workers + queue_size`` calls admitted raises
:class:`Overloaded` at once (the app answers 503 with ``Retry-After``): memory stays bounded however
many clients send, and no request waits behind an unbounded queue. A slot is released when its
model call ends, not when its caller stops waiting, so a cancelled request cannot overfill the pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ...model.errors import CommentmodError
from ..result import Result

log = logging.getLogger("commentmod.http")

ScoreFn = Callable[[list[Any]], list[Result]]


class Overloaded(CommentmodError):
    """Every worker is busy and the queue is full: answer 503 and ask the client to retry later."""

    def __init__(self, capacity: int, retry_after_s: int) -> None:
        self.capacity = capacity
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the scoring pool is full ({capacity} requests running or waiting); "
            f"retry after {retry_after_s} s, or send fewer requests at once"
        )


class ScoringPool:
    """``workers`` threads calling ``score_fn``; at most ``workers + queue_size`` calls admitted."""

    def __init__(self, score_fn: ScoreFn, workers: int, queue_size: int, retry_after_s: int = 1) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(
                f"workers={workers}, queue_size={queue_size}: need workers >= 1, queue_size >= 0"
            )
        self.score_fn = score_fn
        self.workers = workers
        self.capacity = workers + queue_size
        self.retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="commentmod-score")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def in_flight(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(self.capacity, self.retry_after_s)
            self._admitted += 1

    def _release(self, _done: Future[list[Result]]) -> None:
        with self._lock:
            self._admitted -= 1

    def submit(self, items: Sequence[Any]) -> Future[list[Result]]:
        """Start scoring ``items`` in a worker; :class:`Overloaded` when the pool is full."""
        self._admit()
        try:
            future = self._executor.submit(self.score_fn, list(items))
        except BaseException:
            with self._lock:
                self._admitted -= 1
            raise
        future.add_done_callback(self._release)
        return future

    async def score(self, items: Sequence[Any]) -> list[Result]:
        """One Result per item, in order, scored in a worker; :class:`Overloaded` when the pool is full."""
        return await asyncio.wrap_future(self.submit(items))

    def close(self, wait: bool = True) -> None:
        """Stop the workers; ``wait``: let the calls admitted so far finish first."""
        log.debug("scoring pool closing (%d calls in flight)", self._admitted)
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
