"""Markdown and terminal rendering of a ``metrics.json`` dict (see :func:`.run_eval.evaluate_run`).

:func:`render_evaluation_md` writes ``EVALUATION.md`` from one section function per heading
(``_md_*``); :func:`render_bias_md` is the bias section (the model card uses it too);
:func:`summary_lines` is the short table ``commentmod evaluate`` prints. ``fmt`` and ``md_table``
are the cell and table formatting shared with the model card. Columns: S = shipped (the hybrid),
T = transformer alone, N = n-gram alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .metrics import ALL, find_cell
from .probe_render import render_probe_md


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``–`` for None, yes/no for a bool, ``digits`` decimals for a float."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table, every cell through :func:`fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# metrics.json key -> column abbreviation, and names in compare_models results -> abbreviation
MODELS = {"shipped": "S", "transformer": "T", "baseline": "N"}
ABBREV = {**MODELS, "ngram": "N"}
TITLES = {"S": "shipped (hybrid)", "T": "transformer alone", "N": "n-gram alone"}


def model_cells(metrics: Mapping[str, Any], variant: str) -> dict[str, list[dict[str, Any]]]:
    """Abbreviation -> cells of ``variant`` for every model in ``metrics`` (shipped first)."""
    return {abbr: metrics[key]["cells"][variant] for key, abbr in MODELS.items() if metrics.get(key)}


def verdict_header(comparison: Mapping[str, Any]) -> str:
    """``S ≥ N + 0.01`` (with a margin) or ``T > N``: the question a comparison answers."""
    a, b = (ABBREV.get(n, n) for n in comparison["models"])
    margin = comparison.get("margin") or 0
    return f"{a} ≥ {b} + {margin:g}" if margin else f"{a} > {b}"


def comparison_table(
    cells: Mapping[str, Sequence[Mapping[str, Any]]],
    by: str = "lang",
    comparison: Mapping[str, Any] | None = None,
) -> str:
    """Per label x language (``by="lang"``) or x source: support (from the first model), PR-AUC and F1
    of every model (``cells``: abbreviation -> cells), precision/recall of the first and, given a
    :func:`compare_models` result, its verdict per cell (``–`` = too little support)."""
    names = list(cells)
    first = names[0]
    verdicts: dict[tuple[str, str], bool] = {}
    if comparison is not None:
        key = f"{comparison['models'][0]}_better"
        verdicts = {(c["label"], c["lang"]): c[key] for c in comparison["cells"]}
    rows = []
    for cell in cells[first]:
        if (by == "lang" and cell["source"] != ALL) or (
            by == "source" and (cell["lang"] != ALL or cell["source"] == ALL)
        ):
            continue
        found = [find_cell(cells[n], cell["label"], cell["lang"], cell["source"]) or {} for n in names]
        row = [
            cell["label"],
            cell["lang"] if by == "lang" else cell["source"],
            cell["positives"],
            cell["negatives"],
        ]
        row += [c.get("pr_auc") for c in found] + [c.get("f1") for c in found]
        row += [cell["precision"], cell["recall"]]
        if comparison is not None:
            row.append(verdicts.get((cell["label"], cell["lang"])) if by == "lang" else None)
        rows.append(row)
    header = ["label", by, "pos", "neg", *(f"PR-AUC {n}" for n in names), *(f"F1 {n}" for n in names)]
    header += [f"P {first}", f"R {first}"] + ([verdict_header(comparison)] if comparison is not None else [])
    return md_table(header, rows)


def _md_intro(metrics: Mapping[str, Any]) -> list[str]:
    return [
        f"# Evaluation: {metrics.get('model_name', 'model')} on `{metrics.get('split', '?')}`",
        "",
        f"Dataset: `{metrics.get('dataset', '?')}`; {metrics.get('n_rows', '?')} rows, "
        f"{metrics.get('n_synthetic', 0)} of them synthetic off-topic pairs. "
        "S = shipped (the hybrid: per label the transformer, the n-gram model or a blend of both, chosen "
        "on validation; see *The hybrid stacker*), T = transformer alone, N = n-gram alone (TF-IDF char "
        "n-grams + logistic regression, comment text only). Support (pos/neg) and P/R are the shipped "
        "model's; P/R/F1 at each model's own thresholds. `–` = undefined (one class only, nothing "
        "predicted positive, or too little support to compare).",
        "",
    ]


def _md_cells(metrics: Mapping[str, Any]) -> list[str]:
    comparisons = (metrics.get("comparison") or {}).get("shipped_vs_ngram") or {}
    lines: list[str] = []
    for variant, title in (
        ("with_synthetic", "All rows"),
        ("without_synthetic", "Without synthetic off-topic pairs"),
    ):
        table = comparison_table(model_cells(metrics, variant), comparison=comparisons.get(variant))
        lines += [f"## {title}: per label x language", "", table, ""]
    table = comparison_table(model_cells(metrics, "with_synthetic"), by="source")
    return [*lines, "## Per label x source (all rows)", "", table, ""]


def _md_comparisons(comparison: Mapping[str, Any] | None) -> list[str]:
    lines: list[str] = []
    for by_variant in (comparison or {}).values():
        if not by_variant:
            continue
        first = next(iter(by_variant.values()))
        a, b = (TITLES.get(ABBREV.get(n, n), n) for n in first["models"])
        lines += [f"## {a} vs {b}: {verdict_header(first)} on PR-AUC?", ""]
        for variant, comp in by_variant.items():
            name_a, name_b = comp["models"]
            lines.append(
                f"- **{variant}** (cells with >= {comp['min_positives']} positives and "
                f">= {comp['min_negatives']} negatives): {len(comp['cells'])} compared, "
                f"yes in {len(comp['cells']) - len(comp['not_better'])}."
            )
            if comp["not_better"]:
                cells = ", ".join(
                    f"{c['label']}/{c['lang']} ({c[name_a]:.3f} vs {c[name_b]:.3f})"
                    for c in comp["not_better"]
                )
                lines.append(f"  - **No:** {cells}")
            if comp["skipped"]:
                small = ", ".join(f"{c['label']}/{c['lang']}" for c in comp["skipped"])
                lines.append(f"  - Too small to compare: {small}")
        lines.append("")
    return lines


def hybrid_rows(hybrid: Mapping[str, Any]) -> list[list[Any]]:
    """label, mode, coefficients, CV PR-AUCs, threshold, why: one row per label of a metrics "hybrid"."""
    rows = []
    for name, s in hybrid["per_label"].items():
        cv = (s.get("validation") or {}).get("cv_pr_auc") or {}
        row = [name, s["mode"], s["coef_transformer"], s["coef_ngram"], s["intercept"]]
        row += [cv.get(k) for k in ("blend", "transformer", "ngram")]
        rows.append([*row, hybrid.get("thresholds", {}).get(name), s.get("why")])
    return rows


def _md_hybrid(hybrid: Mapping[str, Any] | None) -> list[str]:
    if not hybrid:
        return []
    header = ["label", "uses", "a", "b", "c", "CV PR-AUC blend", "CV T", "CV N", "threshold", "why"]
    return [
        "## The hybrid stacker",
        "",
        f"Shipped score per label: `sigmoid(a * transformer_logit + b * logit(p_ngram) + c)`, fitted on "
        f"{hybrid.get('fitted_on') or 'the validation split'}; a blend is used only when its cross-validated "
        "PR-AUC beats the better single model by more than the stacker's margin.",
        "",
        md_table(header, hybrid_rows(hybrid)),
        "",
    ]


def _md_thresholds(metrics: Mapping[str, Any]) -> list[str]:
    models = {abbr: metrics[key].get("thresholds", {}) for key, abbr in MODELS.items() if metrics.get(key)}
    labels = next(iter(models.values()))
    rows = [[k, *(m.get(k) for m in models.values())] for k in labels]
    return ["## Thresholds", "", md_table(["label", *(TITLES[a] for a in models)], rows), ""]


def _md_calibration(metrics: Mapping[str, Any]) -> list[str]:
    cals = {abbr: metrics[key].get("calibration", {}) for key, abbr in MODELS.items() if metrics.get(key)}
    first, cal = next(iter(cals.items()))
    rows = []
    for name, c in cal.items():
        per_model = [m.get(name, {}) for m in cals.values()]
        rows.append([name, c["n"], *(m.get("brier") for m in per_model), *(m.get("ece") for m in per_model)])
    header = ["label", "n", *(f"Brier {a}" for a in cals), *(f"ECE {a}" for a in cals)]
    lines = ["## Calibration (all rows)", "", md_table(header, rows), ""]
    for name, c in cal.items():
        bins = [
            [f"{r['low']:.1f}–{r['high']:.1f}", r["count"], r["mean_predicted"], r["fraction_positive"]]
            for r in c["bins"]
        ]
        lines += [f"Reliability, {TITLES[first]}, `{name}`:", ""]
        lines += [md_table(["bin", "count", "mean predicted", "fraction positive"], bins), ""]
    return lines


def _md_bias(metrics: Mapping[str, Any]) -> list[str]:
    biases = {abbr: metrics[key].get("bias") for key, abbr in MODELS.items() if metrics.get(key)}
    first, bias = next(iter(biases.items()))
    if not bias:
        return []
    others = {a: b for a, b in biases.items() if a != first and b}
    return [render_bias_md(bias, others, title=TITLES[first]), ""]


def _md_probe(probe: Mapping[str, Any] | None) -> list[str]:
    return [render_probe_md(probe), ""] if probe else []


def _md_plots(plots: Mapping[str, str] | None) -> list[str]:
    if not plots:
        return []
    return ["## Precision-recall curves", "", *(f"![{name}]({path})" for name, path in plots.items()), ""]


def render_evaluation_md(metrics: Mapping[str, Any]) -> str:
    """The ``EVALUATION.md`` report from a ``metrics.json`` dict (see ``commentmod evaluate``)."""
    lines = _md_intro(metrics) + _md_cells(metrics) + _md_comparisons(metrics.get("comparison"))
    lines += _md_hybrid(metrics.get("hybrid")) + _md_thresholds(metrics) + _md_calibration(metrics)
    lines += _md_bias(metrics) + _md_probe(metrics.get("probe")) + _md_plots(metrics.get("plots"))
    return "\n".join(lines)


def _bias_rows(bias: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    """One row per term with enough support: its AUCs, then the subgroup AUC of each other model."""
    by_term = {
        name: {(r["lang"], r["term"]): r for r in other.get("terms", [])} for name, other in others.items()
    }
    rows = []
    for r in bias["terms"]:
        key = (r["lang"], r["term"])
        row = [r["lang"], r["term"], r["positives"], r["negatives"], r["subgroup_auc"], r["bpsn_auc"]]
        row += [r["bnsp_auc"], *(terms.get(key, {}).get("subgroup_auc") for terms in by_term.values())]
        rows.append(row)
    return rows


def _bias_skipped(bias: Mapping[str, Any]) -> list[str]:
    """Lines naming the terms with too little support and those absent from the data."""
    small = [s for s in bias["skipped"] if s["n"] > 0]
    unseen: dict[str, list[str]] = {}
    for s in bias["skipped"]:
        if s["n"] == 0:
            unseen.setdefault(s["lang"], []).append(s["term"])
    lines = []
    if small:
        lines += [
            "",
            f"Skipped, too little support (fewer than {bias['min_positives']} positives or "
            f"{bias['min_negatives']} negatives): "
            + ", ".join(f"{s['lang']}:{s['term']} ({s['positives']}+/{s['negatives']}-)" for s in small),
        ]
    if unseen:
        found = "; ".join(f"{k}: {', '.join(v)}" for k, v in unseen.items())
        lines += ["", f"Not found in the evaluation data: {found}"]
    return lines


def render_bias_md(
    bias: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None, title: str = ""
) -> str:
    """The bias section of one model (``title``), with the subgroup AUC of ``others`` (name -> bias)."""
    of = f", {title}" if title else ""
    lines = [
        f"## Bias check (`{bias['label']}`{of}, identity terms, non-synthetic rows)",
        "",
        "Subgroup AUC: within comments mentioning the term. BPSN: low means innocent mentions score too high "
        "(false positives on the group). BNSP: low means abuse aimed at the group is missed.",
        "",
    ]
    others = others or {}
    rows = _bias_rows(bias, others)
    if rows:
        header = ["lang", "term", "pos", "neg", "subgroup AUC", "BPSN AUC", "BNSP AUC"]
        lines.append(md_table(header + [f"subgroup AUC {name}" for name in others], rows))
        summary = bias.get("summary", {})
        lines += ["", "Power means (p = -5): " + ", ".join(f"{k} {fmt(v)}" for k, v in summary.items())]
    else:
        lines.append("No identity term had enough support.")
    return "\n".join(lines + _bias_skipped(bias))


def summary_lines(metrics: Mapping[str, Any]) -> list[str]:
    """A short table for the terminal: PR-AUC per label x language, shipped / transformer / n-gram."""
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
