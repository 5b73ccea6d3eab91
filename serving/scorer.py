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

A hybrid artifact (manifest ``extra["hybrid"]``, see :mod:`commentmod.serving.hybrid`) ships
stacked probabilities instead: ``sigmoid(c_t * logit + c_n * logit(p_ngram) + b)`` per label,
from the raw logits (max over windows, no temperature) and the character n-gram model
(``ngram.onnx``, comment text only) when some label uses it.

Accepted inputs (one :class:`Result` per input, same order; a bad item never fails the batch):

* ``str`` - the comment text, no id, no context;
* a mapping with ``text`` (str) and optional ``id``, ``article_title``, ``article_text``;
* any object with a ``text`` attribute and the same optional attributes (e.g. ``CommentRecord``).

Empty or whitespace-only text gives ``status="empty"`` (no model call); anything
else malformed (a text that is not a str: int, bool, bytes, dict, list, None) gives
``status="error"`` with a message. ``score`` and ``score_iter`` take a list (any iterable) of
such inputs; a single str, bytes or dict raises :class:`TypeError` (it would score each
character / key). ``score`` is the small-batch call (returns a list; works in bounded chunks
internally); ``score_iter`` streams results for inputs of any size.

Text at the edge: lone surrogates become U+FFFD; control characters other than tab/newline/CR
are dropped (the whitespace-like ones become a space); a comment longer than ``max_chars``
(default :data:`DEFAULT_MAX_CHARS`) is scored on its first ``max_chars`` characters, split into
windows as usual, and its Result carries ``extra["truncated"] = {"chars": n, "scored_chars": m}``.

This module imports only numpy, onnxruntime, tokenizers and ``commentmod.model`` (and
``commentmod.serving.hybrid``). It is over 400 lines because the Scorer, its batching numerics and
its input validation form one stable API that serving code imports from one place.
"""

from __future__ import annotations

import hashlib
import json
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
from commentmod.model.manifest import Manifest, check_manifest_checksum, read_manifest, verify_files
from commentmod.serving.hybrid import NGRAM_FILE, HybridSpec, chars_for_onnx, layout_for_onnx, stack_probs
from commentmod.serving.result import TRUNCATED, Result
from commentmod.serving.sanitize import fix_surrogates

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_BATCH_SIZE = 8  # int8 on 2 cores: 166 comments/s at 8, 157 at 16, 135 at 32, 114 at 64
DEFAULT_MAX_BATCH_TOKENS = 4096  # padded tokens per model call: bounds activation memory
DEFAULT_CHUNK_SIZE = 256  # comments per internal chunk of score() / score_iter(): bounds memory
# characters scored per comment: a longer one is scored on its first DEFAULT_MAX_CHARS (in windows)
# and its Result carries extra[TRUNCATED] = {"chars": full length, "scored_chars": max_chars}
DEFAULT_MAX_CHARS = 20_000
DEFAULT_NGRAM_BATCH_SIZE = 64  # texts per n-gram model call
DEFAULT_NGRAM_MAX_BATCH_CHARS = 1 << 16  # padded characters per n-gram call: bounds its memory
NGRAM_INPUT, NGRAM_OUTPUT = "chars", "probs"  # the n-gram graph (commentmod.training.baseline)

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


def ngram_probs(
    session: ort.InferenceSession,
    texts: Sequence[str],
    n_labels: int,
    batch_size: int = DEFAULT_NGRAM_BATCH_SIZE,
    max_batch_chars: int = DEFAULT_NGRAM_MAX_BATCH_CHARS,
) -> np.ndarray:
    """The character n-gram model's probabilities ``[N, n_labels]`` for comment texts (no article).

    Texts are laid out as the graph expects (:func:`commentmod.serving.hybrid.chars_for_onnx`),
    sorted by length and batched (at most ``batch_size`` texts and, past the first, about
    ``max_batch_chars`` padded characters per call); the padding never matches an n-gram, so a
    text's probabilities do not depend on what shares its batch. Result in input order.
    """
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    lengths = [len(layout_for_onnx(t)) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    for batch in _batches([lengths[i] for i in order], batch_size, max_batch_chars):
        idx = [order[k] for k in batch]
        feed = chars_for_onnx([texts[i] for i in idx])
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


def hybrid_spec(manifest: Manifest) -> HybridSpec | None:
    """The stacker of a hybrid artifact (``extra["hybrid"]``), or None; ManifestError when unusable."""
    data = manifest.extra.get("hybrid")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ManifestError(f"manifest extra.hybrid is a {type(data).__name__}, not an object; re-export")
    spec = HybridSpec.from_dict(data)
    if tuple(spec.labels) != tuple(manifest.labels):
        raise ManifestError(
            f"the hybrid stacker is for labels {list(spec.labels)}, the model for {list(manifest.labels)}; "
            "re-export the artifact"
        )
    return spec


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
    """One input after validation: either a scorable item or a ready Result (empty / error).

    ``truncated_from``: the comment's length in characters when it was cut to ``max_chars``.
    """

    id: str | None
    item: Item | None
    status: str = "ok"
    error: str | None = None
    truncated_from: int | None = None


# Control characters (Unicode Cc) other than tab, newline and CR: the whitespace-like ones
# (VT, FF, FS..US, NEL) become a space, the rest (NUL, ESC, DEL, C1 ...) are removed. XLM-R's
# tokenizer maps them to <unk>, which splits words ("id\x00iot" -> "id", <unk>, "iot").
_CONTROLS = {
    c: (" " if chr(c).isspace() else None)
    for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if chr(c) not in "\t\n\r"
}
_BINARY = (bytes, bytearray, memoryview)
_PREVIEW = 40


def _opt_str(value: Any, field_name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"'{field_name}' must be a string or missing, got {type(value).__name__}")


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _scorable_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, surrogates replaced, control characters dropped."""
    return fix_surrogates(text[:limit]).translate(_CONTROLS)


def _not_text(value: Any) -> str:
    """Why a non-string comment text is refused, in words."""
    if isinstance(value, _BINARY):
        return f"'text' is {type(value).__name__}, not a string; decode it first (e.g. value.decode('utf-8'))"
    if value is None:
        return "'text' is null (None); pass the comment text as a str"
    return f"'text' must be a string, got {type(value).__name__}; pass the comment text as a str"


def parse_input(obj: Any, max_chars: int = DEFAULT_MAX_CHARS, context_chars: int | None = None) -> _Parsed:
    """Validate one scorer input; never raises (a failure becomes an ``error`` item).

    The comment is cut to its first ``max_chars`` characters (``truncated_from`` records the
    length), the article title and text to ``context_chars`` (default ``max_chars``).
    """
    try:
        return _parse(obj, max_chars, max_chars if context_chars is None else context_chars)
    except Exception as exc:  # isolation boundary: a strange object (raising __str__, __getattr__, ...)
        return _Parsed(None, None, "error", fix_surrogates(f"could not read this input: {exc!r}"[:500]))


def _parse(obj: Any, max_chars: int, context_chars: int) -> _Parsed:
    if isinstance(obj, str):
        ident, text, title, body = None, obj, None, None
    elif isinstance(obj, Mapping) or (hasattr(obj, "text") and not isinstance(obj, _BINARY)):
        raw_id = _get(obj, "id")
        ident = None if raw_id is None else fix_surrogates(str(raw_id))
        text = _get(obj, "text")
        if isinstance(obj, Mapping) and "text" not in obj:
            keys = [fix_surrogates(str(k))[:_PREVIEW] for k in islice(obj, 20)]
            fields = (", ".join(keys) or "none") + (", ..." if len(obj) > 20 else "")
            return _Parsed(ident, None, "error", f"input has no 'text' field (fields: {fields})")
        if not isinstance(text, str):
            return _Parsed(ident, None, "error", _not_text(text))
        try:
            title = _opt_str(_get(obj, "article_title"), "article_title")
            body = _opt_str(_get(obj, "article_text"), "article_text")
        except TypeError as exc:
            return _Parsed(ident, None, "error", str(exc))
    else:
        hint = "decode it to a str first" if isinstance(obj, _BINARY) else "pass a str or a dict with 'text'"
        return _Parsed(None, None, "error", f"cannot score a {type(obj).__name__}; {hint}")
    truncated_from = len(text) if len(text) > max_chars else None
    text = _scorable_text(text, max_chars)
    if not clean_text(text):
        return _Parsed(ident, None, "empty", None)
    title = None if title is None else _scorable_text(title, context_chars)
    body = None if body is None else _scorable_text(body, context_chars)
    return _Parsed(ident, (text, title, body), "ok", None, truncated_from)


def _refuse_single_item(items: Any, method: str) -> None:
    """TypeError when ``items`` is one comment (a str, bytes, dict or record) instead of a list of them."""
    usage = (
        f"Scorer.{method}() takes a list (or other iterable) of comments - each a str or a dict with "
        "'text' - and returns one Result per comment; use Scorer.score_iter() for large inputs"
    )
    if isinstance(items, str):
        preview = fix_surrogates(items[:_PREVIEW]) + ("..." if len(items) > _PREVIEW else "")
        raise TypeError(f"{usage}. Got a single str ({preview!r}); wrap it in a list: [text]")
    if isinstance(items, _BINARY):
        raise TypeError(f"{usage}. Got {type(items).__name__}; decode it and wrap it in a list")
    if isinstance(items, Mapping):
        keys = ", ".join(fix_surrogates(str(k))[:_PREVIEW] for k in islice(items, 10))
        raise TypeError(f"{usage}. Got a single {type(items).__name__} (keys: {keys}); wrap it: [item]")
    if type(items).__name__ == "DataFrame":
        raise TypeError(f"{usage}. Got a DataFrame (iterates over column names); pass df.to_dict('records')")
    if not isinstance(items, Iterable):
        what = "a single record" if hasattr(items, "text") else type(items).__name__
        raise TypeError(f"{usage}. Got {what}, which is not iterable; wrap it in a list: [item]")


def model_digest(manifest: Manifest, model_file: str = MODEL_FILE) -> str:
    """Identity of the served model: sha256 of ``model.onnx``, or, when its weights live in
    ``model.onnx.data``, sha256 of ``"<sha of model.onnx>:<sha of model.onnx.data>"`` (the graph
    file alone does not change with the weights). A hybrid artifact's identity also covers its
    stacker and n-gram model: sha256 of ``"<that>:<sha of ngram.onnx or ''>:<sha of the stacker JSON>"``."""
    graph = manifest.files.get(model_file, "")
    data = manifest.files.get(model_file + ".data")
    digest = graph if data is None else hashlib.sha256(f"{graph}:{data}".encode()).hexdigest()
    hybrid = manifest.extra.get("hybrid")
    if not isinstance(hybrid, Mapping):
        return digest
    ngram = manifest.files.get(str(hybrid.get("ngram_file", NGRAM_FILE)), "")
    stacker = hashlib.sha256(json.dumps(hybrid, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(f"{digest}:{ngram}:{stacker}".encode()).hexdigest()


# --------------------------------------------------------------------------- the Scorer


class Scorer:
    """Scores comments with an exported artifact. Create with :meth:`load`; thread-safe.

    Stable API (used by ``commentmod score`` and ``commentmod serve``): :meth:`load`,
    :meth:`score`, :meth:`score_iter`, :meth:`probabilities`, :meth:`logits`, and the attributes
    ``name``, ``model_id``, ``labels``, ``thresholds``, ``manifest``, ``directory``, ``hybrid``
    (the :class:`HybridSpec` of a hybrid artifact, else None).
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
        ngram_session: ort.InferenceSession | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ):
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars is {max_chars!r}; pass a positive int (default {DEFAULT_MAX_CHARS})")
        self.session = session
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.directory = Path(directory)
        self.model_file = model_file
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_chars = max_chars
        # title and article text: cut too, with room for the rule's article_text_chars after cleaning
        self.context_chars = max(max_chars, 4 * manifest.context_rule.article_text_chars)
        self.labels: tuple[str, ...] = tuple(manifest.labels)
        self.thresholds: dict[str, float] = {k: float(manifest.thresholds[k]) for k in self.labels}
        self.temperature: tuple[float, ...] = tuple(
            float(manifest.temperature.get(k, 1.0)) for k in self.labels
        )
        self.rule: ContextRule = manifest.context_rule
        self.special: SpecialIds = manifest.special_ids
        self.name: str = manifest.name
        self.hybrid: HybridSpec | None = hybrid_spec(manifest)
        self.model_id: str = f"{manifest.name}@{model_digest(manifest, model_file)[:12]}"
        self._threshold_vec = np.asarray([self.thresholds[k] for k in self.labels], dtype=np.float32)
        self._check_session()
        needs_ngram = self.hybrid is not None and self.hybrid.needs_ngram
        if needs_ngram and ngram_session is None:
            raise ManifestError(
                f"artifact {manifest.name!r} blends the n-gram model ({NGRAM_FILE}) but none was loaded; "
                "open it with Scorer.load"
            )
        self.ngram_session = ngram_session if needs_ngram else None
        if self.ngram_session is not None:
            self._check_ngram_session(self.ngram_session)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        model_file: str = MODEL_FILE,
        verify: bool = True,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> Scorer:
        """Open an artifact directory written by ``commentmod export``.

        ``threads``: ONNX Runtime intra-op threads (default: the CPUs this process may use).
        ``batch_size`` / ``max_batch_tokens``: at most this many windows / padded tokens per model call.
        ``model_file``: ``model.onnx`` (the served model) or ``model.fp32.onnx`` when kept.
        ``verify``: check the sha256 of every listed file except model variants not loaded
        (refuses a mismatch with :class:`ManifestError`) and the manifest's own checksum
        (``commentmod.json.sha256``); the format version and the manifest's values are always checked.
        ``max_chars``: characters scored per comment; a longer comment is scored on its first
        ``max_chars`` characters (in windows) and its Result says so in ``extra["truncated"]``.
        A hybrid artifact also opens its n-gram model (``ngram.onnx``) when some label uses it.
        """
        start = time.perf_counter()
        directory = Path(directory)
        manifest = read_manifest(directory, verify=False)
        spec = hybrid_spec(manifest)
        ngram_file = spec.ngram_file if spec is not None and spec.needs_ngram else None
        for required in (model_file, TOKENIZER_FILE, *([ngram_file] if ngram_file else [])):
            why = " (the hybrid stacker blends the n-gram model)" if required == ngram_file else ""
            if required not in manifest.files:
                raise ManifestError(
                    f"{directory}: the manifest does not list {required}{why}; "
                    f"listed files are {sorted(manifest.files)} - re-export the artifact"
                )
            if not (directory / required).is_file():
                raise ManifestError(
                    f"artifact file {directory / required}{why} is missing; re-export the artifact"
                )
        if verify:
            # every listed file except other model variants (e.g. model.fp32.onnx when serving int8)
            used = {k: v for k, v in manifest.files.items() if _variant(k) in (None, model_file, ngram_file)}
            verify_files(directory, replace(manifest, files=used))
            check_manifest_checksum(directory)
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        session = make_session(directory / model_file, threads)
        ngram_session = make_session(directory / ngram_file, threads) if ngram_file else None
        scorer = cls(
            session,
            tokenizer,
            manifest,
            directory,
            model_file=model_file,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            ngram_session=ngram_session,
            max_chars=max_chars,
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
        # labels vs the model's outputs per comment, when the graph says (else checked on every run)
        shape = next(o.shape for o in self.session.get_outputs() if o.name == self.manifest.output_names[0])
        width = shape[-1] if shape else None
        if isinstance(width, int) and width != len(self.labels):
            raise ManifestError(
                f"manifest field 'labels' lists {len(self.labels)} labels {list(self.labels)}, but "
                f"{self.directory / self.model_file} outputs {width} per comment; re-export the artifact"
            )

    def _check_ngram_session(self, session: ort.InferenceSession) -> None:
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if NGRAM_INPUT not in inputs or NGRAM_OUTPUT not in outputs:
            raise ManifestError(
                f"the n-gram model of {self.directory} has inputs {inputs} and outputs {outputs}, "
                f"expected {NGRAM_INPUT!r} -> {NGRAM_OUTPUT!r}; re-export the artifact"
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

    def ngram_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The n-gram model's probabilities ``[N, n_labels]`` of comment texts (hybrid artifacts only)."""
        if self.ngram_session is None:
            raise ScoringError(f"artifact {self.name!r} ships no n-gram model")
        return ngram_probs(self.ngram_session, texts, len(self.labels))

    def shipped_probabilities(self, logits: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Served probabilities from raw logits: ``sigmoid(logit / temperature)``, or for a hybrid
        artifact :func:`commentmod.serving.hybrid.stack_probs` of the logits and the n-gram model's
        probabilities of ``texts`` (the comments, no article)."""
        if self.hybrid is None:
            return logits_to_probs(logits, self.temperature)
        p_ngram = self.ngram_probabilities(texts) if self.ngram_session is not None else None
        return stack_probs(logits, p_ngram, self.hybrid)

    def probabilities(self, items: Sequence[Item], batch_size: int | None = None) -> np.ndarray:
        """Shipped probabilities ``[N, n_labels]`` for ``(text, title, article_text)`` triples
        (calibrated transformer probabilities, or the hybrid stack)."""
        return self.shipped_probabilities(self.logits(items, batch_size), [text for text, _, _ in items])

    # ------------------------------------------------------------------ public scoring

    def _blank(self, parsed: _Parsed) -> Result:
        return Result(
            id=parsed.id,
            scores=None,  # not scored: null in every output, never 0.0
            flags=None,
            flagged=False,
            status="empty" if parsed.status == "empty" else "error",
            error=parsed.error,
        )

    def score(self, items: Iterable[Any], batch_size: int | None = None) -> list[Result]:
        """One :class:`Result` per input, in input order: the small-batch call (returns a list).

        ``items`` is a list (or other iterable) of comments, each a str or a dict / record with
        ``text`` (see the module docstring); a single str or dict raises :class:`TypeError`. Works in
        chunks of :data:`DEFAULT_CHUNK_SIZE` comments, so the model's working memory stays bounded;
        only the returned list grows with the input. For large or streamed inputs use :meth:`score_iter`.
        """
        _refuse_single_item(items, "score")
        return list(self.score_iter(items, batch_size))

    def _score_chunk(self, items: Iterable[Any], batch_size: int | None = None) -> list[Result]:
        """One :class:`Result` per input of one chunk, in input order."""
        parsed = [parse_input(obj, self.max_chars, self.context_chars) for obj in items]
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
            probs = self.shipped_probabilities(logits, [parsed[k].item[0] for k in todo])  # type: ignore[index]
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
                    extra=self._truncation(parsed[k]),
                )
        return [r for r in results if r is not None]

    def _truncation(self, parsed: _Parsed) -> dict[str, Any]:
        """``{TRUNCATED: {"chars": n, "scored_chars": max_chars}}`` for a comment cut short, else ``{}``."""
        if parsed.truncated_from is None:
            return {}
        return {TRUNCATED: {"chars": parsed.truncated_from, "scored_chars": self.max_chars}}

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
        run ``batch_size`` per model call), so memory stays bounded. A single str or dict raises
        :class:`TypeError` at once (not on the first ``next``).
        """
        _refuse_single_item(items, "score_iter")
        return self._chunks(iter(items), batch_size, chunk_size)

    def _chunks(self, iterator: Iterator[Any], batch_size: int | None, chunk_size: int) -> Iterator[Result]:
        while chunk := list(islice(iterator, max(1, chunk_size))):
            yield from self._score_chunk(chunk, batch_size)

    def __repr__(self) -> str:
        return f"Scorer({self.model_id!r}, labels={list(self.labels)}, dir={str(self.directory)!r})"
