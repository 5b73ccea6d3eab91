"""Every package folder is installed: pyproject's explicit package list matches the tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"model": "commentmod.model", "training": "commentmod.training", "serving": "commentmod.serving"}


def _package_folders() -> set[str]:
    found = set()
    for folder, dotted in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([dotted, *rel.parts]))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    missing = sorted(_package_folders() - listed)
    stale = sorted(listed - _package_folders())
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    assert not stale, f"listed in pyproject.toml but no such package folder: {stale}"


def test_package_data_files_exist() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        top, *rest = package.split(".")[1:]
        folder = REPO.joinpath(top, *rest)
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: no file matches {pattern} in {folder}"
