"""``commentmod models list DIR``: artifacts with version, parent, date and headline metrics, read from
their manifests alone (written here with ``write_manifest``; no model files are needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from commentmod.model.manifest import Manifest
from commentmod.model.manifest_io import write_manifest
from commentmod.serving.cli import main
from commentmod.serving.cli_models import find_artifacts, list_artifacts


def artifact(directory: Path, name: str, created: str, lineage: dict | None = None) -> Path:
    directory.mkdir(parents=True)
    extra = {"lineage": lineage} if lineage is not None else {}
    write_manifest(directory, Manifest(name=name, extra=extra, created_at=created))
    return directory


LINEAGE = {
    "model_id": "cm-222222222222",
    "version": 2,
    "parent_id": "cm-111111111111",
    "parent_version": 1,
    "label_snapshot": "ab" * 32,
    "metrics": {"base_test": {"abusive": 0.9123, "mocking": None}, "new_test": {"abusive": 0.88}},
}


@pytest.fixture
def models(tmp_path: Path) -> Path:
    artifact(tmp_path / "base", "site", "2026-01-01T10:00:00+00:00")
    artifact(tmp_path / "runs" / "site-v2" / "artifact", "site", "2026-02-01T10:00:00+00:00", LINEAGE)
    artifact(tmp_path / ".partial-1", "hidden", "2026-03-01T10:00:00+00:00")  # an export's partial work
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "commentmod.json").write_text("{not json", encoding="utf-8")
    return tmp_path


def test_lists_versions_parents_dates_and_headlines(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert [p.relative_to(models).as_posix() for p in find_artifacts(models)] == [
        "base",
        "broken",
        "runs/site-v2/artifact",
    ]
    rows = list_artifacts(models)
    assert [(r.name, r.version) for r in rows] == [("", None), ("site", 1), ("site", 2)]
    assert "not valid JSON" in rows[0].problem
    assert rows[1].parent == "" and rows[1].headline() == "-"
    assert rows[2].headline() == "base abusive 0.912 · new abusive 0.880"

    assert main(["models", "list", str(models)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "version", "id", "parent", "date"]
    assert lines[1].startswith("?") and "unreadable" in lines[1]
    assert lines[2].split()[:5] == ["site", "1", "-", "-", "2026-01-01T10:00:00+00:00"]
    assert lines[3].split()[:4] == ["site", "2", "cm-222222222222", "cm-111111111111"]
    assert lines[3].endswith(str(models / "runs" / "site-v2" / "artifact"))

    assert main(["models", "list", str(models), "--json"]) == 0
    rows_json = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows_json[2]["metrics"]["base_test"]["abusive"] == 0.9123 and rows_json[2]["version"] == 2


def test_a_changed_manifest_is_shown_unreadable(models: Path) -> None:
    path = models / "base" / "commentmod.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"site"', '"other"'), encoding="utf-8")
    row = next(r for r in list_artifacts(models) if r.path.endswith("base"))
    assert "changed or corrupted" in row.problem


def test_empty_and_missing_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", str(tmp_path)]) == 0
    assert "no artifacts" in capsys.readouterr().out
    assert main(["models", "list", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_models_list_loads_no_training_stack(models: Path) -> None:
    code = (
        "import sys; from commentmod.serving.cli import main; main(['models', 'list', sys.argv[1]]); "
        "bad = [m for m in ('torch', 'sklearn', 'transformers', 'commentmod.training') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(models)], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
