"""Evaluation metrics on hand-made arrays with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commentmod.model.record import CommentRecord
from commentmod.training.fit.calibration import reliability_table
from commentmod.training.report.bias import (
    bias_aucs,
    bias_report,
    fold_text,
    generalized_mean,
    load_identity_terms,
    term_masks,
)
from commentmod.training.report.evaluate import EvalData, evaluate_model
from commentmod.training.report.metrics import (
    EvaluationError,
    binary_metrics,
    calibration_report,
    cell_metrics,
    compare_models,
    find_cell,
    pr_auc,
    roc_auc,
)
from commentmod.training.report.plots import plot_pr_curves
from commentmod.training.report.render import render_evaluation_md

REPO = Path(__file__).resolve().parent.parent
NAN = np.nan


def test_perfect_ranking_and_masked_none() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    p = np.array([0.1, 0.2, 0.8, 0.9])
    assert pr_auc(y, p) == pytest.approx(1.0)
    assert roc_auc(y, p) == pytest.approx(1.0)
    # a NaN (None) label is excluded, not read as 0: a high-scored unknown row changes nothing
    y_nan = np.array([0, 0, 1, 1, NAN])
    p_nan = np.array([0.1, 0.2, 0.8, 0.9, 0.99])
    assert pr_auc(y_nan, p_nan) == pytest.approx(1.0)
    m = binary_metrics(y_nan, p_nan, 0.5)
    assert (m["n"], m["positives"], m["negatives"]) == (4, 2, 2)
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["f1"] == 1.0
    # had it been read as 0, precision would drop
    assert binary_metrics(np.nan_to_num(y_nan), p_nan, 0.5)["precision"] == pytest.approx(2 / 3)


def test_inverted_ranking_and_threshold_metrics() -> None:
    y = np.array([1, 1, 0, 0], dtype=float)
    p = np.array([0.1, 0.2, 0.8, 0.9])
    assert roc_auc(y, p) == pytest.approx(0.0)
    assert pr_auc(y, p) == pytest.approx(0.5 * (1 / 3) + 0.5 * (2 / 4))
    m = binary_metrics(np.array([1, 0, 1, 0.0]), np.array([0.9, 0.8, 0.3, 0.1]), 0.5)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["predicted_positive"] == 2


def test_single_class_cells_are_none_not_crash() -> None:
    m = binary_metrics(np.array([0, 0, 0.0]), np.array([0.1, 0.7, 0.3]), 0.5)
    assert m["pr_auc"] is None and m["roc_auc"] is None and m["recall"] is None
    assert m["precision"] == 0.0 and m["f1"] is None
    m = binary_metrics(np.array([1, 1.0]), np.array([0.1, 0.2]), 0.5)
    assert m["precision"] is None and m["recall"] == 0.0 and m["pr_auc"] is None
    empty = binary_metrics(np.array([NAN, NAN]), np.array([0.1, 0.2]), 0.5)
    assert empty["n"] == 0 and empty["f1"] is None
    # NaN scores (baseline label without a head) -> excluded
    assert binary_metrics(np.array([0, 1.0]), np.array([NAN, NAN]), 0.5)["n"] == 0


def _cells_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([[1, 0, NAN], [0, 1, NAN], [1, NAN, 0], [0, NAN, 1], [1, 0, 0], [0, 1, 1]], dtype=float)
    p = np.array(
        [[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.7, 0.5, 0.1], [0.4, 0.5, 0.9], [0.6, 0.3, 0.2], [0.1, 0.7, 0.8]]
    )
    langs = np.array(["ro", "ro", "en", "en", "ro", "en"], dtype=object)
    sources = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    return y, p, langs, sources


def test_cell_metrics_slices() -> None:
    y, p, langs, sources = _cells_data()
    cells = cell_metrics(y, p, langs, sources, {"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5})
    keys = {(c["label"], c["lang"], c["source"]) for c in cells}
    assert ("abusive", "all", "all") in keys
    assert ("abusive", "ro", "all") in keys and ("abusive", "all", "b") in keys
    assert ("abusive", "ro", "c") in keys and ("abusive", "en", "c") in keys  # source c holds two languages
    assert ("abusive", "ro", "a") not in keys  # single-language source: not repeated
    ro = find_cell(cells, "abusive", "ro")
    assert ro is not None and (ro["positives"], ro["negatives"]) == (2, 1) and ro["pr_auc"] == 1.0
    off_a = find_cell(cells, "off_topic", "all", "a")
    assert off_a is not None and off_a["n"] == 0 and off_a["pr_auc"] is None
    with pytest.raises(EvaluationError, match="shapes"):
        cell_metrics(y, p[:3], langs, sources, {})


def _records() -> list[CommentRecord]:
    rows = [
        ("r1", "Ești un țigan prost", "ro", {"abusive": 1, "mocking": 0, "off_topic": 0}, False),
        ("r2", "Tiganii au votat azi", "ro", {"abusive": 0, "mocking": 0, "off_topic": 0}, False),
        ("r3", "Idiotule", "ro", {"abusive": 1, "mocking": 1, "off_topic": None}, False),
        ("r4", "Vând Logan", "ro", {"abusive": 0, "mocking": 0, "off_topic": 1}, True),
        ("e1", "you gay idiot", "en", {"abusive": 1, "mocking": 1, "off_topic": 0}, False),
        ("e2", "the gay pride march", "en", {"abusive": 0, "mocking": 0, "off_topic": 0}, False),
        ("e3", "nice article", "en", {"abusive": 0, "mocking": None, "off_topic": 1}, True),
    ]
    return [
        CommentRecord(
            id=i, text=t, source=f"src-{lang}", licence="CC-BY-4.0", lang=lang, labels=lab, synthetic=syn
        )
        for i, t, lang, lab, syn in rows
    ]


def test_synthetic_exclusion_changes_support() -> None:
    data = EvalData.from_records(_records())
    p = np.full(data.y.shape, 0.5)
    res = evaluate_model(data, p, {"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5})
    with_syn = find_cell(res["cells"]["with_synthetic"], "off_topic")
    without = find_cell(res["cells"]["without_synthetic"], "off_topic")
    assert with_syn is not None and without is not None
    assert (with_syn["positives"], with_syn["negatives"]) == (2, 4)
    assert (without["positives"], without["negatives"]) == (0, 4)
    assert without["pr_auc"] is None  # one class left: undefined, not a crash


def test_calibration_reliability_and_brier() -> None:
    y = np.array([0, 0, 1, 1, NAN])
    p = np.array([0.05, 0.15, 0.95, 0.85, 0.5])
    rep = calibration_report(np.stack([y, y, y], 1), np.stack([p, p, p], 1))
    table = rep["abusive"]["bins"]  # the NaN (unknown) row is excluded, not read as 0
    assert rep["abusive"]["n"] == 4 and len(table) == 10 and sum(r["count"] for r in table) == 4
    assert table[0]["count"] == 1 and table[0]["fraction_positive"] == 0.0
    assert table[9]["mean_predicted"] == pytest.approx(0.95) and table[5]["mean_predicted"] is None
    assert rep["abusive"]["brier"] == pytest.approx((0.05**2 + 0.15**2 + 0.05**2 + 0.15**2) / 4)
    assert (
        reliability_table(np.array([1.0]), np.array([1.0]))[9]["count"] == 1
    )  # p = 1.0 goes in the last bin
    assert rep["abusive"]["ece"] == pytest.approx(0.1)


def test_calibration_report_of_a_label_without_rows_is_none() -> None:
    y = np.array([[NAN], [NAN]])
    rep = calibration_report(y, np.array([[0.2], [0.7]]), labels=("abusive",))
    assert rep["abusive"]["n"] == 0 and rep["abusive"]["brier"] is None and rep["abusive"]["ece"] is None
    assert all(b["count"] == 0 and b["mean_predicted"] is None for b in rep["abusive"]["bins"])


def test_bias_aucs_hand_made() -> None:
    # subgroup = rows 0-3; background = rows 4-7
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=float)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.2, 0.1])
    sub = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    res = bias_aucs(y, p, sub)
    assert res["subgroup_auc"] == pytest.approx(1.0)
    # BPSN: subgroup negatives (0.7, 0.6) vs background positives (0.5, 0.4): all negatives score higher
    assert res["bpsn_auc"] == pytest.approx(0.0)
    # BNSP: subgroup positives (0.9, 0.8) vs background negatives (0.2, 0.1)
    assert res["bnsp_auc"] == pytest.approx(1.0)
    assert generalized_mean([1.0, 1.0]) == pytest.approx(1.0)
    assert generalized_mean([0.5, 1.0]) < 0.6  # dominated by the worst value


def test_bias_report_terms_support_and_folding() -> None:
    texts = ["Ţiganii fură", "TIGANCA a cântat", "țigani buni", "tigan hoț", "alt text", "bla", "prost", "ok"]
    langs = np.array(["ro"] * 8, dtype=object)
    y = np.array([1, 0, 0, 1, 1, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.2, 0.3, 0.8, 0.7, 0.1, 0.6, 0.2])
    rep = bias_report(texts, langs, y, p, {"ro": ["țigan*", "maghiar*"], "uk": ["ром"]}, 2, 2)
    assert [t["term"] for t in rep["terms"]] == ["țigan*"]
    term = rep["terms"][0]
    assert (term["positives"], term["negatives"]) == (2, 2)
    assert term["subgroup_auc"] == pytest.approx(1.0)
    skipped = {(s["lang"], s["term"]) for s in rep["skipped"]}
    assert skipped == {("ro", "maghiar*"), ("uk", "ром")}
    assert fold_text("ŞTIINŢĂ  Ёж") == "stiinta еж"
    masks = term_masks(["jewelry shop", "the Jews", "jew"], ["jew"])
    assert masks["jew"].tolist() == [False, False, True]


def test_identity_terms_file_loads() -> None:
    terms = load_identity_terms(REPO / "configs" / "identity_terms.yaml")
    assert {"en", "ro", "uk", "ru"} <= set(terms)
    assert all(len(v) >= 10 for v in terms.values())
    with pytest.raises(EvaluationError, match="not found"):
        load_identity_terms(REPO / "configs" / "missing.yaml")


def test_compare_models_lists_cells_not_better() -> None:
    def cell(label: str, lang: str, pr: float | None, pos: int = 30, neg: int = 30) -> dict:
        return {
            "label": label,
            "lang": lang,
            "source": "all",
            "positives": pos,
            "negatives": neg,
            "pr_auc": pr,
        }

    t = [
        cell("abusive", "all", 0.8),
        cell("abusive", "ro", 0.5),
        cell("mocking", "all", 0.7, pos=3),
        cell("off_topic", "en", None),
    ]
    b = [
        cell("abusive", "all", 0.6),
        cell("abusive", "ro", 0.6),
        cell("mocking", "all", 0.9, pos=3),
        cell("off_topic", "en", 0.3),
    ]
    comp = compare_models(t, b)
    assert len(comp["cells"]) == 2
    assert [(c["label"], c["lang"]) for c in comp["not_better"]] == [("abusive", "ro")]
    assert {(c["label"], c["lang"]) for c in comp["skipped"]} == {("mocking", "all"), ("off_topic", "en")}
    assert comp["transformer_better_everywhere"] is False
    # with a margin, "better" means at least margin above: 0.8 vs 0.6 passes 0.2, fails 0.25
    s = [cell("abusive", "all", 0.8)]
    assert compare_models(s, b, name_a="shipped", name_b="ngram", margin=0.2)["shipped_better_everywhere"]
    strict = compare_models(s, b, name_a="shipped", name_b="ngram", margin=0.25)
    assert strict["not_better"][0]["ngram"] == 0.6 and strict["models"] == ["shipped", "ngram"]


def test_evaluate_model_bias_render_and_plots(tmp_path: Path) -> None:
    data = EvalData.from_records(_records())
    rng = np.random.default_rng(0)
    p_t = np.clip(np.nan_to_num(data.y, nan=0.5) * 0.6 + rng.random(data.y.shape) * 0.4, 0, 1)
    p_b = rng.random(data.y.shape)
    p_b[:, 2] = np.nan
    terms = {"ro": ["țigan*"], "en": ["gay"]}
    thresholds = {"abusive": 0.5, "mocking": 0.5, "off_topic": 0.5}
    t = evaluate_model(data, p_t, thresholds, terms, bias_min_support=1)
    b = evaluate_model(data, p_b, thresholds, terms, bias_min_support=1)
    shipped = evaluate_model(
        data, (p_t + np.nan_to_num(p_b, nan=0.5)) / 2, thresholds, terms, bias_min_support=1
    )
    assert {r["term"] for r in t["bias"]["terms"]} == {"țigan*", "gay"}
    assert b["calibration"]["off_topic"]["n"] == 0 and b["calibration"]["off_topic"]["brier"] is None
    plots = plot_pr_curves(data, {"shipped": p_t, "transformer": p_t, "n-gram": p_b}, tmp_path)
    assert set(plots) == {"abusive", "mocking", "off_topic"}
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in plots.values())

    def compare(a: dict, name: str, margin: float) -> dict:
        return {
            v: compare_models(a["cells"][v], b["cells"][v], 1, 1, name_a=name, name_b="ngram", margin=margin)
            for v in a["cells"]
        }

    hybrid = {
        "fitted_on": "12 validation rows of data/x",
        "thresholds": thresholds,
        "per_label": {
            k: {
                "mode": "blend",
                "coef_transformer": 1.0,
                "coef_ngram": 0.5,
                "intercept": -0.1,
                "why": f"why {k}",
            }
            for k in thresholds
        },
    }
    metrics = {
        "model_name": "tiny",
        "split": "test",
        "shipped": shipped,
        "transformer": t,
        "baseline": b,
        "hybrid": hybrid,
        "comparison": {
            "shipped_vs_ngram": compare(shipped, "shipped", 0.01),
            "transformer_vs_ngram": compare(t, "transformer", 0),
        },
        "plots": plots,
    }
    md = render_evaluation_md(metrics)
    assert "## All rows: per label x language" in md and "Without synthetic" in md
    assert "| PR-AUC S | PR-AUC T | PR-AUC N | F1 S | F1 T | F1 N | P S | R S | S ≥ N + 0.01 |" in md
    abusive_all = next(line for line in md.splitlines() if line.startswith("| abusive | all | 3 | 4 |"))
    assert (
        abusive_all.split(" | ")[4]
        == f"{find_cell(shipped['cells']['with_synthetic'], 'abusive')['pr_auc']:.3f}"
    )
    assert "## shipped (hybrid) vs n-gram alone: S ≥ N + 0.01 on PR-AUC?" in md
    assert "## transformer alone vs n-gram alone: T > N on PR-AUC?" in md
    assert "## The hybrid stacker" in md and "why mocking" in md and "12 validation rows of data/x" in md
    assert "| label | shipped (hybrid) | transformer alone | n-gram alone |" in md
    assert "Brier S | Brier T | Brier N" in md and "subgroup AUC T | subgroup AUC N" in md
    assert "Bias check" in md and "țigan*" in md and "pr_abusive.png" in md
