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
    margin: float = 0.0,
) -> dict[str, Any]:
    """PR-AUC of model a vs b per label x language cell (source ``"all"``) with enough support.

    a is better in a cell when ``pr_auc_a > pr_auc_b`` (``margin`` 0) or ``pr_auc_a >= pr_auc_b +
    margin``. Support is taken from model a's cell. Returns every compared cell, the cells where a
    is not better (``not_better``), and the cells skipped for support or undefined PR-AUC.
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
        better = pa >= pb + margin if margin else pa > pb
        row = {**key, name_a: pa, name_b: pb, "difference": pa - pb, f"{name_a}_better": better}
        compared.append(row)
        if not better:
            not_better.append(row)
    return {
        "models": [name_a, name_b],
        "margin": margin,
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


# metrics.json key -> column abbreviation, and names in compare_models results -> abbreviation
MODELS = {"shipped": "S", "transformer": "T", "baseline": "N"}
ABBREV = {**MODELS, "ngram": "N"}
TITLES = {"S": "shipped (hybrid)", "T": "transformer alone", "N": "n-gram alone"}


def model_cells(metrics: Mapping[str, Any], variant: str) -> dict[str, list[dict[str, Any]]]:
    """Abbreviation -> cells of ``variant`` for every model in ``metrics`` (shipped first)."""
    return {abbr: metrics[key]["cells"][variant] for key, abbr in MODELS.items() if metrics.get(key)}


def verdict_header(comparison: Mapping[str, Any]) -> str:
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


def render_evaluation_md(metrics: Mapping[str, Any]) -> str:
    """The ``EVALUATION.md`` report from a ``metrics.json`` dict (see ``commentmod evaluate``)."""
    lines = _md_intro(metrics) + _md_cells(metrics) + _md_comparisons(metrics.get("comparison"))
    lines += _md_hybrid(metrics.get("hybrid")) + _md_thresholds(metrics) + _md_calibration(metrics)
    biases = {abbr: metrics[key].get("bias") for key, abbr in MODELS.items() if metrics.get(key)}
    first, bias = next(iter(biases.items()))
    if bias:
        others = {a: b for a, b in biases.items() if a != first and b}
        lines += [render_bias_md(bias, others, title=TITLES[first]), ""]
    if metrics.get("probe"):
        from commentmod.training.probe import render_probe_md

        lines += [render_probe_md(metrics["probe"]), ""]
    plots = metrics.get("plots") or {}
    if plots:
        lines += ["## Precision-recall curves", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()]
        lines.append("")
    return "\n".join(lines)


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
    by_term = {
        name: {(r["lang"], r["term"]): r for r in other.get("terms", [])}
        for name, other in (others or {}).items()
    }
    rows = []
    for r in bias["terms"]:
        key = (r["lang"], r["term"])
        row = [r["lang"], r["term"], r["positives"], r["negatives"], r["subgroup_auc"], r["bpsn_auc"]]
        row += [r["bnsp_auc"], *(terms.get(key, {}).get("subgroup_auc") for terms in by_term.values())]
        rows.append(row)
    if rows:
        header = ["lang", "term", "pos", "neg", "subgroup AUC", "BPSN AUC", "BNSP AUC"]
        lines.append(md_table(header + [f"subgroup AUC {name}" for name in by_term], rows))
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
