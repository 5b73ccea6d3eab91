"""Optional bearer auth and CORS of the HTTP service (serving/http/auth.py, app.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import SecretStr

from commentmod.serving.http import (
    ApiKeyError,
    HttpSettings,
    create_app,
    include_public_router,
    load_api_keys,
)
from commentmod.serving.http.auth import API_KEY_ENV, bearer_token, read_api_keys, token_matches
from commentmod.serving.result import Result

LABELS = ("abusive", "mocking", "off_topic")
KEY = "k3y-" + "x" * 28
OTHER = "second-key-" + "y" * 21


class OkScorer:
    model_id = "fake@abc"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)

    def score(self, items: Sequence[Any]) -> list[Result]:
        return [Result(None, dict.fromkeys(LABELS, 0.1), dict.fromkeys(LABELS, False), False) for _ in items]


def _app(**settings: Any) -> Any:
    return create_app(OkScorer(), HttpSettings(workers=1, **settings))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- keys


def test_key_file_one_per_line_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-05\n\n{KEY}\n  {OTHER}  \n", encoding="utf-8")
    assert read_api_keys(path) == (KEY, OTHER)
    assert load_api_keys(path, environ={}) == (KEY, OTHER)


def test_key_from_the_environment_and_none_without_either(tmp_path: Path) -> None:
    assert load_api_keys(None, environ={API_KEY_ENV: KEY}) == (KEY,)
    assert load_api_keys(None, environ={}) == ()
    path = tmp_path / "keys"
    path.write_text(KEY, encoding="utf-8")
    with pytest.raises(ApiKeyError, match="both"):
        load_api_keys(path, environ={API_KEY_ENV: KEY})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no key"),
        ("# only a comment\n", "holds no key"),
        ("short\n", "not usable"),
        ("a key with spaces in it\n", "not usable"),
    ],
)
def test_unusable_key_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "keys"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ApiKeyError, match=message):
        read_api_keys(path)
    with pytest.raises(ApiKeyError, match="cannot read"):
        read_api_keys(tmp_path / "missing")


def test_bearer_parsing_and_matching() -> None:
    assert bearer_token(b"Bearer abc") == b"abc" and bearer_token(b"bearer  abc ") == b"abc"
    assert (
        bearer_token(b"Basic abc") is None and bearer_token(b"Bearer ") is None and bearer_token(None) is None
    )
    import hashlib

    digests = [hashlib.sha256(k.encode()).digest() for k in (KEY, OTHER)]
    assert token_matches(KEY.encode(), digests) and token_matches(OTHER.encode(), digests)
    assert not token_matches(KEY[:-1].encode(), digests) and not token_matches(b"", digests)


# --------------------------------------------------------------------------- the app


def test_without_keys_nothing_asks_for_a_token() -> None:
    client = TestClient(_app())
    assert client.post("/v1/score", json={"comments": ["a"]}).status_code == 200
    assert client.get("/v1/model").status_code == 200
    assert "security" not in str(client.get("/openapi.json").json()["paths"])


def test_with_keys_every_route_but_healthz_needs_one() -> None:
    client = TestClient(_app(api_keys=(SecretStr(KEY), SecretStr(OTHER))))
    assert client.get("/healthz").status_code == 200
    for method, path in [
        ("POST", "/v1/score"),
        ("GET", "/v1/model"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/no-such-path"),
    ]:
        reply = client.request(method, path, json={"comments": ["a"]} if method == "POST" else None)
        assert reply.status_code == 401, path
        assert (
            reply.headers["www-authenticate"] == "Bearer" and "missing bearer token" in reply.json()["detail"]
        )
        wrong = client.request(method, path, headers=_bearer(KEY + "x"))
        assert wrong.status_code == 401 and "not a valid key" in wrong.json()["detail"]
    for key in (KEY, OTHER):
        assert client.post("/v1/score", json={"comments": ["a"]}, headers=_bearer(key)).status_code == 200
    assert client.get("/v1/model", headers={"Authorization": f"bearer {KEY}"}).status_code == 200
    assert client.get("/no-such-path", headers=_bearer(KEY)).status_code == 404


def test_unauthenticated_big_body_is_refused_before_it_is_read() -> None:
    client = TestClient(_app(api_keys=(SecretStr(KEY),)))
    reply = client.post("/v1/score", content=b"x" * 3_000_000)
    assert reply.status_code == 401 and reply.headers["connection"] == "close"


def test_openapi_declares_the_bearer_scheme_except_on_public_paths() -> None:
    spec = TestClient(_app(api_keys=(SecretStr(KEY),))).get("/openapi.json", headers=_bearer(KEY)).json()
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert spec["paths"]["/v1/score"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_a_public_router_skips_the_bearer_token() -> None:
    app = _app(api_keys=(SecretStr(KEY),))
    router = APIRouter()

    @router.post("/v1/coral/moderate")
    async def hook() -> dict[str, str]:
        return {"own": "auth"}

    include_public_router(app, router)
    client = TestClient(app)
    assert client.post("/v1/coral/moderate").json() == {"own": "auth"}
    assert client.post("/v1/score", json={"comments": ["a"]}).status_code == 401


def test_cors_is_off_unless_configured() -> None:
    origin = {"Origin": "https://news.example"}
    plain = TestClient(_app()).get("/healthz", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    client = TestClient(_app(cors_origins=("https://news.example",), api_keys=(SecretStr(KEY),)))
    preflight = client.options(
        "/v1/score",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://news.example"
    refused = client.post("/v1/score", json={"comments": ["a"]}, headers=origin)
    assert (
        refused.status_code == 401
        and refused.headers["access-control-allow-origin"] == "https://news.example"
    )
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
