"""Identity-term bias check: Jigsaw-style subgroup, BPSN and BNSP AUCs per (language, term).

Terms come from ``configs/identity_terms.yaml`` (:func:`load_identity_terms`); a comment mentions a
term when its folded text (:func:`fold_text`) holds the term as a whole word (a trailing ``*`` makes
the term a prefix). :func:`bias_report` runs the check on one label column; pass non-synthetic rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...model.yamlfile import YamlFileError, load_yaml_mapping
from .metrics import EvaluationError, roc_auc

AUC_KEYS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")


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
    """``{lang: [term, ...]}`` from a YAML file with a ``terms:`` mapping (or a bare mapping).

    Raises :class:`EvaluationError` when the file is missing, not YAML, or not shaped like that.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"identity terms file {path} not found; pass --identity-terms PATH")
    try:
        data = load_yaml_mapping(path, "identity terms file")
    except YamlFileError as exc:
        raise EvaluationError(str(exc)) from None
    terms = data.get("terms", data)
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


def _unseen(lang: str, terms: Sequence[str]) -> list[dict[str, Any]]:
    """Skipped entries for terms of a language with no (labelled, scored) rows."""
    return [
        {
            "lang": lang,
            "term": t,
            "n": 0,
            "positives": 0,
            "negatives": 0,
            "reason": "no rows in this language",
        }
        for t in terms
    ]


def _lang_entries(
    lang: str,
    texts: Sequence[str],
    y: np.ndarray,
    p: np.ndarray,
    terms: Sequence[str],
    min_pos: int,
    min_neg: int,
) -> list[dict[str, Any]]:
    """One entry per term of one language's rows: its support, and its AUCs or why it was skipped."""
    entries = []
    for term, mask in term_masks(texts, terms).items():
        pos = int((y[mask] == 1).sum())
        neg = int((y[mask] == 0).sum())
        entry: dict[str, Any] = {
            "lang": lang,
            "term": term,
            "n": pos + neg,
            "positives": pos,
            "negatives": neg,
        }
        if pos < min_pos or neg < min_neg:
            entry["reason"] = f"needs >= {min_pos} positives and >= {min_neg} negatives"
        else:
            entry.update(bias_aucs(y, p, mask))
        entries.append(entry)
    return entries


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
        idx = np.nonzero((langs == lang) & ~np.isnan(y) & ~np.isnan(p))[0]
        if not len(idx) or not lang_terms:
            skipped += _unseen(lang, lang_terms)
            continue
        sub_texts = [texts[int(i)] for i in idx]
        for entry in _lang_entries(lang, sub_texts, y[idx], p[idx], lang_terms, min_positives, min_negatives):
            (skipped if "reason" in entry else results).append(entry)
    return {
        "terms": results,
        "skipped": skipped,
        "min_positives": min_positives,
        "min_negatives": min_negatives,
        "summary": bias_summary(results),
    }


def generalized_mean(values: Sequence[float], power: float = -5.0) -> float | None:
    """The Jigsaw power mean (p = -5: dominated by the worst values); None for no values."""
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if not arr.size:
        return None
    return float(np.power(np.mean(np.power(np.maximum(arr, 1e-9), power)), 1.0 / power))


def bias_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Power mean of each AUC over the terms that had enough support."""
    return {
        f"{k}_power_mean": generalized_mean([r[k] for r in results if r.get(k) is not None]) for k in AUC_KEYS
    }
