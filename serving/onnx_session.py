"""ONNX Runtime sessions and the model calls the Scorer makes on them (numpy + onnxruntime only).

* :func:`make_session` - a CPU session with explicit threads and the graph optimisations we keep.
* :func:`window_logits` - raw logits ``[n_items, n_labels]`` of tokenised windows, the max over an
  item's windows (the rule and its batching live in :mod:`commentmod.model.numeric`).
* :func:`ngram_probs` - the character n-gram model's probabilities (hybrid artifacts).
* :func:`logits_to_probs` - ``sigmoid(logit / temperature)`` per label.

The export (``commentmod.training.export``) runs the same functions, so its parity gates measure
the serving code path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..model.errors import CommentmodError
from ..model.numeric import Window, length_batches, sigmoid
from .hybrid import chars_of_layouts, layout_for_onnx
from .ngram_sparse import SparseNgram, load_sparse_ngram

DEFAULT_WINDOWS_PER_BATCH = 8  # int8 on 2 cores: 166 comments/s at 8, 157 at 16, 135 at 32, 114 at 64
DEFAULT_MAX_BATCH_TOKENS = 4096  # padded tokens per model call: bounds activation memory
DEFAULT_NGRAM_BATCH_SIZE = 64  # texts per n-gram model call
DEFAULT_NGRAM_MAX_BATCH_CHARS = 1 << 16  # padded characters per n-gram call: bounds its memory
NGRAM_INPUT, NGRAM_OUTPUT = "chars", "probs"  # the n-gram graph (commentmod.training.fit.baseline_onnx)

# ORT graph rewrites left out: SkipLayerNormFusion turns Add + LayerNormalization into
# SkipLayerNormalization, which ORT's CPU kernel runs about 4.5x slower (3.2 ms vs 0.7 ms for
# [32, 100, 384] on 2 cores, onnxruntime 1.31; benchmarks/bench_layernorm.py re-measures it).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


class ScoringError(CommentmodError):
    """The model could not be run on a batch (wrong artifact, corrupted session, out of memory)."""


def default_threads() -> int:
    """CPU cores this process may run on (respects taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_session(model_path: Path, threads: int | None = None) -> ort.InferenceSession:
    """ONNX Runtime CPU session: explicit intra-op threads, one inter-op thread, all graph
    optimisations except :data:`DISABLED_OPTIMIZERS`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(model_path),
        sess_options=options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )


def window_logits(
    session: ort.InferenceSession,
    per_item: Sequence[Sequence[Window]],
    n_labels: int,
    pad_id: int,
    batch_size: int = DEFAULT_WINDOWS_PER_BATCH,
    input_names: Sequence[str] = ("input_ids", "attention_mask"),
    output_name: str = "logits",
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    id_map: np.ndarray | None = None,
) -> np.ndarray:
    """Logits ``[n_items, n_labels]`` of an ONNX Runtime session: every window run once, max over an
    item's windows (:func:`commentmod.serving.backends.base.backend_logits`, which this wraps: windows
    sorted by length, at most ``batch_size`` windows and about ``max_batch_tokens`` padded tokens per
    model call, an item with no windows gets ``-inf``, ``id_map`` applied to each padded batch)."""
    from .backends.base import backend_logits  # the backends import this module
    from .backends.ort_backend import OrtBackend

    backend = OrtBackend(session, input_names, output_name)
    return backend_logits(backend, per_item, n_labels, pad_id, batch_size, max_batch_tokens, id_map)


def ngram_probs(
    session: ort.InferenceSession,
    texts: Sequence[str],
    n_labels: int,
    batch_size: int = DEFAULT_NGRAM_BATCH_SIZE,
    max_batch_chars: int = DEFAULT_NGRAM_MAX_BATCH_CHARS,
) -> np.ndarray:
    """The character n-gram model's probabilities ``[N, n_labels]`` for raw comment texts (no article).

    Texts are laid out as the graph expects (:func:`commentmod.serving.hybrid.layout_for_onnx`),
    then :func:`ngram_probs_of_layouts`.
    """
    laid = [layout_for_onnx(t) for t in texts]
    return ngram_probs_of_layouts(session, laid, n_labels, batch_size, max_batch_chars)


def ngram_probs_of_layouts(
    session: ort.InferenceSession,
    laid: Sequence[str],
    n_labels: int,
    batch_size: int = DEFAULT_NGRAM_BATCH_SIZE,
    max_batch_chars: int = DEFAULT_NGRAM_MAX_BATCH_CHARS,
) -> np.ndarray:
    """The n-gram model's probabilities ``[N, n_labels]`` for texts already laid out.

    Sorted by length and batched (at most ``batch_size`` texts and, past the first, about
    ``max_batch_chars`` padded characters per call); the padding never matches an n-gram, so a
    text's probabilities do not depend on what shares its batch. Result in input order.
    """
    out = np.zeros((len(laid), n_labels), dtype=np.float32)
    order = sorted(range(len(laid)), key=lambda i: len(laid[i]))
    for batch in length_batches([len(laid[i]) for i in order], batch_size, max_batch_chars):
        idx = [order[k] for k in batch]
        feed = chars_of_layouts([laid[i] for i in idx])
        try:
            probs = session.run([NGRAM_OUTPUT], {NGRAM_INPUT: feed})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ScoringError(
                f"ONNX Runtime failed on the n-gram model for {len(idx)} texts of up to {feed.shape[1]} "
                f"characters: {exc}"
            ) from exc
        probs = np.asarray(probs, dtype=np.float32)
        if probs.shape != (len(idx), n_labels):
            raise ScoringError(
                f"the n-gram model returned probabilities of shape {probs.shape}, expected "
                f"{(len(idx), n_labels)}; the artifact's n-gram model does not match its labels - re-export"
            )
        out[idx] = probs
    return out


def logits_to_probs(logits: np.ndarray, temperature: Sequence[float]) -> np.ndarray:
    """``sigmoid(logits / temperature)`` per label, float32 (:func:`commentmod.model.numeric.sigmoid`)."""
    scaled = np.asarray(logits, dtype=np.float64) / np.asarray(temperature, dtype=np.float64)
    return np.asarray(sigmoid(scaled), dtype=np.float32)


def open_ngram(
    directory: Path, ngram_file: str | None, n_labels: int, threads: int | None = None
) -> tuple[SparseNgram | None, ort.InferenceSession | None]:
    """The n-gram model of an artifact: its sparse form (no ONNX Runtime session: ~0.2 s and ~80 MB
    less at load), or, when the graph has no sparse form, an ONNX Runtime session; ``(None, None)``
    when no label uses it (``ngram_file`` None)."""
    if ngram_file is None:
        return None, None
    sparse = load_sparse_ngram(Path(directory) / ngram_file, n_labels)
    if sparse is not None:
        return sparse, None
    return None, make_session(Path(directory) / ngram_file, threads)
