"""Hybrid artifacts: the stacker and n-gram model a run ships, the served (stacked) probabilities,
the Scorer-vs-training-blend gate, and the manifest entries.

When the run directory has ``stacker.json`` (``training/fit/hybrid_fit.py``) the artifact also ships
the character n-gram graph (``RUN/baseline/baseline.onnx`` as ``ngram.onnx``, only if some label
uses it) and the stacker (manifest ``extra["hybrid"]``, with the stacker's thresholds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from ...model.manifest import Manifest
from ...serving.hybrid import HybridSpec, stack_probs
from ...serving.onnx_session import logits_to_probs, make_session, ngram_probs
from ...serving.scorer_inputs import Triple
from ..fit import hybrid_fit
from ..fit.baseline import BaselineError
from ..fit.baseline_onnx import ONNX_NAME as BASELINE_ONNX
from ..fit.baseline_onnx import OnnxBaseline
from ..fit.hybrid_fit import NGRAM_DIR, STACKER_NAME
from ..fit.modeling import CommentClassifier
from .errors import ExportError
from .onnx_graph import FP32_FILE, torch_logits
from .parity import HybridParityReport, check_hybrid_parity
from .probes import PROBES, builtin_validation_items


@dataclass
class HybridPlan:
    """What a hybrid export ships: the stacker, its thresholds, and the n-gram model when used."""

    spec: HybridSpec
    thresholds: dict[str, float]
    baseline: OnnxBaseline | None  # RUN/baseline loaded, when some label uses the n-gram model
    baseline_dir: Path


def load_hybrid(run_dir: Path, labels: Sequence[str]) -> HybridPlan | None:
    """The stacker of ``RUN/stacker.json`` (``training/fit/hybrid_fit.py``), refused when malformed
    or fitted on other models than the run's (its provenance), checked against the run's labels, with
    ``RUN/baseline/`` loaded when some label uses the n-gram model; None when the run has no stacker."""
    path = Path(run_dir) / STACKER_NAME
    if not path.is_file():
        return None
    reason = hybrid_fit.stale_reason(Path(run_dir))
    if reason is not None:
        raise ExportError(
            f"{path} cannot be shipped: {reason}. Refit the stacker (`commentmod hybrid`) "
            "or export with --no-hybrid"
        )
    spec, thresholds = hybrid_fit.load_hybrid(Path(run_dir))
    if tuple(spec.labels) != tuple(labels):
        raise ExportError(f"{path} is for labels {list(spec.labels)}, the model for {list(labels)}; refit it")
    bad = {k: v for k, v in thresholds.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ExportError(f"{path}: thresholds {bad} are not probabilities in [0, 1]; refit it")
    baseline_dir = Path(run_dir) / NGRAM_DIR
    uses = [k for k in labels if spec.per_label[k].coef_ngram != 0.0]
    if not uses:
        return HybridPlan(spec, thresholds, None, baseline_dir)
    try:
        baseline = OnnxBaseline.load(baseline_dir)
    except BaselineError as exc:
        raise ExportError(f"{path} blends the n-gram model for {uses}, but {exc}") from exc
    if tuple(baseline.labels) != tuple(labels):
        raise ExportError(
            f"the n-gram model in {baseline_dir} is for labels {list(baseline.labels)}, "
            f"the transformer for {list(labels)}; retrain the baseline"
        )
    untrained = [k for k in uses if not baseline.trained.get(k, False)]
    if untrained:
        raise ExportError(
            f"{path} blends the n-gram model for {untrained}, but {baseline_dir} has no head for them; refit"
        )
    return HybridPlan(spec, thresholds, baseline, baseline_dir)


class ShippedProbs:
    """Served probabilities from raw logits, as the Scorer computes them: temperature + sigmoid, or
    the hybrid stack with the n-gram graph shipped in the artifact. The n-gram probabilities of an
    item list are computed once (the int8 gate scores the same items with every plan)."""

    def __init__(self, temperature: Sequence[float], spec: HybridSpec | None, ngram_path: Path | None):
        self.temperature = list(temperature)
        self.spec = spec
        self._session = make_session(ngram_path) if ngram_path is not None else None
        self._cache: dict[tuple[str, ...], np.ndarray] = {}

    def ngram(self, items: Sequence[Triple]) -> np.ndarray | None:
        if self._session is None or self.spec is None:
            return None
        texts = tuple(text for text, _, _ in items)
        if texts not in self._cache:
            self._cache[texts] = ngram_probs(self._session, texts, len(self.spec.labels))
        return self._cache[texts]

    def __call__(self, logits: np.ndarray, items: Sequence[Triple]) -> np.ndarray:
        if self.spec is None:
            return logits_to_probs(logits, self.temperature)
        return stack_probs(logits, self.ngram(items), self.spec)


def hybrid_parity_sample(validation_items: Sequence[Triple] | None, n: int, seed: int = 0) -> list[Triple]:
    """A seeded sample of up to ``n`` validation comments (the built-in sample without data)."""
    pool = list(validation_items) if validation_items else builtin_validation_items()
    if len(pool) <= n:
        return pool
    picked = np.sort(np.random.default_rng(seed).choice(len(pool), size=max(0, n), replace=False))
    return [pool[int(i)] for i in picked]


def gate_hybrid_parity(
    plan: HybridPlan,
    tmp: Path,
    model: CommentClassifier,
    tokenizer: Tokenizer,
    manifest: Manifest,
    probe_logits: np.ndarray,
    sample: Sequence[Triple],
    batch_size: int,
    tolerance: float,
) -> HybridParityReport:
    """The Scorer class itself (fp32 graph, shipped ngram.onnx, stacker in ``manifest``) vs the
    Python blend on the probes + ``sample``."""
    from ...serving.scorer import Scorer

    rule, special = manifest.context_rule, manifest.special_ids
    items = [p.item for p in PROBES] + list(sample)
    names = [p.name for p in PROBES] + [f"validation[{i}]" for i in range(len(sample))]
    logits = np.concatenate([probe_logits, torch_logits(model, tokenizer, rule, sample, special, batch_size)])
    texts = [text for text, _, _ in items]
    p_ngram = plan.baseline.predict_probs(texts) if plan.baseline is not None else None
    reference = stack_probs(logits, p_ngram, plan.spec)
    ngram_path = tmp / plan.spec.ngram_file
    scorer = Scorer(
        make_session(tmp / FP32_FILE),
        tokenizer,
        manifest,
        tmp,
        model_file=FP32_FILE,
        windows_per_batch=batch_size,
        ngram_session=make_session(ngram_path) if plan.baseline is not None else None,
    )
    return check_hybrid_parity(reference, scorer.probabilities(items), manifest.labels, names, tolerance)


def hybrid_extra(
    plan: HybridPlan,
    labels: Sequence[str],
    thresholds: Sequence[float],
    temperature: Sequence[float],
    parity: HybridParityReport,
) -> dict[str, Any]:
    """Manifest ``extra`` entries of a hybrid artifact."""
    out: dict[str, Any] = {
        "hybrid": plan.spec.to_dict(),
        "hybrid_parity": asdict(parity),
        "transformer": {
            "thresholds": dict(zip(labels, thresholds, strict=True)),
            "temperature": dict(zip(labels, temperature, strict=True)),
            "note": "reference only: the artifact serves the stacker's thresholds and applies no temperature",
        },
    }
    if plan.baseline is not None:
        meta = {k: v for k, v in plan.baseline.meta.items() if k != "files"}
        out["ngram"] = {"file": plan.spec.ngram_file, "source": f"{NGRAM_DIR}/{BASELINE_ONNX}", **meta}
    return out
