"""The ``/v1`` HTTP API (serving/http/app.py) in-process: every route with the real tiny artifact,
the per-request limits, error items, the removed paths, declared schemas and the OpenAPI snapshot.

``tests/golden/openapi.json`` is the API's contract. After a deliberate change to it, regenerate it
and review the diff::

    .venv/bin/python tests/test_http.py --regen-openapi
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

# fastapi and httpx are installed by `make venv` (the [http] and [dev] extras): a missing one is a
# failure here, not a skip, so the HTTP tests cannot silently stop running
from fastapi.testclient import TestClient

from commentmod.serving.http import HttpSettings, create_app
from commentmod.serving.http.schemas import ModelInfo, Ready, ScoreResponse
from commentmod.serving.result import Result, not_scored
from commentmod.serving.scorer import Scorer
from commentmod.serving.scorer_inputs import parse_input

LABELS = ("abusive", "mocking", "off_topic")
OPENAPI = Path(__file__).parent / "golden" / "openapi.json"
SETTINGS = HttpSettings(workers=1, queue_size=4)


class EchoScorer:
    """Flags 'idiot'; records what it was given; invalid items become error results as in the Scorer."""

    model_id = "fake@abc123"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def score(self, items: Sequence[Any]) -> list[Result]:
        self.seen.extend(items)
        out = []
        for item in items:
            parsed = parse_input(item)
            if parsed.item is None:
                out.append(not_scored(parsed.id, "error", parsed.error))
                continue
            p = 0.9 if "idiot" in parsed.item[0] else 0.1
            scores = {"abusive": p, "mocking": 0.0, "off_topic": 0.0}
            flags = {k: v >= 0.5 for k, v in scores.items()}
            out.append(Result(parsed.id, scores, flags, any(flags.values())))
        return out


@pytest.fixture(scope="module")
def tiny_scorer(tiny_artifact_dir: Path) -> Scorer:
    return Scorer.load(tiny_artifact_dir, threads=1)


@pytest.fixture(scope="module")
def real_client(tiny_scorer: Scorer) -> Iterator[TestClient]:
    """The app over the real tiny artifact, lifespan run (probe scored, pool closed at the end)."""
    with TestClient(create_app(tiny_scorer, SETTINGS)) as client:
        yield client


# --------------------------------------------------------------------------- every route, real model


def test_score_answers_what_the_scorer_computes(real_client: TestClient, tiny_scorer: Scorer) -> None:
    comments: list[Any] = [
        "Felicitări, geniu curat 🙄",
        {"id": "c2", "text": "Ești un cretin!", "article_title": "Tramvaiul 101"},
        "   ",
    ]
    reply = real_client.post("/v1/score", json={"comments": comments})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    ScoreResponse.model_validate(body)
    name, _, digest = tiny_scorer.model_id.partition("@")
    assert body["model"] == {"id": name, "version": digest} and name == "tiny"
    assert body["results"] == [r.to_dict() for r in tiny_scorer.score(comments)]
    plain, c2, blank = body["results"]
    assert plain["status"] == "ok" and set(plain["scores"]) == set(LABELS) and plain["truncated"] is None
    assert c2["id"] == "c2" and blank["status"] == "empty" and blank["scores"] is None


def test_shared_article_is_the_context_of_every_comment(real_client: TestClient, tiny_scorer: Scorer) -> None:
    article = {"title": "Primăria aprobă bugetul", "text": "Consiliul local a votat noul buget."}
    comments: list[Any] = [
        "Cine mai crede asta?",
        {"id": "own", "text": "Bravo", "article_title": "Alt titlu"},
    ]
    body = real_client.post("/v1/score", json={"comments": comments, "article": article}).json()
    expected = tiny_scorer.score(
        [
            {"text": comments[0], "article_title": article["title"], "article_text": article["text"]},
            {"id": "own", "text": "Bravo", "article_title": "Alt titlu", "article_text": article["text"]},
        ]
    )
    assert body["results"] == [r.to_dict() for r in expected]
    alone = real_client.post("/v1/score", json={"comments": comments[:1]}).json()["results"][0]
    assert alone["scores"] != body["results"][0]["scores"]  # the article did reach the model


def test_invalid_items_are_error_results_not_a_failed_request(real_client: TestClient) -> None:
    comments = [None, 5, {"id": "no-text"}, {"id": "n", "text": 3}, ["a"], "fine", {"text": "ok", "id": 7}]
    reply = real_client.post("/v1/score", json={"comments": comments})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == ["error"] * 5 + ["ok", "ok"]
    assert "NoneType" in results[0]["error"] and "no 'text' field" in results[2]["error"]
    assert results[2]["id"] == "no-text" and results[3]["id"] == "n" and results[6]["id"] == "7"
    assert all(r["scores"] is None and r["flags"] is None for r in results[:5])


def test_model_route(real_client: TestClient, tiny_scorer: Scorer) -> None:
    info = real_client.get("/v1/model").json()
    ModelInfo.model_validate(info)
    assert [label["name"] for label in info["labels"]] == list(LABELS)
    assert info["thresholds"] == tiny_scorer.thresholds
    assert info["training_sources"] == [
        {"name": "handmade-test", "licence": "CC-BY-4.0", "rows": 10, "commercial_ok": True}
    ]
    assert info["licences"] == ["CC-BY-4.0"] and info["version"] == tiny_scorer.model_id.split("@")[1]
    assert info["limits"] == {"max_body_bytes": 2_000_000, "max_comments": 256, "max_comment_chars": 20_000}
    assert info["languages"] is None  # the tiny artifact records none


def test_health_and_readiness(real_client: TestClient) -> None:
    assert real_client.get("/healthz").json() == {"status": "ok"}
    ready = real_client.get("/readyz")
    assert ready.status_code == 200
    Ready.model_validate(ready.json())
    assert ready.json()["capacity"] == SETTINGS.capacity == 5


def test_readyz_is_503_until_the_probe_scores() -> None:
    class Broken(EchoScorer):
        def score(self, items: Sequence[Any]) -> list[Result]:
            raise RuntimeError("onnx session lost")

    with TestClient(create_app(Broken(), SETTINGS)) as client:
        reply = client.get("/readyz")
        assert reply.status_code == 503 and "onnx session lost" in reply.json()["detail"]
        assert client.get("/healthz").status_code == 200  # the process is up


def test_old_paths_answer_410_with_their_replacement() -> None:
    client = TestClient(create_app(EchoScorer(), SETTINGS))
    for path, new in [("/score", "/v1/score"), ("/health", "/healthz"), ("/labels", "/v1/model")]:
        reply = client.post(path, json={}) if path == "/score" else client.get(path)
        assert reply.status_code == 410 and new in reply.json()["detail"]


# --------------------------------------------------------------------------- per-request limits


def test_257_comments_is_413_and_256_are_scored(real_client: TestClient) -> None:
    too_many = real_client.post("/v1/score", json={"comments": ["a"] * 257})
    assert too_many.status_code == 413 and "at most 256" in too_many.json()["detail"]
    reply = real_client.post("/v1/score", json={"comments": [f"c {i}" for i in range(256)]})
    assert reply.status_code == 200 and len(reply.json()["results"]) == 256


def test_a_comment_over_20000_characters_is_scored_on_its_start_and_marked(real_client: TestClient) -> None:
    long = "Ești un cretin. " * 1250 + "x"  # 20,001 characters
    assert len(long) == 20_001
    (result,) = real_client.post("/v1/score", json={"comments": [long]}).json()["results"]
    assert result["status"] == "ok" and result["truncated"] == {"chars": 20_001, "scored_chars": 20_000}
    (short,) = real_client.post("/v1/score", json={"comments": [long[:20_000]]}).json()["results"]
    assert short["truncated"] is None and short["scores"] == result["scores"]  # the same 20,000 scored


def test_body_of_2_mb_passes_and_one_byte_more_is_413(real_client: TestClient) -> None:
    head, tail = b'{"comments": ["', b'"]}'
    exact = head + b"a" * (2_000_000 - len(head) - len(tail)) + tail
    assert len(exact) == 2_000_000
    reply = real_client.post("/v1/score", content=exact, headers={"content-type": "application/json"})
    assert reply.status_code == 200 and reply.json()["results"][0]["truncated"]["scored_chars"] == 20_000
    over = real_client.post("/v1/score", content=exact + b" ", headers={"content-type": "application/json"})
    assert over.status_code == 413 and "2,000,000 bytes" in over.json()["detail"]
    assert over.headers["connection"] == "close"


def test_request_level_mistakes_are_422() -> None:
    client = TestClient(create_app(EchoScorer(), SETTINGS))
    assert client.post("/v1/score", json={"comment": ["typo in the key"]}).status_code == 422
    assert client.post("/v1/score", json={"comments": "not a list"}).status_code == 422
    assert client.post("/v1/score", json={"comments": [], "article": "not an object"}).status_code == 422
    assert (
        client.post(
            "/v1/score", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post("/v1/score", json={"comments": []}).json()["results"] == []


# --------------------------------------------------------------------------- the contract


def _openapi() -> dict[str, Any]:
    return create_app(EchoScorer(), HttpSettings(workers=1)).openapi()


def test_openapi_snapshot() -> None:
    expected = json.loads(OPENAPI.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(_openapi()))
    assert got == expected, (
        "the API changed: review it, then run .venv/bin/python tests/test_http.py --regen-openapi"
    )
    assert set(got["paths"]) == {"/v1/score", "/v1/model", "/healthz", "/readyz"}
    schemas = got["components"]["schemas"]
    assert {"ScoreRequest", "ScoreResponse", "ResultOut", "ModelInfo", "Ready", "Health", "ErrorOut"} <= set(
        schemas
    )
    assert set(got["paths"]["/v1/score"]["post"]["responses"]) >= {"200", "401", "408", "413", "422", "503"}


def _regen_openapi() -> None:
    OPENAPI.write_text(json.dumps(_openapi(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OPENAPI}")


if __name__ == "__main__":
    if "--regen-openapi" in sys.argv:
        _regen_openapi()
    else:
        print(__doc__)
