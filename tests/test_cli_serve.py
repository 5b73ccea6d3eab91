"""``commentmod serve`` (serving/cli_serve.py) for real: its flags, a server on the tiny artifact, its errors.

The server tests start ``python -m commentmod.serving.cli serve`` on a free local port and talk to it
over HTTP with httpx; nothing is patched.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from commentmod.serving.cli import build_parser, main
from commentmod.serving.scorer import Scorer
from commentmod.serving.scorer_inputs import DEFAULT_MAX_CHARS

LABELS = {"abusive", "mocking", "off_topic"}
MAX_CHARS = 40
LONG = "Ești un cretin, taci din gură! Nimeni nu te-a întrebat nimic aici. " * 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_cmd(model: Path, port: int, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "commentmod.serving.cli", "serve", "--model", str(model)]
    return [*cmd, "--port", str(port), "--threads", "1", *extra]


def _wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 180
) -> httpx.Response:
    """GET ``url/health`` until it answers (the server loads the model first); fail if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode} before answering:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/health", timeout=5)
        except httpx.TransportError:  # not listening yet
            time.sleep(0.2)
    pytest.fail(f"serve did not answer {url}/health within {timeout_s} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """Ctrl-C (SIGINT): uvicorn shuts down gracefully; the exit code, None when it had to be killed."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(scope="module")
def server_url(tiny_artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``commentmod serve`` on the tiny artifact with ``--max-chars 40``: its base url."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as fh:
        cmd = _serve_cmd(tiny_artifact_dir, port, "--max-chars", str(MAX_CHARS))
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, log)
        yield url
    finally:
        code = _stop(proc)
    assert code == 0, f"serve exited with {code} on Ctrl-C (SIGINT):\n{log.read_text()}"


# --------------------------------------------------------------------------- flags


def test_flags_and_defaults() -> None:
    args = build_parser("serve").parse_args(["serve", "--model", "art"])
    assert (args.model, args.host, args.port) == (Path("art"), "127.0.0.1", 8000)
    assert args.threads is None and args.max_chars == DEFAULT_MAX_CHARS
    args = build_parser("serve").parse_args(
        [
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
    )
    assert (args.host, args.port, args.threads, args.max_chars) == ("0.0.0.0", 9001, 2, 7)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "--model"),
        (["serve", "--model", "art", "--port", "http"], "invalid int value"),
        (["serve", "--model", "art", "--max-chars", "0"], "must be 1 or more"),
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


def test_port_in_use_exits_non_zero_and_says_so(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        done = subprocess.run(
            _serve_cmd(tiny_artifact_dir, port), capture_output=True, text=True, timeout=180, check=False
        )
    assert done.returncode != 0
    assert "address already in use" in done.stderr.lower()


# --------------------------------------------------------------------------- a real server


def test_health_and_labels(server_url: str, tiny_artifact_dir: Path) -> None:
    health = httpx.get(f"{server_url}/health", timeout=10).json()
    scorer = Scorer.load(tiny_artifact_dir, threads=1)
    assert health == {"status": "ok", "model": scorer.model_id} and scorer.model_id.startswith("tiny@")
    labels = httpx.get(f"{server_url}/labels", timeout=10).json()
    assert set(labels["labels"]) == LABELS and set(labels["thresholds"]) == LABELS


def test_score_answers_what_the_scorer_computes(server_url: str, tiny_artifact_dir: Path) -> None:
    comments: list[str | dict[str, str]] = [
        "Felicitări, geniu curat 🙄",
        {"id": "c2", "text": LONG, "article_title": "Tramvaiul 101"},
        "   ",
    ]
    reply = httpx.post(f"{server_url}/score", json={"comments": comments}, timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    scorer = Scorer.load(tiny_artifact_dir, threads=1, max_chars=MAX_CHARS)
    assert body["model"] == scorer.model_id
    expected = [r.to_dict() for r in scorer.score(comments)]
    assert body["results"] == expected
    plain, long, blank = body["results"]
    assert plain["status"] == "ok" and set(plain["scores"]) == LABELS and plain["truncated"] is None
    assert long["id"] == "c2" and long["truncated"] == {"chars": len(LONG), "scored_chars": MAX_CHARS}
    assert blank["status"] == "empty" and blank["scores"] is None


def test_bad_request_is_a_422_and_the_server_keeps_serving(server_url: str) -> None:
    assert (
        httpx.post(f"{server_url}/score", json={"comment": ["typo in the key"]}, timeout=10).status_code
        == 422
    )
    assert httpx.post(f"{server_url}/score", json={"comments": ["ok"]}, timeout=30).status_code == 200
