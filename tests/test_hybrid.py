"""Hybrid artifacts: export ships ngram.onnx + the stacker, the Scorer serves the stacked scores, and
they equal the Python blend of training (PyTorch logits + OnnxBaseline + stack_probs).

The n-gram model is trained here on a few dozen synthetic comments; the stacker is set by hand (so
every mode is exercised) and saved with ``training/fit/hybrid_fit.py`` (``save_hybrid`` + provenance).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from commentmod.model.errors import ManifestError
from commentmod.model.manifest import MANIFEST_NAME
from commentmod.model.manifest_io import read_manifest
from commentmod.serving import Result, Scorer
from commentmod.serving.hybrid import NGRAM_FILE, HybridSpec, LabelStack, stack_probs
from commentmod.serving.onnx_session import make_session, ngram_probs
from commentmod.training.export import artifact as ex
from commentmod.training.export.errors import ParityError

LABELS = ("abusive", "mocking", "off_topic")
PHRASES = {
    0: ["ești un cretin", "you stupid idiot", "ти тупий дурень", "сдохни тварь"],
    1: ["bravo geniu curat 👏", "sure, genius plan 🙄", "ну да конечно 😂", "felicitări, ce surpriză"],
    2: ["vând logan 2012", "buy crypto now http://x.io", "продам гараж недорого", "sunați la 0722 000 000"],
    3: ["mulțumim pentru articol", "when does the work start?", "дякую за статтю", "bine că se face"],
}
TAILS = ["", " azi", " again!", " ..."]

SPEC = HybridSpec(
    labels=LABELS,
    per_label={
        "abusive": LabelStack("blend", 0.8, 1.2, -0.3, why="blend beats both on validation (test)"),
        "mocking": LabelStack("ngram", 0.0, 1.0, 0.1, why="n-gram alone is best (test)"),
        "off_topic": LabelStack("transformer", 0.7, 0.0, 0.05, why="transformer sees the article (test)"),
    },
    fitted_on="hand-set for tests",
)
THRESHOLDS = {"abusive": 0.5, "mocking": 0.4, "off_topic": 0.7}
ITEMS = [
    ("Ești un cretin, taci din gură.", "Bugetul Clujului", "A fost votat."),
    ("Bravo, geniu curat 👏👏", None, None),
    ("Vând Logan, sunați la 0722", "Titlu", None),
    ("Mulțumim pentru articol, foarte util.", "", ""),
    ("Ну да, конечно 😂 " * 30, "В Кишинёве ремонтируют дороги", None),
    ("?", None, None),
]


def _synthetic() -> tuple[list[str], np.ndarray]:
    texts, rows = [], []
    for cat, phrases in PHRASES.items():
        for phrase in phrases:
            for tail in TAILS:
                texts.append(phrase + tail)
                rows.append([float(cat == j) for j in range(3)])
    return texts, np.asarray(rows)


def _save_stacker(run: Path, spec: HybridSpec, thresholds: dict[str, float]) -> None:
    from commentmod.training.fit.hybrid_fit import current_provenance, save_hybrid

    save_hybrid(run, spec, thresholds, current_provenance(run))


def _make_run(tiny_run_dir: Path, ngram_dir: Path | None, dest: Path, spec: HybridSpec) -> Path:
    run = Path(shutil.copytree(tiny_run_dir, dest))
    if ngram_dir is not None:
        shutil.copytree(ngram_dir, run / "baseline")
    _save_stacker(run, spec, THRESHOLDS)
    return run


@pytest.fixture(scope="module")
def ngram_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from commentmod.training.fit.baseline_onnx import train_and_save

    texts, y = _synthetic()
    out = tmp_path_factory.mktemp("ngram") / "baseline"
    train_and_save(texts, y, texts[::3], y[::3], out)
    return out


@pytest.fixture(scope="module")
def hybrid_run(tiny_run_dir: Path, ngram_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_run(tiny_run_dir, ngram_dir, tmp_path_factory.mktemp("hybrid-run") / "run", SPEC)


@pytest.fixture(scope="module")
def hybrid_artifact(hybrid_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """int8 hybrid artifact (+ model.fp32.onnx) of the tiny run, built once for this module."""
    out = tmp_path_factory.mktemp("hybrid-art") / "hybrid"
    ex.export_artifact(
        hybrid_run,
        out,
        ex.ExportOptions(keep_fp32=True, name="hybrid", hybrid_parity_rows=40, openvino_plans=False),
    )
    return out


def _edit_manifest(art: Path, **changes: object) -> None:
    """A deliberate hand edit of commentmod.json, re-sealed (its checksum recorded again)."""
    from commentmod.model.manifest_io import seal_manifest

    data = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
    data.update(changes)
    (art / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    seal_manifest(art)


def _python_blend(run: Path, items: list[tuple[str, str | None, str | None]]) -> np.ndarray:
    """What training computes: PyTorch raw logits, OnnxBaseline probabilities, stack_probs."""
    from tokenizers import Tokenizer

    from commentmod.training.fit.baseline_onnx import OnnxBaseline
    from commentmod.training.fit.modeling import CommentClassifier
    from commentmod.training.fit.predict import predict_logits

    model, info = CommentClassifier.load(run)
    tok = Tokenizer.from_file(str(run / "tokenizer.json"))
    logits = predict_logits(model, tok, info.context_rule, items)
    p_ngram = OnnxBaseline.load(run / "baseline").predict_probs([t for t, _, _ in items])
    return stack_probs(logits, p_ngram, SPEC)


# --------------------------------------------------------------------------- export


def test_hybrid_artifact_files_manifest_and_card(hybrid_artifact: Path, hybrid_run: Path) -> None:
    names = {p.name for p in hybrid_artifact.iterdir()}
    assert NGRAM_FILE in names
    m = read_manifest(hybrid_artifact, verify=True)
    assert set(m.files) == names - {MANIFEST_NAME, MANIFEST_NAME + ".sha256"}  # all but the manifest
    assert (hybrid_artifact / NGRAM_FILE).read_bytes() == (
        hybrid_run / "baseline" / "baseline.onnx"
    ).read_bytes()
    assert m.extra["hybrid"] == SPEC.to_dict()
    assert HybridSpec.from_dict(m.extra["hybrid"]) == SPEC
    assert dict(m.thresholds) == THRESHOLDS
    assert set(m.temperature.values()) == {1.0}  # the stacker replaces temperature
    assert m.extra["transformer"]["thresholds"] == {k: 0.5 for k in LABELS}  # the run's, for reference
    assert m.extra["ngram"]["file"] == NGRAM_FILE and m.extra["ngram"]["trained"] == dict.fromkeys(
        LABELS, True
    )
    parity = m.extra["hybrid_parity"]
    assert parity["max_abs_delta"] <= 1e-4 and parity["n_items"] == len(ex.PROBES) + 40
    assert m.extra["parity"]["max_abs_delta"] <= 1e-4
    chosen = m.extra["int8"][-1]
    assert chosen["passed"] and chosen["agreement"] >= 0.99
    card = (hybrid_artifact / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Hybrid model" in card
    for label, mode in (
        ("abusive", "blend (transformer + n-gram)"),
        ("mocking", "n-gram"),
        ("off_topic", "transformer"),
    ):
        row = next(line for line in card.splitlines() if line.startswith(f"| {label} | {mode} |"))
        assert SPEC.per_label[label].why in row


def test_int8_gate_judges_the_stacked_scores(hybrid_artifact: Path, hybrid_run: Path) -> None:
    """The recorded int8 max |Δp| is that of the shipped (stacked) probabilities on the probes."""
    m = read_manifest(hybrid_artifact)
    items = [p.item for p in ex.PROBES]
    int8 = Scorer.load(hybrid_artifact, windows_per_batch=8).probabilities(items)
    fp32 = Scorer.load(hybrid_artifact, windows_per_batch=8, model_file="model.fp32.onnx").probabilities(
        items
    )
    assert m.extra["int8"][-1]["max_abs_delta"] == pytest.approx(float(np.abs(int8 - fp32).max()), abs=1e-6)


def test_scorer_equals_python_blend(hybrid_artifact: Path, hybrid_run: Path) -> None:
    fp32 = Scorer.load(hybrid_artifact, model_file="model.fp32.onnx")
    np.testing.assert_allclose(fp32.probabilities(ITEMS), _python_blend(hybrid_run, ITEMS), atol=1e-4)


def test_hybrid_parity_failure_writes_nothing(
    hybrid_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commentmod.training.fit.baseline_onnx import OnnxBaseline

    real = OnnxBaseline.predict_probs

    def drifting(self: OnnxBaseline, texts: list[str]) -> np.ndarray:
        return np.clip(real(self, texts) + 0.02, 0.0, 1.0)

    monkeypatch.setattr(OnnxBaseline, "predict_probs", drifting)
    with pytest.raises(ParityError, match="Python blend"):
        ex.export_artifact(hybrid_run, tmp_path / "art", ex.ExportOptions(int8=False, hybrid_parity_rows=5))
    assert list(tmp_path.iterdir()) == []


def test_transformer_only_stacker_ships_no_ngram(tiny_run_dir: Path, tmp_path: Path) -> None:
    spec = HybridSpec(
        labels=LABELS,
        per_label={
            k: LabelStack("transformer", 0.5 + j, 0.0, -0.2 * j, why="t") for j, k in enumerate(LABELS)
        },
    )
    run = _make_run(tiny_run_dir, None, tmp_path / "run", spec)  # no RUN/baseline at all
    result = ex.export_artifact(run, tmp_path / "art", ex.ExportOptions(int8=False, hybrid_parity_rows=5))
    assert not (tmp_path / "art" / NGRAM_FILE).exists()
    assert "ngram" not in result.manifest.extra and result.hybrid_parity is not None
    scorer = Scorer.load(tmp_path / "art")
    assert scorer.ngram_session is None and scorer.ngram_sparse is None
    logits = scorer.logits(ITEMS).astype(np.float64)
    expected = 1 / (1 + np.exp(-(logits * [0.5, 1.5, 2.5] + [0.0, -0.2, -0.4])))
    np.testing.assert_allclose(scorer.probabilities(ITEMS), expected, atol=1e-6)


def test_no_hybrid_option_exports_the_transformer_alone(
    hybrid_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="commentmod.training.export.artifact"):
        result = ex.export_artifact(hybrid_run, tmp_path / "art", ex.ExportOptions(int8=False, hybrid=False))
    assert "not hybrid (--no-hybrid)" in caplog.text
    assert "hybrid" not in result.manifest.extra and result.hybrid_parity is None
    assert not (tmp_path / "art" / NGRAM_FILE).exists()
    assert dict(result.manifest.thresholds) == {k: 0.5 for k in LABELS}  # the transformer's own
    assert Scorer.load(tmp_path / "art").hybrid is None


def test_stacker_problems_stop_the_export_early(tiny_run_dir: Path, ngram_dir: Path, tmp_path: Path) -> None:
    run = _make_run(tiny_run_dir, ngram_dir, tmp_path / "run", SPEC)
    assert ex.load_hybrid(run, LABELS) is not None
    with pytest.raises(ex.ExportError, match="labels"):
        ex.load_hybrid(run, ("abusive", "mocking"))
    # stale: the n-gram model changed after the stacker was fitted
    shutil.copyfile(run / "baseline" / "baseline.onnx", tmp_path / "keep.onnx")
    with (run / "baseline" / "baseline.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ex.ExportError, match=r"cannot be shipped: .*another n-?gram model.*--no-hybrid"):
        ex.load_hybrid(run, LABELS)
    # a blended label whose n-gram head was never trained
    shutil.copyfile(tmp_path / "keep.onnx", run / "baseline" / "baseline.onnx")
    meta = json.loads((run / "baseline" / "baseline.json").read_text(encoding="utf-8"))
    meta["trained"]["mocking"] = False
    (run / "baseline" / "baseline.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ex.ExportError, match=r"no head for them"):
        ex.load_hybrid(run, LABELS)
    # no n-gram model at all
    shutil.rmtree(run / "baseline")
    _save_stacker(run, SPEC, THRESHOLDS)
    with pytest.raises(ex.ExportError, match=r"blends the n-gram model for \['abusive', 'mocking'\]"):
        ex.export_artifact(run, tmp_path / "art", ex.ExportOptions(int8=False))
    assert not (tmp_path / "art").exists()


def test_cli_export_hybrid(hybrid_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from commentmod.serving.cli import main

    run = Path(shutil.copytree(hybrid_run, tmp_path / "run"))
    (run / "MODEL_CARD.md").write_text("# Evaluated card\n", encoding="utf-8")
    out = tmp_path / "art"
    assert main(["export", "--model", str(run), "--out", str(out), "--no-int8"]) == 0
    printed = capsys.readouterr().out
    assert "hybrid  : Scorer vs Python blend" in printed and "mocking    ngram" in printed
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith("# Evaluated card") and "## Hybrid model" in card
    assert (
        main(["export", "--model", str(run), "--out", str(out), "--no-int8", "--no-hybrid", "--force"]) == 0
    )
    assert "hybrid  : no" in capsys.readouterr().out
    assert not (out / NGRAM_FILE).exists()


# --------------------------------------------------------------------------- Scorer


def test_results_are_the_stack_of_the_parts(hybrid_artifact: Path, hybrid_run: Path) -> None:
    """Golden-output style: served scores = stack_probs(transformer logits, n-gram probs, spec)."""
    from commentmod.training.fit.baseline_onnx import OnnxBaseline

    scorer = Scorer.load(hybrid_artifact, windows_per_batch=4)
    assert scorer.hybrid == SPEC and scorer.thresholds == THRESHOLDS
    inputs = [
        {"id": str(i), "text": t, "article_title": a, "article_text": b} for i, (t, a, b) in enumerate(ITEMS)
    ]
    results = scorer.score(inputs)
    logits = scorer.logits(ITEMS)
    p_ngram = OnnxBaseline.load(hybrid_run / "baseline").predict_probs([t for t, _, _ in ITEMS])
    expected = stack_probs(logits, p_ngram, SPEC)
    got = np.asarray([[r.scores[k] for k in LABELS] for r in results])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(scorer.probabilities(ITEMS), expected, atol=1e-6)
    np.testing.assert_allclose(scorer.ngram_probabilities([t for t, _, _ in ITEMS]), p_ngram, atol=1e-6)
    for r in results:
        assert r.flags == {k: r.scores[k] >= THRESHOLDS[k] for k in LABELS}
        assert r.flagged == any(r.flags.values())
    # the n-gram part is the comment alone: the article does not move the n-gram-only label
    alone = scorer.probabilities([(ITEMS[0][0], None, None)])
    assert alone[0, 1] == pytest.approx(expected[0, 1], abs=1e-6)


def _keys(mapping: object) -> set[str] | None:
    return None if mapping is None else set(mapping)  # type: ignore[call-overload]


def test_result_shape_unchanged(hybrid_artifact: Path, tiny_artifact_dir: Path) -> None:
    inputs = ["Ești un cretin", {"id": "b", "text": "hello", "article_title": "t"}, "", None]
    hybrid = Scorer.load(hybrid_artifact).score(inputs)
    plain = Scorer.load(tiny_artifact_dir).score(inputs)
    assert [r.status for r in hybrid] == [r.status for r in plain] == ["ok", "ok", "empty", "error"]
    for h, p in zip(hybrid, plain, strict=True):
        assert isinstance(h, Result)
        assert h.to_dict().keys() == p.to_dict().keys()
        assert _keys(h.scores) == _keys(p.scores) and _keys(h.flags) == _keys(p.flags)
        assert h.id == p.id and h.error == p.error


def test_transformer_mode_everywhere_equals_the_transformer_alone(
    hybrid_artifact: Path, tmp_path: Path
) -> None:
    temperature = {"abusive": 1.5, "mocking": 0.8, "off_topic": 2.0}
    intercept = {"abusive": 0.0, "mocking": 0.0, "off_topic": 0.0}
    spec = HybridSpec(
        labels=LABELS,
        per_label={k: LabelStack("transformer", 1 / temperature[k], 0.0, intercept[k]) for k in LABELS},
    )
    hyb = Path(shutil.copytree(hybrid_artifact, tmp_path / "hyb"))
    extra = json.loads((hyb / MANIFEST_NAME).read_text(encoding="utf-8"))["extra"]
    _edit_manifest(hyb, extra={**extra, "hybrid": spec.to_dict()})
    plain = Path(shutil.copytree(hybrid_artifact, tmp_path / "plain"))
    _edit_manifest(plain, extra={k: v for k, v in extra.items() if k != "hybrid"}, temperature=temperature)
    s_hyb = Scorer.load(hyb, model_file="model.fp32.onnx")
    s_plain = Scorer.load(plain, model_file="model.fp32.onnx")
    # ngram.onnx is in the artifact but no label uses it
    assert s_hyb.ngram_session is None and s_hyb.ngram_sparse is None
    assert s_hyb.hybrid is not None and s_plain.hybrid is None
    np.testing.assert_allclose(s_hyb.probabilities(ITEMS), s_plain.probabilities(ITEMS), atol=1e-6)
    assert s_hyb.model_id != s_plain.model_id  # the stacker is part of the served model's identity


@pytest.mark.parametrize("how", ["unlisted", "deleted", "deleted-no-verify", "tampered"])
def test_missing_or_changed_ngram_is_refused(hybrid_artifact: Path, tmp_path: Path, how: str) -> None:
    art = Path(shutil.copytree(hybrid_artifact, tmp_path / "art"))
    verify = True
    if how == "unlisted":
        files = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
        del files[NGRAM_FILE]
        _edit_manifest(art, files=files)
        (art / NGRAM_FILE).unlink()
        match = r"does not list ngram\.onnx \(the hybrid stacker blends the n-gram model\)"
    elif how.startswith("deleted"):
        (art / NGRAM_FILE).unlink()
        verify = how == "deleted"
        match = r"ngram\.onnx.* is missing"
    else:
        data = bytearray((art / NGRAM_FILE).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (art / NGRAM_FILE).write_bytes(bytes(data))
        match = r"sha256 of .*ngram\.onnx"
    with pytest.raises(ManifestError, match=match):
        Scorer.load(art, verify=verify)


def test_malformed_hybrid_spec_is_refused(hybrid_artifact: Path, tmp_path: Path) -> None:
    art = Path(shutil.copytree(hybrid_artifact, tmp_path / "art"))
    extra = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))["extra"]
    _edit_manifest(art, extra={**extra, "hybrid": {**extra["hybrid"], "format": 99}})
    with pytest.raises(ManifestError, match="hybrid stacker format is 99"):
        Scorer.load(art)
    swapped = {**extra["hybrid"], "labels": ["mocking", "abusive", "off_topic"]}
    _edit_manifest(art, extra={**extra, "hybrid": swapped})
    with pytest.raises(ManifestError, match="stacker is for labels"):
        Scorer.load(art)


def test_ngram_batches_do_not_change_scores(hybrid_artifact: Path) -> None:
    scorer = Scorer.load(hybrid_artifact)
    session = make_session(hybrid_artifact / NGRAM_FILE, 1)
    texts = [f"text {i} " * (1 + i % 11) for i in range(30)] + ["x" * 3000, "", "🙄"]
    default = scorer.ngram_probabilities(texts)
    one = ngram_probs(session, texts, 3, batch_size=1)
    tight = ngram_probs(session, texts, 3, batch_size=64, max_batch_chars=100)
    np.testing.assert_allclose(one, default, atol=1e-6)
    np.testing.assert_allclose(tight, default, atol=1e-6)


def test_ngram_session_opened_only_without_a_sparse_form(
    hybrid_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import commentmod.serving.onnx_session as onnx_session
    import commentmod.serving.scorer as scorer_module

    lazy = Scorer.load(hybrid_artifact)
    # the n-gram model runs on its sparse form: no ONNX Runtime session is opened for it
    assert lazy.ngram_sparse is not None and lazy.ngram_session is None
    for module in (onnx_session, scorer_module):
        monkeypatch.setattr(module, "load_sparse_ngram", lambda path, n_labels: None)
    fallback = Scorer.load(hybrid_artifact)  # a graph with no sparse form: ONNX Runtime runs it
    assert fallback.ngram_sparse is None and fallback.ngram_session is not None
    texts = ["Ești un cretin", "hello there", "", "🙄 sure"]
    np.testing.assert_allclose(
        lazy.ngram_probabilities(texts), fallback.ngram_probabilities(texts), atol=1e-6
    )
    items = [{"id": str(i), "text": t, "article_title": "Titlu"} for i, t in enumerate(texts) if t]
    for a, b in zip(lazy.score(items), fallback.score(items), strict=True):
        assert a.flags == b.flags and a.scores == pytest.approx(b.scores, abs=1e-6)


def test_serving_hybrid_imports_no_torch_or_sklearn(hybrid_artifact: Path) -> None:
    code = f"""
import sys
from commentmod.serving import Scorer
s = Scorer.load({str(hybrid_artifact)!r})
assert s.ngram_sparse is not None
r = s.score(["Ești un cretin", {{"id": "b", "text": "hello", "article_title": "t"}}, ""])
assert [x.status for x in r] == ["ok", "ok", "empty"], r
heavy = ("torch", "transformers", "sklearn", "skl2onnx", "datasets", "commentmod.training")
banned = [m for m in heavy if m in sys.modules]
assert not banned, banned
print("OK")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("OK")
