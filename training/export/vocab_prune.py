"""Vocabulary pruning: keep only the word-embedding rows a large comment sample uses.

multilingual-e5-small's word embeddings are 250,002 x 384 (384 MB of its ~470 MB in fp32, ~97 MB
as per-row int8), but comments in the languages we serve use a small share of the rows. The
export (``--prune-vocab``) prunes the fp32 graph right after it is written, before every gate,
so the parity gate (pruned ONNX vs PyTorch on the probes) and the int8 gate judge the pruned graph:

1. :func:`token_counts` - how often each tokenizer id occurs in the sample (every comment text
   and its article context, cleaned and tokenised exactly as the Scorer does; each distinct
   string once);
2. :func:`kept_ids` - the special tokens, every id seen at least once, and the ``top_k`` most
   probable pieces of the tokenizer's own model (Unigram log-probabilities, i.e. the pretraining
   corpus's frequencies; id order for other tokenizer kinds), sorted by id so the special tokens
   (0-3) keep their ids;
3. :func:`build_id_map` - old id -> new row (int32, one entry per tokenizer id); an id not kept
   maps to ``<unk>``'s row;
4. :func:`prune_graph` - every initializer of >= ``vocab_size`` rows that only ``Gather(axis 0)`` on
   ``input_ids`` reads (the fp32 table, or the int8 rows and their scales of an int8 graph) is
   sliced to the kept rows.

The map ships as ``vocab_map.npy`` (:mod:`commentmod.serving.vocab_map`, which the Scorer applies
to every batch of ids) and the manifest records the pruning in ``extra["vocab_pruning"]``, with
``format_version`` :data:`~commentmod.model.manifest.FORMAT_VERSION_PRUNED` (older readers refuse it).
A text whose tokens were all kept scores exactly as with the full table; :func:`coverage` measures
the share of held-out comments for which that holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, Item, SpecialIds, encode_comments
from ...model.manifest import FORMAT_VERSION_PRUNED, Manifest
from ...model.manifest_io import sha256_file
from ...serving.scorer_inputs import Triple
from ...serving.vocab_map import VOCAB_EXTRA, VOCAB_MAP_FILE
from .errors import ExportError
from .probes import PROBES, builtin_validation_items

log = logging.getLogger(__name__)

IDS_INPUT = "input_ids"
SAMPLE_COLUMNS = ("text", "article_title", "article_text")
_CHUNK = 2048  # strings per tokenizer call


class VocabPruneError(ExportError):
    """The vocabulary cannot be pruned (no sample, no embedding table found, special ids would move)."""


@dataclass(frozen=True)
class PruneOptions:
    """How ``commentmod export --prune-vocab`` prunes; off by default in the API."""

    enabled: bool = False
    top_k: int = 20_000  # most probable tokenizer pieces kept besides the sample's ids
    min_sample_rows: int = 1000  # refuse a sample this small (the gates' own items not counted)


@dataclass(frozen=True)
class VocabSample:
    """The comments whose tokens are kept, and where they come from (recorded in the manifest)."""

    items: Sequence[Triple]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class VocabPruning:
    """What pruning did: the map the Scorer applies (int64 in memory) and the manifest's record."""

    id_map: np.ndarray
    kept: np.ndarray
    extra: dict[str, Any]


# --------------------------------------------------------------------------- which ids to keep


def _strings(items: Iterable[Triple], rule: ContextRule) -> list[str]:
    """The distinct strings the Scorer tokenises for ``items``: cleaned comment texts and contexts."""
    seen: dict[str, None] = {}
    for text, title, body in items:
        item = Item.clean(text, title, body)
        seen[item.text] = None
        ctx = item.context(rule)
        if ctx is not None:
            seen[ctx] = None
    seen.pop("", None)
    return list(seen)


def token_counts(
    tokenizer: Tokenizer, items: Iterable[Triple], rule: ContextRule, vocab_size: int
) -> tuple[np.ndarray, int]:
    """(occurrences of each id [vocab_size] int64 in the distinct strings of ``items``, how many
    distinct strings were tokenised)."""
    strings = _strings(items, rule)
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(strings), _CHUNK):
        encs = tokenizer.encode_batch(strings[start : start + _CHUNK], add_special_tokens=False)
        ids = np.fromiter(chain.from_iterable(e.ids for e in encs), dtype=np.int64)
        counts += np.bincount(ids, minlength=vocab_size)[:vocab_size]
    return counts, len(strings)


def tokenizer_ranking(tokenizer: Tokenizer) -> np.ndarray:
    """Tokenizer ids, most probable first: a Unigram model's log-probabilities (the pretraining
    corpus's piece frequencies); id order for a tokenizer without scores (BPE, WordPiece)."""
    model = json.loads(tokenizer.to_str()).get("model", {})
    if model.get("type") == "Unigram" and model.get("vocab"):
        scores = np.asarray([float(score) for _, score in model["vocab"]], dtype=np.float64)
        return np.argsort(-scores, kind="stable")
    log.info("tokenizer %s has no piece scores: top_k keeps the lowest ids", model.get("type"))
    return np.arange(tokenizer.get_vocab_size(), dtype=np.int64)


def protected_ids(tokenizer: Tokenizer, special: SpecialIds) -> list[int]:
    """The manifest's special ids and the tokenizer's added special tokens (e.g. ``<mask>``)."""
    added = json.loads(tokenizer.to_str()).get("added_tokens", [])
    return sorted({special.cls, special.pad, special.sep, special.unk} | {int(t["id"]) for t in added})


def kept_ids(counts: np.ndarray, protected: Sequence[int], ranking: np.ndarray, top_k: int) -> np.ndarray:
    """Sorted ids to keep: ``protected``, every id with a count, and the first ``top_k`` of ``ranking``."""
    keep = np.zeros(len(counts), dtype=bool)
    keep[counts > 0] = True
    keep[np.asarray(protected, dtype=np.int64)] = True
    keep[ranking[: max(0, top_k)]] = True
    return np.flatnonzero(keep).astype(np.int64)


def build_id_map(kept: np.ndarray, vocab_size: int, special: SpecialIds) -> np.ndarray:
    """Old id -> new row (int32 [vocab_size]); an id not kept -> ``<unk>``'s row.

    VocabPruneError when a special id would change (graphs compare ``input_ids`` with them, e.g.
    the int8 plan's special-token isolation): ``kept`` must hold every id below the largest one.
    """
    id_map = np.full(vocab_size, -1, dtype=np.int64)
    id_map[kept] = np.arange(len(kept), dtype=np.int64)
    moved = {k: v for k, v in asdict(special).items() if id_map[v] != v}
    if moved:
        raise VocabPruneError(
            f"pruning would move the special ids {moved} (kept ids start {kept[:6].tolist()}); "
            "keep every id below them or export with --no-prune-vocab"
        )
    id_map[id_map < 0] = id_map[special.unk]
    return id_map.astype(np.int32)


# --------------------------------------------------------------------------- the graph


def embedding_tables(model: onnx.ModelProto, vocab_size: int, ids_input: str = IDS_INPUT) -> list[str]:
    """Initializers of at least ``vocab_size`` rows read only by ``Gather(axis 0)`` on ``ids_input``
    (multilingual-e5-small's table has 250,037 rows for the tokenizer's 250,002 ids: the rows past
    the tokenizer are never read, and go too)."""
    inits = {i.name: i for i in model.graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in inits:
                readers.setdefault(name, []).append(node)
    tables = []
    for name, nodes in readers.items():
        dims = list(inits[name].dims)
        gathered = [n.op_type == "Gather" and n.input[0] == name and n.input[1] == ids_input for n in nodes]
        axis0 = all(a.i == 0 for n in nodes for a in n.attribute if a.name == "axis")
        if len(dims) == 2 and dims[0] >= vocab_size and any(gathered):
            if not (all(gathered) and axis0):
                raise VocabPruneError(
                    f"the embedding table {name!r} [{dims[0]} x {dims[1]}] is also read by "
                    f"{[n.op_type for n, g in zip(nodes, gathered, strict=True) if not g]}; cannot slice it"
                )
            tables.append(name)
    return sorted(tables)


def prune_graph(model: onnx.ModelProto, kept: np.ndarray, vocab_size: int) -> list[str]:
    """Slice the word-embedding table(s) of ``model`` to the ``kept`` rows in place; their names."""
    tables = embedding_tables(model, vocab_size)
    if not tables:
        raise VocabPruneError(
            f"no initializer of >= {vocab_size} rows is gathered by {IDS_INPUT!r} in the graph; "
            "export with --no-prune-vocab"
        )
    for init in model.graph.initializer:
        if init.name in tables:
            sliced = numpy_helper.to_array(init)[kept]
            init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(sliced), init.name))
    return tables


def prune_onnx_file(path: Path, kept: np.ndarray, vocab_size: int) -> list[str]:
    """:func:`prune_graph` on the graph at ``path`` (rewritten in place, weights inline)."""
    model = onnx.load(str(path))
    tables = prune_graph(model, kept, vocab_size)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return tables


# --------------------------------------------------------------------------- sample, export step


def _split_items(ds: Any) -> list[Triple]:
    """``(text, article_title, article_text)`` of every row of one dataset split."""
    cols = {c: ds[c] if c in ds.column_names else [None] * len(ds) for c in SAMPLE_COLUMNS}
    return [(str(t or ""), a, b) for t, a, b in zip(*cols.values(), strict=True)]


def load_sample_items(dataset_dir: Path, max_rows: int, seed: int = 0) -> tuple[list[Triple], str]:
    """Comments with their article of every split of a saved DatasetDict (``commentmod data``; a
    seeded random subset of ``max_rows`` when larger), and a description for the manifest."""
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(str(dataset_dir))
    if isinstance(data, DatasetDict):
        splits = sorted(data)
        items = [item for split in splits for item in _split_items(data[split])]
    else:
        splits, items = ["rows"], _split_items(data)
    total = len(items)
    if total > max_rows:
        picked = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
        items = [items[int(i)] for i in picked]
    return items, f"{dataset_dir} ({', '.join(splits)}: {len(items)} of {total} rows, texts + articles)"


def prune_exported_graph(
    graph: Path,
    tokenizer: Tokenizer,
    rule: ContextRule,
    special: SpecialIds,
    sample: VocabSample,
    gate_items: Sequence[Triple],
    options: PruneOptions,
) -> VocabPruning:
    """Prune the graph at ``graph`` to the tokens of ``sample`` + ``gate_items`` (the export gates'
    own comments, so the gates compare exact rows) + the special and top-k ids; writes
    :data:`VOCAB_MAP_FILE` beside it. VocabPruneError when the sample is below ``min_sample_rows``."""
    if len(sample.items) < options.min_sample_rows:
        raise VocabPruneError(
            f"vocabulary pruning needs a comment sample of >= {options.min_sample_rows} rows, got "
            f"{len(sample.items)}; pass --prune-sample-data DATASET_DIR (or --validation-data), or leave "
            "out --prune-vocab"
        )
    vocab_size = tokenizer.get_vocab_size()
    counts, n_strings = token_counts(tokenizer, chain(sample.items, gate_items), rule, vocab_size)
    kept = kept_ids(counts, protected_ids(tokenizer, special), tokenizer_ranking(tokenizer), options.top_k)
    id_map = build_id_map(kept, vocab_size, special)
    tables = prune_onnx_file(graph, kept, vocab_size)
    np.save(graph.parent / VOCAB_MAP_FILE, id_map, allow_pickle=False)
    seen = int((counts > 0).sum())
    extra = {
        "file": VOCAB_MAP_FILE,
        "vocab_size": vocab_size,
        "kept_rows": len(kept),
        "unk_row": int(id_map[special.unk]),
        "rows_seen_in_sample": seen,
        "top_k_by_tokenizer_score": options.top_k,
        "tables": tables,
        "sample": {
            "rows": len(sample.items),
            "gate_rows": len(gate_items),
            "distinct_strings": n_strings,
            "tokens": int(counts.sum()),
            "sources": list(sample.sources),
        },
    }
    log.info(
        "vocabulary pruned to %d of %d rows (%d seen in %d sample rows, top %d by tokenizer score)",
        len(kept), vocab_size, seen, len(sample.items), options.top_k,
    )  # fmt: skip
    return VocabPruning(id_map.astype(np.int64), kept, extra)


def prune_for_export(
    graph: Path,
    tokenizer: Tokenizer,
    stub: Manifest,
    options: PruneOptions,
    sample: VocabSample | None,
    validation_items: Sequence[Triple] | None,
) -> VocabPruning | None:
    """The export's step (``export_artifact``, right after the fp32 graph is written, before the
    gates): None unless ``options.enabled``. The gates' own comments (probes, built-in sample,
    validation items) are kept whole, so the parity gate compares exact rows."""
    if not options.enabled:
        return None
    gate_items = [p.item for p in PROBES] + builtin_validation_items() + list(validation_items or [])
    rule, special = stub.context_rule, stub.special_ids
    sample = sample or VocabSample((), ())
    return prune_exported_graph(graph, tokenizer, rule, special, sample, gate_items, options)


def pruning_extra(pruning: VocabPruning | None) -> dict[str, Any]:
    """The manifest ``extra`` entry of a pruned artifact ({} when not pruned)."""
    return {} if pruning is None else {VOCAB_EXTRA: pruning.extra}


def with_pruning(stub: Manifest, pruning: VocabPruning | None, directory: Path) -> Manifest:
    """The export's manifest during the gates: with the pruning record, the map listed with its
    sha256 (the Scorers the gates build read the map only when it is listed) and
    :data:`FORMAT_VERSION_PRUNED`, which readers older than pruning refuse (they would ignore the map)."""
    if pruning is None:
        return stub
    files = {**stub.files, VOCAB_MAP_FILE: sha256_file(directory / VOCAB_MAP_FILE)}
    extra = {**stub.extra, **pruning_extra(pruning)}
    return replace(stub, extra=extra, files=files, format_version=FORMAT_VERSION_PRUNED)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Coverage:
    """How much of some held-out comments the kept rows cover."""

    items: int
    items_all_kept: float  # share of comments (with their context) whose every token was kept
    tokens: int
    tokens_kept: float  # share of all their tokens that were kept
    all_kept: np.ndarray  # per comment: every token kept (bool [items])


def coverage(
    tokenizer: Tokenizer, items: Sequence[Triple], rule: ContextRule, id_map: np.ndarray, special: SpecialIds
) -> Coverage:
    """:class:`Coverage` of ``items``' model windows (comment + context, as the Scorer builds them)
    by a map: a token is lost when it maps to ``<unk>``'s row but is not ``<unk>``. A comment all of
    whose tokens are kept scores exactly as unpruned, so ``items_all_kept`` is a lower bound of the
    flag agreement with the unpruned model."""
    lost_row, unk = id_map[special.unk], special.unk
    n_tokens, lost = np.zeros(len(items), dtype=np.int64), np.zeros(len(items), dtype=np.int64)
    for start in range(0, len(items), _CHUNK):
        chunk = encode_comments(tokenizer, items[start : start + _CHUNK], rule, special)
        for k, windows in enumerate(chunk, start):
            ids = np.fromiter(chain.from_iterable(windows), dtype=np.int64)
            n_tokens[k], lost[k] = len(ids), np.count_nonzero((id_map[ids] == lost_row) & (ids != unk))
    total = int(n_tokens.sum())
    return Coverage(
        len(items),
        float(np.mean(lost == 0)) if len(items) else 1.0,
        total,
        1.0 - float(lost.sum()) / total if total else 1.0,
        lost == 0,
    )
