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
(comments longer than ``max_length`` are split by :func:`commentmod.model.inputs.encode_items`;
the window-max rule is :func:`commentmod.model.numeric.max_over_windows`, run by
:mod:`commentmod.serving.onnx_session`). ``flags[label]`` is ``score >= threshold[label]``.

A hybrid artifact (manifest ``extra["hybrid"]``, see :mod:`commentmod.serving.hybrid`) ships
stacked probabilities instead: ``sigmoid(c_t * logit + c_n * logit(p_ngram) + b)`` per label,
from the raw logits (max over windows, no temperature) and the character n-gram model
(``ngram.onnx``, comment text only) when some label uses it, computed on its non-zero features
(:mod:`commentmod.serving.ngram_sparse`; ONNX Runtime runs a graph that module does not recognise).

Accepted inputs (one :class:`Result` per input, same order; a bad item never fails the batch):

* ``str`` - the comment text, no id, no context;
* a mapping with ``text`` (str) and optional ``id``, ``article_title``, ``article_text``;
* any object with a ``text`` attribute and the same optional attributes (a reader's
  ``InputRecord``, a ``CommentRecord``): ``commentmod score`` passes its records as they are.

Empty or whitespace-only text gives ``status="empty"`` (no model call); anything
else malformed (a text that is not a str: int, bool, bytes, dict, list, None) gives
``status="error"`` with a message (:mod:`commentmod.serving.scorer_inputs`). ``score`` and
``score_iter`` take a list (any iterable) of such inputs; a single str, bytes or dict raises
:class:`TypeError` (it would score each character / key). ``score`` is the small-batch call
(returns a list; works in bounded chunks internally); ``score_iter`` streams results for inputs
of any size. A comment longer than ``max_chars`` (default :data:`DEFAULT_MAX_CHARS`) is scored on
its first ``max_chars`` characters and its Result carries ``extra["truncated"]``.

Each comment goes through ``clean_text`` once, in :meth:`Scorer._prepare` (``Item.clean``); the
tokenizer and the n-gram layout take the cleaned :class:`commentmod.model.inputs.Item`.

Runtime backends (:mod:`commentmod.serving.backends`): ``Scorer.load(dir, backend="auto")`` runs
the fastest runtime plan of the artifact (``manifest.runtime_plans``) that passed its gate, whose
backend is installed and whose CPU needs this machine meets; ONNX Runtime on ``model.onnx`` when none
does. ``backend="onnxruntime"`` / ``"openvino"`` ask for one (a named error when it cannot serve);
``scorer.runtime`` is the plan chosen. The n-gram model always runs on ONNX Runtime.

This module imports only numpy, onnxruntime, tokenizers and ``commentmod.model`` (and
``commentmod.serving``'s torch-free modules; OpenVINO only when a plan of it is chosen).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from ..model.errors import ManifestError
from ..model.inputs import ContextRule, Item, SpecialIds, encode_items
from ..model.manifest import MODEL_FILE, TOKENIZER_FILE, Manifest
from ..model.manifest_io import read_manifest
from ..model.numeric import Window
from ..model.runtime_plans import RuntimePlan
from .artifact_check import check_model_io, check_ngram_session, hybrid_spec, model_id
from .backends import AUTO, Backend, backend_logits, default_plan, describe
from .backends.choose import plan_for_artifact, start_runtime
from .backends.ort_backend import OrtBackend
from .hybrid import NGRAM_FILE, HybridSpec, layout_cleaned, layout_for_onnx, stack_probs
from .ngram_sparse import SparseNgram, load_sparse_ngram
from .onnx_session import (
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_WINDOWS_PER_BATCH,
    ScoringError,
    logits_to_probs,
    ngram_probs,
    ngram_probs_of_layouts,
    open_ngram,
)
from .result import TRUNCATED, Result, not_scored
from .scorer_inputs import DEFAULT_MAX_CHARS, ParsedInput, Triple, parse_input, refuse_single_item
from .vocab_map import read_vocab_map

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 256  # comments per internal chunk of score() / score_iter(): bounds memory

_Prepared = Result | tuple[ParsedInput, Item]  # a Result when not scored, else what to score


def _as_items(items: Sequence[Item | Triple]) -> list[Item]:
    """Cleaned :class:`Item` s: an Item as it is, a raw ``(text, title, article_text)`` triple cleaned."""
    return [it if isinstance(it, Item) else Item.clean(*it) for it in items]


class Scorer:
    """Scores comments with an exported artifact. Create with :meth:`load`; thread-safe.

    Stable API (used by ``commentmod score`` and ``commentmod serve``): :meth:`load`,
    :meth:`score`, :meth:`score_iter`, :meth:`probabilities`, :meth:`logits`, and the attributes
    ``name``, ``model_id``, ``labels``, ``thresholds``, ``manifest``, ``directory``, ``hybrid``
    (the :class:`HybridSpec` of a hybrid artifact, else None), ``runtime`` (the :class:`RuntimePlan`
    running the transformer), ``backend`` (its :class:`Backend`) and ``session`` (the ONNX Runtime
    session; None on OpenVINO). ``windows_per_batch``: model windows per model call (a long comment is
    several windows); not the records per batch of ``commentmod score``.
    """

    def __init__(
        self,
        session: ort.InferenceSession | Backend,
        tokenizer: Tokenizer,
        manifest: Manifest,
        directory: Path,
        model_file: str = MODEL_FILE,
        windows_per_batch: int = DEFAULT_WINDOWS_PER_BATCH,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        ngram_session: ort.InferenceSession | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        vocab_map: np.ndarray | None = None,
        runtime: RuntimePlan | None = None,
        ngram_sparse: SparseNgram | None = None,
    ):
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars is {max_chars!r}; pass a positive int (default {DEFAULT_MAX_CHARS})")
        self.runtime: RuntimePlan = runtime or default_plan(manifest.quantization, model_file)
        if isinstance(session, ort.InferenceSession):
            names, output = manifest.input_names, manifest.output_names[0]
            session = OrtBackend(session, names, output, self.runtime.precision)
        self.backend: Backend = session
        self.session: ort.InferenceSession | None = getattr(session, "session", None)
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.directory = Path(directory)
        self.model_file = model_file
        self.windows_per_batch = windows_per_batch
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
        # a vocabulary-pruned artifact's token-id map (serving.vocab_map), applied to every batch of ids
        self.vocab_map: np.ndarray | None = (
            read_vocab_map(self.directory, manifest, tokenizer.get_vocab_size())
            if vocab_map is None
            else vocab_map
        )
        self.name: str = manifest.name
        self.hybrid: HybridSpec | None = hybrid_spec(manifest)
        self.model_id: str = model_id(manifest, model_file)
        self._threshold_vec = np.asarray([self.thresholds[k] for k in self.labels], dtype=np.float32)
        graph_in, graph_out = self.backend.io_names()
        width = self.backend.output_width()
        check_model_io(graph_in, graph_out, width, manifest, self.directory / model_file)
        needs_ngram = self.hybrid is not None and self.hybrid.needs_ngram
        if needs_ngram and ngram_session is None and ngram_sparse is None:
            raise ManifestError(
                f"artifact {manifest.name!r} blends the n-gram model ({NGRAM_FILE}) but none was loaded; "
                "open it with Scorer.load"
            )
        # the n-gram model on its non-zero features (serving.ngram_sparse), else its ONNX Runtime session
        self.ngram_session = ngram_session if needs_ngram else None
        self.ngram_sparse: SparseNgram | None = ngram_sparse if needs_ngram else None
        if self.ngram_session is not None:
            check_ngram_session(self.ngram_session, self.directory)
            if self.ngram_sparse is None and self.hybrid is not None:
                path = self.directory / self.hybrid.ngram_file
                self.ngram_sparse = load_sparse_ngram(path, len(self.labels))

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        threads: int | None = None,
        windows_per_batch: int = DEFAULT_WINDOWS_PER_BATCH,
        model_file: str = MODEL_FILE,
        verify: bool = True,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_chars: int = DEFAULT_MAX_CHARS,
        backend: str = AUTO,
        plan: str | None = None,
    ) -> Scorer:
        """Open an artifact directory written by ``commentmod export``.

        ``backend``: ``auto`` (the fastest gated plan that runs here, else ONNX Runtime on
        ``model.onnx``), ``onnxruntime`` or ``openvino``; ``plan``: a runtime plan by name (e.g.
        ``ov-int8``). Either refused with a :class:`commentmod.serving.backends.RuntimeChoiceError`
        saying what to install or which backend to use.
        ``threads``: model threads (default: the CPUs this process may use).
        ``windows_per_batch`` / ``max_batch_tokens``: at most this many windows / padded tokens per
        model call. ``model_file``: ``model.onnx`` (the served model) or ``model.fp32.onnx`` when kept
        (ONNX Runtime).
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
        runtime = plan_for_artifact(manifest, backend, plan, model_file)
        model, runtime = start_runtime(
            directory, manifest, runtime, threads, backend, ngram_file, verify, plan_name=plan
        )
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        ngram_sparse, ngram_session = open_ngram(directory, ngram_file, len(manifest.labels), threads)
        scorer = cls(
            model,
            tokenizer,
            manifest,
            directory,
            model_file=runtime.file,
            windows_per_batch=windows_per_batch,
            max_batch_tokens=max_batch_tokens,
            ngram_session=ngram_session,
            max_chars=max_chars,
            runtime=runtime,
            ngram_sparse=ngram_sparse,
        )
        log.debug("loaded %s on %s in %.2fs", scorer.model_id, describe(runtime), time.perf_counter() - start)
        return scorer

    # ------------------------------------------------------------------ numerics

    def encode(self, items: Sequence[Item | Triple]) -> list[list[list[int]]]:
        """Windows per item, exactly as training builds them (``commentmod.model.inputs.encode_items``).

        Raw ``(text, title, article_text)`` triples are cleaned first; :class:`Item` s are taken as they are.
        """
        return encode_items(self.tokenizer, _as_items(items), self.rule, self.special)

    def _window_logits(
        self, windows: Sequence[Sequence[Window]], windows_per_batch: int | None
    ) -> np.ndarray:
        return backend_logits(
            self.backend,
            windows,
            n_labels=len(self.labels),
            pad_id=self.special.pad,
            batch_size=windows_per_batch or self.windows_per_batch,
            max_batch_tokens=self.max_batch_tokens,
            id_map=self.vocab_map,
        )

    def logits(self, items: Sequence[Item | Triple], windows_per_batch: int | None = None) -> np.ndarray:
        """Raw logits ``[N, n_labels]`` (max over windows) of items or raw ``(text, title, body)`` triples."""
        if not items:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._window_logits(self.encode(items), windows_per_batch)

    def ngram_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The n-gram model's probabilities ``[N, n_labels]`` of comment texts (hybrid artifacts only)."""
        if self.ngram_sparse is not None:
            return self.ngram_sparse.probs_of_layouts([layout_for_onnx(t) for t in texts])
        if self.ngram_session is None:
            raise ScoringError(f"artifact {self.name!r} ships no n-gram model")
        return ngram_probs(self.ngram_session, texts, len(self.labels))

    def _shipped(self, logits: np.ndarray, items: Sequence[Item]) -> np.ndarray:
        """Served probabilities from raw logits: ``sigmoid(logit / temperature)``, or for a hybrid
        artifact :func:`commentmod.serving.hybrid.stack_probs` of the logits and the n-gram model's
        probabilities of the items' (cleaned) comment texts."""
        if self.hybrid is None:
            return logits_to_probs(logits, self.temperature)
        p_ngram = None
        if self.ngram_sparse is not None:
            p_ngram = self.ngram_sparse.probs_of_layouts([layout_cleaned(item.text) for item in items])
        elif self.ngram_session is not None:
            laid = [layout_cleaned(item.text) for item in items]
            p_ngram = ngram_probs_of_layouts(self.ngram_session, laid, len(self.labels))
        return stack_probs(logits, p_ngram, self.hybrid)

    def probabilities(
        self, items: Sequence[Item | Triple], windows_per_batch: int | None = None
    ) -> np.ndarray:
        """Shipped probabilities ``[N, n_labels]`` for items or ``(text, title, article_text)`` triples
        (calibrated transformer probabilities, or the hybrid stack)."""
        cleaned = _as_items(items)
        return self._shipped(self.logits(cleaned, windows_per_batch), cleaned)

    # ------------------------------------------------------------------ public scoring

    def score(self, items: Iterable[Any], windows_per_batch: int | None = None) -> list[Result]:
        """One :class:`Result` per input, in input order: the small-batch call (returns a list).

        ``items`` is a list (or other iterable) of comments, each a str or a dict / record with
        ``text`` (see the module docstring); a single str or dict raises :class:`TypeError`. Works in
        chunks of :data:`DEFAULT_CHUNK_SIZE` comments, so the model's working memory stays bounded;
        only the returned list grows with the input. For large or streamed inputs use :meth:`score_iter`.
        """
        refuse_single_item(items, "score")
        return list(self.score_iter(items, windows_per_batch))

    def score_iter(
        self,
        items: Iterable[Any],
        windows_per_batch: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[Result]:
        """Stream results for an iterable of any length, in input order.

        Reads ``chunk_size`` comments at a time (windows of a chunk are length-sorted and run
        ``windows_per_batch`` per model call), so memory stays bounded. A single str or dict raises
        :class:`TypeError` at once (not on the first ``next``).
        """
        refuse_single_item(items, "score_iter")
        return self._chunks(iter(items), windows_per_batch, chunk_size)

    def _chunks(
        self, iterator: Iterator[Any], windows_per_batch: int | None, chunk_size: int
    ) -> Iterator[Result]:
        while chunk := list(islice(iterator, max(1, chunk_size))):
            yield from self._score_chunk(chunk, windows_per_batch)

    def _prepare(self, obj: Any) -> _Prepared:
        """The input checked and its :class:`Item` built - ``clean_text`` runs here, once per
        comment - or the Result of an input that is not scored (``error``, or ``empty`` text)."""
        parsed = parse_input(obj, self.max_chars, self.context_chars)
        if parsed.item is None:
            return not_scored(parsed.id, "error", parsed.error)
        item = Item.clean(*parsed.item)
        if not item.text:
            return not_scored(parsed.id, "empty")
        return parsed, item

    def _score_chunk(self, inputs: Iterable[Any], windows_per_batch: int | None = None) -> list[Result]:
        """One :class:`Result` per input of one chunk, in input order."""
        prepared = [self._prepare(obj) for obj in inputs]
        todo = {k: p for k, p in enumerate(prepared) if not isinstance(p, Result)}
        results: dict[int, Result] = {k: p for k, p in enumerate(prepared) if isinstance(p, Result)}
        encoded = self._encode_isolating_failures({k: item for k, (_, item) in todo.items()})
        for k, windows in encoded.items():
            if isinstance(windows, Exception):
                results[k] = not_scored(todo.pop(k)[0].id, "error", f"could not tokenise the text: {windows}")
        if todo:
            keys = list(todo)
            logits = self._window_logits([encoded[k] for k in keys], windows_per_batch)  # type: ignore[misc]
            probs = self._shipped(logits, [todo[k][1] for k in keys])
            flags = probs >= self._threshold_vec
            for row, k in enumerate(keys):
                results[k] = self._ok_result(todo[k][0], probs[row], flags[row])
        return [results[k] for k in range(len(prepared))]

    def _ok_result(self, parsed: ParsedInput, probs: np.ndarray, flags: np.ndarray) -> Result:
        scores = {label: float(probs[j]) for j, label in enumerate(self.labels)}
        label_flags = {label: bool(flags[j]) for j, label in enumerate(self.labels)}
        truncated = (
            {}
            if parsed.truncated_from is None
            else {TRUNCATED: {"chars": parsed.truncated_from, "scored_chars": self.max_chars}}
        )
        return Result(
            id=parsed.id,
            scores=scores,
            flags=label_flags,
            flagged=any(label_flags.values()),
            status="ok",
            extra=truncated,
        )

    def _encode_isolating_failures(self, items: Mapping[int, Item]) -> dict[int, list[list[int]] | Exception]:
        """Windows of every item; an item the tokenizer rejects maps to its exception instead."""
        keys = list(items)
        try:
            return dict(zip(keys, self.encode([items[k] for k in keys]), strict=True))
        except Exception:  # the tokenizer's errors are untyped; find the culprit item by item
            log.debug("batch tokenisation failed; retrying item by item", exc_info=True)
        out: dict[int, list[list[int]] | Exception] = {}
        for k in keys:
            try:
                out[k] = self.encode([items[k]])[0]
            except Exception as exc:
                out[k] = exc
        return out

    def __repr__(self) -> str:
        return (
            f"Scorer({self.model_id!r}, labels={list(self.labels)}, dir={str(self.directory)!r}, "
            f"runtime={describe(self.runtime)!r})"
        )
