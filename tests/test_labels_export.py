"""``commentmod labels export-tasks``: which comments to label next, as a Label Studio import file.

Offline: scored rows are built with the scorer's own row function (``serving.pipeline.output_row``);
the tasks are checked against Label Studio's documented import format and the labeling config, and
read back through the store's Label Studio importer. ``tests/test_labelstudio_server.py`` runs the
same round trip against a real Label Studio server.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from commentmod.model.labels import LABELS
from commentmod.model.manifest import Manifest
from commentmod.model.manifest_io import write_manifest
from commentmod.serving.cli import main
from commentmod.serving.pipeline import output_row
from commentmod.serving.readers import InputRecord
from commentmod.serving.result import Result, not_scored
from commentmod.training.labels import LabelStore, labeling_config
from commentmod.training.labels import scored as scored_module
from commentmod.training.labels.export_tasks import ExportOptions, ExportTasksError, export_tasks

THRESHOLDS = {"abusive": 0.5, "mocking": 0.3, "off_topic": 0.7}
MODEL_ID = "tiny@" + "a" * 12  # the id the scorer gives the artifact of ``artifact_dir``


def scored_row(
    cid: str | None,
    scores: tuple[float, float, float] | None,
    *,
    status: str = "ok",
    title: str | None = "Budget vote",
    lang: str | None = "ro",
    include_text: bool = True,
    model: str = MODEL_ID,
) -> dict[str, Any]:
    record = InputRecord(
        id=cid,
        text=f"comment {cid} ăîș" if status != "empty" else "",
        source="in.jsonl",
        location=f"in.jsonl:{cid}",
        article_title=title,
        meta={"lang": lang} if lang else {},
    )
    if scores is None:
        result = not_scored(
            cid, "error" if status == "error" else "empty", "broken" if status == "error" else None
        )
    else:
        flags = {label: s >= THRESHOLDS[label] for label, s in zip(LABELS, scores, strict=True)}
        result = Result(cid, dict(zip(LABELS, scores, strict=True)), flags, any(flags.values()))
    return output_row(record, result, model, include_text)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    """A manifest-only artifact: the thresholds and the model id, nothing to score with."""
    directory = tmp_path / "artifact"
    directory.mkdir()
    write_manifest(directory, Manifest(name="tiny", thresholds=THRESHOLDS, files={"model.onnx": "a" * 64}))
    return directory


SCORES = {
    "c1": (0.95, 0.05, 0.10),  # flagged abusive, far from every threshold
    "c2": (0.48, 0.01, 0.01),  # just under abusive's threshold
    "c3": (0.10, 0.31, 0.02),  # just over mocking's
    "c4": (0.02, 0.02, 0.69),  # just under off_topic's
    "c5": (0.60, 0.90, 0.99),  # flagged on all three
    "c6": (0.01, 0.01, 0.01),  # sure no
}


def scored_file(tmp_path: Path, **kw: Any) -> Path:
    return write_jsonl(tmp_path / "scored.jsonl", [scored_row(cid, s, **kw) for cid, s in SCORES.items()])


def run_export(tmp_path: Path, scored: Path, **kw: Any) -> tuple[list[dict[str, Any]], Any]:
    options = ExportOptions(scored=scored, out=tmp_path / "tasks.json", overwrite=True, **kw)
    report = export_tasks(options)
    tasks = json.loads(options.out.read_text(encoding="utf-8")) if report.tasks else []
    return tasks, report


def ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["data"]["comment_id"] for t in tasks]


def test_uncertainty_ranks_by_logit_distance_to_the_nearest_threshold(
    tmp_path: Path, artifact_dir: Path
) -> None:
    def distance(scores: tuple[float, ...]) -> float:
        lg = lambda p: math.log(p / (1 - p))  # noqa: E731
        return min(abs(lg(s) - lg(THRESHOLDS[label])) for label, s in zip(LABELS, scores, strict=True))

    expected = sorted(SCORES, key=lambda cid: distance(SCORES[cid]))
    tasks, report = run_export(tmp_path, scored_file(tmp_path), n=4, model_dir=artifact_dir)
    assert ids(tasks) == expected[:4]
    assert [t["data"]["rank"] for t in tasks] == [1, 2, 3, 4]
    assert (report.rows, report.candidates, report.tasks) == (6, 6, 4)


def test_flagged_first_by_top_score_then_unflagged(tmp_path: Path) -> None:
    tasks, _ = run_export(tmp_path, scored_file(tmp_path), n=10, strategy="flagged")
    # flagged: c5 (0.99), c1 (0.95), c3 (0.31 >= 0.3); then unflagged by top score: c4, c2, c6
    assert ids(tasks) == ["c5", "c1", "c3", "c4", "c2", "c6"]


def test_random_is_seeded_and_independent_of_row_order(tmp_path: Path) -> None:
    rows = [scored_row(f"r{i}", (0.1, 0.1, 0.1)) for i in range(40)]
    forward = write_jsonl(tmp_path / "forward.jsonl", rows)
    backward = write_jsonl(tmp_path / "backward.jsonl", rows[::-1])
    draw = lambda path, seed: ids(run_export(tmp_path, path, n=8, strategy="random", seed=seed)[0])  # noqa: E731
    first = draw(forward, 1)
    assert len(first) == len(set(first)) == 8
    assert draw(forward, 1) == first == draw(backward, 1)
    assert draw(forward, 2) != first
    assert sorted(draw(forward, 3)) != sorted(draw(forward, 4))


def test_skips_unscored_duplicate_and_idless_rows_and_reports_bad_lines(tmp_path: Path) -> None:
    rows: list[Any] = [
        scored_row("c1", (0.9, 0.1, 0.1)),
        scored_row("c1", (0.2, 0.1, 0.1)),  # the same id again: the first one counts
        scored_row("e1", None, status="error"),
        scored_row("e2", None, status="empty"),
        scored_row(None, (0.4, 0.1, 0.1)),
        "not json\n",
        json.dumps({"id": "x", "status": "ok", "scores": {"abusive": 0.2}, "flags": {}}) + "\n",
        "\n",
    ]
    tasks, report = run_export(tmp_path, write_jsonl(tmp_path / "s.jsonl", rows), strategy="flagged")
    assert ids(tasks) == ["c1"]
    assert tasks[0]["data"]["score_abusive"] == 0.9
    assert report.rows == 7
    assert report.skipped == {"id seen before": 1, "status error": 1, "status empty": 1, "no id": 1}
    assert len(report.bad) == 2
    assert "line 6" in report.bad[0] and "line 7" in report.bad[1] and "off_topic" in report.bad[1]


def _config_names(config: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    root = ET.fromstring(config)
    texts = {el.get("name", "") for el in root.iter("Text")}
    choices = {
        el.get("name", ""): {c.get("value", "") for c in el.iter("Choice")} for el in root.iter("Choices")
    }
    for el in root.iter("Choices"):
        assert el.get("toName") in texts
    variables = {m.group(1) for m in re.finditer(r'value="\$(\w+)"', config)}
    return texts, choices, variables


def test_tasks_follow_label_studio_import_format_and_the_labeling_config(
    tmp_path: Path, artifact_dir: Path
) -> None:
    tasks, _ = run_export(tmp_path, scored_file(tmp_path), n=6, model_dir=artifact_dir)
    config = (tmp_path / "tasks.xml").read_text(encoding="utf-8")
    assert config == labeling_config()
    texts, choices, variables = _config_names(config)
    assert set(choices) == set(LABELS) and variables == {"text", "article_title"}
    for task in tasks:
        # Label Studio's basic JSON import format:
        # {"data": {...}, "predictions": [{"model_version": ..., "score": ..., "result": [...]}]}
        assert set(task) == {"data", "predictions"}
        data = task["data"]
        assert variables <= set(data) and all(isinstance(data[v], str) for v in variables)
        assert data["text"] == f"comment {data['comment_id']} ăîș" and data["lang"] == "ro"
        (pred,) = task["predictions"]
        assert pred["model_version"] == MODEL_ID
        assert 0.0 <= pred["score"] <= 1.0
        answered = {}
        for item in pred["result"]:
            assert item["type"] == "choices" and item["to_name"] in texts
            (choice,) = item["value"]["choices"]
            assert choice in choices[item["from_name"]]
            answered[item["from_name"]] = choice
        scores = SCORES[data["comment_id"]]
        assert answered == {
            label: "yes" if s >= THRESHOLDS[label] else "no" for label, s in zip(LABELS, scores, strict=True)
        }
        assert [data[f"score_{label}"] for label in LABELS] == list(scores)
        # the score is the model's confidence in its least certain answer
        assert pred["score"] == pytest.approx(
            min(s if answered[label] == "yes" else 1 - s for label, s in zip(LABELS, scores, strict=True))
        )


def test_annotated_tasks_import_into_the_store(tmp_path: Path) -> None:
    """Offline stand-in for the server round trip: each prediction accepted as the annotation."""
    tasks, _ = run_export(tmp_path, scored_file(tmp_path), strategy="flagged")
    export = [
        {
            "id": i,
            "data": t["data"],
            "annotations": [{"completed_by": 7, "result": t["predictions"][0]["result"]}],
        }
        for i, t in enumerate(tasks, 1)
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    with LabelStore(tmp_path / "labels.sqlite") as store:
        report = store.import_file(path, "labelstudio")
        records = {r.id.removeprefix("label-store:"): r for r in store.records()}
    assert report.imported == len(SCORES) and not report.bad
    for cid, scores in SCORES.items():
        expected = {label: int(s >= THRESHOLDS[label]) for label, s in zip(LABELS, scores, strict=True)}
        assert dict(records[cid].labels) == expected
        assert (records[cid].article_title, records[cid].lang) == ("Budget vote", "ro")


def test_no_text_rows_take_text_title_and_article_from_the_input(tmp_path: Path) -> None:
    scored = scored_file(tmp_path, include_text=False, title=None)
    with pytest.raises(ExportTasksError, match="--input"):
        run_export(tmp_path, scored, strategy="flagged")
    original = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": cid, "text": f"text of {cid}", "article_title": "T", "article_text": f"article {cid}"}
            for cid in SCORES
            if cid != "c6"  # missing: its task is dropped and counted
        ],
    )
    tasks, report = run_export(tmp_path, scored, strategy="flagged", inputs=(str(original),))
    assert ids(tasks) == ["c5", "c1", "c3", "c4", "c2"]
    assert report.skipped["text not found in --input"] == 1
    for task in tasks:
        cid = task["data"]["comment_id"]
        assert task["data"]["text"] == f"text of {cid}"
        assert (task["data"]["article_title"], task["data"]["article_text"]) == ("T", f"article {cid}")


def test_uncertainty_needs_the_model_and_the_model_must_match(tmp_path: Path, artifact_dir: Path) -> None:
    with pytest.raises(ExportTasksError, match="--model"):
        run_export(tmp_path, scored_file(tmp_path))
    other = write_jsonl(
        tmp_path / "other.jsonl", [scored_row("c1", (0.5, 0.5, 0.5), model="big@0123456789ab")]
    )
    with pytest.raises(ExportTasksError, match=r"scored by big@0123456789ab.*pass the artifact"):
        run_export(tmp_path, other, model_dir=artifact_dir)


def test_skip_store_leaves_out_decided_comments(tmp_path: Path) -> None:
    decisions = write_jsonl(tmp_path / "d.jsonl", [{"id": "c5", "text": "x", "abusive": 1}])
    with LabelStore(tmp_path / "labels.sqlite") as store:
        store.import_file(decisions, "jsonl")
    tasks, report = run_export(
        tmp_path, scored_file(tmp_path), n=2, strategy="flagged", skip_store=tmp_path / "labels.sqlite"
    )
    assert ids(tasks) == ["c1", "c3"]
    assert report.skipped["already in the label store"] == 1


def test_cli_exit_codes_outputs_and_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored = scored_file(tmp_path)
    out = tmp_path / "next" / "tasks.json"
    out.parent.mkdir()
    argv = ["labels", "export-tasks", "--scored", str(scored), "--out", str(out), "--n", "3"]
    assert main([*argv, "--strategy", "random", "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    assert "tasks: 3 of 6 candidate(s), strategy random (seed 5)" in printed
    assert f"model_version: {MODEL_ID}" in printed
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 3
    assert (out.parent / "tasks.xml").read_text(encoding="utf-8") == labeling_config()

    assert main([*argv, "--strategy", "flagged"]) == 2  # the files exist
    assert "--overwrite" in capsys.readouterr().err
    config = tmp_path / "config.xml"
    assert main([*argv, "--strategy", "flagged", "--overwrite", "--config-out", str(config)]) == 0
    assert ids(json.loads(out.read_text(encoding="utf-8"))) == ["c5", "c1", "c3"] and config.is_file()

    assert main([*argv, "--strategy", "uncertainty", "--overwrite"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["labels", "export-tasks", "--scored", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2

    unusable = write_jsonl(tmp_path / "errors.jsonl", [scored_row("e", None, status="error")])
    fresh = tmp_path / "fresh.json"
    assert (
        main(
            ["labels", "export-tasks", "--scored", str(unusable), "--out", str(fresh), "--strategy", "random"]
        )
        == 1
    )
    assert not fresh.exists() and not fresh.with_suffix(".xml").exists()


def test_real_scorer_output(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    """``commentmod score`` output of the tiny artifact -> tasks whose model_version is the scorer's id."""
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": f"k{i}", "text": f"comentariu numărul {i}", "article_title": "Știri"} for i in range(12)]
        + [{"id": "blank", "text": ""}],
    )
    scored = tmp_path / "scored.jsonl"
    assert (
        main(["score", str(src), "--model", str(tiny_artifact_dir), "--out", str(scored), "--no-progress"])
        == 0
    )
    model_ids = {json.loads(line)["model"] for line in scored.read_text(encoding="utf-8").splitlines()}
    tasks, report = run_export(tmp_path, scored, n=5, model_dir=tiny_artifact_dir)
    assert report.skipped == {"status empty": 1} and len(tasks) == 5
    assert {t["predictions"][0]["model_version"] for t in tasks} == model_ids
    assert all(t["data"]["article_title"] == "Știri" for t in tasks)


@pytest.mark.parametrize("strategy", ["uncertainty", "flagged", "random"])
def test_selection_does_not_depend_on_the_chunk_size(
    strategy: str, tmp_path: Path, artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [scored_row(f"r{i}", ((i * 37 % 101) / 101, (i * 11 % 13) / 13, 0.5)) for i in range(30)]
    scored = write_jsonl(tmp_path / "s.jsonl", rows)
    whole = ids(run_export(tmp_path, scored, n=7, strategy=strategy, model_dir=artifact_dir)[0])
    monkeypatch.setattr(scored_module, "CHUNK", 4)
    assert ids(run_export(tmp_path, scored, n=7, strategy=strategy, model_dir=artifact_dir)[0]) == whole
