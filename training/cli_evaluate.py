"""``commentmod evaluate``: score a split with the trained model and the baseline, write the reports.

Writes into ``--out`` (default: the model directory): ``metrics.json``, ``EVALUATION.md``,
``pr_<label>.png``; and ``MODEL_CARD.md`` into the model directory. The baseline is trained on
the dataset's train split (thresholds on validation) and saved as ONNX + JSON into
``--baseline-dir`` (default ``OUT/baseline``); when that directory already holds a baseline it
is loaded instead of retrained.
"""

from __future__ import annotations

import argparse
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
    baseline_dir: Path | None = None
    batch_size: int = 32
    device: str = "auto"
    identity_terms: Path | None = DEFAULT_TERMS
    bias_min_support: int = 5
    compare_min_support: int = 20
    blend: bool = False


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
    parser.add_argument(
        "--baseline-dir",
        type=Path,
        default=None,
        help=(
            "load the baseline from here when it holds one, else train it and save it here (default "
            "OUT/baseline)"
        ),
    )
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
        "--blend",
        action="store_true",
        help="also fit transformer+baseline blend weights on validation and report the blended scores",
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


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_build_info(data_dir: Path) -> dict[str, Any]:
    from commentmod.training.dataset_build import DataBuildError, load_build_info

    try:
        return load_build_info(data_dir)
    except DataBuildError as exc:
        log.warning("%s; the model card will list only the run's data sources", exc)
        return {}


def _baseline(opts: EvaluateOptions, out_dir: Path) -> tuple[Any, Path, bool]:
    """The baseline scorer, where it is saved, and whether it was trained now."""
    from commentmod.training.baseline import META_NAME, OnnxBaseline, train_and_save
    from commentmod.training.dataset_build import load_split
    from commentmod.training.evaluate import EvalData

    bl_dir = opts.baseline_dir or out_dir / "baseline"
    if (bl_dir / META_NAME).is_file():
        log.info("loading the baseline from %s", bl_dir)
        loaded = OnnxBaseline.load(bl_dir)
        trained_on = loaded.meta.get("extra", {}).get("dataset")
        if trained_on and Path(trained_on).resolve() != Path(opts.data_dir).resolve():
            log.warning(
                "the baseline in %s was trained on %s, not on %s; delete it or pass another "
                "--baseline-dir to retrain on this dataset",
                bl_dir,
                trained_on,
                opts.data_dir,
            )
        return loaded, bl_dir, False
    train = EvalData.from_records(load_split(opts.data_dir, "train"))
    val = EvalData.from_records(load_split(opts.data_dir, "validation"))
    log.info("training the baseline on %d rows (thresholds on %d validation rows)", len(train), len(val))
    start = time.perf_counter()
    model = train_and_save(
        train.texts,
        train.y,
        val.texts,
        val.y,
        bl_dir,
        extra={"dataset": str(opts.data_dir), "split": "train"},
    )
    log.info("baseline trained and saved to %s in %.1fs", bl_dir, time.perf_counter() - start)
    return model, bl_dir, True


def _transformer_probs(
    model: Any, tokenizer: Any, info: Any, items: list[Any], opts: EvaluateOptions
) -> np.ndarray:
    from commentmod.training.predict import predict_probs

    device = _resolve_device(opts.device)
    model.to(device)
    temperature = [float(info.temperature.get(k, 1.0)) for k in info.labels]
    return predict_probs(
        model, tokenizer, info.rule, items, batch_size=opts.batch_size, temperature=temperature, device=device
    )


def evaluate_run(opts: EvaluateOptions) -> dict[str, Any]:
    """Everything ``commentmod evaluate`` does; returns the metrics dict (also written to disk)."""
    from tokenizers import Tokenizer

    from commentmod.training.baseline import blend, choose_threshold, fit_blend_weights
    from commentmod.training.dataset_build import load_split
    from commentmod.training.evaluate import (
        EvalData,
        cell_metrics,
        compare_models,
        evaluate_model,
        load_identity_terms,
        plot_pr_curves,
        render_evaluation_md,
    )
    from commentmod.training.model_card import render_model_card
    from commentmod.training.modeling import CommentClassifier

    model_dir = Path(opts.model_dir)
    out_dir = Path(opts.out_dir or model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, info = CommentClassifier.load(model_dir)
    if tuple(info.labels) != LABELS:
        raise CommentmodError(
            f"{model_dir} has labels {info.labels}; this commentmod evaluates {list(LABELS)}"
        )
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    data = EvalData.from_records(load_split(opts.data_dir, opts.split))
    build_info = _load_build_info(opts.data_dir)
    log.info("scoring %d %s rows (%d synthetic)", len(data), opts.split, int(data.synthetic.sum()))

    start = time.perf_counter()
    p_t = _transformer_probs(model, tokenizer, info, data.items(), opts)
    t_seconds = time.perf_counter() - start
    baseline, bl_dir, trained_now = _baseline(opts, out_dir)
    p_b = baseline.predict_probs(data.texts)

    terms = None
    if opts.identity_terms is not None and Path(opts.identity_terms).is_file():
        terms = load_identity_terms(opts.identity_terms)
    else:
        log.warning("no identity terms file at %s; skipping the bias check", opts.identity_terms)
    t_metrics = evaluate_model(data, p_t, info.thresholds, terms, bias_min_support=opts.bias_min_support)
    b_metrics = evaluate_model(data, p_b, baseline.thresholds, terms, bias_min_support=opts.bias_min_support)
    t_metrics["seconds"] = round(t_seconds, 2)
    b_metrics.update({"dir": str(bl_dir), "trained_now": trained_now})
    comparison = {
        variant: compare_models(
            t_metrics["cells"][variant],
            b_metrics["cells"][variant],
            opts.compare_min_support,
            opts.compare_min_support,
        )
        for variant in t_metrics["cells"]
    }
    metrics: dict[str, Any] = {
        "model_name": model_dir.name,
        "model_dir": str(model_dir),
        "dataset": str(opts.data_dir),
        "split": opts.split,
        "n_rows": len(data),
        "n_synthetic": int(data.synthetic.sum()),
        "labels": list(data.labels),
        "temperature": dict(info.temperature),
        "transformer": t_metrics,
        "baseline": b_metrics,
        "comparison": comparison,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "library_versions": library_versions(),
    }

    if opts.blend:
        val = EvalData.from_records(load_split(opts.data_dir, "validation"))
        pv_t = _transformer_probs(model, tokenizer, info, val.items(), opts)
        pv_b = baseline.predict_probs(val.texts)
        weights = fit_blend_weights(pv_t, pv_b, val.y)
        pv_mix = blend(pv_t, pv_b, weights)
        thresholds = {k: choose_threshold(val.y[:, j], pv_mix[:, j]) for j, k in enumerate(data.labels)}
        p_mix = blend(p_t, p_b, weights)
        metrics["blend"] = {
            "weights": weights,
            "thresholds": thresholds,
            "cells": cell_metrics(data.y, p_mix, data.langs, data.sources, thresholds, data.labels),
        }

    metrics["plots"] = plot_pr_curves(data, {"transformer": p_t, "baseline": p_b}, out_dir)
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8"
    )
    (out_dir / "EVALUATION.md").write_text(render_evaluation_md(metrics) + "\n", encoding="utf-8")
    rel = os.path.relpath(out_dir, model_dir)
    card_metrics = dict(metrics)
    card_metrics["plots"] = {k: v if rel == "." else f"{rel}/{v}" for k, v in metrics["plots"].items()}
    card = render_model_card(info, card_metrics, build_info, model_name=model_dir.name)
    (model_dir / "MODEL_CARD.md").write_text(card + "\n", encoding="utf-8")
    log.info("wrote metrics.json, EVALUATION.md and PR curves to %s; MODEL_CARD.md to %s", out_dir, model_dir)
    return metrics


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A short table for the terminal: PR-AUC per label x language, transformer vs baseline (all rows)."""
    from commentmod.training.evaluate import ALL, find_cell, fmt

    lines = [f"{'label':<10} {'lang':<5} {'pos':>6} {'neg':>7} {'PR-AUC T':>9} {'PR-AUC B':>9} {'F1 T':>6}"]
    b_cells = metrics["baseline"]["cells"]["with_synthetic"]
    for cell in metrics["transformer"]["cells"]["with_synthetic"]:
        if cell["source"] != ALL:
            continue
        other = find_cell(b_cells, cell["label"], cell["lang"]) or {}
        lines.append(
            f"{cell['label']:<10} {cell['lang']:<5} {cell['positives']:>6} {cell['negatives']:>7} "
            f"{fmt(cell['pr_auc']):>9} {fmt(other.get('pr_auc')):>9} {fmt(cell['f1']):>6}"
        )
    for variant, comp in metrics["comparison"].items():
        worse = ", ".join(f"{c['label']}/{c['lang']}" for c in comp["not_better"]) or "none"
        lines.append(f"{variant}: transformer not better than baseline in: {worse}")
    return lines


def run(args: argparse.Namespace) -> int:
    opts = EvaluateOptions(
        model_dir=args.model,
        data_dir=args.data,
        split=args.split,
        out_dir=args.out,
        baseline_dir=args.baseline_dir,
        batch_size=args.batch_size,
        device=args.device,
        identity_terms=args.identity_terms,
        bias_min_support=args.bias_min_support,
        compare_min_support=args.compare_min_support,
        blend=args.blend,
    )
    try:
        metrics = evaluate_run(opts)
    except CommentmodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(metrics)))
    print(f"reports in {opts.out_dir or opts.model_dir}")
    return 0
