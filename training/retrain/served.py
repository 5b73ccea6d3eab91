"""What a run ships, computed from cached encoder outputs: the parent's and the child's scores.

:class:`Served` holds the parts a run scores with after the encoder: the head, the temperatures and,
for a hybrid run, the stacker and the n-gram model. :meth:`Served.probs` gives the probabilities the
exported artifact serves (``stack_probs`` of the transformer's raw logits and the n-gram model, or
``sigmoid(logit / T)`` without a stacker), so the gate compares what users would get.
:func:`cells` turns them into the per label x language metrics of :mod:`..report.metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...model.numeric import sigmoid
from ...model.record import CommentRecord
from ...serving.hybrid import HybridSpec, stack_probs
from ..fit.baseline_onnx import OnnxBaseline
from ..fit.hybrid_fit import NGRAM_DIR, STACKER_NAME, load_hybrid, stale_reason
from ..fit.modeling import CommentClassifier, RunInfo
from ..report.evaluate import EvalData
from ..report.metrics import ALL, cell_metrics
from .features import Pooled, head_logits, model_head

log = logging.getLogger(__name__)


@dataclass
class Served:
    """A run's scoring parts past the encoder."""

    weight: np.ndarray  # head [L, H]
    bias: np.ndarray  # head [L]
    temperature: np.ndarray  # [L], used without a stacker
    spec: HybridSpec | None = None
    ngram: OnnxBaseline | None = None

    def logits(self, pooled: Pooled) -> np.ndarray:
        return head_logits(self.weight, self.bias, pooled)

    def probs(self, pooled: Pooled, texts: Sequence[str]) -> np.ndarray:
        """``[N, L]`` served probabilities of the rows of ``pooled`` (``texts``: their comments)."""
        logits = self.logits(pooled)
        if self.spec is None:
            return np.asarray(sigmoid(logits / self.temperature), dtype=np.float64)
        ngram = self.ngram.predict_probs(list(texts)) if self.ngram is not None else None
        return np.asarray(stack_probs(logits, ngram, self.spec), dtype=np.float64)


def load_stacker(run_dir: Path) -> tuple[HybridSpec | None, OnnxBaseline | None]:
    """The run's stacker and n-gram model as export would ship them; (None, None) when it has no
    usable stacker (none, or fitted on other models: export would refuse it, so it is not served)."""
    if not (Path(run_dir) / STACKER_NAME).is_file():
        return None, None
    reason = stale_reason(Path(run_dir))
    if reason is not None:
        log.warning("%s: %s; comparing its transformer alone", run_dir, reason)
        return None, None
    spec, _ = load_hybrid(Path(run_dir))
    uses_ngram = any(spec.per_label[k].coef_ngram != 0.0 for k in spec.labels)
    return spec, OnnxBaseline.load(Path(run_dir) / NGRAM_DIR) if uses_ngram else None


def served_from_run(run_dir: Path, model: CommentClassifier, info: RunInfo) -> Served:
    weight, bias = model_head(model)
    temperature = np.asarray([float(info.temperature.get(k, 1.0)) for k in info.labels])
    spec, ngram = load_stacker(run_dir)
    return Served(weight, bias, temperature, spec, ngram)


def cells(records: Sequence[CommentRecord], probs: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """PR-AUC and support per label x language (source ``all`` only) of ``probs`` on ``records``."""
    data = EvalData.from_records(records, labels)
    sources = np.full(len(data), "-", dtype=object)  # one source: only the language cells are kept
    out = cell_metrics(data.y, probs, data.langs, sources, {k: 0.5 for k in labels}, labels)
    return [c for c in out if c["source"] == ALL]
