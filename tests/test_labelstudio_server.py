"""Round trip through a real Label Studio server: export-tasks -> Label Studio -> export -> label store.

The server is the ``label-studio`` package from PyPI in its own venv (``make labelstudio-venv``
builds ``.venv-ls``, pinned, with a migrated template database so that a start takes seconds, not
minutes); it listens on 127.0.0.1 on a free port, with its data in ``tmp_path`` and a user whose
legacy API token the test chooses (``LABEL_STUDIO_USERNAME``/``_PASSWORD``/``_USER_TOKEN`` and
``--enable-legacy-api-token``). ``tests/labelstudio_driver.py`` drives it with ``label-studio-sdk``
from that venv, so neither Label Studio nor the SDK is installed in the project's venv.

Without the venv the test is skipped, except in CI (``CI`` set) or with
``COMMENTMOD_REQUIRE_LABELSTUDIO=1``, where it fails. ``COMMENTMOD_LABELSTUDIO_VENV`` points at
another venv.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commentmod.model.labels import LABELS
from commentmod.serving.cli import main
from commentmod.serving.pipeline import output_row
from commentmod.serving.readers import InputRecord
from commentmod.serving.result import Result
from commentmod.training.labels import LabelStore

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

REPO = Path(__file__).resolve().parent.parent
VENV_ENV = "COMMENTMOD_LABELSTUDIO_VENV"
REQUIRE_ENV = "COMMENTMOD_REQUIRE_LABELSTUDIO"
TEMPLATE_DB = Path("template") / "label_studio.sqlite3"  # inside the venv, written by the Makefile
STARTUP_S = 300  # with the template ~15 s; without it Label Studio migrates a fresh database (~2 min)
MODEL_ID = "commentmod-test@0123456789ab"
THRESHOLD = 0.5


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    python: Path  # the Label Studio venv's Python, which has label-studio-sdk


def _venv() -> Path:
    raw = os.environ.get(VENV_ENV)
    return Path(raw).expanduser().resolve() if raw else REPO / ".venv-ls"


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1" or os.environ.get("CI", "").lower() not in ("", "0", "false")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Label Studio exited with {proc.returncode}:\n{_log_tail(log)}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"Label Studio not healthy after {STARTUP_S} s:\n{_log_tail(log)}", pytrace=False)


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    venv = _venv()
    exe, python = venv / "bin" / "label-studio", venv / "bin" / "python"
    if not exe.is_file():
        message = f"Label Studio venv not found at {venv}: run `make labelstudio-venv` (or set {VENV_ENV})"
        if _required():
            pytest.fail(f"{message}; required here (CI or {REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(message)
    data = tmp_path_factory.mktemp("label-studio")
    if (venv / TEMPLATE_DB).is_file():
        shutil.copyfile(venv / TEMPLATE_DB, data / TEMPLATE_DB.name)
    port, token = _free_port(), secrets.token_hex(20)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_USERNAME": "moderator@example.com",
        "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LATEST_VERSION_CHECK": "false",  # no call to PyPI at start
        "COLLECT_ANALYTICS": "false",
    }
    command = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    command += ["--enable-legacy-api-token", "--log-level", "WARNING"]
    log = data / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=data)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        _wait_healthy(url, proc, log)
        print(f"Label Studio healthy after {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield Server(url, token, python)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


SCORES = {  # comment id -> scores; flagged at THRESHOLD
    "c1": (0.92, 0.10, 0.05),
    "c2": (0.30, 0.75, 0.20),
    "c3": (0.55, 0.60, 0.70),
    "c4": (0.40, 0.05, 0.90),
    "c5": (0.01, 0.02, 0.03),
}


def _scored_row(cid: str, scores: tuple[float, float, float]) -> dict[str, Any]:
    record = InputRecord(
        id=cid,
        text=f"comentariul {cid}: „așa ceva”",
        source="in.jsonl",
        location=f"in.jsonl:{cid}",
        article_title=f"Articolul despre {cid}",
        meta={"lang": "ro"},
    )
    flags = {label: s >= THRESHOLD for label, s in zip(LABELS, scores, strict=True)}
    return output_row(
        record, Result(cid, dict(zip(LABELS, scores, strict=True)), flags, any(flags.values())), MODEL_ID
    )


def _write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    scored = tmp_path / "scored.jsonl"
    scored.write_text(
        "".join(json.dumps(_scored_row(c, s)) + "\n" for c, s in SCORES.items()), encoding="utf-8"
    )
    original = tmp_path / "in.jsonl"
    rows = [{"id": cid, "text": "-", "article_text": f"Textul articolului {cid}."} for cid in SCORES]
    original.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return scored, original


# what the moderator answers (a label left out stays open); c3 is cancelled, c4 left unannotated
ANSWERS = [
    {"comment_id": "c1", "result": {"abusive": "yes", "mocking": "no", "off_topic": "no"}},
    {"comment_id": "c2", "result": {"abusive": "yes", "mocking": "yes"}},
    {"comment_id": "c3", "result": {"abusive": "no"}, "cancelled": True},
]


def _drive(server: Server, tmp_path: Path, tasks: Path, config: Path) -> dict[str, Any]:
    plan = {
        "url": server.url,
        "token": server.token,
        "config": str(config),
        "tasks": str(tasks),
        "answers": ANSWERS,
        "export": str(tmp_path / "export.json"),
    }
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    driver = Path(__file__).with_name("labelstudio_driver.py")
    done = subprocess.run(
        [str(server.python), str(driver), str(plan_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"driver failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tasks_through_label_studio_into_the_store(label_studio: Server, tmp_path: Path) -> None:
    scored, original = _write_inputs(tmp_path)
    tasks = tmp_path / "tasks.json"
    argv = ["labels", "export-tasks", "--scored", str(scored), "--out", str(tasks), "--n", "4"]
    assert main([*argv, "--strategy", "flagged", "--input", str(original)]) == 0
    summary = _drive(label_studio, tmp_path, tasks, tasks.with_suffix(".xml"))

    # the server took the config, the 4 tasks (c5: lowest top score, not picked) and their predictions
    assert (summary["task_count"], summary["prediction_count"]) == (4, 4)
    assert set(summary["tasks"]) == {"c1", "c2", "c3", "c4"}
    for cid, (prediction,) in summary["predictions"].items():
        assert prediction["model_version"] == MODEL_ID
        choices = {r["from_name"]: r["value"]["choices"] for r in prediction["result"]}
        assert choices == {
            label: ["yes" if s >= THRESHOLD else "no"] for label, s in zip(LABELS, SCORES[cid], strict=True)
        }

    with LabelStore(tmp_path / "labels.sqlite") as store:
        report = store.import_file(tmp_path / "export.json", "labelstudio")
        records = {r.id.removeprefix("label-store:"): r for r in store.records()}
        moderators = store.stats().moderators
    assert (report.imported, report.decisions, report.bad) == (2, 5, [])
    assert sorted(row.reason for row in report.skipped) == ["annotation cancelled", "task not annotated"]
    assert dict(records["c1"].labels) == {"abusive": 1, "mocking": 0, "off_topic": 0}
    assert dict(records["c2"].labels) == {"abusive": 1, "mocking": 1, "off_topic": None}
    assert set(records) == {"c1", "c2"}
    c2 = records["c2"]
    assert c2.text == "comentariul c2: „așa ceva”" and c2.lang == "ro"
    assert (c2.article_title, c2.article_text) == ("Articolul despre c2", "Textul articolului c2.")
    assert list(moderators) == ["ls-user:1"]
