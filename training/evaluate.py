"""Evaluation metrics: pure functions over label and score arrays.

Conventions: ``y`` is ``[N, L]`` (or ``[N]``) float with 1/0 and NaN where the label is
unknown (``None`` in the record); unknown rows are excluded per label, never read as 0.
Scores are probabilities; NaN scores (a baseline label with no model) are excluded too.
A metric that is undefined for a cell (one class only, no predicted positives) is ``None``.

What is computed (see :func:`evaluate_model`):

* per label x language x source (``"all"`` = every value): PR-AUC (average precision),
  ROC-AUC, precision/recall/F1 at the chosen threshold, support (positives/negatives),
  once on all rows and once without the synthetic off-topic pairs;
* calibration per label: a 10-bin reliability table, Brier score and ECE;
* a Jigsaw-style bias check for ``abusive``: subgroup AUC, BPSN AUC and BNSP AUC per identity
  term (terms from ``configs/identity_terms.yaml``), on non-synthetic rows of the term's language;
* a transformer-vs-baseline comparison of PR-AUC per label x language cell with enough support.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commentmod.model.errors import CommentmodError
from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord

logger = logging.getLogger(__name__)

ALL = "all"
VARIANTS = ("with_synthetic", "without_synthetic")
METRIC_KEYS = ("pr_auc", "roc_auc", "precision", "recall", "f1")


class EvaluationError(CommentmodError):
    """Evaluation inputs are inconsistent or missing."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class EvalData:
    """The columns evaluation needs, as arrays (one row per comment)."""

    ids: list[str]
    texts: list[str]
    titles: list[str | None]
    article_texts: list[str | None]
    langs: np.ndarray
    sources: np.ndarray
    synthetic: np.ndarray
    y: np.ndarray  # [N, L] float, NaN = unknown
    labels: tuple[str, ...] = LABELS

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_records(cls, records: Sequence[CommentRecord], labels: Sequence[str] = LABELS) -> EvalData:
        y = np.full((len(records), len(labels)), np.nan, dtype=np.float64)
        for i, rec in enumerate(records):
            for j, name in enumerate(labels):
                value = rec.labels.get(name)
                if value is not None:
                    y[i, j] = float(value)
        return cls(
            ids=[r.id for r in records],
            texts=[r.text for r in records],
            titles=[r.article_title for r in records],
            article_texts=[r.article_text for r in records],
            langs=np.asarray([r.lang or "und" for r in records], dtype=object),
            sources=np.asarray([r.source for r in records], dtype=object),
            synthetic=np.asarray([bool(r.synthetic) for r in records], dtype=bool),
            y=y,
            labels=tuple(labels),
        )

    def items(self) -> list[tuple[str, str | None, str | None]]:
        """``(text, article_title, article_text)`` triples for :func:`predict_probs`."""
        return list(zip(self.texts, self.titles, self.article_texts, strict=True))


# --------------------------------------------------------------------------- basic metrics


def _clean(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise EvaluationError(
            f"labels have {y.size} values but scores have {p.size}; pass one column of each"
        )
    keep = ~np.isnan(y) & ~np.isnan(p)
    return y[keep], p[keep]


def _two_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < y.sum() < y.size


def pr_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision (area under the PR curve); None with one class only."""
    from sklearn.metrics import average_precision_score

    y, p = _clean(y, p)
    return float(average_precision_score(y, p)) if _two_classes(y) else None


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC-AUC; None with one class only."""
    from sklearn.metrics import roc_auc_score

    y, p = _clean(y, p)
    return float(roc_auc_score(y, p)) if _two_classes(y) else None


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Support and metrics of one label column at ``threshold`` (predict positive when ``p >= t``)."""
    y, p = _clean(y, p)
    pos = int(y.sum())
    neg = int(y.size - pos)
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    n_pred = int(pred.sum())
    precision = tp / n_pred if n_pred else None
    recall = tp / pos if pos else None
    f1: float | None = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    two = _two_classes(y)
    return {
        "n": int(y.size),
        "positives": pos,
        "negatives": neg,
        "predicted_positive": n_pred,
        "threshold": float(threshold),
        "pr_auc": pr_auc(y, p) if two else None,
        "roc_auc": roc_auc(y, p) if two else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def cell_metrics(
    y: np.ndarray,
    p: np.ndarray,
    langs: np.ndarray,
    sources: np.ndarray,
    thresholds: Mapping[str, float],
    labels: Sequence[str] = LABELS,
) -> list[dict[str, Any]]:
    """Metrics per label x language x source, with ``"all"`` rows for each dimension.

    Cells: (all, all), (lang, all) per language, (all, source) per source, and (lang, source)
    for sources that hold more than one language (otherwise it would repeat (all, source)).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    langs = np.asarray(langs, dtype=object)
    sources = np.asarray(sources, dtype=object)
    if y.shape != p.shape or y.shape[0] != len(langs) or y.shape[0] != len(sources):
        raise EvaluationError(
            f"shapes differ: labels {y.shape}, scores {p.shape}, {len(langs)} langs, {len(sources)} sources"
        )
    slices: list[tuple[str, str, np.ndarray]] = [(ALL, ALL, np.ones(len(langs), dtype=bool))]
    slices += [(lang, ALL, langs == lang) for lang in sorted(set(langs))]
    for source in sorted(set(sources)):
        in_source = sources == source
        slices.append((ALL, source, in_source))
        source_langs = sorted(set(langs[in_source]))
        if len(source_langs) > 1:
            slices += [(lang, source, in_source & (langs == lang)) for lang in source_langs]
    out = []
    for j, name in enumerate(labels):
        for lang, source, sel in slices:
            cell = {"label": name, "lang": lang, "source": source}
            cell.update(binary_metrics(y[sel, j], p[sel, j], float(thresholds.get(name, 0.5))))
            out.append(cell)
    return out


def variant_masks(synthetic: np.ndarray) -> dict[str, np.ndarray]:
    """Row masks: every row, and every row but the synthetic off-topic pairs."""
    synthetic = np.asarray(synthetic, dtype=bool)
    return {"with_synthetic": np.ones(len(synthetic), dtype=bool), "without_synthetic": ~synthetic}


def find_cell(
    cells: Iterable[Mapping[str, Any]], label: str, lang: str = ALL, source: str = ALL
) -> dict[str, Any] | None:
    for cell in cells:
        if cell["label"] == label and cell["lang"] == lang and cell["source"] == source:
            return dict(cell)
    return None


# --------------------------------------------------------------------------- calibration


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width probability bins: count, mean predicted probability and observed positive rate."""
    y, p = _clean(y, p)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = idx == b
        count = int(sel.sum())
        rows.append(
            {
                "bin": b,
                "low": b / n_bins,
                "high": (b + 1) / n_bins,
                "count": count,
                "mean_predicted": float(p[sel].mean()) if count else None,
                "fraction_positive": float(y[sel].mean()) if count else None,
            }
        )
    return rows


def brier_score(y: np.ndarray, p: np.ndarray) -> float | None:
    y, p = _clean(y, p)
    return float(np.mean((p - y) ** 2)) if y.size else None


def expected_calibration_error(table: Sequence[Mapping[str, Any]]) -> float | None:
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return float(
        sum(
            row["count"] * abs(row["mean_predicted"] - row["fraction_positive"])
            for row in table
            if row["count"]
        )
        / total
    )


def calibration_report(
    y: np.ndarray, p: np.ndarray, labels: Sequence[str] = LABELS, n_bins: int = 10
) -> dict[str, dict[str, Any]]:
    """Per label: Brier score, ECE and the reliability table."""
    out = {}
    for j, name in enumerate(labels):
        table = reliability_table(y[:, j], p[:, j], n_bins)
        out[name] = {
            "n": sum(row["count"] for row in table),
            "brier": brier_score(y[:, j], p[:, j]),
            "ece": expected_calibration_error(table),
            "bins": table,
        }
    return out


# --------------------------------------------------------------------------- bias (identity terms)


def fold_text(text: str) -> str:
    """Case- and diacritics-insensitive form: NFKD, combining marks dropped, casefolded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def term_pattern(term: str) -> re.Pattern[str]:
    """Whole-word pattern for a term; a trailing ``*`` makes it a prefix (``țigan*`` matches ``țigani``)."""
    prefix = term.endswith("*")
    core = fold_text(term.rstrip("*"))
    if not core:
        raise EvaluationError(f"identity term {term!r} is empty after folding; remove it from the terms file")
    body = re.escape(core).replace(r"\ ", r"\s+")
    tail = r"\w*" if prefix else ""
    return re.compile(r"(?<!\w)" + body + tail + r"(?!\w)")


def load_identity_terms(path: Path) -> dict[str, list[str]]:
    """``{lang: [term, ...]}`` from a YAML file with a ``terms:`` mapping (or a bare mapping)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"identity terms file {path} not found; pass --identity-terms PATH")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    terms = data.get("terms", data) if isinstance(data, dict) else None
    if not isinstance(terms, dict) or not all(isinstance(v, list) for v in terms.values()):
        raise EvaluationError(f"{path}: expected `terms: {{lang: [term, ...]}}`")
    return {str(lang): [str(t) for t in items] for lang, items in terms.items()}


def term_masks(texts: Sequence[str], terms: Sequence[str]) -> dict[str, np.ndarray]:
    """For each term, which texts mention it (folded, whole word)."""
    folded = [fold_text(t) for t in texts]
    out = {}
    for term in terms:
        pattern = term_pattern(term)
        out[term] = np.fromiter((bool(pattern.search(t)) for t in folded), dtype=bool, count=len(folded))
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return roc_auc(y, p) if y.size else None


def bias_aucs(y: np.ndarray, p: np.ndarray, subgroup: np.ndarray) -> dict[str, float | None]:
    """Jigsaw bias AUCs (Borkan et al. 2019) for one subgroup mask.

    subgroup AUC: AUC within the subgroup. BPSN (background positive, subgroup negative): AUC on
    subgroup negatives + background positives (low = the model scores innocent mentions of the
    group too high). BNSP (background negative, subgroup positive): AUC on subgroup positives +
    background negatives (low = the model misses abuse aimed at the group).
    """
    y, p, subgroup = np.asarray(y, float), np.asarray(p, float), np.asarray(subgroup, bool)
    keep = ~np.isnan(y) & ~np.isnan(p)
    y, p, subgroup = y[keep], p[keep], subgroup[keep]
    bpsn = (subgroup & (y == 0)) | (~subgroup & (y == 1))
    bnsp = (subgroup & (y == 1)) | (~subgroup & (y == 0))
    return {
        "subgroup_auc": _auc(y[subgroup], p[subgroup]),
        "bpsn_auc": _auc(y[bpsn], p[bpsn]),
        "bnsp_auc": _auc(y[bnsp], p[bnsp]),
    }


def bias_report(
    texts: Sequence[str],
    langs: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    terms: Mapping[str, Sequence[str]],
    min_positives: int = 5,
    min_negatives: int = 5,
) -> dict[str, Any]:
    """Bias AUCs per (language, term) for one label column; terms with too little support are listed.

    The background of a term is the other rows of the same language. Pass non-synthetic rows.
    """
    langs = np.asarray(langs, dtype=object)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for lang, lang_terms in terms.items():
        in_lang = (langs == lang) & ~np.isnan(y) & ~np.isnan(p)
        idx = np.nonzero(in_lang)[0]
        if not len(idx) or not lang_terms:
            skipped += [
                {
                    "lang": lang,
                    "term": t,
                    "n": 0,
                    "positives": 0,
                    "negatives": 0,
                    "reason": "no rows in this language",
                }
                for t in lang_terms
            ]
            continue
        sub_texts = [texts[int(i)] for i in idx]
        masks = term_masks(sub_texts, lang_terms)
        yl, pl = y[idx], p[idx]
        for term, mask in masks.items():
            pos = int((yl[mask] == 1).sum())
            neg = int((yl[mask] == 0).sum())
            entry: dict[str, Any] = {
                "lang": lang,
                "term": term,
                "n": pos + neg,
                "positives": pos,
                "negatives": neg,
            }
            if pos < min_positives or neg < min_negatives:
                entry["reason"] = f"needs >= {min_positives} positives and >= {min_negatives} negatives"
                skipped.append(entry)
                continue
            entry.update(bias_aucs(yl, pl, mask))
            results.append(entry)
    return {
        "terms": results,
        "skipped": skipped,
        "min_positives": min_positives,
        "min_negatives": min_negatives,
        "summary": bias_summary(results),
    }


def generalized_mean(values: Sequence[float], power: float = -5.0) -> float | None:
    """The Jigsaw power mean (p = -5: dominated by the worst values)."""
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if not arr.size:
        return None
    return float(np.power(np.mean(np.power(np.maximum(arr, 1e-9), power)), 1.0 / power))


def bias_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    keys = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
    return {
        f"{k}_power_mean": generalized_mean([r[k] for r in results if r.get(k) is not None]) for k in keys
    }


# --------------------------------------------------------------------------- comparison


def compare_models(
    cells_a: Sequence[Mapping[str, Any]],
    cells_b: Sequence[Mapping[str, Any]],
    min_positives: int = 20,
    min_negatives: int = 20,
    name_a: str = "transformer",
    name_b: str = "baseline",
) -> dict[str, Any]:
    """PR-AUC of model a vs b per label x language cell (source ``"all"``) with enough support.

    Support is taken from model a's cell. Returns every compared cell, the cells where a does
    not beat b (``not_better``), and the cells skipped for support or undefined PR-AUC.
    """
    compared, not_better, too_small = [], [], []
    for cell in cells_a:
        if cell["source"] != ALL:
            continue
        other = find_cell(cells_b, cell["label"], cell["lang"], ALL)
        key = {
            "label": cell["label"],
            "lang": cell["lang"],
            "positives": cell["positives"],
            "negatives": cell["negatives"],
        }
        if cell["positives"] < min_positives or cell["negatives"] < min_negatives:
            too_small.append(
                {**key, "reason": f"needs >= {min_positives} positives and >= {min_negatives} negatives"}
            )
            continue
        pa = cell.get("pr_auc")
        pb = None if other is None else other.get("pr_auc")
        if pa is None or pb is None:
            too_small.append({**key, "reason": f"no PR-AUC for {name_a if pa is None else name_b}"})
            continue
        row = {**key, name_a: pa, name_b: pb, "difference": pa - pb, f"{name_a}_better": pa > pb}
        compared.append(row)
        if not pa > pb:
            not_better.append(row)
    return {
        "min_positives": min_positives,
        "min_negatives": min_negatives,
        "cells": compared,
        "not_better": not_better,
        "skipped": too_small,
        f"{name_a}_better_everywhere": bool(compared) and not not_better,
    }


# --------------------------------------------------------------------------- one model, everything


def evaluate_model(
    data: EvalData,
    probs: np.ndarray,
    thresholds: Mapping[str, float],
    identity_terms: Mapping[str, Sequence[str]] | None = None,
    bias_label: str = "abusive",
    bias_min_support: int = 5,
) -> dict[str, Any]:
    """Cells (both variants), calibration (all rows) and bias (non-synthetic rows) of one model's scores."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != data.y.shape:
        raise EvaluationError(f"scores have shape {probs.shape}, labels {data.y.shape}")
    cells = {}
    for variant, mask in variant_masks(data.synthetic).items():
        cells[variant] = cell_metrics(
            data.y[mask], probs[mask], data.langs[mask], data.sources[mask], thresholds, data.labels
        )
    out: dict[str, Any] = {
        "thresholds": {k: float(thresholds.get(k, 0.5)) for k in data.labels},
        "cells": cells,
        "calibration": calibration_report(data.y, probs, data.labels),
    }
    if identity_terms is not None and bias_label in data.labels:
        j = data.labels.index(bias_label)
        real = ~data.synthetic
        out["bias"] = {
            "label": bias_label,
            **bias_report(
                [t for t, keep in zip(data.texts, real, strict=True) if keep],
                data.langs[real],
                data.y[real, j],
                probs[real, j],
                identity_terms,
                min_positives=bias_min_support,
                min_negatives=bias_min_support,
            ),
        }
    return out


def pr_curve_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(recall, precision)`` of the PR curve, or None with one class only."""
    from sklearn.metrics import precision_recall_curve

    y, p = _clean(y, p)
    if not _two_classes(y):
        return None
    precision, recall, _ = precision_recall_curve(y, p)
    return recall, precision


def plot_pr_curves(
    data: EvalData,
    scores: Mapping[str, np.ndarray],
    out_dir: Path,
    variant: str = "with_synthetic",
) -> dict[str, str]:
    """One PNG per label (``pr_<label>.png``): a PR curve per model, plus the first model per language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = variant_masks(data.synthetic)[variant]
    files = {}
    first = next(iter(scores))
    for j, name in enumerate(data.labels):
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
        drawn = False
        for model_name, p in scores.items():
            pts = pr_curve_points(data.y[rows, j], p[rows, j])
            if pts is not None:
                ap = pr_auc(data.y[rows, j], p[rows, j])
                ax.plot(pts[0], pts[1], lw=2, label=f"{model_name} (all, AP={ap:.3f})")
                drawn = True
        for lang in sorted(set(data.langs[rows])):
            sel = rows & (data.langs == lang)
            pts = pr_curve_points(data.y[sel, j], scores[first][sel, j])
            if pts is not None:
                ap = pr_auc(data.y[sel, j], scores[first][sel, j])
                ax.plot(pts[0], pts[1], lw=1, ls=":", label=f"{first} {lang} (AP={ap:.3f})")
                drawn = True
        ax.set(
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
            title=f"{name}: precision-recall",
        )
        if drawn:
            ax.legend(fontsize=7, loc="lower left")
        else:
            ax.text(0.5, 0.5, "undefined: one class only", ha="center", va="center")
        path = out_dir / f"pr_{name}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        files[name] = path.name
    return files


# --------------------------------------------------------------------------- Markdown


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_table(
    cells_t: Sequence[Mapping[str, Any]], cells_b: Sequence[Mapping[str, Any]], by: str = "lang"
) -> str:
    """Per label x language (``by="lang"``) or x source: support, PR-AUC/ROC-AUC/P/R/F1 of both models."""
    rows = []
    for cell in cells_t:
        if (by == "lang" and cell["source"] != ALL) or (
            by == "source" and (cell["lang"] != ALL or cell["source"] == ALL)
        ):
            continue
        other = find_cell(cells_b, cell["label"], cell["lang"], cell["source"]) or {}
        rows.append(
            [
                cell["label"],
                cell["lang"] if by == "lang" else cell["source"],
                cell["positives"],
                cell["negatives"],
                cell["pr_auc"],
                other.get("pr_auc"),
                cell["roc_auc"],
                other.get("roc_auc"),
                cell["precision"],
                cell["recall"],
                cell["f1"],
                other.get("f1"),
            ]
        )
    header = [
        "label",
        "lang" if by == "lang" else "source",
        "pos",
        "neg",
        "PR-AUC T",
        "PR-AUC B",
        "ROC-AUC T",
        "ROC-AUC B",
        "P T",
        "R T",
        "F1 T",
        "F1 B",
    ]
    return md_table(header, rows)


def render_evaluation_md(metrics: Mapping[str, Any]) -> str:
    """The ``EVALUATION.md`` report from a ``metrics.json`` dict (see ``commentmod evaluate``)."""
    t, b = metrics["transformer"], metrics.get("baseline")
    lines = [
        f"# Evaluation: {metrics.get('model_name', 'model')} on `{metrics.get('split', '?')}`",
        "",
        f"Dataset: `{metrics.get('dataset', '?')}`; {metrics.get('n_rows', '?')} rows, "
        f"{metrics.get('n_synthetic', 0)} of them synthetic off-topic pairs. "
        "T = transformer, B = baseline (TF-IDF char n-grams + logistic regression, comment text only). "
        "P/R/F1 at the chosen thresholds. `–` = undefined (one class only, or nothing predicted positive).",
        "",
    ]
    b_cells = b["cells"] if b else {v: [] for v in VARIANTS}
    for variant, title in (
        ("with_synthetic", "All rows"),
        ("without_synthetic", "Without synthetic off-topic pairs"),
    ):
        lines += [
            f"## {title}: per label x language",
            "",
            comparison_table(t["cells"][variant], b_cells[variant]),
            "",
        ]
    lines += [
        "## Per label x source (all rows)",
        "",
        comparison_table(t["cells"]["with_synthetic"], b_cells["with_synthetic"], by="source"),
        "",
    ]
    comparison = metrics.get("comparison")
    if comparison:
        lines += ["## Does the transformer beat the baseline on PR-AUC?", ""]
        for variant, comp in comparison.items():
            lines.append(
                f"- **{variant}** (cells with >= {comp['min_positives']} positives and "
                f">= {comp['min_negatives']} negatives): {len(comp['cells'])} compared, "
                f"transformer better in {len(comp['cells']) - len(comp['not_better'])}."
            )
            if comp["not_better"]:
                cells = ", ".join(
                    f"{c['label']}/{c['lang']} (T {c['transformer']:.3f} vs B {c['baseline']:.3f})"
                    for c in comp["not_better"]
                )
                lines.append(f"  - **Not better:** {cells}")
            if comp["skipped"]:
                lines.append(
                    "  - Too small to compare: "
                    + ", ".join(f"{c['label']}/{c['lang']}" for c in comp["skipped"])
                )
        lines.append("")
    lines += [
        "## Thresholds",
        "",
        md_table(
            ["label", "transformer", "baseline"],
            [[k, t["thresholds"].get(k), (b or {}).get("thresholds", {}).get(k)] for k in t["thresholds"]],
        ),
        "",
    ]
    lines += ["## Calibration (all rows)", ""]
    cal_rows = []
    for name, cal in t["calibration"].items():
        bcal = (b or {}).get("calibration", {}).get(name, {})
        cal_rows.append([name, cal["n"], cal["brier"], bcal.get("brier"), cal["ece"], bcal.get("ece")])
    lines += [md_table(["label", "n", "Brier T", "Brier B", "ECE T", "ECE B"], cal_rows), ""]
    for name, cal in t["calibration"].items():
        lines += [f"Reliability, transformer, `{name}`:", ""]
        lines += [
            md_table(
                ["bin", "count", "mean predicted", "fraction positive"],
                [
                    [
                        f"{r['low']:.1f}–{r['high']:.1f}",
                        r["count"],
                        r["mean_predicted"],
                        r["fraction_positive"],
                    ]
                    for r in cal["bins"]
                ],
            ),
            "",
        ]
    bias = t.get("bias")
    if bias:
        lines += [render_bias_md(bias, (b or {}).get("bias")), ""]
    blend = metrics.get("blend")
    if blend:
        lines += [
            "## Hybrid (transformer + baseline blend)",
            "",
            f"Weights (transformer share, fitted on validation PR-AUC): {blend['weights']}",
            "",
        ]
        if blend.get("cells"):
            rows = [
                [c["label"], c["lang"], c["positives"], c["negatives"], c["pr_auc"], c["f1"]]
                for c in blend["cells"]
                if c["source"] == ALL
            ]
            lines += [md_table(["label", "lang", "pos", "neg", "PR-AUC", "F1"], rows), ""]
    plots = metrics.get("plots") or {}
    if plots:
        lines += ["## Precision-recall curves", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()]
        lines.append("")
    return "\n".join(lines)


def render_bias_md(bias: Mapping[str, Any], baseline_bias: Mapping[str, Any] | None = None) -> str:
    lines = [
        f"## Bias check (`{bias['label']}`, identity terms, non-synthetic rows)",
        "",
        "Subgroup AUC: within comments mentioning the term. BPSN: low means innocent mentions score too high "
        "(false positives on the group). BNSP: low means abuse aimed at the group is missed.",
        "",
    ]
    base = {(r["lang"], r["term"]): r for r in (baseline_bias or {}).get("terms", [])}
    rows = []
    for r in bias["terms"]:
        other = base.get((r["lang"], r["term"]), {})
        rows.append(
            [
                r["lang"],
                r["term"],
                r["positives"],
                r["negatives"],
                r["subgroup_auc"],
                r["bpsn_auc"],
                r["bnsp_auc"],
                other.get("subgroup_auc"),
            ]
        )
    if rows:
        lines.append(
            md_table(
                ["lang", "term", "pos", "neg", "subgroup AUC", "BPSN AUC", "BNSP AUC", "subgroup AUC B"], rows
            )
        )
        summary = bias.get("summary", {})
        lines += ["", "Power means (p = -5): " + ", ".join(f"{k} {fmt(v)}" for k, v in summary.items())]
    else:
        lines.append("No identity term had enough support.")
    small = [s for s in bias["skipped"] if s["n"] > 0]
    unseen: dict[str, list[str]] = {}
    for s in bias["skipped"]:
        if s["n"] == 0:
            unseen.setdefault(s["lang"], []).append(s["term"])
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
    return "\n".join(lines)
