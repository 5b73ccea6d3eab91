"""The whole ``commentmod evaluate`` run: score a split with the shipped hybrid, the transformer and the
n-gram model, and write the reports.

Writes into ``out_dir`` (default: the model directory): ``metrics.json``, ``EVALUATION.md``,
``pr_<label>.png``; and ``MODEL_CARD.md`` into the model directory. The hybrid's parts live in the
run directory: the n-gram model in ``RUN/baseline/`` (trained on the dataset's train split when
missing) and the stacker in ``RUN/stacker.json`` (fitted on the validation split by
:func:`commentmod.training.fit.hybrid_fit.fit_hybrid` when missing or stale, or when asked to refit).
The counterfactual shortcut probe set (:mod:`.probe`) is scored by all three models too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...model.errors import CommentmodError
from ...model.labels import LABELS
from ...model.numeric import sigmoid
from ...model.versions import library_versions
from ...serving.hybrid import stack_probs
from ..data.build_io import DataBuildError, load_build_info, load_split
from ..fit.hybrid_fit import LoadedRun, ensure_ngram, fit_hybrid, load_hybrid, stale_reason
from .bias import load_identity_terms
from .evaluate import EvalData, evaluate_model
from .metrics import compare_models
from .model_card import render_model_card
from .plots import plot_pr_curves
from .probe import load_probe, probe_report
from .render import render_evaluation_md

log = logging.getLogger("commentmod.evaluate")

DEFAULT_TERMS = Path(__file__).resolve().parents[2] / "configs" / "identity_terms.yaml"
# the libraries whose versions metrics.json records
EVALUATION_LIBRARIES = (
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
# metrics.json key -> the model's name in PR-curve legends and in the probe section
PLOT_NAMES = {"shipped": "shipped", "transformer": "transformer", "baseline": "n-gram"}
PROBE_NAMES = {"shipped": "shipped", "transformer": "transformer", "baseline": "ngram"}


@dataclass(frozen=True)
class EvaluateOptions:
    """What ``commentmod evaluate`` was asked for (one field per command-line option)."""

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
    transformer_emoji: str = "keep"  # when fitting the stacker: keep / strip / auto (fit/emoji_rule.py)


@dataclass(frozen=True)
class Hybrid:
    """The hybrid's parts as evaluate uses them."""

    spec: Any  # HybridSpec
    thresholds: dict[str, float]
    ngram: Any  # OnnxBaseline
    ngram_trained_now: bool
    refitted_now: bool


def _load_build_info(data_dir: Path) -> dict[str, Any]:
    try:
        return load_build_info(data_dir)
    except DataBuildError as exc:
        log.warning("%s; the model card will list only the run's data sources", exc)
        return {}


def load_or_fit_hybrid(opts: EvaluateOptions, run: LoadedRun) -> Hybrid:
    """Load the run's n-gram model and stacker; train/fit them first when missing, stale or asked to."""
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
        transformer_emoji=opts.transformer_emoji,
    )
    return Hybrid(spec, thresholds, ngram, trained_now, refitted_now=True)


def score_all(
    run: LoadedRun, hybrid: Hybrid, items: list[Any], texts: list[str], opts: EvaluateOptions
) -> tuple[dict[str, np.ndarray], float]:
    """Probabilities of the three models (metrics keys) and the transformer's seconds."""
    start = time.perf_counter()
    logits = run.logits(items, opts.batch_size, opts.device)
    seconds = time.perf_counter() - start
    p_t = sigmoid(logits / run.temperature()).astype(np.float32)
    p_n = hybrid.ngram.predict_probs(texts)
    return {"shipped": stack_probs(logits, p_n, hybrid.spec), "transformer": p_t, "baseline": p_n}, seconds


def model_thresholds(run: LoadedRun, hybrid: Hybrid) -> dict[str, dict[str, float]]:
    """Each model's thresholds, by metrics key."""
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


def probe_reports(run: LoadedRun, hybrid: Hybrid, opts: EvaluateOptions) -> dict[str, Any]:
    """The shortcut probe scored by all three models (keys ``shipped``, ``transformer``, ``ngram``)."""
    rows = load_probe()
    probs, _ = score_all(run, hybrid, [r.item for r in rows], [r.text for r in rows], opts)
    thresholds = model_thresholds(run, hybrid)
    labels = list(run.info.labels)
    log.info("scored %d shortcut probe rows", len(rows))
    # a label without an n-gram head (NaN) flags nothing: 0, not an error
    return {
        name: probe_report(rows, np.nan_to_num(probs[key], nan=0.0), thresholds[key], labels)
        for key, name in PROBE_NAMES.items()
    }


def model_reports(
    data: EvalData,
    probs: dict[str, np.ndarray],
    thresholds: dict[str, dict[str, float]],
    opts: EvaluateOptions,
) -> dict[str, Any]:
    """:func:`.evaluate.evaluate_model` of each model; the bias check only when the terms file exists."""
    terms = None
    if opts.identity_terms is not None and Path(opts.identity_terms).is_file():
        terms = load_identity_terms(opts.identity_terms)
    else:
        log.warning("no identity terms file at %s; skipping the bias check", opts.identity_terms)
    return {
        name: evaluate_model(data, p, thresholds[name], terms, bias_min_support=opts.bias_min_support)
        for name, p in probs.items()
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_reports(metrics: dict[str, Any], out_dir: Path, model_dir: Path, info: Any, data_dir: Path) -> None:
    """``metrics.json`` and ``EVALUATION.md`` into ``out_dir``; ``MODEL_CARD.md`` into ``model_dir``."""
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


def _load_run(model_dir: Path) -> LoadedRun:
    run = LoadedRun.load(model_dir)
    if tuple(run.info.labels) != LABELS:
        raise CommentmodError(
            f"{model_dir} has labels {run.info.labels}; this commentmod evaluates {list(LABELS)}"
        )
    return run


def evaluate_run(opts: EvaluateOptions) -> dict[str, Any]:
    """Everything ``commentmod evaluate`` does; returns the metrics dict (also written to disk)."""
    model_dir = Path(opts.model_dir)
    out_dir = Path(opts.out_dir or model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _load_run(model_dir)
    hybrid = load_or_fit_hybrid(opts, run)
    data = EvalData.from_records(load_split(opts.data_dir, opts.split))
    log.info("scoring %d %s rows (%d synthetic)", len(data), opts.split, int(data.synthetic.sum()))
    probs, t_seconds = score_all(run, hybrid, data.items(), data.texts, opts)
    reports = model_reports(data, probs, model_thresholds(run, hybrid), opts)
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
        "library_versions": library_versions(EVALUATION_LIBRARIES),
        "probe": probe_reports(run, hybrid, opts),
    }
    metrics["plots"] = plot_pr_curves(data, {PLOT_NAMES[k]: p for k, p in probs.items()}, out_dir)
    write_reports(metrics, out_dir, model_dir, run.info, opts.data_dir)
    return metrics
