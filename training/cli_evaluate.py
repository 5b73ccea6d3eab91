"""``commentmod evaluate``: score a split with the shipped hybrid, the transformer and the n-gram model.

Writes into ``--out`` (default: the model directory): ``metrics.json``, ``EVALUATION.md``,
``pr_<label>.png``; and ``MODEL_CARD.md`` into the model directory. The hybrid's parts live in the
run directory: the n-gram model in ``RUN/baseline/`` (trained on the dataset's train split when
missing) and the stacker in ``RUN/stacker.json`` (fitted on the validation split by
:func:`commentmod.training.stacker.fit_hybrid` when missing or stale, or with ``--refit-hybrid``).
When ``training/probe.py`` is present, the counterfactual shortcut probe set is scored too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commentmod.model.errors import CommentmodError
from commentmod.model.labels import LABELS

log = logging.getLogger("commentmod.evaluate")

DEFAULT_TERMS = Path(__file__).resolve().parent.parent / "configs" / "identity_terms.yaml"
VERSIONED = (
    "commentmod",
    "numpy",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
)


@dataclass(frozen=True)
class EvaluateOptions:
    model_dir: Path
    data_dir: Path
    split: str = "test"
    out_dir: Path | None = None
    batch_size: int = 32
    device: str = "auto"
    identity_terms: Path | None = DEFAULT_TERMS
    bias_min_support: int = 5
    compare_min_support: int = 20
    compare_margin: float = 0.01
    refit_hybrid: bool = False
    max_validation_rows: int | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, type=Path, help="run directory written by `commentmod train`"
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="dataset directory from `commentmod data build`"
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "validation", "test"), help="split to score"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="report directory (default: the model directory)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="transformer batch size (default 32)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")
    parser.add_argument(
        "--identity-terms", type=Path, default=DEFAULT_TERMS, help="YAML of identity terms for the bias check"
    )
    parser.add_argument(
        "--bias-min-support", type=int, default=5, help="min positives and negatives per term"
    )
    parser.add_argument(
        "--compare-min-support", type=int, default=20, help="min positives and negatives per compared cell"
    )
    parser.add_argument(
        "--compare-margin",
        type=float,
        default=0.01,
        help="the shipped model should beat the n-gram model's PR-AUC by at least this much (default 0.01)",
    )
    parser.add_argument(
        "--refit-hybrid",
        action="store_true",
        help="refit the hybrid stacker (RUN/stacker.json) on the validation split even when it is current",
    )
    parser.add_argument(
        "--max-validation-rows",
        type=int,
        default=None,
        help="when (re)fitting the stacker: fit on a seeded random sample of this many validation rows "
        "(default: all)",
    )


def library_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _load_build_info(data_dir: Path) -> dict[str, Any]:
    from commentmod.training.dataset_build import DataBuildError, load_build_info

    try:
        return load_build_info(data_dir)
    except DataBuildError as exc:
        log.warning("%s; the model card will list only the run's data sources", exc)
        return {}


@dataclass(frozen=True)
class Hybrid:
    """The hybrid's parts as evaluate uses them."""

    spec: Any  # HybridSpec
    thresholds: dict[str, float]
    ngram: Any  # OnnxBaseline
    ngram_trained_now: bool
    refitted_now: bool


def _hybrid(opts: EvaluateOptions, run: Any) -> Hybrid:
    """Load the run's n-gram model and stacker; train/fit them first when missing, stale or asked to."""
    from commentmod.training.stacker import ensure_ngram, fit_hybrid, load_hybrid, stale_reason

    reason = "--refit-hybrid" if opts.refit_hybrid else stale_reason(opts.model_dir)
    ngram, trained_now = ensure_ngram(opts.model_dir, opts.data_dir, retrain_stale=reason is not None)
    if reason is None:
        spec, thresholds = load_hybrid(opts.model_dir)
        log.info("hybrid stacker loaded from %s (fitted on %s)", opts.model_dir, spec.fitted_on)
        return Hybrid(spec, thresholds, ngram, trained_now, refitted_now=False)
    log.info("fitting the hybrid stacker: %s", reason)
    spec, thresholds = fit_hybrid(
        opts.model_dir,
        opts.data_dir,
        max_validation_rows=opts.max_validation_rows,
        batch_size=opts.batch_size,
        device=opts.device,
        run=run,
    )
    return Hybrid(spec, thresholds, ngram, trained_now, refitted_now=True)


def score_all(
    run: Any, hybrid: Hybrid, items: list[Any], texts: list[str], opts: EvaluateOptions
) -> tuple[dict[str, np.ndarray], float]:
    """Probabilities of the three models (metrics keys) and the transformer's seconds."""
    from commentmod.serving.hybrid import stable_sigmoid, stack_probs

    start = time.perf_counter()
    logits = run.logits(items, opts.batch_size, opts.device)
    seconds = time.perf_counter() - start
    p_t = stable_sigmoid(logits / run.temperature()).astype(np.float32)
    p_n = hybrid.ngram.predict_probs(texts)
    return {"shipped": stack_probs(logits, p_n, hybrid.spec), "transformer": p_t, "baseline": p_n}, seconds


def model_thresholds(run: Any, hybrid: Hybrid) -> dict[str, dict[str, float]]:
    return {
        "shipped": dict(hybrid.thresholds),
        "transformer": dict(run.info.thresholds),
        "baseline": dict(hybrid.ngram.thresholds),
    }


def hybrid_report(hybrid: Hybrid, model_dir: Path) -> dict[str, Any]:
    """The metrics.json "hybrid" section: per label mode, why, coefficients, validation CV numbers."""
    spec = hybrid.spec.to_dict()
    return {
        "fitted_on": spec["fitted_on"],
        "refitted_now": hybrid.refitted_now,
        "stacker": str(Path(model_dir) / "stacker.json"),
        "thresholds": dict(hybrid.thresholds),
        "per_label": spec["per_label"],
    }


def comparisons(reports: dict[str, Any], opts: EvaluateOptions) -> dict[str, Any]:
    """Shipped vs n-gram (by at least ``compare_margin``) and transformer vs n-gram, per variant."""
    from commentmod.training.evaluate import compare_models

    support = opts.compare_min_support
    out: dict[str, Any] = {}
    for name, margin in (("shipped", opts.compare_margin), ("transformer", 0.0)):
        out[f"{name}_vs_ngram"] = {
            variant: compare_models(
                reports[name]["cells"][variant],
                reports["baseline"]["cells"][variant],
                support,
                support,
                name_a=name,
                name_b="ngram",
                margin=margin,
            )
            for variant in reports[name]["cells"]
        }
    return out


def probe_reports(run: Any, hybrid: Hybrid, opts: EvaluateOptions) -> dict[str, Any] | None:
    """The shortcut probe scored by all three models (None when ``training/probe.py`` is absent)."""
    if importlib.util.find_spec("commentmod.training.probe") is None:
        log.info("no training/probe.py: skipping the shortcut probe")
        return None
    from commentmod.training.probe import load_probe, probe_report

    rows = load_probe()
    probs, _ = score_all(run, hybrid, [r.item for r in rows], [r.text for r in rows], opts)
    thresholds = model_thresholds(run, hybrid)
    labels = list(run.info.labels)
    log.info("scored %d shortcut probe rows", len(rows))
    # a label without an n-gram head (NaN) flags nothing: 0, not an error
    return {
        name: probe_report(rows, np.nan_to_num(probs[key], nan=0.0), thresholds[key], labels)
        for name, key in (("shipped", "shipped"), ("transformer", "transformer"), ("ngram", "baseline"))
    }


def _model_reports(
    data: Any, probs: dict[str, np.ndarray], thresholds: dict[str, dict[str, float]], opts: EvaluateOptions
) -> dict[str, Any]:
    from commentmod.training.evaluate import evaluate_model, load_identity_terms

    terms = None
    if opts.identity_terms is not None and Path(opts.identity_terms).is_file():
        terms = load_identity_terms(opts.identity_terms)
    else:
        log.warning("no identity terms file at %s; skipping the bias check", opts.identity_terms)
    return {
        name: evaluate_model(data, p, thresholds[name], terms, bias_min_support=opts.bias_min_support)
        for name, p in probs.items()
    }


def _write_reports(
    metrics: dict[str, Any], out_dir: Path, model_dir: Path, info: Any, data_dir: Path
) -> None:
    from commentmod.training.evaluate import render_evaluation_md
    from commentmod.training.model_card import render_model_card

    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8"
    )
    (out_dir / "EVALUATION.md").write_text(render_evaluation_md(metrics) + "\n", encoding="utf-8")
    rel = os.path.relpath(out_dir, model_dir)
    card_metrics = dict(metrics)
    card_metrics["plots"] = {k: v if rel == "." else f"{rel}/{v}" for k, v in metrics["plots"].items()}
    card = render_model_card(info, card_metrics, _load_build_info(data_dir), model_name=model_dir.name)
    (model_dir / "MODEL_CARD.md").write_text(card + "\n", encoding="utf-8")
    log.info("wrote metrics.json, EVALUATION.md and PR curves to %s; MODEL_CARD.md to %s", out_dir, model_dir)


def evaluate_run(opts: EvaluateOptions) -> dict[str, Any]:
    """Everything ``commentmod evaluate`` does; returns the metrics dict (also written to disk)."""
    from commentmod.training.dataset_build import load_split
    from commentmod.training.evaluate import EvalData, plot_pr_curves
    from commentmod.training.stacker import LoadedRun

    model_dir = Path(opts.model_dir)
    out_dir = Path(opts.out_dir or model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = LoadedRun.load(model_dir)
    if tuple(run.info.labels) != LABELS:
        raise CommentmodError(
            f"{model_dir} has labels {run.info.labels}; this commentmod evaluates {list(LABELS)}"
        )
    hybrid = _hybrid(opts, run)
    data = EvalData.from_records(load_split(opts.data_dir, opts.split))
    log.info("scoring %d %s rows (%d synthetic)", len(data), opts.split, int(data.synthetic.sum()))
    probs, t_seconds = score_all(run, hybrid, data.items(), data.texts, opts)
    reports = _model_reports(data, probs, model_thresholds(run, hybrid), opts)
    reports["transformer"]["seconds"] = round(t_seconds, 2)
    reports["baseline"].update({"dir": str(model_dir / "baseline"), "trained_now": hybrid.ngram_trained_now})
    metrics: dict[str, Any] = {
        "model_name": model_dir.name,
        "model_dir": str(model_dir),
        "dataset": str(opts.data_dir),
        "split": opts.split,
        "n_rows": len(data),
        "n_synthetic": int(data.synthetic.sum()),
        "labels": list(data.labels),
        "temperature": dict(run.info.temperature),
        **reports,
        "hybrid": hybrid_report(hybrid, model_dir),
        "comparison": comparisons(reports, opts),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "library_versions": library_versions(),
    }
    probe = probe_reports(run, hybrid, opts)
    if probe is not None:
        metrics["probe"] = probe
    names = {"shipped": "shipped", "transformer": "transformer", "baseline": "n-gram"}
    metrics["plots"] = plot_pr_curves(data, {names[k]: p for k, p in probs.items()}, out_dir)
    _write_reports(metrics, out_dir, model_dir, run.info, opts.data_dir)
    return metrics


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A short table for the terminal: PR-AUC per label x language, shipped / transformer / n-gram."""
    from commentmod.training.evaluate import ALL, find_cell, fmt

    header = ("label", "lang", "pos", "neg", "PR-AUC S", "PR-AUC T", "PR-AUC N", "F1 S", "uses")
    lines = ["{:<10} {:<5} {:>6} {:>7} {:>9} {:>9} {:>9} {:>6}  {}".format(*header)]
    t_cells = metrics["transformer"]["cells"]["with_synthetic"]
    n_cells = metrics["baseline"]["cells"]["with_synthetic"]
    modes = {k: v["mode"] for k, v in metrics["hybrid"]["per_label"].items()}
    for cell in metrics["shipped"]["cells"]["with_synthetic"]:
        if cell["source"] != ALL:
            continue
        t = find_cell(t_cells, cell["label"], cell["lang"]) or {}
        n = find_cell(n_cells, cell["label"], cell["lang"]) or {}
        lines.append(
            f"{cell['label']:<10} {cell['lang']:<5} {cell['positives']:>6} {cell['negatives']:>7} "
            f"{fmt(cell['pr_auc']):>9} {fmt(t.get('pr_auc')):>9} {fmt(n.get('pr_auc')):>9} "
            f"{fmt(cell['f1']):>6}  {modes.get(cell['label'], '?')}"
        )
    for variant, comp in metrics["comparison"]["shipped_vs_ngram"].items():
        worse = ", ".join(f"{c['label']}/{c['lang']}" for c in comp["not_better"]) or "none"
        lines.append(f"{variant}: shipped PR-AUC not >= n-gram + {comp['margin']:g} in: {worse}")
    return lines


def run(args: argparse.Namespace) -> int:
    opts = EvaluateOptions(
        model_dir=args.model,
        data_dir=args.data,
        split=args.split,
        out_dir=args.out,
        batch_size=args.batch_size,
        device=args.device,
        identity_terms=args.identity_terms,
        bias_min_support=args.bias_min_support,
        compare_min_support=args.compare_min_support,
        compare_margin=args.compare_margin,
        refit_hybrid=args.refit_hybrid,
        max_validation_rows=args.max_validation_rows,
    )
    try:
        metrics = evaluate_run(opts)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(metrics)))
    print(f"reports in {opts.out_dir or opts.model_dir}")
    return 0
