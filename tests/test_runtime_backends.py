"""Runtime backends and plans (issue 15): which plan runs (pure functions of plans x installed backends
x CPU flags), the ONNX Runtime backend against today's Scorer, OpenVINO fp32/bf16 against ONNX Runtime
on the tiny model, the manifest's ``runtime_plans`` with and without them, ``--backend`` on the
command line. The export's OpenVINO plans: tests/test_openvino_plans.py.

The OpenVINO tests skip without the ``openvino`` extra (``pip install 'commentmod[openvino]'``);
``make venv`` installs it, so CI runs them.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commentmod.model.errors import ManifestError
from commentmod.model.manifest import MANIFEST_NAME, Manifest
from commentmod.model.manifest_io import read_manifest, seal_manifest
from commentmod.model.numeric import pad_windows
from commentmod.model.runtime_plans import RuntimePlan
from commentmod.serving import Scorer
from commentmod.serving.artifact_check import model_digest, weights_file
from commentmod.serving.backends import (
    BackendUnavailableError,
    NoRuntimePlanError,
    RuntimeChoiceError,
    backend_logits,
    capabilities_from_flags,
    capabilities_from_openvino,
    choose_plan,
    cpu_capabilities,
    default_plan,
)
from commentmod.serving.backends import choose as choose_mod
from commentmod.serving.backends.cpu import cpu_model_name
from commentmod.serving.backends.ort_backend import OrtBackend
from commentmod.serving.cli import build_parser, main
from commentmod.serving.onnx_session import make_session, window_logits

SHA = "0" * 64
ORT_INT8 = RuntimePlan("onnxruntime", "int8", "model.onnx", "int8", passed=True, comments_per_s=116.0)
OV_BF16 = RuntimePlan(
    "openvino", "bf16", "model.fp32.onnx", "bf16", "bf16", ("bf16",), passed=True, comments_per_s=205.0
)
OV_INT8_FAILED = RuntimePlan(
    "openvino", "ov-int8", "model.ov-int8.xml", "int8", "f32", passed=False, comments_per_s=300.0, note="x"
)
PLANS = (ORT_INT8, OV_BF16, OV_INT8_FAILED)
BOTH = {"onnxruntime", "openvino"}
ITEMS = [
    ("Ești un cretin, taci din gură.", "Primăria a aprobat bugetul", "Consiliul local a votat."),
    ("hello", None, None),
    ("Сдохни, тварь. " * 40, "Заголовок", None),  # several windows
    ("Sure, because that worked so well last time 🙄", "Council approves lanes", ""),
]


# --------------------------------------------------------------------------- CPU capabilities


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni {extra}

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni {extra}
"""


@pytest.mark.parametrize(
    ("extra", "bf16"), [("amx_bf16 amx_int8 amx_tile", True), ("avx512_bf16", True), ("", False)]
)
def test_bf16_is_read_from_cpuinfo_flags(extra: str, bf16: bool) -> None:
    caps = capabilities_from_flags(CPUINFO.format(extra=extra))
    assert ("bf16" in caps) is bf16
    assert {"avx2", "avx512_vnni"} <= caps and "GenuineIntel" not in caps
    assert ("bf16" in capabilities_from_flags("fpu avx2 " + extra)) is bf16  # a bare flags list


def test_arm_features_line_and_openvino_capabilities() -> None:
    assert "bf16" in capabilities_from_flags("processor : 0\nFeatures : fp asimd sve bf16 i8mm\n")
    assert capabilities_from_openvino(["FP32", "BF16", "INT8"]) == {"bf16"}
    assert capabilities_from_openvino(["FP32", "INT8"]) == frozenset()
    assert cpu_model_name(CPUINFO.format(extra="")) == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu_model_name("no model here")  # the platform's answer, never empty


# --------------------------------------------------------------------------- choosing a plan


@pytest.mark.parametrize(
    ("installed", "cpu", "expected"),
    [
        (BOTH, {"bf16"}, OV_BF16),  # the fastest passing plan that runs here
        ({"onnxruntime"}, {"bf16"}, ORT_INT8),  # no OpenVINO installed
        (BOTH, set(), ORT_INT8),  # no bf16 units: the bf16 plan is out
        ({"onnxruntime"}, set(), ORT_INT8),
    ],
)
def test_auto_picks_the_fastest_gated_plan_that_runs_here(
    installed: set[str], cpu: set[str], expected: RuntimePlan
) -> None:
    assert choose_plan(PLANS, "auto", installed, cpu, "int8 x") == expected


def test_auto_never_picks_a_failed_plan_and_falls_back_to_model_onnx() -> None:
    ov_int8 = RuntimePlan(
        "openvino", "ov-int8", "model.ov-int8.xml", "int8", passed=True, comments_per_s=300.0
    )
    assert choose_plan((*PLANS[:2], ov_int8), "auto", BOTH, {"bf16"}) == ov_int8
    assert choose_plan(PLANS, "auto", BOTH, {"bf16"}) != OV_INT8_FAILED  # failed although fastest
    unmeasured = RuntimePlan("openvino", "x", "x.xml", "int8", passed=True)  # no speed: counts slowest
    assert choose_plan((ORT_INT8, unmeasured), "auto", BOTH, set()) == ORT_INT8
    for old in ((), (OV_INT8_FAILED,)):  # an artifact exported before runtime plans / nothing passed
        got = choose_plan(old, "auto", BOTH, {"bf16"}, "int8 dynamic per-channel")
        assert (got.backend, got.file, got.precision) == ("onnxruntime", "model.onnx", "int8")
    assert choose_plan((), "auto", BOTH, set(), "none").precision == "fp32"


def test_explicit_backends_and_named_plans() -> None:
    assert choose_plan(PLANS, "onnxruntime", BOTH, {"bf16"}) == ORT_INT8  # though OpenVINO is faster
    assert choose_plan(PLANS, "openvino", BOTH, {"bf16"}) == OV_BF16
    assert choose_plan(PLANS, "auto", BOTH, {"bf16"}, plan_name="int8") == ORT_INT8
    assert choose_plan((), "onnxruntime", BOTH, set(), "none", plan_name="fp32").file == "model.onnx"
    with pytest.raises(NoRuntimePlanError, match=r"'ov-int8' cannot run here: its gate failed"):
        choose_plan(PLANS, "openvino", BOTH, {"bf16"}, plan_name="ov-int8")
    with pytest.raises(NoRuntimePlanError, match=r"no runtime plan 'fp16'.*onnxruntime:int8"):
        choose_plan(PLANS, "auto", BOTH, {"bf16"}, plan_name="fp16")
    with pytest.raises(RuntimeChoiceError, match="not one of auto, onnxruntime, openvino"):
        choose_plan(PLANS, "tensorrt", BOTH, set())


def test_openvino_asked_for_but_missing_or_without_a_plan_says_what_to_do() -> None:
    with pytest.raises(
        BackendUnavailableError, match=r"pip install 'commentmod\[openvino\]'.*--backend onnx"
    ):
        choose_plan(PLANS, "openvino", {"onnxruntime"}, {"bf16"})
    with pytest.raises(NoRuntimePlanError) as err:
        choose_plan(PLANS, "openvino", BOTH, set())  # the bf16 plan needs bf16 units
    message = str(err.value)
    assert "openvino:bf16 (this CPU lacks bf16)" in message and "openvino:ov-int8 (its gate failed" in message
    assert "--backend onnxruntime" in message
    with pytest.raises(NoRuntimePlanError, match="none recorded"):
        choose_plan((), "openvino", BOTH, {"bf16"})


def test_default_plan_of_model_files() -> None:
    assert default_plan("int8 plan").plan == "int8" and default_plan("none").precision == "fp32"
    fp32 = default_plan("int8 plan", "model.fp32.onnx")
    assert (fp32.backend, fp32.plan, fp32.file, fp32.precision) == (
        "onnxruntime",
        "fp32",
        "model.fp32.onnx",
        "fp32",
    )


# --------------------------------------------------------------------------- the manifest


def _manifest_data(**changes: Any) -> dict[str, Any]:
    files = {"model.onnx": SHA, "tokenizer.json": SHA, "model.ov-int8.xml": SHA, "model.ov-int8.bin": SHA}
    data = Manifest(name="t", files=files, runtime_plans=PLANS).to_dict()
    data.update(changes)
    return json.loads(json.dumps(data))


def test_manifest_round_trips_runtime_plans_and_old_manifests_stay_valid() -> None:
    data = _manifest_data()
    assert data["runtime_plans"][1]["requires"] == ["bf16"]
    manifest = Manifest.from_dict(data)
    assert manifest.runtime_plans == PLANS
    assert json.loads(json.dumps(manifest.to_dict())) == data
    old = {k: v for k, v in data.items() if k != "runtime_plans"}  # exported before runtime plans
    assert Manifest.from_dict(old).runtime_plans == ()


def _plan_data(**changes: Any) -> list[dict[str, Any]]:
    plans = _manifest_data()["runtime_plans"]
    plans[1].update(changes)
    return plans


@pytest.mark.parametrize(
    ("plans", "field_name"),
    [
        ({"a": 1}, "runtime_plans"),
        ([5], "runtime_plans[0]"),
        (_plan_data(backend="tensorrt"), "runtime_plans[1].backend"),
        (_plan_data(precision="fp16"), "runtime_plans[1].precision"),
        (_plan_data(precision_hint="f16"), "runtime_plans[1].precision_hint"),
        (_plan_data(requires="bf16"), "runtime_plans[1].requires"),
        (_plan_data(requires=[1]), "runtime_plans[1].requires"),
        (_plan_data(passed="yes"), "runtime_plans[1].passed"),
        (_plan_data(comments_per_s=math.nan), "runtime_plans[1].comments_per_s"),
        (_plan_data(comments_per_s=-1.0), "runtime_plans[1].comments_per_s"),
        (_plan_data(flag_agreement=1.5), "runtime_plans[1].flag_agreement"),
        (_plan_data(max_abs_dp="0.01"), "runtime_plans[1].max_abs_dp"),
        (_plan_data(file="../outside.onnx"), "runtime_plans[1].file"),
        (_plan_data(file=""), "runtime_plans[1].file"),
        (_plan_data(speed=3), "runtime_plans[1]"),
        (_plan_data(backend="onnxruntime", plan="int8"), "runtime_plans[1]"),  # listed twice
    ],
)
def test_bad_runtime_plans_are_refused_naming_the_field(plans: Any, field_name: str) -> None:
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict(_manifest_data(runtime_plans=plans))
    assert f"field {field_name!r}" in str(err.value) and "re-export" in str(err.value)


def test_ir_files_are_variants_of_their_xml() -> None:
    assert weights_file("model.ov-int8.xml") == "model.ov-int8.bin"
    assert weights_file("model.onnx") == "model.onnx.data"
    manifest = Manifest.from_dict(_manifest_data())
    assert model_digest(manifest, "model.ov-int8.xml") != model_digest(manifest, "model.onnx")


# --------------------------------------------------------------------------- ONNX Runtime backend


def test_ort_backend_is_todays_scorer(tiny_artifact_dir: Path) -> None:
    today = Scorer.load(tiny_artifact_dir, backend="onnxruntime")
    auto = Scorer.load(tiny_artifact_dir)  # no runtime_plans: ONNX Runtime on model.onnx, as before
    assert read_manifest(tiny_artifact_dir).runtime_plans == ()
    for scorer in (today, auto):
        assert (scorer.runtime.backend, scorer.runtime.file, scorer.runtime.precision) == (
            "onnxruntime",
            "model.onnx",
            "int8",
        )
        assert isinstance(scorer.backend, OrtBackend) and scorer.session is not None
        assert "runtime='onnxruntime int8 (model.onnx, int8)'" in repr(scorer)
    np.testing.assert_array_equal(today.probabilities(ITEMS), auto.probabilities(ITEMS))
    # the backend path (serving.backends) computes exactly what the session path did
    session = make_session(tiny_artifact_dir / "model.onnx", threads=1)
    windows = today.encode(ITEMS)
    expected = window_logits(session, windows, 3, today.special.pad)
    got = backend_logits(OrtBackend(session), windows, 3, today.special.pad)
    np.testing.assert_array_equal(got, expected)


def test_fp32_variant_and_model_id_unchanged(tiny_artifact_dir: Path) -> None:
    fp32 = Scorer.load(tiny_artifact_dir, model_file="model.fp32.onnx")
    assert (fp32.runtime.plan, fp32.runtime.file) == ("fp32", "model.fp32.onnx")
    files = read_manifest(tiny_artifact_dir).files
    assert fp32.model_id.endswith(model_digest(read_manifest(tiny_artifact_dir), "model.fp32.onnx")[:12])
    assert files["model.fp32.onnx"]
    with pytest.raises(RuntimeChoiceError, match="model_file"):
        Scorer.load(tiny_artifact_dir, model_file="model.fp32.onnx", backend="openvino")


def test_openvino_without_a_plan_or_without_openvino_is_a_clear_error(
    tiny_artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "openvino" in choose_mod.installed_backends():
        with pytest.raises(NoRuntimePlanError, match=r"no OpenVINO plan.*--backend onnxruntime"):
            Scorer.load(tiny_artifact_dir, backend="openvino")
    monkeypatch.setattr(choose_mod, "installed_backends", lambda: frozenset({"onnxruntime"}))
    with pytest.raises(BackendUnavailableError, match=r"pip install 'commentmod\[openvino\]'"):
        Scorer.load(tiny_artifact_dir, backend="openvino")


def test_cli_backend_flag(tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    args = build_parser("score").parse_args(["score", "x.jsonl", "--model", "m", "--out", "o.jsonl"])
    assert args.backend == "auto"
    serve = build_parser("serve").parse_args(["serve", "--model", "m", "--backend", "onnxruntime"])
    assert serve.backend == "onnxruntime"
    with pytest.raises(SystemExit):
        build_parser("score").parse_args(["score", "x", "--model", "m", "--out", "o", "--backend", "tpu"])
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "hello"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    base = ["score", str(src), "--model", str(tiny_artifact_dir), "--out", str(out), "--no-progress"]
    assert main([*base, "--backend", "onnxruntime"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["status"] == "ok"
    with caplog.at_level(logging.ERROR, logger="commentmod.score"):
        assert main([*base, "--backend", "openvino", "--overwrite"]) == 2
    assert "--backend onnxruntime" in caplog.text
    pytest.importorskip("uvicorn", reason="commentmod serve needs the [http] extra")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="commentmod.serve"):
        assert main(["serve", "--model", str(tiny_artifact_dir), "--backend", "openvino"]) == 2
    assert "--backend onnxruntime" in caplog.text


def test_http_model_info_names_the_runtime(tiny_artifact_dir: Path) -> None:
    pytest.importorskip("fastapi", reason="the HTTP service needs the [http] extra")
    from commentmod.serving.http import HttpSettings
    from commentmod.serving.http.info import model_info

    info = model_info(Scorer.load(tiny_artifact_dir), HttpSettings(workers=1))
    assert info.runtime is not None
    assert (info.runtime.backend, info.runtime.plan, info.runtime.precision) == (
        "onnxruntime",
        "int8",
        "int8",
    )


# --------------------------------------------------------------------------- OpenVINO backend


def _padded(scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
    flat = [w for per in scorer.encode(ITEMS) for w in per]
    return pad_windows(flat, scorer.special.pad)


def test_openvino_fp32_matches_onnxruntime(tiny_artifact_dir: Path) -> None:
    pytest.importorskip("openvino", reason="OpenVINO backend: pip install 'commentmod[openvino]'")
    from commentmod.serving.backends.openvino_backend import OpenVinoBackend, load_openvino

    fp32 = Scorer.load(tiny_artifact_dir, model_file="model.fp32.onnx", threads=1)
    ov = load_openvino(tiny_artifact_dir / "model.fp32.onnx", "f32", threads=1)
    assert isinstance(ov, OpenVinoBackend) and (ov.name, ov.precision) == ("openvino", "fp32")
    inputs, outputs = ov.io_names()
    assert {"input_ids", "attention_mask"} <= set(inputs) and "logits" in outputs
    assert ov.output_width() == 3
    ids, mask = _padded(fp32)
    assert fp32.session is not None
    expected = fp32.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    np.testing.assert_allclose(ov.run(ids, mask), expected, atol=1e-4)
    windows = fp32.encode(ITEMS)
    np.testing.assert_allclose(
        backend_logits(ov, windows, 3, fp32.special.pad, batch_size=3), fp32.logits(ITEMS), atol=1e-4
    )
    # one infer request per thread: threads sharing the backend get the same answers
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(ov.run(ids, mask))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_openvino_bf16_where_the_cpu_has_it(tiny_artifact_dir: Path) -> None:
    pytest.importorskip("openvino", reason="OpenVINO backend: pip install 'commentmod[openvino]'")
    if "bf16" not in cpu_capabilities():
        pytest.skip("this CPU has no bf16 units (amx_bf16 / avx512_bf16)")
    from commentmod.serving.backends.openvino_backend import load_openvino

    fp32 = Scorer.load(tiny_artifact_dir, model_file="model.fp32.onnx", threads=1)
    ov = load_openvino(tiny_artifact_dir / "model.fp32.onnx", "bf16", threads=1, precision="bf16")
    assert "bf" in str(ov.compiled.get_property("INFERENCE_PRECISION_HINT"))
    ids, mask = _padded(fp32)
    assert fp32.session is not None
    expected = fp32.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    got = ov.run(ids, mask)
    assert np.abs(got - expected).max() < 0.05  # bf16 keeps ~3 significant digits
    assert not np.array_equal(got, expected) or np.abs(expected).max() == 0


def test_export_cli_flags() -> None:
    args = build_parser("export").parse_args(["export", "--model", "r", "--out", "a"])
    assert args.openvino_plans is True and args.openvino_calibration_windows == 300
    args = build_parser("export").parse_args(["export", "--model", "r", "--out", "a", "--no-openvino-plans"])
    assert args.openvino_plans is False


def test_hand_edited_plan_list_is_checked_on_load(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    art = Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art"))
    data = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
    data["runtime_plans"] = [{**ORT_INT8.to_dict(), "comments_per_s": "fast"}]
    (art / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"runtime_plans\[0\]\.comments_per_s"):
        seal_manifest(art)


def _with_broken_ov_plan(tiny_artifact_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny artifact with a passing, fastest OpenVINO int8 plan whose IR does not compile."""
    import hashlib

    art = Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art"))
    (art / "model.ov-int8.xml").write_text("<net>not an IR</net>", encoding="utf-8")
    (art / "model.ov-int8.bin").write_bytes(b"\0" * 16)
    data = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
    for name in ("model.ov-int8.xml", "model.ov-int8.bin"):
        data["files"][name] = hashlib.sha256((art / name).read_bytes()).hexdigest()
    plan = RuntimePlan(
        "openvino", "ov-int8", "model.ov-int8.xml", "int8", "f32", passed=True, comments_per_s=1e9
    )
    data["runtime_plans"] = [plan.to_dict()]
    (art / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    seal_manifest(art)
    return art


@pytest.mark.export
def test_auto_falls_back_but_a_named_plan_never_does(
    tiny_artifact_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("openvino", reason="the OpenVINO extra is not installed")
    art = _with_broken_ov_plan(tiny_artifact_dir, tmp_path)
    with caplog.at_level(logging.WARNING):
        scorer = Scorer.load(art)
    assert scorer.runtime.backend == "onnxruntime" and "falling back" in caplog.text
    with pytest.raises(RuntimeChoiceError):
        Scorer.load(art, plan="ov-int8")


@pytest.mark.export
def test_an_unlisted_weights_file_is_refused(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    art = Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art"))
    weights = weights_file("model.onnx")
    if not (art / weights).is_file():
        (art / weights).write_bytes(b"\0" * 8)  # a stray weights file beside an inline graph
    data = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
    data["files"].pop(weights, None)  # its sha256 could not be checked
    (art / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    seal_manifest(art)
    with pytest.raises(ManifestError, match="not listed in the manifest"):
        Scorer.load(art)
