"""``commentmod serve`` (serving/cli_serve.py) for real: its flags, a server on the tiny artifact, its errors,
the Coral Talk wiring and a graceful stop on SIGTERM with a request in flight.

The server tests start ``python -m commentmod.serving.cli serve`` on a free local port and talk to it
over HTTP with httpx; nothing is patched.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

import commentmod.serving.http as http_pkg
from commentmod.serving.cli import build_parser, main
from commentmod.serving.scorer import Scorer
from commentmod.serving.scorer_inputs import DEFAULT_MAX_CHARS

LABELS = {"abusive", "mocking", "off_topic"}
MAX_CHARS = 40
LONG = "Ești un cretin, taci din gură! Nimeni nu te-a întrebat nimic aici. " * 2
KEY = "test-key-" + "z" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_cmd(model: Path, port: int, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "commentmod.serving.cli", "serve", "--model", str(model)]
    return [*cmd, "--port", str(port), "--threads", "1", "--workers", "1", *extra]


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 180) -> None:
    """GET ``url/healthz`` until it answers (the server loads the model first); fail if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode} before answering:\n{log.read_text()}")
        try:
            httpx.get(f"{url}/healthz", timeout=5)
            return
        except httpx.TransportError:  # not listening yet
            time.sleep(0.2)
    pytest.fail(f"serve did not answer {url}/healthz within {timeout_s} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int | None:
    """Ctrl-C (SIGINT) or SIGTERM: uvicorn stops gracefully; the exit code, None when it had to be killed."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text(f"# test key\n{KEY}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server_url(
    tiny_artifact_dir: Path, key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``commentmod serve`` on the tiny artifact with ``--max-chars 40`` and an API key: its base url."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as fh:
        cmd = _serve_cmd(
            tiny_artifact_dir, port, "--max-chars", str(MAX_CHARS), "--api-key-file", str(key_file)
        )
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, log)
        yield url
    finally:
        code = _stop(proc)
    assert code == 0, f"serve exited with {code} on Ctrl-C (SIGINT):\n{log.read_text()}"
    assert KEY not in log.read_text()  # the key is never logged


# --------------------------------------------------------------------------- flags


def test_flags_and_defaults() -> None:
    args = build_parser("serve").parse_args(["serve", "--model", "art"])
    assert (args.model, args.host, args.port) == (Path("art"), "127.0.0.1", 8000)
    assert args.threads is None and args.workers is None and args.queue is None
    assert args.max_chars == DEFAULT_MAX_CHARS and args.api_key_file is None and args.cors_origin == []
    assert (args.max_connections, args.header_timeout, args.body_timeout) == (512, 10.0, 30.0)
    assert args.coral_secret_file is None and args.policy is None and args.stories is None
    argv = [
        "serve",
        "--model",
        "art",
        "--host",
        "0.0.0.0",
        "--port",
        "9001",
        "--threads",
        "2",
        "--max-chars",
        "7",
    ]
    argv += [
        "--workers",
        "3",
        "--queue",
        "0",
        "--cors-origin",
        "https://a.example",
        "--cors-origin",
        "https://b",
    ]
    args = build_parser("serve").parse_args(argv)
    assert (args.host, args.port, args.threads, args.max_chars) == ("0.0.0.0", 9001, 2, 7)
    assert (args.workers, args.queue, args.cors_origin) == (3, 0, ["https://a.example", "https://b"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "--model"),
        (["serve", "--model", "art", "--port", "http"], "invalid int value"),
        (["serve", "--model", "art", "--max-chars", "0"], "must be 1 or more"),
        (["serve", "--model", "art", "--queue", "-1"], "must be 0 or more"),
        (["serve", "--model", "art", "--header-timeout", "0"], "must be more than 0"),
    ],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- errors before serving


def test_missing_model_dir_exits_2_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-such-artifact"
    with caplog.at_level(logging.ERROR, logger="commentmod.serve"):
        assert main(["serve", "--model", str(missing), "--port", str(_free_port())]) == 2
    assert str(missing) in caplog.text


def test_directory_that_is_not_an_artifact_exits_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="commentmod.serve"):
        assert main(["serve", "--model", str(tmp_path), "--port", str(_free_port())]) == 2
    assert str(tmp_path) in caplog.text and "commentmod.json" in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--api-key-file", "{tmp}/missing-keys"], "cannot read the API key file"),
        (["--api-key-file", "{tmp}/short-key"], "not usable"),
        (["--policy", "{tmp}/policy.yaml"], "add --coral-secret-file"),
    ],
)
def test_unusable_access_flags_exit_2(
    tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, extra: list[str], message: str
) -> None:
    (tmp_path / "short-key").write_text("abc\n", encoding="utf-8")
    argv = ["serve", "--model", str(tiny_artifact_dir), *[a.format(tmp=tmp_path) for a in extra]]
    with caplog.at_level(logging.ERROR, logger="commentmod.serve"):
        assert main(argv) == 2
    assert message in caplog.text


def test_port_in_use_exits_non_zero_and_says_so(tiny_artifact_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        done = subprocess.run(
            _serve_cmd(tiny_artifact_dir, port), capture_output=True, text=True, timeout=180, check=False
        )
    assert done.returncode != 0
    assert "address already in use" in done.stderr.lower()


# --------------------------------------------------------------------------- what run() builds


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Captures what ``commentmod serve`` would run instead of running it."""
    got: dict[str, Any] = {}

    def fake_run(app: Any, settings: Any, host: str, port: int) -> int:
        got.update(app=app, settings=settings, host=host, port=port)
        return 0

    monkeypatch.setattr(http_pkg, "run_server", fake_run)
    return got


def test_serve_builds_the_app_from_its_flags(
    tiny_artifact_dir: Path, served: dict[str, Any], key_file: Path
) -> None:
    argv = ["serve", "--model", str(tiny_artifact_dir), "--max-chars", "12", "--workers", "2", "--queue", "3"]
    assert main([*argv, "--api-key-file", str(key_file), "--header-timeout", "4"]) == 0
    settings = served["settings"]
    assert (served["host"], settings.workers, settings.queue_limit, settings.header_timeout_s) == (
        "127.0.0.1",
        2,
        3,
        4,
    )
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY]
    text = "a much longer comment than twelve characters"
    client = TestClient(served["app"])
    assert client.post("/v1/score", json={"comments": [text]}).status_code == 401
    (result,) = client.post("/v1/score", json={"comments": [text]}, headers=AUTH).json()["results"]
    assert result["truncated"] == {"chars": len(text), "scored_chars": 12}


def _fake_coral(calls: dict[str, Any]) -> types.ModuleType:
    """A stand-in for HB's commentmod.serving.coral with the agreed interface."""
    module = types.ModuleType("commentmod.serving.coral")

    def load_coral_settings(secret_file: Path, policy_file: Path | None, stories_file: Path | None) -> str:
        calls["files"] = (secret_file, policy_file, stories_file)
        return "coral-settings"

    def coral_router(settings: str, score: Any) -> APIRouter:
        router = APIRouter()

        @router.post("/v1/coral/moderate")
        async def moderate(body: dict[str, Any]) -> dict[str, Any]:
            results = await score([{"id": "c1", "text": body["text"]}])
            return {"settings": settings, "status": results[0].status}

        return router

    module.load_coral_settings = load_coral_settings  # type: ignore[attr-defined]
    module.coral_router = coral_router  # type: ignore[attr-defined]
    return module


def test_coral_router_shares_the_pool_and_skips_the_bearer_token(
    tiny_artifact_dir: Path,
    served: dict[str, Any],
    key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "commentmod.serving.coral", _fake_coral(calls))
    secret, policy = tmp_path / "coral-secret", tmp_path / "policy.yaml"
    argv = ["serve", "--model", str(tiny_artifact_dir), "--api-key-file", str(key_file)]
    assert main([*argv, "--coral-secret-file", str(secret), "--policy", str(policy)]) == 0
    assert calls["files"] == (secret, policy, None)
    client = TestClient(served["app"])
    reply = client.post("/v1/coral/moderate", json={"text": "Bună ziua"})  # no bearer token
    assert reply.json() == {"settings": "coral-settings", "status": "ok"}
    assert http_pkg.pool_of(served["app"]).in_flight == 0
    assert client.post("/v1/score", json={"comments": ["x"]}).status_code == 401


@pytest.mark.skipif(
    importlib.util.find_spec("commentmod.serving.coral") is None,
    reason="commentmod.serving.coral (the Coral Talk webhook) is not in this checkout yet",
)
def test_the_real_coral_module_is_wired_in(
    tiny_artifact_dir: Path, served: dict[str, Any], key_file: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "coral-secret"
    secret.write_text("coral-signing-secret-" + "s" * 32 + "\n", encoding="utf-8")
    argv = ["serve", "--model", str(tiny_artifact_dir), "--api-key-file", str(key_file)]
    assert main([*argv, "--coral-secret-file", str(secret)]) == 0
    app = served["app"]
    assert "/v1/coral/moderate" in app.state.public_paths
    client = TestClient(app)
    unsigned = client.post("/v1/coral/moderate", json={"comment": {"body": "Bună ziua"}})
    assert unsigned.status_code == 401 and "bearer" not in unsigned.text.lower()  # Coral's own check
    from commentmod.serving.coral_signature import SIGNATURE_HEADER, sign

    body = json.dumps({"comment": {"body": "Ești un cretin!"}}, indent=2).encode()
    headers = {SIGNATURE_HEADER: sign(body, (secret.read_text().strip().encode(),))}
    signed = client.post("/v1/coral/moderate", content=body, headers=headers)  # no bearer token
    assert signed.status_code in (200, 204), signed.text  # scored through the pool: a decision


# --------------------------------------------------------------------------- a real server


def test_health_is_public_and_everything_else_needs_the_key(server_url: str) -> None:
    assert httpx.get(f"{server_url}/healthz", timeout=10).json() == {"status": "ok"}
    for path in ("/readyz", "/v1/model", "/openapi.json"):
        assert httpx.get(f"{server_url}{path}", timeout=10).status_code == 401, path
    assert httpx.post(f"{server_url}/v1/score", json={"comments": ["a"]}, timeout=10).status_code == 401


def test_model_and_readiness(server_url: str, tiny_artifact_dir: Path) -> None:
    scorer = Scorer.load(tiny_artifact_dir, threads=1)
    ready = httpx.get(f"{server_url}/readyz", headers=AUTH, timeout=10).json()
    assert ready["status"] == "ready" and ready["capacity"] == 5  # 1 worker + 4 queued
    info = httpx.get(f"{server_url}/v1/model", headers=AUTH, timeout=10).json()
    assert (
        f"{info['id']}@{info['version']}" == scorer.model_id
        and info["limits"]["max_comment_chars"] == MAX_CHARS
    )
    assert {label["name"] for label in info["labels"]} == LABELS


def test_score_answers_what_the_scorer_computes(server_url: str, tiny_artifact_dir: Path) -> None:
    comments: list[Any] = [
        "Felicitări, geniu curat 🙄",
        {"id": "c2", "text": LONG, "article_title": "Tramvaiul 101"},
        "   ",
        None,
    ]
    reply = httpx.post(f"{server_url}/v1/score", json={"comments": comments}, headers=AUTH, timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    scorer = Scorer.load(tiny_artifact_dir, threads=1, max_chars=MAX_CHARS)
    assert f"{body['model']['id']}@{body['model']['version']}" == scorer.model_id
    assert body["results"] == [r.to_dict() for r in scorer.score(comments)]
    plain, long, blank, null = body["results"]
    assert plain["status"] == "ok" and set(plain["scores"]) == LABELS and plain["truncated"] is None
    assert long["id"] == "c2" and long["truncated"] == {"chars": len(LONG), "scored_chars": MAX_CHARS}
    assert blank["status"] == "empty" and null["status"] == "error"


def test_bad_request_is_a_422_old_paths_410_and_the_server_keeps_serving(server_url: str) -> None:
    typo = httpx.post(f"{server_url}/v1/score", json={"comment": ["typo"]}, headers=AUTH, timeout=10)
    assert typo.status_code == 422
    old = httpx.post(f"{server_url}/score", json={"comments": ["a"]}, headers=AUTH, timeout=10)
    assert old.status_code == 410 and "/v1/score" in old.json()["detail"]
    assert (
        httpx.post(f"{server_url}/v1/score", json={"comments": ["ok"]}, headers=AUTH, timeout=30).status_code
        == 200
    )


def test_sigterm_lets_the_request_in_flight_finish(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(_serve_cmd(tiny_artifact_dir, port), stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        body = json.dumps({"comments": ["Ești un cretin!"]}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = "POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode() + body[:5])  # a request in flight: its body half sent
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[5:])
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response
        assert json.loads(response.split(b"\r\n\r\n", 1)[1])["results"][0]["status"] == "ok"
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
