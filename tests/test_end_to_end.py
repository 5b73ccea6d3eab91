"""The whole pipeline at test size: data build (starter) -> train (quick.yaml, tiny encoder, few steps)
-> evaluate -> export (parity + int8 gates) -> score the examples/ dumps, all through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commentmod.serving.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.export  # exports with the int8 gate itself (not through tiny_artifact_dir)
def test_quick_pipeline_end_to_end(tiny_base: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    catalog = str(REPO / "configs" / "data.yaml")
    assert main(["data", "build", "--config", catalog, "--sources", "starter", "--out", str(data)]) == 0
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            str(REPO / "configs" / "quick.yaml"),
            "--base",
            str(tiny_base),
            "--data",
            str(data),
            "--out",
            str(run),
            "--max-steps",
            "4",
            "--no-progress",
        ]
    )
    assert code == 0
    info = json.loads((run / "commentmod_run.json").read_text(encoding="utf-8"))
    assert set(info["thresholds"]) == {"abusive", "mocking", "off_topic"}
    assert info["data_sources"] and info["data_sources"][0]["licence"] == "MIT"

    report = tmp_path / "report"
    assert (
        main(["evaluate", "--model", str(run), "--data", str(data), "--split", "test", "--out", str(report)])
        == 0
    )
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics  # per label x language x source cells, transformer and baseline
    assert (report / "EVALUATION.md").is_file() and (run / "MODEL_CARD.md").is_file()

    artifact = tmp_path / "artifact"
    assert main(["export", "--model", str(run), "--out", str(artifact), "--validation-data", str(data)]) == 0
    manifest = json.loads((artifact / "commentmod.json").read_text(encoding="utf-8"))
    assert {"model.onnx", "tokenizer.json", "MODEL_CARD.md"} <= set(manifest["files"])

    out = tmp_path / "scored.jsonl"
    capsys.readouterr()
    assert (
        main(["score", str(REPO / "examples"), "--model", str(artifact), "--out", str(out), "--table"]) == 0
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 21 and all(r["status"] in ("ok", "empty") for r in rows)
    assert "Flagged comments" in capsys.readouterr().out
