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
