"""The n-gram model (``ngram.onnx``) computed on its non-zero features only (numpy + protobuf).

The graph (``commentmod.training.fit.baseline_onnx.build_onnx``) counts the vocabulary's character
n-grams into a dense ``[N, n_features]`` row (200,000 columns in the demo artifact), then runs
tf, idf, L2 normalisation, the heads' MatMul and a sigmoid over every column. A comment has a few
hundred of those n-grams, so ONNX Runtime spends ~90 % of the n-gram model's time on zeros: 1.9 ms a
comment on one thread, 17-19 % of end-to-end scoring with the demo artifact, and its arena keeps the
dense intermediates (~350 MB of peak RSS; ``benchmarks/profile_scoring.py``). :class:`SparseNgram`
reads the same graph (n-grams, idf, heads) and computes the same function on the n-grams present:
~0.1 ms a comment, no dense buffer. Its n-grams are integer keys (:class:`NgramIndex`) found with
array operations, so no Python object per n-gram stays in memory (~12 MB for 200,000 n-grams).

Numbers: counts are exact; tf, idf and the division are the graph's float32 operations; the two
sums (the L2 norm and each head's dot product) are taken in float64 and rounded to float32, where
ONNX Runtime sums in float32 in its own order. The probabilities agree with ONNX Runtime's within
~4e-7 (``tests/test_ngram_sparse.py`` holds them to 1e-6).

Only the graph this project exports is recognised (:func:`load_sparse_ngram` checks the node chain,
its wiring, the attributes and the constants); any other graph gives None and the Scorer runs it
with ONNX Runtime as before. ``onnx`` is a training extra, so the few ONNX messages read here are
declared with ``google.protobuf`` (a dependency of onnxruntime); unknown fields are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..model.numeric import sigmoid

log = logging.getLogger(__name__)

TEXTS_PER_STEP = 256  # texts counted together: bounds the working memory of a long list
POOL_STEP = 1 << 16  # pool entries decoded together when the graph is read
_SUBLINEAR = ("Greater", "Max", "Log", "Add", "Where")
_SCORING = ("Mul", "ReduceL2", "Max", "Div", "MatMul", "Add", "Sigmoid")
# the wiring build_onnx writes: node -> (inputs, outputs)
_WIRING = {
    "sublinear": [
        (["bl_counts", "bl_zero"], ["bl_pos"]),
        (["bl_counts", "bl_one"], ["bl_safe"]),
        (["bl_safe"], ["bl_log"]),
        (["bl_log", "bl_one"], ["bl_log1"]),
        (["bl_pos", "bl_log1", "bl_zero"], ["bl_tf"]),
    ],
    "scoring": [
        (["TF", "bl_idf"], ["bl_tfidf"]),
        (["bl_tfidf"], ["bl_norm"]),
        (["bl_norm", "bl_eps"], ["bl_norm_safe"]),
        (["bl_tfidf", "bl_norm_safe"], ["bl_x"]),
        (["bl_x", "bl_weights"], ["bl_mm"]),
        (["bl_mm", "bl_bias"], ["bl_logits"]),
        (["bl_logits"], ["probs"]),
    ],
}
_ONNX_FLOAT, _ONNX_EXTERNAL = 1, 1  # TensorProto.DataType.FLOAT, DataLocation.EXTERNAL


class UnrecognisedGraph(ValueError):
    """The n-gram graph is not the one this project exports; the Scorer runs it with ONNX Runtime."""


# ------------------------------------------------------------------ reading the graph


# the ONNX messages read here, as "field:number:type" (``*``: repeated; a capitalised type is a message)
_MESSAGES = {
    "TensorProto": "dims:1:int64* data_type:2:int32 float_data:4:float* name:8:string raw_data:9:bytes "
    "data_location:14:int32",
    "AttributeProto": "name:1:string i:3:int64 s:4:bytes ints:8:int64* strings:9:bytes*",
    "NodeProto": "input:1:string* output:2:string* op_type:4:string attribute:5:AttributeProto* "
    "domain:7:string",
    "GraphProto": "node:1:NodeProto* initializer:5:TensorProto*",
    "ModelProto": "graph:7:GraphProto",
}
_PACKAGE = "commentmod_onnx_subset"


@cache
def _model_class() -> Any:
    """A ``ModelProto`` class holding only the fields of :data:`_MESSAGES` (numbers of ``onnx.proto``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto2")
    for name, spec in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for entry in spec.split():
            field_name, number, kind = entry.rstrip("*").split(":")
            field = message.field.add(name=field_name, number=int(number))
            field.label = f.LABEL_REPEATED if entry.endswith("*") else f.LABEL_OPTIONAL
            if kind[0].isupper():
                field.type, field.type_name = f.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
            else:
                field.type = getattr(f, f"TYPE_{kind.upper()}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.ModelProto"))


def _tensor(t: Any) -> np.ndarray:
    if t.data_type != _ONNX_FLOAT or t.data_location == _ONNX_EXTERNAL:
        raise UnrecognisedGraph(f"constant {t.name!r} is not an inline float tensor")
    raw = np.frombuffer(t.raw_data, dtype="<f4") if t.raw_data else np.asarray(t.float_data, "<f4")
    return raw.astype(np.float32).reshape(tuple(t.dims))


def _check_chain(nodes: Sequence[Any]) -> bool:
    """The node chain of ``build_onnx`` after its TfIdfVectorizer; True when tf is sublinear."""
    ops = tuple(n.op_type for n in nodes)
    sublinear = ops == _SUBLINEAR + _SCORING
    if not sublinear and ops != _SCORING:
        raise UnrecognisedGraph(f"nodes {list(ops)}")
    wiring = (_WIRING["sublinear"] if sublinear else []) + _WIRING["scoring"]
    tf = "bl_tf" if sublinear else "bl_counts"
    for node, (inputs, outputs) in zip(nodes, wiring, strict=True):
        expected = [tf if name == "TF" else name for name in inputs]
        if list(node.input) != expected or list(node.output) != outputs or node.domain:
            raise UnrecognisedGraph(f"{node.op_type} reads {list(node.input)} and writes {list(node.output)}")
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "ReduceL2" and (list(attrs["axes"].ints) != [1] or attrs["keepdims"].i != 1):
            raise UnrecognisedGraph("ReduceL2 is not over the features")
    return sublinear


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class NgramIndex:
    """The graph's n-grams as sorted integer keys: each character of the pool's alphabet gets a code
    (1..A in ``bits`` bits; 0 for any other character) and an n-gram the codes of its characters,
    ``bits`` apart, so a text's n-grams are found with array operations (:meth:`find`)."""

    codes: np.ndarray  # code point -> character code (0: not in the pool); the last entry is 0
    bits: int
    keys: np.ndarray  # sorted int64 keys of the pool's n-grams
    columns: np.ndarray  # the output column of each key
    lengths: range  # n-gram lengths counted

    @classmethod
    def build(cls, pool: str, starts: Sequence[int], columns: Sequence[int], lengths: range) -> NgramIndex:
        """From the pool (one character per entry), its start offsets per length and output columns."""
        alphabet = sorted(set(pool))
        bits = len(alphabet).bit_length()
        if not alphabet or bits * (lengths.stop - 1) > 63 or alphabet[0] == "\x00":
            raise UnrecognisedGraph(f"{len(alphabet)} characters in n-grams of up to {lengths.stop - 1}")
        codes = np.zeros(max(map(ord, alphabet)) + 2, dtype=np.int64)
        codes[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        pool_codes = codes[_code_points(pool)]
        bounds, keys = [*starts, len(pool)], []
        for n in range(1, len(starts) + 1):
            span = pool_codes[bounds[n - 1] : bounds[n]]
            if len(span) and (n not in lengths or len(span) % n):
                raise UnrecognisedGraph(f"{len(span)} pool entries of {n}-grams, counting {list(lengths)}")
            keys.append(_pack(span.reshape(-1, n).T, bits) if len(span) else span)
        packed = np.concatenate(keys)
        order = np.argsort(packed)
        cols = np.asarray(columns, dtype=np.int64)
        if len(packed) != len(cols) or not len(cols) or cols.min() < 0 or np.bincount(cols).max() > 1:
            raise UnrecognisedGraph("the n-gram pool does not match its output columns")
        if np.any(np.diff(packed[order]) == 0):
            raise UnrecognisedGraph("the n-gram pool repeats an n-gram")
        return cls(codes, bits, packed[order], cols[order], lengths)

    def find(self, laid: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, columns)``: one entry per occurrence of a pool n-gram in ``laid[row]``."""
        joined = "\x00".join(laid)  # NUL is in no pool (_pool_chars): no match crosses two texts
        chars = self.codes[np.minimum(_code_points(joined), len(self.codes) - 1)]
        row_of = np.repeat(np.arange(len(laid), dtype=np.int64), [len(t) + 1 for t in laid])
        outside = np.concatenate(([0], np.cumsum(chars == 0)))  # characters not in the pool, so far
        found_rows, found_cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for n in self.lengths:
            m = len(chars) - n + 1
            if m <= 0:
                continue
            at = np.flatnonzero(outside[n : n + m] == outside[:m])  # n-grams of pool characters only
            keys = _pack([chars[at + j] for j in range(n)], self.bits)
            slot = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = self.keys[slot] == keys
            found_rows.append(row_of[at[hit]])
            found_cols.append(self.columns[slot[hit]])
        return np.concatenate(found_rows), np.concatenate(found_cols)


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _pack(codes: Sequence[np.ndarray] | np.ndarray, bits: int) -> np.ndarray:
    """int64 keys from the character codes of each n-gram position (``codes[j]``: the j-th characters)."""
    key = np.array(codes[0], dtype=np.int64)
    for j in range(1, len(codes)):
        key |= np.asarray(codes[j], dtype=np.int64) << (bits * j)
    return key


@dataclass(frozen=True)
class SparseNgram:
    """The n-gram graph as arrays: its n-grams (:class:`NgramIndex`), ``idf [F]``, ``weights [F, L]``,
    ``bias [L]``; :meth:`probs_of_layouts` is the graph's ``probs`` of laid-out texts."""

    index: NgramIndex
    idf: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    eps: np.float32
    sublinear: bool

    def probs_of_layouts(self, laid: Sequence[str]) -> np.ndarray:
        """Probabilities ``[N, n_labels]`` (float32) of texts laid out by ``hybrid.layout_cleaned``."""
        parts = [self._probs(laid[i : i + TEXTS_PER_STEP]) for i in range(0, len(laid), TEXTS_PER_STEP)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.bias)), dtype=np.float32)

    def _counts(self, laid: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, features, counts)`` of the pool's n-grams in each text (the graph's
        TfIdfVectorizer in TF mode: contiguous n-grams of single characters)."""
        rows, cols = self.index.find(laid)
        width = len(self.idf)
        keys, counts = np.unique(rows * width + cols, return_counts=True)
        return keys // width, keys % width, counts.astype(np.float32)

    def _probs(self, laid: Sequence[str]) -> np.ndarray:
        rows, cols, counts = self._counts(laid)
        n = len(laid)
        tf = np.log(counts) + np.float32(1.0) if self.sublinear else counts  # counts >= 1 here
        tfidf = tf * self.idf[cols]
        wide = tfidf.astype(np.float64)
        norm = np.sqrt(np.bincount(rows, weights=wide * wide, minlength=n)).astype(np.float32)
        x = (tfidf / np.maximum(norm, self.eps)[rows]).astype(np.float64)
        heads = self.weights[cols]
        dots = np.stack([np.bincount(rows, weights=x * w, minlength=n) for w in heads.T], axis=1)
        return sigmoid(dots.astype(np.float32) + self.bias)


def _pool_chars(strings: Sequence[bytes]) -> str:
    """The n-gram pool as one string, one character per entry (read in steps: no object per entry
    stays); UnrecognisedGraph unless every entry is exactly one UTF-8 character."""
    chars = []
    for start in range(0, len(strings), POOL_STEP):
        piece = strings[start : start + POOL_STEP]
        joined = b"\x00".join(piece)  # an incomplete UTF-8 sequence before a NUL fails to decode
        text = joined.decode("utf-8")
        k = len(piece)
        if joined.count(b"\x00") != k - 1 or len(text) != 2 * k - 1 or text[1::2] != "\x00" * (k - 1):
            raise UnrecognisedGraph("the n-gram pool holds entries that are not single characters")
        chars.append(text[0::2])
    return "".join(chars)


def _index(attrs: dict[str, Any]) -> NgramIndex:
    """The TfIdfVectorizer node's n-grams; UnrecognisedGraph unless it counts contiguous n-grams."""
    skip = attrs["max_skip_count"].i if "max_skip_count" in attrs else 0
    if attrs["mode"].s != b"TF" or skip:
        raise UnrecognisedGraph("the n-gram node is not TF-mode contiguous counting")
    pool = _pool_chars(attrs["pool_strings"].strings)
    lengths = range(attrs["min_gram_length"].i, attrs["max_gram_length"].i + 1)
    starts, columns = list(attrs["ngram_counts"].ints), list(attrs["ngram_indexes"].ints)
    return NgramIndex.build(pool, starts, columns, lengths)


def read_sparse_ngram(path: Path) -> SparseNgram:
    """The n-gram graph at ``path`` as a :class:`SparseNgram`; :class:`UnrecognisedGraph` when it is
    not the graph ``build_onnx`` writes."""
    model = _model_class()()
    try:
        model.ParseFromString(Path(path).read_bytes())
    except Exception as exc:  # protobuf's DecodeError; ONNX Runtime will say what is wrong with the file
        raise UnrecognisedGraph(f"not an ONNX model ({exc})") from exc
    nodes = list(model.graph.node)
    wired = bool(nodes) and (list(nodes[0].input), list(nodes[0].output)) == (["chars"], ["bl_counts"])
    if not wired or nodes[0].op_type != "TfIdfVectorizer":
        raise UnrecognisedGraph("the first node is not the n-gram counter from chars to bl_counts")
    sublinear = _check_chain(nodes[1:])
    index = _index({a.name: a for a in nodes[0].attribute})
    width = int(index.columns.max()) + 1
    const = {t.name: _tensor(t) for t in model.graph.initializer}
    idf, weights, bias = const["bl_idf"], const["bl_weights"], const["bl_bias"]
    if idf.shape != (width,) or weights.shape != (width, len(bias)) or bias.ndim != 1:
        raise UnrecognisedGraph(f"constants of shapes {idf.shape}, {weights.shape}, {bias.shape}")
    if const["bl_zero"].item() != 0.0 or const["bl_one"].item() != 1.0:
        raise UnrecognisedGraph("the tf constants are not 0 and 1")
    eps = np.float32(const["bl_eps"].item())
    if not eps > 0:  # the graph gives NaN for a text without n-grams; this form would not
        raise UnrecognisedGraph(f"the norm's floor is {eps}")
    return SparseNgram(index, idf, np.ascontiguousarray(weights), bias, eps, sublinear)


def load_sparse_ngram(path: Path, n_labels: int) -> SparseNgram | None:
    """:func:`read_sparse_ngram` of a graph with ``n_labels`` heads, or None (logged) when the graph is
    not recognised or protobuf is missing: the caller then runs the graph with ONNX Runtime."""
    try:
        model = read_sparse_ngram(path)
        if len(model.bias) != n_labels:
            raise UnrecognisedGraph(f"{len(model.bias)} heads for {n_labels} labels")
    except (UnrecognisedGraph, KeyError, ValueError, IndexError, ImportError, UnicodeDecodeError) as exc:
        log.info("n-gram model %s runs on ONNX Runtime (no sparse form: %s)", path, exc)
        return None
    return model
