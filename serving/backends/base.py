"""The runtime-backend contract: a backend runs the transformer on padded token windows.

A :class:`Backend` turns ``input_ids`` / ``attention_mask`` (int64 ``[batch, seq]``) into logits
(float32 ``[batch, n_labels]``); :func:`backend_logits` runs it over tokenised windows with the
Scorer's batching and window-max rule (:func:`commentmod.model.numeric.max_over_windows`), as
:func:`commentmod.serving.onnx_session.window_logits` does with an ONNX Runtime session.
Implementations: :mod:`.ort_backend` (ONNX Runtime, the universal fallback) and
:mod:`.openvino_backend` (optional).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Protocol

import numpy as np

from ...model.errors import CommentmodError
from ...model.numeric import Window, max_over_windows, pad_windows
from ..onnx_session import DEFAULT_MAX_BATCH_TOKENS, DEFAULT_WINDOWS_PER_BATCH, ScoringError
from ..vocab_map import map_ids

OPENVINO_INSTALL = "pip install 'commentmod[openvino]' (openvino==2026.4.1)"


class RuntimeChoiceError(CommentmodError):
    """The runtime asked for cannot serve this artifact here (base of the errors below)."""


class BackendUnavailableError(RuntimeChoiceError):
    """The backend asked for is not installed (or could not start) on this machine."""


class NoRuntimePlanError(RuntimeChoiceError):
    """The artifact has no plan that passed its gate for the backend (or plan) asked for, on this CPU."""


class Backend(Protocol):
    """Runs the transformer: ``run(input_ids, attention_mask) -> logits``. ``name`` is the backend
    (``onnxruntime``, ``openvino``), ``precision`` what it computes in (``fp32``, ``bf16``, ``int8``)."""

    name: str
    precision: str

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """float32 logits ``[batch, n_labels]`` of int64 ``[batch, seq]`` inputs."""
        ...

    def io_names(self) -> tuple[list[str], list[str]]:
        """The graph's input names and output names."""
        ...

    def output_width(self) -> int | None:
        """Labels per comment of the logits output, when the graph says (else None)."""
        ...


def backend_logits(
    backend: Backend,
    per_item: Sequence[Sequence[Window]],
    n_labels: int,
    pad_id: int,
    batch_size: int = DEFAULT_WINDOWS_PER_BATCH,
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    id_map: np.ndarray | None = None,
) -> np.ndarray:
    """Logits ``[n_items, n_labels]``: every window run once, max over an item's windows (windows
    sorted by length, at most ``batch_size`` windows and about ``max_batch_tokens`` padded tokens per
    call; an item with no windows gets ``-inf``). ``id_map``: a vocabulary-pruned artifact's token-id
    map (``commentmod.serving.vocab_map``), applied to each padded batch of ids."""
    run = partial(_run_padded, backend, pad_id, n_labels, id_map)
    return max_over_windows(per_item, run, n_labels, batch_size, max_batch_tokens)


def _run_padded(
    backend: Backend, pad_id: int, n_labels: int, id_map: np.ndarray | None, windows: list[Window]
) -> np.ndarray:
    """Logits ``[len(windows), n_labels]`` of one padded batch; :class:`ScoringError` on failure."""
    ids, mask = pad_windows(windows, pad_id)
    ids = map_ids(ids, id_map)
    try:
        logits = np.asarray(backend.run(ids, mask), dtype=np.float32)
    except Exception as exc:  # the runtimes raise their own untyped errors
        raise ScoringError(
            f"{backend.name} failed on a batch of {len(windows)} windows of length {ids.shape[1]}: {exc}"
        ) from exc
    if logits.shape != (len(windows), n_labels):
        raise ScoringError(
            f"model returned logits of shape {logits.shape}, expected {(len(windows), n_labels)}; "
            "the artifact's model does not match its manifest labels - re-export it"
        )
    return logits
