"""The export's runtime plans (training/export/openvino_plans.py): OpenVINO bf16 and NNCF int8 on the
tiny model, gated and timed, recorded in ``runtime_plans``; the artifact keeps the files of the plans
that passed and the Scorer runs them. Skipped without the ``openvino`` extra (and nncf).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commentmod.model.errors import ManifestError
from commentmod.model.manifest import MANIFEST_NAME
from commentmod.model.manifest_io import read_manifest
from commentmod.serving import Scorer
from commentmod.serving.artifact_check import weights_file
from commentmod.serving.backends import NoRuntimePlanError, choose_plan, cpu_capabilities

pytestmark = pytest.mark.export
BOTH = {"onnxruntime", "openvino"}
ITEMS = [
    ("Ești un cretin, taci din gură.", "Primăria a aprobat bugetul", "Consiliul local a votat."),
    ("hello", None, None),
    ("Сдохни, тварь. " * 40, "Заголовок", None),  # several windows
]


# --------------------------------------------------------------------------- the export's plans


def _export(run: Path, out: Path, **options: Any) -> Path:
    from commentmod.training.export.artifact import ExportOptions, export_artifact

    export_artifact(run, out, ExportOptions(name="tiny-ov", **options))
    return out


@pytest.fixture(scope="module")
def ov_artifact(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported with OpenVINO plans (int8 model.onnx, no --keep-fp32), built once."""
    pytest.importorskip("openvino", reason="OpenVINO plans: pip install 'commentmod[openvino]'")
    pytest.importorskip("nncf", reason="OpenVINO int8 plan: nncf (the [train] extra)")
    return _export(tiny_run_dir, tmp_path_factory.mktemp("ov-artifact") / "tiny-ov")


def test_export_records_every_plan_and_keeps_the_passing_files(ov_artifact: Path) -> None:
    manifest = read_manifest(ov_artifact, verify=True)  # every listed file's sha256
    plans = {p.key: p for p in manifest.runtime_plans}
    assert set(plans) == {"onnxruntime:int8", "openvino:bf16", "openvino:ov-int8"}
    names = {p.name for p in ov_artifact.iterdir()}
    for plan in plans.values():
        assert plan.measured_on and plan.note
        if plan.comments_per_s is None:  # not measured: the CPU has no bf16 units
            assert plan.key == "openvino:bf16" and not plan.passed and "bf16" not in cpu_capabilities()
            continue
        assert plan.comments_per_s > 0 and plan.max_abs_dp is not None and plan.flag_agreement is not None
        assert plan.passed == (plan.max_abs_dp <= 0.03 and plan.flag_agreement >= 0.99)
    assert plans["onnxruntime:int8"].passed and plans["onnxruntime:int8"].file == "model.onnx"
    ov_int8 = plans["openvino:ov-int8"]
    assert ov_int8.file == "model.ov-int8.xml" and ov_int8.precision == "int8"
    assert ({"model.ov-int8.xml", "model.ov-int8.bin"} <= names) == ov_int8.passed
    assert ({"model.ov-int8.xml", "model.ov-int8.bin"} <= set(manifest.files)) == ov_int8.passed
    bf16 = plans["openvino:bf16"]
    assert (bf16.file, bf16.requires, bf16.precision_hint) == ("model.fp32.onnx", ("bf16",), "bf16")
    assert ("model.fp32.onnx" in names) == bf16.passed  # kept only because the bf16 plan runs it
    if bf16.passed:
        assert manifest.extra["variants"]["model.fp32.onnx"] == "fp32"


def test_scorer_runs_the_chosen_plan(ov_artifact: Path) -> None:
    manifest = read_manifest(ov_artifact)
    ort = Scorer.load(ov_artifact, backend="onnxruntime")
    auto = Scorer.load(ov_artifact)
    expected = choose_plan(manifest.runtime_plans, "auto", BOTH, cpu_capabilities(), manifest.quantization)
    assert auto.runtime == expected and f"runtime='{auto.runtime.backend} " in repr(auto)
    passing = [p for p in manifest.runtime_plans if p.backend == "openvino" and p.passed]
    if not passing:
        pytest.skip("no OpenVINO plan passed on this CPU")
    for plan in passing:
        scorer = Scorer.load(ov_artifact, backend="openvino", plan=plan.plan)
        assert scorer.runtime == plan and scorer.session is None and scorer.backend.name == "openvino"
        assert scorer.model_id != ort.model_id  # the served graph is another file
        delta = np.abs(scorer.probabilities(ITEMS) - ort.probabilities(ITEMS)).max()
        assert delta < 0.05
        results = scorer.score([{"id": "a", "text": ITEMS[0][0]}, ""])
        assert [r.status for r in results] == ["ok", "empty"]


def test_a_plan_file_is_hashed_only_when_loaded(ov_artifact: Path, tmp_path: Path) -> None:
    manifest = read_manifest(ov_artifact)
    plan = next((p for p in manifest.runtime_plans if p.backend == "openvino" and p.passed), None)
    if plan is None:
        pytest.skip("no OpenVINO plan passed on this CPU")
    art = Path(shutil.copytree(ov_artifact, tmp_path / "art"))
    weights = art / weights_file(plan.file)
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    Scorer.load(art, backend="onnxruntime")  # the OpenVINO files are not loaded, not hashed
    with pytest.raises(ManifestError, match="sha256"):
        Scorer.load(art, backend="openvino", plan=plan.plan)


def test_nothing_openvino_passes_leaves_the_artifact_as_today(
    tiny_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino", reason="OpenVINO plans: pip install 'commentmod[openvino]'")
    pytest.importorskip("nncf", reason="OpenVINO int8 plan: nncf (the [train] extra)")

    from commentmod.training.export import openvino_plans

    real = openvino_plans.judge_plan

    def failing(plan, *args, **kwargs):  # type: ignore[no-untyped-def]
        report = real(plan, *args, **kwargs)
        return replace(report, passed=False) if plan.name.startswith("openvino") else report

    monkeypatch.setattr(openvino_plans, "judge_plan", failing)
    art = _export(tiny_run_dir, tmp_path / "art", openvino_calibration_windows=8)
    assert {p.name for p in art.iterdir()} == {
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
        "MODEL_CARD.md",
        MANIFEST_NAME,
        MANIFEST_NAME + ".sha256",
    }
    plans = read_manifest(art, verify=True).runtime_plans
    assert [(p.key, p.passed) for p in plans] == [
        ("onnxruntime:int8", True),
        ("openvino:bf16", False),
        ("openvino:ov-int8", False),
    ]
    assert Scorer.load(art).runtime.backend == "onnxruntime"
    with pytest.raises(NoRuntimePlanError, match="its gate failed"):
        Scorer.load(art, backend="openvino")
