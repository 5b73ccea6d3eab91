"""The run's model card (``MODEL_CARD.md``), rendered from its info, evaluation and data build.

``commentmod evaluate`` writes it next to the model (in the run directory) and ``commentmod
export`` copies it into the artifact, appending the hybrid section. Model cards live in two
modules of this room, one per input: this one (a run) and :mod:`.artifact_card` (an artifact's
manifest alone, and the hybrid section).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...model.labels import LABEL_DESCRIPTIONS
from ..fit.modeling import RunInfo
from .metrics import ALL, find_cell
from .render import fmt, md_table, render_bias_md

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
    from ..data.licences import licence_class

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
    """Shipped numbers first, then the transformer's and the n-gram model's PR-AUC and F1."""
    s_cells = metrics["shipped"]["cells"][variant]
    t_cells = metrics["transformer"]["cells"][variant]
    n_cells = (metrics.get("baseline") or {}).get("cells", {}).get(variant, [])
    rows = []
    for cell in s_cells:
        if cell["source"] != ALL:
            continue
        t = find_cell(t_cells, cell["label"], cell["lang"], ALL) or {}
        n = find_cell(n_cells, cell["label"], cell["lang"], ALL) or {}
        row = [cell["label"], cell["lang"], cell["positives"], cell["negatives"], cell["pr_auc"]]
        row += [cell["precision"], cell["recall"], cell["f1"], t.get("pr_auc"), n.get("pr_auc")]
        rows.append([*row, t.get("f1"), n.get("f1")])
    return rows


MODE_WORDS = {
    "blend": "transformer + n-gram blend",
    "transformer": "transformer",
    "ngram": "character n-gram model",
}


def render_hybrid(metrics: Mapping[str, Any]) -> list[str]:
    """Per label: which model the shipped score uses, and why (from the metrics "hybrid" section)."""
    hybrid = metrics.get("hybrid") or {}
    if not hybrid.get("per_label"):
        return []
    rows = [
        [name, MODE_WORDS.get(s["mode"], s["mode"]), s.get("why")] for name, s in hybrid["per_label"].items()
    ]
    return [
        "## How the shipped score is computed",
        "",
        "The shipped model is a hybrid of two models: the transformer (comment + article) and a character "
        "n-gram model (TF-IDF character n-grams + logistic regression, comment text only). Per label, a "
        "logistic regression stacker fitted on the validation split "
        f"({hybrid.get('fitted_on') or 'see EVALUATION.md'}) uses the transformer, the n-gram model or a "
        "blend of both: `sigmoid(a * transformer_logit + b * logit(p_ngram) + c)`. A blend is used only "
        "when its cross-validated PR-AUC beats the better single model.",
        "",
        md_table(["label", "shipped score uses", "why"], rows),
        "",
    ]


def render_metrics(metrics: Mapping[str, Any]) -> list[str]:
    header = ["label", "lang", "pos", "neg", "PR-AUC", "precision", "recall", "F1"]
    header += ["PR-AUC transformer", "PR-AUC n-gram", "F1 transformer", "F1 n-gram"]
    lines = [
        "## Evaluation",
        "",
        f"Split `{metrics.get('split', '?')}` of `{metrics.get('dataset', '?')}` "
        f"({metrics.get('n_rows', '?')} rows, "
        f"{metrics.get('n_synthetic', 0)} synthetic off-topic pairs). PR-AUC, precision, recall and F1 of "
        "the shipped (hybrid) score at its thresholds below; then the transformer and the n-gram model "
        "alone, each at its own thresholds. `–` = undefined (one class only). Full tables: EVALUATION.md "
        "and metrics.json.",
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
    comparison = ((metrics.get("comparison") or {}).get("shipped_vs_ngram") or {}).get("without_synthetic")
    if comparison:
        margin = f"{comparison.get('margin') or 0:g}"
        if comparison["not_better"]:
            cells = ", ".join(f"{c['label']}/{c['lang']}" for c in comparison["not_better"])
            lines += [
                f"**The shipped model does not beat the n-gram model by {margin} PR-AUC in:** {cells}.",
                "",
            ]
        elif comparison["cells"]:
            lines += [
                f"The shipped model beats the n-gram model by at least {margin} PR-AUC in every cell with "
                "enough support.",
                "",
            ]
    plots = metrics.get("plots") or {}
    if plots:
        lines += ["Precision-recall curves: " + ", ".join(f"[{k}]({v})" for k, v in plots.items()), ""]
    return lines


def render_thresholds(run_info: RunInfo, metrics: Mapping[str, Any] | None = None) -> list[str]:
    shipped = ((metrics or {}).get("hybrid") or {}).get("thresholds")
    if not shipped:
        rows = [[k, run_info.thresholds.get(k), run_info.temperature.get(k, 1.0)] for k in run_info.labels]
        return [
            "## Thresholds and calibration",
            "",
            "A comment is flagged for a label when `sigmoid(logit / temperature) >= threshold`. Thresholds "
            "and temperatures were fitted on the validation split.",
            "",
            md_table(["label", "threshold", "temperature"], rows),
            "",
        ]
    rows = [
        [k, shipped.get(k), run_info.thresholds.get(k), run_info.temperature.get(k, 1.0)]
        for k in run_info.labels
    ]
    return [
        "## Thresholds and calibration",
        "",
        "A comment is flagged for a label when its shipped (hybrid) score is >= the shipped threshold, "
        "chosen on the stacked validation scores. The transformer's own threshold and temperature "
        "(`sigmoid(logit / temperature)`) are listed for comparison.",
        "",
        md_table(["label", "shipped threshold", "transformer threshold", "transformer temperature"], rows),
        "",
    ]


def render_calibration(metrics: Mapping[str, Any]) -> list[str]:
    cal = metrics["shipped"].get("calibration") or {}
    if not cal:
        return []
    rows = [[name, c["n"], c["brier"], c["ece"]] for name, c in cal.items()]
    return [
        "Calibration of the shipped score on the evaluation split (10 equal-width bins; reliability tables "
        "in EVALUATION.md):",
        "",
        md_table(["label", "n", "Brier", "ECE"], rows),
        "",
    ]


def render_bias_and_probe(metrics: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    bias = metrics["shipped"].get("bias")
    if bias:
        others = {
            name: metrics[key]["bias"]
            for key, name in (("transformer", "transformer"), ("baseline", "n-gram"))
            if (metrics.get(key) or {}).get("bias")
        }
        lines += [render_bias_md(bias, others, title="shipped"), ""]
    if metrics.get("probe"):
        from .probe_render import render_probe_md

        lines += [render_probe_md(metrics["probe"]), ""]
    return lines


def render_limitations(metrics: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Known limitations", ""]
    lines += [f"- {item}" for item in LIMITATIONS]
    if metrics:
        per_label = (metrics.get("hybrid") or {}).get("per_label") or {}
        uses_ngram = [k for k, v in per_label.items() if v.get("mode") in ("blend", "ngram")]
        if uses_ngram:
            lines.append(
                "- The shipped score of " + ", ".join(f"`{k}`" for k in uses_ngram) + " uses the character "
                "n-gram model, which reads the comment text only (no article) and reacts to surface cues "
                "(words, spellings) rather than meaning"
                + ("; see the shortcut probe above." if metrics.get("probe") else ".")
            )
        comp = ((metrics.get("comparison") or {}).get("shipped_vs_ngram") or {}).get(
            "without_synthetic"
        ) or {}
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


def _run_card_intro(run_info: RunInfo, sources: Sequence[Mapping[str, Any]], model_name: str) -> list[str]:
    """Title, what the model is, intended use and the labels."""
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
    return lines + [f"- `{name}`: {LABEL_DESCRIPTIONS.get(name, '')}" for name in run_info.labels]


TRAINING_FACTS = (
    "steps",
    "best_step",
    "best_score",
    "train_rows",
    "validation_rows",
    "device",
    "precision",
    "precision_reason",
    "threads",
)


def render_training(run_info: RunInfo) -> list[str]:
    """The training configuration (JSON) and the facts the training run recorded."""
    cfg = run_info.training_config or {}
    lines = ["## Training configuration", ""]
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
    facts = {k: extra[k] for k in TRAINING_FACTS if k in extra}
    if "steps" in extra and cfg.get("batch_size"):
        per_step = int(cfg["batch_size"]) * int(cfg.get("grad_accum") or 1)
        facts["training rows seen (steps x batch)"] = int(extra["steps"]) * per_step
    if "seconds_per_step" in extra:
        facts["seconds per step"] = round(float(extra["seconds_per_step"]), 3)
    if facts:
        lines += [md_table(["fact", "value"], [[k, v] for k, v in facts.items()]), ""]
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
    lines = _run_card_intro(run_info, sources, model_name)
    lines += ["", *render_sources(sources)]
    if metrics:
        lines += render_hybrid(metrics) + render_metrics(metrics)
    else:
        lines += ["## Evaluation", "", "Not evaluated yet: run `commentmod evaluate`.", ""]
    lines += render_thresholds(run_info, metrics)
    if metrics:
        lines += render_calibration(metrics) + render_bias_and_probe(metrics)
    lines += render_limitations(metrics)
    lines += render_training(run_info)
    versions = dict(library_versions or (metrics or {}).get("library_versions") or {})
    if versions:
        lines += ["## Library versions", "", md_table(["library", "version"], sorted(versions.items())), ""]
    lines += [f"_Context rule: {fmt(json.dumps(run_info.context_rule.to_dict(), sort_keys=True))}_", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the artifact's card

# stacker modes as the artifact card's hybrid table names them
