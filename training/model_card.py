"""The model card (``MODEL_CARD.md``), rendered from a run's info, its evaluation and its data build.

``commentmod evaluate`` writes it next to the model (in the run directory); ``commentmod export``
copies it into the artifact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from commentmod.model.labels import LABEL_DESCRIPTIONS
from commentmod.training.evaluate import ALL, find_cell, fmt, md_table, render_bias_md
from commentmod.training.modeling import RunInfo

FLAGGED_CLASSES = ("non-commercial", "research-only", "unknown")

LIMITATIONS = [
    "Labels come from different public datasets whose definitions of abuse, sarcasm and off-topic differ "
    "from LABELING.md and from each other; a source that says nothing about a label is masked, not read "
    "as 0, "
    "so some label x language combinations rest on few sources.",
    "Off-topic needs the article: without a title/text the model can only catch context-free spam. Part "
    "of the "
    "off-topic evaluation data are synthetic pairs (a comment moved under an unrelated article); the "
    "tables show "
    "metrics with and without them, and the numbers without them are the better guide to real traffic.",
    "Sarcasm and mocking depend on context and tone; expect low precision there and disagreement between "
    "human moderators too.",
    "Romanian without diacritics, Ukrainian/Russian mixing (surzhyk), transliteration and code-switching are "
    "common in real comments and under-represented in the training data.",
    "Identity terms: comments that merely mention a group (religion, ethnicity, gender, sexual orientation) "
    "can score higher than they should; see the bias check, and review flagged comments about groups "
    "with care.",
    "Thresholds were chosen on the validation split's mixture of sources; a site with a different base rate "
    "should re-check precision and recall on its own sample before relying on them.",
    "Long comments are scored window by window and the maximum is taken per label, which favours recall.",
]


def licence_class_of(source: Mapping[str, Any]) -> str:
    """A source's licence class (from the build info, else classified from the licence string)."""
    if source.get("licence_class"):
        return str(source["licence_class"])
    from commentmod.training.catalog import licence_class

    return licence_class(str(source.get("licence", "")))


def merge_sources(
    run_sources: Sequence[Mapping[str, Any]], build_info: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One row per source: run info's (name, licence, train rows) enriched with the build's per-split rows."""
    built = {
        str(s.get("name")): dict(s)
        for s in build_info.get("sources", [])
        if isinstance(s, Mapping) and s.get("status", "used") == "used"
    }
    names = [str(s.get("name")) for s in run_sources] or sorted(built)
    by_run = {str(s.get("name")): dict(s) for s in run_sources}
    out = []
    for name in names:
        row: dict[str, Any] = {**built.get(name, {}), **by_run.get(name, {})}
        row["name"] = name
        row["licence"] = str(row.get("licence") or "unknown")
        row["licence_class"] = licence_class_of({**built.get(name, {}), "licence": row["licence"]})
        split_rows = built.get(name, {}).get("rows")
        row["split_rows"] = dict(split_rows) if isinstance(split_rows, Mapping) else {}
        if isinstance(row.get("rows"), Mapping):
            row["split_rows"] = dict(row["rows"])
            row["rows"] = row["split_rows"].get("train")
        out.append(row)
    return out


def render_sources(sources: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Training data", ""]
    if not sources:
        return [*lines, "**Data sources are not recorded in this run; check the run's dataset.**", ""]
    flagged = [s for s in sources if s["licence_class"] in FLAGGED_CLASSES]
    share_alike = [s for s in sources if s["licence_class"] == "share-alike"]
    if flagged:
        names = ", ".join(f"{s['name']} ({s['licence']}, {s['licence_class']})" for s in flagged)
        lines += [
            "> **⚠ Licence warning.** This model was trained on data under non-commercial, research-only or "
            f"unknown licences: {names}. The model inherits those terms: do not use it commercially unless "
            "you retrain without these sources (`commentmod data build --commercial-ok`) or clear the "
            "rights.",
            "",
        ]
    if share_alike:
        lines += [
            "> Share-alike sources ("
            + ", ".join(f"{s['name']} ({s['licence']})" for s in share_alike)
            + "): check whether the licence reaches the model weights in your jurisdiction.",
            "",
        ]
    rows = []
    for s in sources:
        split_rows = s.get("split_rows") or {}
        rows.append(
            [
                s["name"],
                s["licence"],
                s["licence_class"],
                ", ".join(s.get("languages") or []) or "–",
                s.get("rows") if s.get("rows") is not None else split_rows.get("train"),
                split_rows.get("validation"),
                split_rows.get("test"),
            ]
        )
    lines += [
        md_table(["source", "licence", "class", "languages", "train rows", "val rows", "test rows"], rows),
        "",
    ]
    return lines


def _metric_rows(metrics: Mapping[str, Any], variant: str) -> list[list[Any]]:
    t_cells = metrics["transformer"]["cells"][variant]
    b_cells = (metrics.get("baseline") or {}).get("cells", {}).get(variant, [])
    rows = []
    for cell in t_cells:
        if cell["source"] != ALL:
            continue
        other = find_cell(b_cells, cell["label"], cell["lang"], ALL) or {}
        rows.append(
            [
                cell["label"],
                cell["lang"],
                cell["positives"],
                cell["negatives"],
                cell["pr_auc"],
                other.get("pr_auc"),
                cell["precision"],
                cell["recall"],
                cell["f1"],
                other.get("f1"),
            ]
        )
    return rows


def render_metrics(metrics: Mapping[str, Any]) -> list[str]:
    header = [
        "label",
        "lang",
        "pos",
        "neg",
        "PR-AUC",
        "PR-AUC baseline",
        "precision",
        "recall",
        "F1",
        "F1 baseline",
    ]
    lines = [
        "## Evaluation",
        "",
        f"Split `{metrics.get('split', '?')}` of `{metrics.get('dataset', '?')}` "
        f"({metrics.get('n_rows', '?')} rows, "
        f"{metrics.get('n_synthetic', 0)} synthetic off-topic pairs). Precision/recall/F1 at the "
        "thresholds below. "
        "Baseline: TF-IDF character n-grams + logistic regression per label (comment text only). "
        "`–` = undefined (one class only). Full tables: EVALUATION.md and metrics.json.",
        "",
        "### Without synthetic pairs (closest to real traffic)",
        "",
        md_table(header, _metric_rows(metrics, "without_synthetic")),
        "",
        "### All rows (with synthetic off-topic pairs)",
        "",
        md_table(header, _metric_rows(metrics, "with_synthetic")),
        "",
    ]
    comparison = (metrics.get("comparison") or {}).get("without_synthetic")
    if comparison:
        if comparison["not_better"]:
            cells = ", ".join(f"{c['label']}/{c['lang']}" for c in comparison["not_better"])
            lines += [f"**The transformer does not beat the baseline on PR-AUC in:** {cells}.", ""]
        elif comparison["cells"]:
            lines += ["The transformer beats the baseline on PR-AUC in every cell with enough support.", ""]
    plots = metrics.get("plots") or {}
    if plots:
        lines += ["Precision-recall curves: " + ", ".join(f"[{k}]({v})" for k, v in plots.items()), ""]
    return lines


def render_thresholds(run_info: RunInfo) -> list[str]:
    rows = [[k, run_info.thresholds.get(k), run_info.temperature.get(k, 1.0)] for k in run_info.labels]
    return [
        "## Thresholds and calibration",
        "",
        "A comment is flagged for a label when `sigmoid(logit / temperature) >= threshold`. Thresholds and "
        "temperatures were fitted on the validation split.",
        "",
        md_table(["label", "threshold", "temperature"], rows),
        "",
    ]


def render_calibration(metrics: Mapping[str, Any]) -> list[str]:
    cal = metrics["transformer"].get("calibration") or {}
    if not cal:
        return []
    rows = [[name, c["n"], c["brier"], c["ece"]] for name, c in cal.items()]
    return [
        "Calibration on the evaluation split (10 equal-width bins; reliability tables in EVALUATION.md):",
        "",
        md_table(["label", "n", "Brier", "ECE"], rows),
        "",
    ]


def render_limitations(metrics: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Known limitations", ""]
    lines += [f"- {item}" for item in LIMITATIONS]
    if metrics:
        comp = (metrics.get("comparison") or {}).get("without_synthetic") or {}
        small = comp.get("skipped") or []
        if small:
            lines.append(
                "- Too little evaluation data to judge (fewer than "
                f"{comp.get('min_positives')} positives or {comp.get('min_negatives')} negatives): "
                + ", ".join(f"{c['label']}/{c['lang']}" for c in small)
                + "."
            )
    lines.append("")
    return lines


def render_model_card(
    run_info: RunInfo,
    metrics: Mapping[str, Any] | None,
    build_info: Mapping[str, Any] | None,
    *,
    model_name: str = "commentmod classifier",
    library_versions: Mapping[str, str] | None = None,
) -> str:
    """Markdown model card. ``metrics`` is a ``metrics.json`` dict from ``commentmod evaluate`` (or None)."""
    build_info = build_info or {}
    sources = merge_sources(run_info.data_sources, build_info)
    langs = sorted({lang for s in sources for lang in (s.get("languages") or [])})
    lines = [
        f"# Model card: {model_name}",
        "",
        f"Multilingual comment-moderation classifier (three independent yes/no labels) fine-tuned from "
        f"`{run_info.base_model or 'the base encoder'}`, built for Romanian, English, Ukrainian and Russian "
        f"news comments. Languages in the training data: {', '.join(langs) or 'see the data sources'}.",
        "",
        "## Intended use",
        "",
        "- **Triage for human moderators**: sort and highlight news-site comments that may be abusive, "
        "mocking or "
        "off-topic so that a person reviews them first.",
        "- **Not for automatic removal or sanctions.** Scores are probabilities with known errors (see "
        "below); "
        "every action on a comment or its author should be a human decision.",
        "- Not for judging people, profiling users, or use outside comment moderation (e.g. hiring, "
        "policing).",
        "",
        "## Labels",
        "",
    ]
    lines += [f"- `{name}`: {LABEL_DESCRIPTIONS.get(name, '')}" for name in run_info.labels]
    lines += ["", *render_sources(sources)]
    if metrics:
        lines += render_metrics(metrics)
    else:
        lines += ["## Evaluation", "", "Not evaluated yet: run `commentmod evaluate`.", ""]
    lines += render_thresholds(run_info)
    if metrics:
        lines += render_calibration(metrics)
        bias = metrics["transformer"].get("bias")
        if bias:
            lines += [render_bias_md(bias, (metrics.get("baseline") or {}).get("bias")), ""]
    lines += render_limitations(metrics)
    cfg = run_info.training_config or {}
    lines += ["## Training configuration", ""]
    if cfg:
        lines += [
            "```json",
            json.dumps(cfg, indent=2, ensure_ascii=False, sort_keys=True, default=str),
            "```",
            "",
        ]
    else:
        lines += ["Not recorded.", ""]
    extra = run_info.extra or {}
    facts = {
        k: extra[k]
        for k in ("steps", "best_step", "best_score", "train_rows", "validation_rows", "device")
        if k in extra
    }
    if facts:
        lines += [md_table(["fact", "value"], [[k, v] for k, v in facts.items()]), ""]
    versions = dict(library_versions or (metrics or {}).get("library_versions") or {})
    if versions:
        lines += ["## Library versions", "", md_table(["library", "version"], sorted(versions.items())), ""]
    lines += [f"_Context rule: {fmt(json.dumps(run_info.context_rule, sort_keys=True))}_", ""]
    return "\n".join(lines)
