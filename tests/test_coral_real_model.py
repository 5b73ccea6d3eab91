"""The Coral endpoint over the real (tiny) exported artifact: Coral-valid answers, and the latency of
a single comment measured in-process (Coral's default phase timeout is 200 ms, and it fails open).

Contract shapes: ``tests/coral_contract.py`` (from Coral's ``server/src/core/server/services/
comments/pipeline/phases/external.ts``). The numbers for a real artifact: ``benchmarks/bench_coral.py``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from coral_contract import OLD_SECRET, coral_reads, request, serialise
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commentmod.serving.coral import MODERATE_PATH, STORY_HEADER, CoralSettings, coral_router
from commentmod.serving.coral_signature import SIGNATURE_HEADER, sign
from commentmod.serving.result import Result
from commentmod.serving.scorer import Scorer
from commentmod.serving.stories import Story, StoryStore

N_REQUESTS = 200
CORAL_DEFAULT_TIMEOUT_MS = 200.0

COMMENTS = [
    "<p>Era și timpul, doi ani am mers cu autobuzul înlocuitor.</p>",
    "Is there a petition we can sign? I'd happily pay a bit more in taxes to keep it open.",
    "<p>You are an <b>idiot</b> and so is everyone who voted for this.</p>",
    "Vând Logan din 2012, 120.000 km. <a href='https://example.com/anunt'>Detalii aici</a>",
    "Ну конечно, гениальное решение, как всегда 🙄",
]


def _client(tiny_artifact_dir: Path, stories: StoryStore | None) -> TestClient:
    scorer = Scorer.load(tiny_artifact_dir, threads=1)

    async def score(items: list[dict[str, Any]]) -> list[Result]:
        return await asyncio.to_thread(scorer.score, items)

    app = FastAPI()
    app.include_router(coral_router(CoralSettings((OLD_SECRET,), stories=stories), score))
    return TestClient(app)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_real_model_answers_are_coral_valid_and_fast(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    store = StoryStore(tmp_path / "stories.sqlite", create=True)
    store.upsert(
        [Story("s1", "https://example.org/stiri/tramvai", "Tramvaiul 101", "Linia va fi redeschisă.")]
    )
    with _client(tiny_artifact_dir, store) as client:
        bodies = [
            serialise(request(COMMENTS[k % len(COMMENTS)], story_id="s1" if k % 2 else "unknown"))
            for k in range(N_REQUESTS)
        ]
        signed = [(b, {SIGNATURE_HEADER: sign(b, (OLD_SECRET,))}) for b in bodies]
        for body, headers in signed[:10]:  # warm up (thread pool, ONNX Runtime arenas)
            client.post(MODERATE_PATH, content=body, headers=headers)
        times = []
        stories_seen = set()
        for body, headers in signed:
            start = time.perf_counter()
            resp = client.post(MODERATE_PATH, content=body, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert resp.status_code in (200, 204), resp.text
            coral_reads(resp.status_code, resp.text)  # raises where Coral would refuse the answer
            assert (resp.json().get("status") if resp.status_code == 200 else None) not in (
                "NONE",
                "REJECTED",
            )
            stories_seen.add(resp.headers[STORY_HEADER])
    p50, p99 = _percentile(times, 0.5), _percentile(times, 0.99)
    print(
        f"\nCoral endpoint, tiny artifact, {N_REQUESTS} single-comment requests: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(times):.2f} ms"
    )
    assert stories_seen == {"found", "missing"}
    assert p99 < CORAL_DEFAULT_TIMEOUT_MS
