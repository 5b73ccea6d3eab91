"""The torch-free Scorer: an exported artifact (ONNX + tokenizer + manifest) scoring comments.

Usage::

    from commentmod.serving import Scorer

    scorer = Scorer.load("artifacts/quick")            # verifies every file's sha256
    results = scorer.score(["text only", {"id": "c2", "text": "...", "article_title": "..."}])
    for result in scorer.score_iter(big_iterable):      # streaming, constant memory
        ...

Numerics (the one convention, also in ``docs/artifact.md``): the model outputs raw
logits ``[batch, n_labels]``; the scorer divides by the per-label temperature from
the manifest, applies the sigmoid, and takes the maximum over a comment's windows
(comments longer than ``max_length`` are split by :func:`commentmod.model.encode_comments`).
``flags[label]`` is ``score >= threshold[label]``.

Accepted inputs (one :class:`Result` per input, same order; a bad item never fails the batch):

* ``str`` - the comment text, no id, no context;
* a mapping with ``text`` (str) and optional ``id``, ``article_title``, ``article_text``;
* any object with a ``text`` attribute and the same optional attributes (e.g. ``CommentRecord``).

Empty or whitespace-only text gives ``status="empty"`` (no model call); anything
else malformed gives ``status="error"`` with a message.

This module imports only numpy, onnxruntime, tokenizers and ``commentmod.model``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from commentmod.model.errors import CommentmodError, ManifestError
from commentmod.model.inputs import ContextRule, SpecialIds, clean_text, encode_comments
from commentmod.model.manifest import Manifest, read_manifest, verify_files
from commentmod.serving.result import Result

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_BATCH_SIZE = 8  # int8 on 2 cores: 166 comments/s at 8, 157 at 16, 135 at 32, 114 at 64
DEFAULT_MAX_BATCH_TOKENS = 4096  # padded tokens per model call: bounds activation memory
DEFAULT_CHUNK_SIZE = 256

Item = tuple[str, str | None, str | None]


class ScoringError(CommentmodError):
    """The model could not be run on a batch (wrong artifact, corrupted session, out of memory)."""


# --------------------------------------------------------------------------- low-level numerics


def default_threads() -> int:
    """CPU cores this process may run on (respects taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ORT graph rewrites left out: SkipLayerNormFusion turns Add + LayerNormalization into
# SkipLayerNormalization, which ORT's CPU kernel runs about 4.5x slower (3.2 ms vs 0.7 ms for
# [32, 100, 384] on 2 cores, onnxruntime 1.31; benchmarks/bench_layernorm.py re-measures it).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


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


def pad_windows(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists to the longest; returns int64 ``(input_ids, attention_mask)``."""
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for i, w in enumerate(windows):
        ids[i, : len(w)] = w
        mask[i, : len(w)] = 1
    return ids, mask


def window_logits(
    session: ort.InferenceSession,
    per_item: Sequence[Sequence[Sequence[int]]],
    n_labels: int,
    pad_id: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    input_names: Sequence[str] = ("input_ids", "attention_mask"),
    output_name: str = "logits",
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
) -> np.ndarray:
    """Logits ``[n_items, n_labels]``: every window run once, max over an item's windows.

    Windows are sorted by length and batched (at most ``batch_size`` windows and about
    ``max_batch_tokens`` padded tokens per call) so padding and memory stay small; the
    result is in item order. An item with no windows gets ``-inf``.
    """
    out = np.full((len(per_item), n_labels), -np.inf, dtype=np.float32)
    flat = [(i, w) for i, windows in enumerate(per_item) for w in windows]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
    ids_name, mask_name = input_names
    for batch in _batches([len(flat[k][1]) for k in order], batch_size, max_batch_tokens):
        chunk = [flat[order[k]] for k in batch]
        ids, mask = pad_windows([w for _, w in chunk], pad_id)
        try:
            logits = session.run([output_name], {ids_name: ids, mask_name: mask})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ScoringError(
                f"ONNX Runtime failed on a batch of {len(chunk)} windows of length {ids.shape[1]}: {exc}"
            ) from exc
        logits = np.asarray(logits, dtype=np.float32)
        if logits.shape != (len(chunk), n_labels):
            raise ScoringError(
                f"model returned logits of shape {logits.shape}, expected {(len(chunk), n_labels)}; "
                "the artifact's model does not match its manifest labels - re-export it"
            )
        for (item_idx, _), row in zip(chunk, logits, strict=True):
            np.maximum(out[item_idx], row, out=out[item_idx])
    return out


def _batches(sorted_lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> Iterator[range]:
    """Consecutive index ranges over ascending lengths: <= batch_size rows and, past the first
    row, <= max_batch_tokens padded tokens (rows x longest length)."""
    start, n = 0, len(sorted_lengths)
    while start < n:
        end = start + 1
        while (
            end < n
            and end - start < max(1, batch_size)
            and (end - start + 1) * sorted_lengths[end] <= max_batch_tokens
        ):
            end += 1
        yield range(start, end)
        start = end


def logits_to_probs(logits: np.ndarray, temperature: Sequence[float]) -> np.ndarray:
    """``sigmoid(logits / temperature)`` per label, float32, numerically stable."""
    scaled = np.asarray(logits, dtype=np.float64) / np.asarray(temperature, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * scaled)), dtype=np.float32)


def _variant(file_name: str) -> str | None:
    """The model file an artifact file belongs to (``x.onnx`` for ``x.onnx`` and ``x.onnx.data``)."""
    if file_name.endswith(".onnx"):
        return file_name
    if file_name.endswith(".onnx.data"):
        return file_name[: -len(".data")]
    return None


# --------------------------------------------------------------------------- input normalisation


@dataclass(frozen=True)
class _Parsed:
    """One input after validation: either a scorable item or a ready Result (empty / error)."""

    id: str | None
    item: Item | None
    status: str = "ok"
    error: str | None = None


def _opt_str(value: Any, field_name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{field_name} must be a string or missing, got {type(value).__name__}")


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def parse_input(obj: Any) -> _Parsed:
    """Validate one scorer input; never raises."""
    if isinstance(obj, str):
        ident, text, title, body = None, obj, None, None
    elif isinstance(obj, Mapping) or hasattr(obj, "text"):
        raw_id = _get(obj, "id")
        ident = None if raw_id is None else str(raw_id)
        text = _get(obj, "text")
        if isinstance(obj, Mapping) and "text" not in obj:
            keys = ", ".join(sorted(map(str, obj))) or "none"
            return _Parsed(ident, None, "error", f"input has no 'text' field (fields: {keys})")
        if not isinstance(text, str):
            return _Parsed(ident, None, "error", f"'text' must be a string, got {type(text).__name__}")
        try:
            title = _opt_str(_get(obj, "article_title"), "article_title")
            body = _opt_str(_get(obj, "article_text"), "article_text")
        except TypeError as exc:
            return _Parsed(ident, None, "error", str(exc))
    else:
        return _Parsed(
            None,
            None,
            "error",
            f"cannot score a {type(obj).__name__}; pass a string, or a dict with a 'text' string",
        )
    text = _fix_surrogates(text)
    if not clean_text(text):
        return _Parsed(ident, None, "empty", None)
    title = None if title is None else _fix_surrogates(title)
    body = None if body is None else _fix_surrogates(body)
    return _Parsed(ident, (text, title, body), "ok", None)


def _fix_surrogates(text: str) -> str:
    """Lone UTF-16 surrogates (e.g. from broken JSON escapes) become U+FFFD; the tokenizer rejects them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def model_digest(manifest: Manifest, model_file: str = MODEL_FILE) -> str:
    """Identity of the served model: sha256 of ``model.onnx``, or, when its weights live in
    ``model.onnx.data``, sha256 of ``"<sha of model.onnx>:<sha of model.onnx.data>"`` (the graph
    file alone does not change with the weights)."""
    graph = manifest.files.get(model_file, "")
    data = manifest.files.get(model_file + ".data")
    if data is None:
        return graph
    return hashlib.sha256(f"{graph}:{data}".encode()).hexdigest()


# --------------------------------------------------------------------------- the Scorer


class Scorer:
    """Scores comments with an exported artifact. Create with :meth:`load`; thread-safe.

    Stable API (used by ``commentmod score`` and ``commentmod serve``): :meth:`load`,
    :meth:`score`, :meth:`score_iter`, :meth:`probabilities`, and the attributes
    ``name``, ``model_id``, ``labels``, ``thresholds``, ``manifest``, ``directory``.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        manifest: Manifest,
        directory: Path,
        model_file: str = MODEL_FILE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ):
        self.session = session
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.directory = Path(directory)
        self.model_file = model_file
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.labels: tuple[str, ...] = tuple(manifest.labels)
        self.thresholds: dict[str, float] = {k: float(manifest.thresholds[k]) for k in self.labels}
        self.temperature: tuple[float, ...] = tuple(
            float(manifest.temperature.get(k, 1.0)) for k in self.labels
        )
        self.rule: ContextRule = manifest.context_rule
        self.special: SpecialIds = manifest.special_ids
        self.name: str = manifest.name
        self.model_id: str = f"{manifest.name}@{model_digest(manifest, model_file)[:12]}"
        self._threshold_vec = np.asarray([self.thresholds[k] for k in self.labels], dtype=np.float32)
        self._check_session()
        self._blend = manifest.extra.get("blend")
        if self._blend is not None:
            # Hook for a hybrid artifact (a baseline ONNX model blended with the encoder):
            # the manifest names it under extra["blend"]; this version does not implement it.
            raise ManifestError(
                f"artifact {manifest.name!r} asks to blend with a baseline model ({self._blend!r}); "
                "this commentmod version does not support blended artifacts - re-export without 'blend'"
            )

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        model_file: str = MODEL_FILE,
        verify: bool = True,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ) -> Scorer:
        """Open an artifact directory written by ``commentmod export``.

        ``threads``: ONNX Runtime intra-op threads (default: the CPUs this process may use).
        ``batch_size`` / ``max_batch_tokens``: at most this many windows / padded tokens per model call.
        ``model_file``: ``model.onnx`` (the served model) or ``model.fp32.onnx`` when kept.
        ``verify``: check the sha256 of every listed file except model variants not loaded
        (refuses a mismatch with :class:`ManifestError`); the format version is always checked.
        """
        start = time.perf_counter()
        directory = Path(directory)
        manifest = read_manifest(directory, verify=False)
        for required in (model_file, TOKENIZER_FILE):
            if required not in manifest.files:
                raise ManifestError(
                    f"{directory}: the manifest does not list {required}; "
                    f"listed files are {sorted(manifest.files)} - re-export the artifact"
                )
        if verify:
            # every listed file except other model variants (e.g. model.fp32.onnx when serving int8)
            used = {k: v for k, v in manifest.files.items() if _variant(k) in (None, model_file)}
            verify_files(directory, replace(manifest, files=used))
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        session = make_session(directory / model_file, threads)
        scorer = cls(
            session,
            tokenizer,
            manifest,
            directory,
            model_file=model_file,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
        )
        log.debug("loaded %s in %.2fs", scorer.model_id, time.perf_counter() - start)
        return scorer

    def _check_session(self) -> None:
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        missing_in = [n for n in self.manifest.input_names if n not in inputs]
        if missing_in or self.manifest.output_names[0] not in outputs:
            raise ManifestError(
                f"{self.directory / self.model_file} has inputs {sorted(inputs)} "
                f"and outputs {sorted(outputs)}, "
                f"the manifest says {list(self.manifest.input_names)} -> {list(self.manifest.output_names)}; "
                "re-export the artifact"
            )
        if self.manifest.output_kind != "logits":
            raise ManifestError(
                f"output_kind is {self.manifest.output_kind!r}; this scorer reads 'logits' only - re-export"
            )

    # ------------------------------------------------------------------ numerics

    def encode(self, items: Sequence[Item]) -> list[list[list[int]]]:
        """Windows per item, exactly as training builds them (``commentmod.model.encode_comments``)."""
        return encode_comments(self.tokenizer, items, self.rule, self.special)

    def logits(self, items: Sequence[Item], batch_size: int | None = None) -> np.ndarray:
        """Raw logits ``[N, n_labels]`` (max over windows) for ``(text, title, article_text)`` triples."""
        if not items:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return window_logits(
            self.session,
            self.encode(items),
            n_labels=len(self.labels),
            pad_id=self.special.pad,
            batch_size=batch_size or self.batch_size,
            input_names=self.manifest.input_names,
            output_name=self.manifest.output_names[0],
            max_batch_tokens=self.max_batch_tokens,
        )

    def probabilities(self, items: Sequence[Item], batch_size: int | None = None) -> np.ndarray:
        """Calibrated probabilities ``[N, n_labels]`` for ``(text, title, article_text)`` triples."""
        return logits_to_probs(self.logits(items, batch_size), self.temperature)

    # ------------------------------------------------------------------ public scoring

    def _blank(self, parsed: _Parsed) -> Result:
        return Result(
            id=parsed.id,
            scores=dict.fromkeys(self.labels, 0.0),
            flags=dict.fromkeys(self.labels, False),
            flagged=False,
            status="empty" if parsed.status == "empty" else "error",
            error=parsed.error,
        )

    def score(self, items: Iterable[Any], batch_size: int | None = None) -> list[Result]:
        """One :class:`Result` per input, in input order. See the module docstring for input forms."""
        parsed = [parse_input(obj) for obj in items]
        windows = self._encode_isolating_failures(parsed)
        todo = [k for k, p in enumerate(parsed) if p.item is not None]
        results: list[Result | None] = [None if p.item is not None else self._blank(p) for p in parsed]
        if todo:
            logits = window_logits(
                self.session,
                [windows[k] for k in todo],
                n_labels=len(self.labels),
                pad_id=self.special.pad,
                batch_size=batch_size or self.batch_size,
                input_names=self.manifest.input_names,
                output_name=self.manifest.output_names[0],
                max_batch_tokens=self.max_batch_tokens,
            )
            probs = logits_to_probs(logits, self.temperature)
            flags = probs >= self._threshold_vec
            for row, k in enumerate(todo):
                scores = {label: float(probs[row, j]) for j, label in enumerate(self.labels)}
                label_flags = {label: bool(flags[row, j]) for j, label in enumerate(self.labels)}
                results[k] = Result(
                    id=parsed[k].id,
                    scores=scores,
                    flags=label_flags,
                    flagged=any(label_flags.values()),
                    status="ok",
                )
        return [r for r in results if r is not None]

    def _encode_isolating_failures(self, parsed: list[_Parsed]) -> dict[int, list[list[int]]]:
        """Windows of every scorable item; an item the tokenizer rejects becomes an error in place."""
        todo = [k for k, p in enumerate(parsed) if p.item is not None]
        try:
            encoded = self.encode([parsed[k].item for k in todo])  # type: ignore[misc]
            return dict(zip(todo, encoded, strict=True))
        except Exception:  # the tokenizer's errors are untyped; find the culprit item by item
            log.debug("batch tokenisation failed; retrying item by item", exc_info=True)
        out: dict[int, list[list[int]]] = {}
        for k in todo:
            try:
                out[k] = self.encode([parsed[k].item])[0]  # type: ignore[list-item]
            except Exception as exc:
                parsed[k] = _Parsed(parsed[k].id, None, "error", f"could not tokenise the text: {exc}")
        return out

    def score_iter(
        self,
        items: Iterable[Any],
        batch_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[Result]:
        """Stream results for an iterable of any length, in input order.

        Reads ``chunk_size`` comments at a time (windows of a chunk are length-sorted and
        run ``batch_size`` per model call), so memory stays bounded.
        """
        iterator = iter(items)
        while chunk := list(islice(iterator, max(1, chunk_size))):
            yield from self.score(chunk, batch_size)

    def __repr__(self) -> str:
        return f"Scorer({self.model_id!r}, labels={list(self.labels)}, dir={str(self.directory)!r})"
