from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

# fastapi and httpx are installed by `make venv` (the [http] and [dev] extras): a missing one is a
# failure here, not a skip, so the HTTP tests cannot silently stop running
from fastapi.testclient import TestClient

from commentmod.serving.http import create_app
from commentmod.serving.result import Result

LABELS = ("abusive", "mocking", "off_topic")


class EchoScorer:
    model_id = "fake@abc"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def score(self, items: Sequence[Any]) -> list[Result]:
        self.seen.extend(items)
        out = []
        for item in items:
            text = item if isinstance(item, str) else item["text"]
            p = 0.9 if "idiot" in text else 0.1
            scores = {"abusive": p, "mocking": 0.0, "off_topic": 0.0}
            flags = {k: v >= 0.5 for k, v in scores.items()}
            ident = None if isinstance(item, str) else item["id"]
            out.append(Result(ident, scores, flags, any(flags.values())))
        return out


def test_score_endpoint_keeps_order_and_context() -> None:
    scorer = EchoScorer()
    client = TestClient(create_app(scorer))
    body = {
        "comments": ["hello", {"id": "c2", "text": "you idiot", "article_title": "T", "article_text": "B"}]
    }
    resp = client.post("/score", json=body)
    assert resp.status_code == 200
    data = resp.json()
    assert data["model"] == "fake@abc"
    assert [r["flagged"] for r in data["results"]] == [False, True]
    assert data["results"][1]["id"] == "c2"
    assert scorer.seen[1]["article_title"] == "T"


def test_health_labels_and_validation() -> None:
    client = TestClient(create_app(EchoScorer(), max_batch=2))
    assert client.get("/health").json() == {"status": "ok", "model": "fake@abc"}
    assert client.get("/labels").json()["labels"] == list(LABELS)
    assert client.post("/score", json={"comments": ["a", "b", "c"]}).status_code == 413
    assert client.post("/score", json={"comments": [{"id": "x"}]}).status_code == 422


def test_not_scored_is_null() -> None:
    class Blank:
        model_id = "fake@0"
        labels = LABELS

        def score(self, items: Sequence[Any]) -> list[Result]:
            return [Result(None, None, None, False, "empty") for _ in items]

    client = TestClient(create_app(Blank()))
    (result,) = client.post("/score", json={"comments": ["  "]}).json()["results"]
    assert result["scores"] is None and result["flags"] is None and result["truncated"] is None


def test_real_scorer_nulls_and_truncation_over_http(tiny_artifact_dir: Path) -> None:
    from commentmod.serving.scorer import Scorer

    client = TestClient(create_app(Scorer.load(tiny_artifact_dir, threads=1, max_chars=30)))
    long_text = "Ești un cretin, taci din gură! " * 4
    comments = ["   ", {"id": "long", "text": long_text}, {"id": "short", "text": "scurt"}]
    blank, long, short = client.post("/score", json={"comments": comments}).json()["results"]
    assert blank["status"] == "empty" and blank["scores"] is None and blank["flags"] is None
    assert long["status"] == "ok" and long["truncated"] == {"chars": len(long_text), "scored_chars": 30}
    assert short["status"] == "ok" and short["truncated"] is None and set(short["scores"]) == set(LABELS)


def test_serve_passes_max_chars_to_the_scorer(
    tiny_artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from commentmod.serving.cli import main

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    assert main(["serve", "--model", str(tiny_artifact_dir), "--threads", "1", "--max-chars", "12"]) == 0
    assert served["host"] == "127.0.0.1"
    text = "a much longer comment than twelve characters"
    (result,) = TestClient(served["app"]).post("/score", json={"comments": [text]}).json()["results"]
    assert result["truncated"] == {"chars": len(text), "scored_chars": 12}
