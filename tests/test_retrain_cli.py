"""``commentmod retrain``'s refusals before any fitting: each says what is wrong and what to do."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from commentmod.serving.cli import main


@pytest.fixture
def store(tmp_path: Path) -> Path:
    from commentmod.training.labels import LabelStore

    path = tmp_path / "decisions.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "article_id", "abusive"])
        writer.writerows([f"c{i}", f"comment {i}", f"a{i // 4}", i % 2] for i in range(200))
    with LabelStore(tmp_path / "labels.sqlite") as s:
        s.import_file(path, "csv")
    return tmp_path / "labels.sqlite"


def retrain(tiny_run_dir: Path, store: Path, out: Path, *extra: str) -> list[str]:
    return ["retrain", "--from", str(tiny_run_dir), "--labels", str(store), "--out", str(out), *extra]


def test_refusals_name_the_problem(
    tiny_run_dir: Path, store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    out = tmp_path / "child"
    # the tiny run records no data build
    assert main(retrain(tiny_run_dir, store, out)) == 1
    assert "cannot find the data build" in caplog.text and "pass --base-data DIR" in caplog.text
    caplog.clear()
    assert main(retrain(tiny_run_dir, store, out, "--base-data", str(tmp_path))) == 1
    assert "is not a data build" in caplog.text
    caplog.clear()
    assert main(retrain(tiny_run_dir, tmp_path / "missing.sqlite", out)) == 1
    assert "does not exist; create it with `commentmod labels import`" in caplog.text
    caplog.clear()
    out.mkdir()
    (out / "x").write_text("x", encoding="utf-8")
    assert main(retrain(tiny_run_dir, store, out)) == 1
    assert "exists and is not empty" in caplog.text
    caplog.clear()
    assert main(retrain(tiny_run_dir, store, tmp_path / "c2", "--replay-rows", "0")) == 1
    assert "--replay-rows is 0" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child", "decisions.csv", "labels.sqlite"]


def test_bad_split_is_an_argument_error(tiny_run_dir: Path, store: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(retrain(tiny_run_dir, store, tmp_path / "c", "--split", "0.8,0.2"))
    assert exc.value.code == 2
