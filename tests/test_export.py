"""commentmod export: ONNX parity gate, int8 fidelity gate, manifest/sha256, atomic writes, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from commentmod.model.errors import ManifestError
from commentmod.model.manifest import MANIFEST_NAME
from commentmod.model.manifest_io import read_manifest
from commentmod.training.export import artifact as ex
from commentmod.training.export.errors import ParityError
from commentmod.training.export.probes import load_validation_items
from commentmod.training.export.quantize import quant_plans


def test_artifact_layout_and_manifest(tiny_artifact_dir: Path) -> None:
    names = {p.name for p in tiny_artifact_dir.iterdir()}
    assert names == {
        "model.onnx",
        "model.onnx.data",  # weights as ONNX external data (memory-mapped by onnxruntime)
        "model.fp32.onnx",
        "model.fp32.onnx.data",
        "tokenizer.json",
        "MODEL_CARD.md",
        MANIFEST_NAME,
        MANIFEST_NAME + ".sha256",  # the manifest's own checksum
    }
    m = read_manifest(tiny_artifact_dir, verify=True)
    assert set(m.files) == names - {MANIFEST_NAME, MANIFEST_NAME + ".sha256"}
    assert m.name == "tiny"
    assert m.output_kind == "logits"
    assert m.input_names == ("input_ids", "attention_mask") and m.output_names == ("logits",)
    assert m.context_rule.max_length == 64
    assert m.quantization.startswith("int8 dynamic per-channel")
    assert m.licences == ["CC-BY-4.0"]
    assert {"onnx", "onnxruntime", "torch", "transformers", "tokenizers", "numpy"} <= set(m.library_versions)
    assert m.extra["parity"]["max_abs_delta"] <= 1e-4
    assert m.extra["parity"]["n_probes"] == len(ex.PROBES)
    assert "hybrid" not in m.extra and "hybrid_parity" not in m.extra  # the run has no stacker.json
    chosen = m.extra["int8"][-1]
    assert chosen["passed"] and chosen["max_abs_delta"] <= 0.03 and chosen["agreement"] >= 0.99
    card = (tiny_artifact_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Intended use" in card and "human moderators" in card and "CC-BY-4.0" in card
    assert not list(tiny_artifact_dir.parent.glob(".tiny.partial-*"))


def test_onnx_graph_has_dynamic_axes_and_opset(tiny_artifact_dir: Path) -> None:
    model = onnx.load(str(tiny_artifact_dir / "model.fp32.onnx"))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    inputs = {i.name: i for i in model.graph.input}
    assert set(inputs) == {"input_ids", "attention_mask"}
    for inp in inputs.values():
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
        dims = inp.type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param  # symbolic batch and sequence
    (out,) = model.graph.output
    assert out.name == "logits" and out.type.tensor_type.shape.dim[1].dim_value == 3


def test_probe_set_covers_languages_and_long_comments(tiny_run_dir: Path) -> None:
    from tokenizers import Tokenizer

    from commentmod.model.inputs import ContextRule, encode_comments

    names = {p.name for p in ex.PROBES}
    for prefix in ("ro-", "en-", "uk-", "ru-", "emoji", "empty-context", "long-"):
        assert any(n.startswith(prefix) for n in names), prefix
    tok = Tokenizer.from_file(str(tiny_run_dir / "tokenizer.json"))
    windows = encode_comments(
        tok, [p.item for p in ex.PROBES], ContextRule(max_length=256), special=ex.SpecialIds()
    )
    assert max(len(w) for w in windows) > 1  # longer than even the real max_length


def test_word_embeddings_quantised_per_row(tiny_artifact_dir: Path) -> None:
    model = onnx.load(str(tiny_artifact_dir / "model.onnx"))
    init = {i.name: i for i in model.graph.initializer}
    q = [n for n in init if n.endswith("_int8_rows")]
    assert q, "word embeddings were not quantised"
    assert init[q[0]].data_type == onnx.TensorProto.INT8
    scale = init[q[0].replace("_int8_rows", "_row_scale")]
    assert list(scale.dims) == [init[q[0]].dims[0], 1]
    assert "MatMulInteger" in {n.op_type for n in model.graph.node}


def test_check_parity_names_label_and_probe() -> None:
    ref = np.full((3, 3), 0.5, dtype=np.float32)
    ok = ref + 5e-5
    bad = ref.copy()
    bad[1, 2] += 0.01
    labels, probes = ("abusive", "mocking", "off_topic"), ("p0", "p1", "p2")
    report = ex.check_parity(ref, {1: ok}, labels, probes, 1e-4)
    assert report.max_abs_delta == pytest.approx(5e-5, rel=1e-3)
    with pytest.raises(ParityError, match=r"off_topic.*'p1'.*batch size 8"):
        ex.check_parity(ref, {1: ok, 8: bad}, labels, probes, 1e-4)


def test_parity_failure_writes_nothing(
    tiny_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ex.onnx_logits

    def drifting(*args, **kwargs):
        return real(*args, **kwargs) + 0.05

    monkeypatch.setattr(ex, "onnx_logits", drifting)
    out = tmp_path / "art"
    with pytest.raises(ParityError, match="differs from PyTorch"):
        ex.export_artifact(tiny_run_dir, out, ex.ExportOptions(int8=False))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_int8_fidelity_failure_tries_every_plan(tiny_run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "art"
    with pytest.raises(ex.QuantizationFidelityError) as err:
        ex.export_artifact(tiny_run_dir, out, ex.ExportOptions(int8_max_delta=0.0))
    for plan in quant_plans(True):
        assert plan.name in str(err.value)
    assert "--no-int8" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_int8_failure_can_fall_back_to_fp32(tiny_run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "art"
    result = ex.export_artifact(
        tiny_run_dir, out, ex.ExportOptions(int8_max_delta=0.0, int8_fallback_fp32=True)
    )
    manifest = read_manifest(out)
    assert result.manifest.quantization == "none"
    assert manifest.extra["variants"] == {"model.onnx": "fp32"}
    assert "no int8 plan passed" in manifest.extra["int8_failure"]
    assert not (out / "model.fp32.onnx").exists()


def test_fp32_export_copies_model_card_and_respects_existing_target(
    tiny_run_dir: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    (run / "MODEL_CARD.md").write_text("# Evaluated card\n![PR](pr_abusive.png)\n", encoding="utf-8")
    (run / "pr_abusive.png").write_bytes(b"\x89PNG fake")
    out = tmp_path / "art"
    result = ex.export_artifact(run, out, ex.ExportOptions(int8=False, name="fp"))
    assert result.manifest.quantization == "none"
    assert (out / "MODEL_CARD.md").read_text(encoding="utf-8").startswith("# Evaluated card")
    assert (out / "pr_abusive.png").read_bytes() == b"\x89PNG fake"  # the card's figures travel with it
    assert "pr_abusive.png" in read_manifest(out, verify=True).files
    assert not (out / "model.fp32.onnx").exists()
    assert read_manifest(out).extra["int8"] == []
    with pytest.raises(ex.ExportError, match="--force"):
        ex.export_artifact(run, out, ex.ExportOptions(int8=False))
    ex.export_artifact(run, out, ex.ExportOptions(int8=False, name="again", force=True))
    assert read_manifest(out).name == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "run"]


@pytest.mark.parametrize("tamper", ["model", "weights", "tokenizer", "card", "missing", "version", "json"])
def test_tampered_artifact_is_refused(tiny_artifact_dir: Path, tmp_path: Path, tamper: str) -> None:
    from commentmod.serving import Scorer

    art = Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art"))
    if tamper == "model":
        data = bytearray((art / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (art / "model.onnx").write_bytes(bytes(data))
        match = "sha256 of .*model.onnx"
    elif tamper == "weights":
        data = bytearray((art / "model.onnx.data").read_bytes())
        data[-1] ^= 0x01
        (art / "model.onnx.data").write_bytes(bytes(data))
        match = r"sha256 of .*model\.onnx\.data"
    elif tamper == "tokenizer":
        with (art / "tokenizer.json").open("a", encoding="utf-8") as fh:
            fh.write(" ")
        match = "sha256 of .*tokenizer.json"
    elif tamper == "card":
        (art / "MODEL_CARD.md").write_text("edited", encoding="utf-8")
        match = "MODEL_CARD.md"
    elif tamper == "missing":
        (art / "tokenizer.json").unlink()
        match = "missing"
    elif tamper == "version":
        manifest = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
        manifest["format_version"] = 99
        (art / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
        match = "format version is 99"
    else:
        (art / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
        match = "not valid JSON"
    with pytest.raises(ManifestError, match=match):
        Scorer.load(art)


def test_unused_model_variant_is_not_verified_by_the_scorer(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    from commentmod.serving import Scorer

    art = Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art"))
    (art / "model.fp32.onnx.data").write_bytes(b"tampered")
    assert Scorer.load(art).score(["ok"])[0].status == "ok"  # serves model.onnx, which is intact
    with pytest.raises(ManifestError, match=r"model\.fp32\.onnx"):
        Scorer.load(art, model_file="model.fp32.onnx")
    with pytest.raises(ManifestError, match=r"model\.fp32\.onnx"):
        read_manifest(art)  # the full check still covers every file


def test_data_sources_accept_both_spellings() -> None:
    info = ex.RunInfo(data_sources=[{"source": "a", "license": "MIT", "n_rows": 3}, {"name": "b"}])
    a, b = ex.data_sources_from_run(info)
    assert (a.name, a.licence, a.rows) == ("a", "MIT", 3)
    assert (b.name, b.licence, b.rows) == ("b", "unknown", 0)


def test_validation_items_from_dataset_dict(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    from commentmod.model.record import CommentRecord

    rows = [
        CommentRecord(
            id=str(i), text=f"comentariu {i}", source="t", licence="MIT", article_title="T"
        ).to_row()
        for i in range(5)
    ]
    rows += [
        CommentRecord(id=f"e{i}", text=f"comment {i}", source="u", licence="MIT").to_row() for i in range(5)
    ]  # stored grouped by source, like a built dataset: the sample must not be just the head
    DatasetDict({"validation": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "ds"))
    items = load_validation_items(tmp_path / "ds", max_rows=6)
    assert len(items) == len(set(items)) == 6
    assert {t.split()[0] for t, _, _ in items} == {"comentariu", "comment"}
    assert items == load_validation_items(tmp_path / "ds", max_rows=6)  # seeded
    assert ("comentariu 0", "T", None) in load_validation_items(tmp_path / "ds", max_rows=100)
    with pytest.raises(ex.ExportError, match="no 'test'"):
        load_validation_items(tmp_path / "ds", split="test")


def test_cli_export(tiny_run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from commentmod.serving.cli import main

    out = tmp_path / "art"
    assert main(["export", "--model", str(tiny_run_dir), "--out", str(out), "--name", "cli"]) == 0
    printed = capsys.readouterr().out
    assert "parity" in printed and "PASS" in printed
    assert read_manifest(out).name == "cli"
    assert main(["export", "--model", str(tiny_run_dir), "--out", str(out)]) == 1  # exists, no --force
