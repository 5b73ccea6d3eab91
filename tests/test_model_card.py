"""Model card rendering and the end-to-end ``commentmod evaluate`` on a tiny model and dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from commentmod.model.inputs import ContextRule
from commentmod.model.record import CommentRecord
from commentmod.training.fit.modeling import RunInfo
from commentmod.training.report.evaluate import EvalData, evaluate_model
from commentmod.training.report.metrics import compare_models
from commentmod.training.report.model_card import merge_sources, render_model_card

RUN_SOURCES = [
    {"name": "ro-offense", "licence": "CC-BY-SA-4.0", "rows": 120, "commercial_ok": False},
    {"name": "ru-toxic", "licence": "CC-BY-NC-SA-4.0", "rows": 80, "commercial_ok": False},
    {"name": "handmade", "licence": "MIT", "rows": 10, "commercial_ok": True},
]
BUILD_INFO = {
    "sources": [
        {
            "name": "ro-offense",
            "status": "used",
            "licence": "CC-BY-SA-4.0",
            "licence_class": "share-alike",
            "languages": ["ro"],
            "rows": {"train": 120, "validation": 15, "test": 14},
        },
        {
            "name": "ru-toxic",
            "status": "used",
            "licence": "CC-BY-NC-SA-4.0",
            "licence_class": "non-commercial",
            "languages": ["ru"],
            "rows": {"train": 80, "validation": 10, "test": 9},
        },
    ]
}

TEXTS = {
    "ro": (
        ["Ești un cretin, taci din gură", "idiotule ordinar", "țiganii sunt hoți proști"],
        ["Primăria repară strada", "Tramvaiul nou e gata", "țiganii au sărbătorit azi"],
    ),
    "en": (
        ["you stupid idiot", "shut up moron", "gay people are disgusting idiots"],
        ["the council approved the budget", "nice article, thanks", "the gay pride march was today"],
    ),
}


def _records(n_rep: int, prefix: str) -> list[CommentRecord]:
    out = []
    k = 0
    for lang, (bad, good) in TEXTS.items():
        for rep in range(n_rep):
            for i, text in enumerate(bad + good):
                abusive = int(i < len(bad))
                out.append(
                    CommentRecord(
                        id=f"{prefix}{k}",
                        text=f"{text} {rep}",
                        source=f"src-{lang}",
                        licence="CC-BY-4.0",
                        lang=lang,
                        article_title="Știri locale" if i % 2 else None,
                        article_text="Consiliul local a votat." if i % 2 else None,
                        labels={
                            "abusive": abusive,
                            "mocking": None if lang == "en" else i % 2,
                            "off_topic": 0,
                        },
                        synthetic=False,
                    )
                )
                k += 1
        out.append(
            CommentRecord(
                id=f"{prefix}{k}s",
                text="Vând Logan 2012",
                source=f"src-{lang}",
                licence="CC-BY-4.0",
                lang=lang,
                article_title="Tramvai",
                labels={"abusive": 0, "mocking": None, "off_topic": 1},
                synthetic=True,
            )
        )
        k += 1
    return out


def _metrics() -> dict:
    data = EvalData.from_records(_records(2, "t"))
    rng = np.random.default_rng(1)
    p_t = np.clip(np.nan_to_num(data.y, nan=0.5) * 0.7 + rng.random(data.y.shape) * 0.3, 0, 1)
    p_b = rng.random(data.y.shape)
    p_s = np.clip(np.nan_to_num(data.y, nan=0.5) * 0.9 + rng.random(data.y.shape) * 0.1, 0, 1)
    th = {"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5}
    terms = {"ro": ["țigan*"], "en": ["gay"]}
    s = evaluate_model(data, p_s, {**th, "abusive": 0.42}, terms, bias_min_support=1)
    t = evaluate_model(data, p_t, th, terms, bias_min_support=1)
    b = evaluate_model(data, p_b, th, terms, bias_min_support=1)
    modes = {"abusive": "blend", "mocking": "ngram", "off_topic": "transformer"}
    return {
        "split": "test",
        "dataset": "data/x",
        "n_rows": len(data),
        "n_synthetic": 2,
        "shipped": s,
        "transformer": t,
        "baseline": b,
        "hybrid": {
            "fitted_on": "13 validation rows of data/x",
            "thresholds": {**th, "abusive": 0.42},
            "per_label": {k: {"mode": m, "why": f"because {k}"} for k, m in modes.items()},
        },
        "comparison": {
            "shipped_vs_ngram": {
                v: compare_models(
                    s["cells"][v], b["cells"][v], 3, 3, name_a="shipped", name_b="ngram", margin=0.01
                )
                for v in s["cells"]
            }
        },
        "plots": {"abusive": "pr_abusive.png"},
        "library_versions": {"numpy": "1.0"},
    }


def test_merge_sources_uses_run_rows_and_build_splits() -> None:
    rows = {r["name"]: r for r in merge_sources(RUN_SOURCES, BUILD_INFO)}
    assert rows["ro-offense"]["split_rows"]["test"] == 14 and rows["ro-offense"]["rows"] == 120
    assert rows["ru-toxic"]["licence_class"] == "non-commercial"
    assert rows["handmade"]["licence_class"] == "permissive"  # classified from the licence string
    only_build = merge_sources([], BUILD_INFO)
    assert [r["name"] for r in only_build] == ["ro-offense", "ru-toxic"]
    assert only_build[0]["rows"] == 120


def test_model_card_sections_and_licence_warning() -> None:
    info = RunInfo(data_sources=RUN_SOURCES, training_config={"lr": 3e-5, "epochs": 2}, base_model="e5-small")
    card = render_model_card(
        info, _metrics(), BUILD_INFO, model_name="quick", library_versions={"torch": "2.13"}
    )
    for heading in (
        "## Intended use",
        "## Training data",
        "## Evaluation",
        "## Thresholds and calibration",
        "## Bias check",
        "## Known limitations",
        "## Training configuration",
        "## Library versions",
    ):
        assert heading in card
    assert "Triage for human moderators" in card and "Not for automatic removal" in card
    assert "Licence warning" in card and "ru-toxic (CC-BY-NC-SA-4.0, non-commercial)" in card
    assert "handmade" in card.split("Licence warning")[1].split("\n\n")[1] or "handmade" in card
    assert "Share-alike" in card and "ro-offense (CC-BY-SA-4.0)" in card
    assert "[abusive](pr_abusive.png)" in card
    assert '"lr": 3e-05' in card and "| torch | 2.13 |" in card
    # which model the shipped score uses, and why; shipped numbers first
    assert card.index("## How the shipped score is computed") < card.index("## Evaluation")
    assert "| mocking | character n-gram model | because mocking |" in card
    assert "| abusive | transformer + n-gram blend | because abusive |" in card
    header = (
        "| label | lang | pos | neg | PR-AUC | precision | recall | F1 | PR-AUC transformer | PR-AUC n-gram |"
    )
    assert header in card
    metrics = _metrics()
    shipped_all = next(c for c in metrics["shipped"]["cells"]["without_synthetic"] if c["source"] == "all")
    c = shipped_all
    assert f"| abusive | all | {c['positives']} | {c['negatives']} | {c['pr_auc']:.3f} |" in card
    assert "| abusive | 0.420 | 0.500 | 1.000 |" in card  # shipped threshold, transformer's, temperature
    assert "uses the character n-gram model" in card and "`abusive`, `mocking`" in card


def test_model_card_says_precision_threads_and_rows_seen() -> None:
    info = RunInfo(
        data_sources=RUN_SOURCES,
        training_config={"batch_size": 16, "grad_accum": 1, "precision": "bf16"},
        extra={
            "steps": 2665,
            "train_rows": 64000,
            "precision": "bf16",
            "precision_reason": "CPU flags avx512_bf16",
            "threads": 1,
            "seconds_per_step": 1.23456,
        },
    )
    card = render_model_card(info, _metrics(), BUILD_INFO, model_name="full")
    assert "| precision | bf16 |" in card and "| precision_reason | CPU flags avx512_bf16 |" in card
    assert "| threads | 1 |" in card and "| seconds per step | 1.235 |" in card
    assert "| training rows seen (steps x batch) | 42640 |" in card


def test_model_card_without_metrics_or_flagged_sources() -> None:
    info = RunInfo(data_sources=[{"name": "handmade", "licence": "MIT", "rows": 10}])
    card = render_model_card(info, None, None)
    assert "Not evaluated yet" in card and "Licence warning" not in card
    assert "| handmade | MIT | permissive |" in card


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def tiny_run(tiny_base: Path, tmp_path: Path) -> tuple[Path, Path]:
    from commentmod.training.data.build_io import BuildResult, save_build
    from commentmod.training.fit.modeling import CommentClassifier

    run_dir = tmp_path / "run"
    model = CommentClassifier.from_base(tiny_base)
    info = RunInfo(
        thresholds={"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5},
        data_sources=[{"name": "src-ro", "licence": "CC-BY-4.0", "rows": 13}],
        training_config={"max_steps": 0},
        base_model="tiny",
    )
    info.context_rule = ContextRule(max_length=64, max_context_tokens=16, min_context_tokens=8, stride=8)
    model.save(run_dir, tiny_base / "tokenizer.json", info)
    splits = {"train": _records(3, "a"), "validation": _records(1, "v"), "test": _records(2, "t")}
    build = BuildResult(
        splits=splits,
        info={
            "sources": [
                {
                    "name": "src-ro",
                    "status": "used",
                    "licence": "CC-BY-4.0",
                    "languages": ["ro"],
                    "rows": {"train": 13},
                }
            ]
        },
    )
    data_dir = save_build(build, tmp_path / "data")
    return run_dir, data_dir


def test_commentmod_evaluate_end_to_end(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    from commentmod.serving.cli import main

    run_dir, data_dir = tiny_run
    out = tmp_path / "report"
    args = [
        "evaluate",
        "--model",
        str(run_dir),
        "--data",
        str(data_dir),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main([*args, "--split", "test", "--batch-size", "8"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_rows"] == 26 and metrics["n_synthetic"] == 2
    for model in ("shipped", "transformer", "baseline"):
        cells = metrics[model]["cells"]["with_synthetic"]
        overall = next(
            c for c in cells if c["label"] == "abusive" and c["lang"] == "all" and c["source"] == "all"
        )
        assert (overall["positives"], overall["negatives"]) == (12, 14), model
        assert {c["lang"] for c in cells} == {"all", "ro", "en"}
    assert metrics["baseline"]["trained_now"] is True
    assert metrics["hybrid"]["refitted_now"] is True
    assert set(metrics["hybrid"]["per_label"]) == {"abusive", "mocking", "off_topic"}
    assert all(v["why"] for v in metrics["hybrid"]["per_label"].values())
    assert metrics["shipped"]["thresholds"] == metrics["hybrid"]["thresholds"]
    assert set(metrics["comparison"]) == {"shipped_vs_ngram", "transformer_vs_ngram"}
    assert metrics["comparison"]["shipped_vs_ngram"]["with_synthetic"]["margin"] == 0.01
    assert set(metrics["probe"]) == {"shipped", "transformer", "ngram"}
    assert metrics["probe"]["shipped"]["n"] >= 100
    assert {t["term"] for t in metrics["shipped"]["bias"]["terms"]} <= {"țigan*", "gay", "gays"}
    for name in ("EVALUATION.md", "pr_abusive.png", "pr_mocking.png", "pr_off_topic.png"):
        assert (out / name).is_file(), name
    # the hybrid's parts live in the run directory (export packs them from there)
    assert (run_dir / "baseline" / "baseline.onnx").is_file() and (run_dir / "stacker.json").is_file()
    assert json.loads((run_dir / "baseline" / "baseline.json").read_text())["extra"]["dataset"] == str(
        data_dir
    )
    md = (out / "EVALUATION.md").read_text()
    assert (
        "## The hybrid stacker" in md
        and "## Shortcut probe" in md
        and "| shipped | transformer | ngram |" in md
    )
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "## Intended use" in card and "../report/pr_abusive.png" in card
    assert "## How the shipped score is computed" in card and "## Shortcut probe" in card
    # second run reuses the n-gram model and the stacker; --refit-hybrid refits the stacker only
    stacker = (run_dir / "stacker.json").read_text()
    assert main(args) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["baseline"]["trained_now"] is False and again["hybrid"]["refitted_now"] is False
    assert (run_dir / "stacker.json").read_text() == stacker
    b1 = metrics["baseline"]["cells"]["with_synthetic"][0]["pr_auc"]
    b2 = again["baseline"]["cells"]["with_synthetic"][0]["pr_auc"]
    assert b1 == pytest.approx(b2, abs=1e-4)
    s1 = metrics["shipped"]["cells"]["with_synthetic"][0]["pr_auc"]
    assert again["shipped"]["cells"]["with_synthetic"][0]["pr_auc"] == pytest.approx(s1, abs=1e-4)
    assert main([*args, "--refit-hybrid"]) == 0
    refit = json.loads((out / "metrics.json").read_text())
    assert refit["hybrid"]["refitted_now"] is True and refit["baseline"]["trained_now"] is False
