"""The bounded scoring pool (serving/http/pool.py) and the 503 it gives the API when full."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commentmod.serving.http import HttpSettings, Overloaded, ScoringPool, create_app
from commentmod.serving.result import Result

LABELS = ("abusive", "mocking", "off_topic")


class GatedScorer:
    """Blocks every call until ``gate`` is set (the probe comment passes); counts the calls running."""

    model_id = "gated@000000000000"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.running = 0
        self.started = threading.Semaphore(0)

    def score(self, items: Sequence[Any]) -> list[Result]:
        if items and items[0] != "Probe comment: is the model answering?":
            self.running += 1
            self.started.release()
            assert self.gate.wait(timeout=30), "test never opened the gate"
            self.running -= 1
        scores = dict.fromkeys(LABELS, 0.1)
        return [Result(None, scores, dict.fromkeys(LABELS, False), False) for _ in items]


def _eventually(check: Callable[[], bool], timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_pool_admits_workers_plus_queue_then_refuses() -> None:
    scorer = GatedScorer()
    pool = ScoringPool(scorer.score, workers=2, queue_size=1, retry_after_s=3)
    futures = [pool.submit(["x"]) for _ in range(3)]
    assert pool.in_flight == 3 and pool.capacity == 3
    with pytest.raises(Overloaded) as exc:
        pool.submit(["one too many"])
    assert exc.value.retry_after_s == 3 and "retry after 3 s" in str(exc.value)
    for _ in range(2):
        assert scorer.started.acquire(timeout=10)
    assert scorer.running == 2  # two workers run, the third waits in the queue
    scorer.gate.set()
    assert all(len(f.result(timeout=10)) == 1 for f in futures)
    pool.close()
    assert pool.in_flight == 0


def test_a_slot_is_freed_when_the_model_call_ends_not_when_its_caller_gives_up() -> None:
    scorer = GatedScorer()
    pool = ScoringPool(scorer.score, workers=1, queue_size=0)

    async def give_up() -> None:
        task = asyncio.ensure_future(pool.score(["slow"]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(give_up())
    assert scorer.started.acquire(timeout=10)
    with pytest.raises(Overloaded):  # the worker is still busy with the abandoned call
        pool.submit(["x"])
    scorer.gate.set()
    pool.close()
    assert pool.in_flight == 0


def test_pool_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="workers"):
        ScoringPool(lambda items: [], workers=0, queue_size=1)


def test_full_pool_is_503_with_retry_after_and_health_keeps_answering() -> None:
    scorer = GatedScorer()
    settings = HttpSettings(workers=1, queue_size=1, retry_after_s=2)
    with TestClient(create_app(scorer, settings)) as client, ThreadPoolExecutor(2) as clients:
        admitted = [clients.submit(client.post, "/v1/score", json={"comments": ["a"]}) for _ in range(2)]
        assert scorer.started.acquire(timeout=10)
        assert _eventually(lambda: client.get("/readyz").json()["in_flight"] == 2)  # one queued
        refused = client.post("/v1/score", json={"comments": ["b"]})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert "pool is full" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200
        scorer.gate.set()
        assert [f.result(timeout=10).status_code for f in admitted] == [200, 200]
        assert client.post("/v1/score", json={"comments": ["c"]}).status_code == 200
