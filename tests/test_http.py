from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from commentmod.serving.result import Result

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from commentmod.serving.http import create_app

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
