"""Vocabulary pruning (``--prune-vocab``): the id map, the graph rewrite, the pruned artifact's manifest
and hashes, and the Scorer on it (scores equal to the unpruned model on kept tokens, <unk> otherwise)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

from commentmod.model import manifest as manifest_module
from commentmod.model.errors import ManifestError
from commentmod.model.inputs import ContextRule, SpecialIds, encode_comments
from commentmod.model.manifest import FORMAT_VERSION, FORMAT_VERSION_PRUNED, MANIFEST_NAME
from commentmod.model.manifest_io import read_manifest, sha256_file
from commentmod.serving import Scorer
from commentmod.serving.cli import main
from commentmod.serving.onnx_session import window_logits
from commentmod.serving.vocab_map import VOCAB_EXTRA, VOCAB_MAP_FILE, read_vocab_map
from commentmod.training.export import artifact as ex
from commentmod.training.export import vocab_prune as vp
from commentmod.training.export.errors import ParityError
from commentmod.training.export.probes import PROBES

SPECIAL = SpecialIds()
# few tokens of the tiny tokenizer: most of its pieces stay out of the kept rows (see kept_tokens)
SAMPLE = vp.VocabSample([("Ești un cretin, taci din gură.", None, None)], ("test sample",))
UNSEEN = "Qwxz zyqv jkpf!"  # letters the gate items hardly use: several pieces are not kept
PRUNE = vp.PruneOptions(enabled=True, top_k=0, min_sample_rows=0)


# --------------------------------------------------------------------------- the map


def test_kept_ids_hold_specials_sample_and_top_k() -> None:
    counts = np.array([0, 0, 0, 0, 5, 0, 1, 0, 0, 0])
    ranking = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    kept = vp.kept_ids(counts, [0, 1, 2, 3], ranking, top_k=2)
    assert kept.tolist() == [0, 1, 2, 3, 4, 6, 8, 9]
    assert vp.kept_ids(counts, [0, 1, 2, 3], ranking, top_k=0).tolist() == [0, 1, 2, 3, 4, 6]


def test_id_map_keeps_specials_and_sends_the_rest_to_unk() -> None:
    kept = np.array([0, 1, 2, 3, 7, 9])
    id_map = vp.build_id_map(kept, 12, SPECIAL)
    assert id_map.dtype == np.int32 and len(id_map) == 12
    assert id_map[[0, 1, 2, 3]].tolist() == [0, 1, 2, 3]  # special ids unchanged
    assert id_map[[7, 9]].tolist() == [4, 5]
    assert set(id_map[[4, 5, 6, 8, 10, 11]].tolist()) == {SPECIAL.unk}


def test_id_map_refuses_to_move_a_special_id() -> None:
    with pytest.raises(vp.VocabPruneError, match="special ids"):
        vp.build_id_map(np.array([0, 1, 3, 5]), 8, SPECIAL)  # </s>=2 not kept


def test_token_counts_cover_comment_and_context(tiny_base_dir: Path) -> None:
    tok = Tokenizer.from_file(str(tiny_base_dir / "tokenizer.json"))
    items = [("Vând Logan", "Titlu", "Text articol"), ("Vând Logan", None, None)]
    counts, n_strings = vp.token_counts(tok, items, ContextRule(), tok.get_vocab_size())
    assert n_strings == 2  # the repeated comment is tokenised once
    expected = tok.encode("Vând Logan", add_special_tokens=False).ids
    expected += tok.encode("Titlu\nText articol", add_special_tokens=False).ids
    assert counts.sum() == len(expected) and set(np.flatnonzero(counts)) == set(expected)


def test_tokenizer_ranking_follows_unigram_scores(tiny_base_dir: Path) -> None:
    tok = Tokenizer.from_file(str(tiny_base_dir / "tokenizer.json"))
    ranking = vp.tokenizer_ranking(tok)
    assert sorted(ranking.tolist()) == list(range(tok.get_vocab_size()))
    scores = [s for _, s in json.loads(tok.to_str())["model"]["vocab"]]
    assert scores[ranking[0]] == max(scores) and scores[ranking[-1]] == min(scores)


# --------------------------------------------------------------------------- the graph


def _gather_graph(table: np.ndarray, extra_reader: bool = False) -> onnx.ModelProto:
    nodes = [helper.make_node("Gather", ["W", "input_ids"], ["out"], name="emb")]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", table.shape[1]])]
    if extra_reader:  # e.g. a tied output projection: the table may not be sliced
        nodes.append(helper.make_node("Transpose", ["W"], ["wt"], name="tied"))
        outputs.append(helper.make_tensor_value_info("wt", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
        outputs,
        [numpy_helper.from_array(table, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_prune_graph_slices_the_table_and_map_keeps_outputs() -> None:
    # 23 rows for 20 tokenizer ids, as e5's 250,037-row table for 250,002 ids: the extra rows go too
    table = np.random.default_rng(0).normal(size=(23, 4)).astype(np.float32)
    model = _gather_graph(table)
    kept = np.array([0, 1, 2, 3, 11, 17])
    assert vp.prune_graph(model, kept, 20) == ["W"]
    assert list(model.graph.initializer[0].dims) == [6, 4]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.array([[0, 11, 17, 5]], dtype=np.int64)
    id_map = vp.build_id_map(kept, 20, SPECIAL).astype(np.int64)
    (out,) = sess.run(None, {"input_ids": id_map[ids]})
    np.testing.assert_array_equal(out[0, :3], table[[0, 11, 17]])
    np.testing.assert_array_equal(out[0, 3], table[SPECIAL.unk])  # id 5 was not kept: <unk>'s row


def test_prune_graph_refuses_a_shared_table_or_none() -> None:
    table = np.zeros((20, 4), dtype=np.float32)
    with pytest.raises(vp.VocabPruneError, match="also read by"):
        vp.prune_graph(_gather_graph(table, extra_reader=True), np.arange(5), 20)
    with pytest.raises(vp.VocabPruneError, match="no initializer of >= 30 rows"):
        vp.prune_graph(_gather_graph(table), np.arange(5), 30)


# --------------------------------------------------------------------------- the pruned export


@pytest.fixture(scope="module")
def pruned_dir(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """int8 + fp32 artifact of the tiny run, pruned to SAMPLE + the gates' own comments."""
    out = tmp_path_factory.mktemp("pruned") / "pruned"
    options = ex.ExportOptions(keep_fp32=True, name="tiny-pruned", vocab=PRUNE)
    ex.export_artifact(tiny_run_dir, out, options, vocab_sample=SAMPLE)
    return out


def _kept(pruned: Path) -> np.ndarray:
    id_map = np.load(pruned / VOCAB_MAP_FILE)
    return np.flatnonzero((id_map != SPECIAL.unk) | (np.arange(len(id_map)) == SPECIAL.unk))


@pytest.mark.export
def test_pruned_graphs_hold_only_the_kept_rows(pruned_dir: Path) -> None:
    info = read_manifest(pruned_dir).extra[VOCAB_EXTRA]
    vocab = Tokenizer.from_file(str(pruned_dir / "tokenizer.json")).get_vocab_size()
    assert info["vocab_size"] == vocab and info["kept_rows"] < vocab
    assert info["kept_rows"] == len(_kept(pruned_dir))
    assert info["sample"]["sources"] == ["test sample"] and info["sample"]["rows"] == 1
    for name, table in (("model.fp32.onnx", "weight"), ("model.onnx", "_int8_rows")):
        inits = onnx.load(str(pruned_dir / name)).graph.initializer
        word = [i for i in inits if "word_embeddings" in i.name and i.name.endswith(table)]
        assert len(word) == 1 and word[0].dims[0] == info["kept_rows"], name


@pytest.mark.export
@pytest.mark.parametrize("model_file", ["model.onnx", "model.fp32.onnx"])
def test_pruned_scores_equal_unpruned_on_kept_tokens(
    pruned_dir: Path, tiny_artifact_dir: Path, model_file: str
) -> None:
    full = Scorer.load(tiny_artifact_dir, model_file=model_file)
    pruned = Scorer.load(pruned_dir, model_file=model_file)
    items = [p.item for p in PROBES] + [SAMPLE.items[0]]
    assert pruned.vocab_map is not None and full.vocab_map is None
    np.testing.assert_allclose(pruned.probabilities(items), full.probabilities(items), atol=1e-6, rtol=0)


@pytest.mark.export
def test_unseen_tokens_score_as_unk(pruned_dir: Path, tiny_artifact_dir: Path) -> None:
    full = Scorer.load(tiny_artifact_dir, model_file="model.fp32.onnx")
    pruned = Scorer.load(pruned_dir, model_file="model.fp32.onnx")
    windows = full.encode([(UNSEEN, None, None)])
    kept = set(_kept(pruned_dir).tolist())
    assert any(i not in kept for w in windows[0] for i in w), "UNSEEN must hold a pruned token"
    as_unk = [[[i if i in kept else SPECIAL.unk for i in w] for w in windows[0]]]
    reference = window_logits(full.session, as_unk, 3, SPECIAL.pad)
    np.testing.assert_allclose(pruned.logits([(UNSEEN, None, None)]), reference, atol=1e-6, rtol=0)
    assert pruned.score([UNSEEN])[0].status == "ok"


@pytest.mark.export
def test_map_is_hashed_and_checked(pruned_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(pruned_dir)
    assert manifest.files[VOCAB_MAP_FILE] == sha256_file(pruned_dir / VOCAB_MAP_FILE)
    id_map = np.load(pruned_dir / VOCAB_MAP_FILE, allow_pickle=False)
    assert id_map.dtype == np.int32 and len(id_map) == manifest.extra[VOCAB_EXTRA]["vocab_size"]
    art = Path(shutil.copytree(pruned_dir, tmp_path / "art"))
    bad = id_map.copy()
    bad[-1] = 4 if bad[-1] != 4 else 5
    np.save(art / VOCAB_MAP_FILE, bad, allow_pickle=False)
    with pytest.raises(ManifestError, match=r"vocab_map\.npy"):
        Scorer.load(art)  # sha256 mismatch
    np.save(art / VOCAB_MAP_FILE, id_map[:-1], allow_pickle=False)
    with pytest.raises(ManifestError, match="expected"):
        read_vocab_map(art, manifest, len(id_map))  # wrong length
    (art / VOCAB_MAP_FILE).unlink()
    with pytest.raises(ManifestError, match="missing"):
        read_vocab_map(art, manifest, len(id_map))


@pytest.mark.export
def test_pruned_artifacts_carry_a_format_version_older_readers_refuse(
    pruned_dir: Path, tiny_artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.loads((pruned_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert raw["format_version"] == FORMAT_VERSION_PRUNED == FORMAT_VERSION + 1
    assert Scorer.load(pruned_dir).vocab_map is not None  # this reader loads it
    unpruned = json.loads((tiny_artifact_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert unpruned["format_version"] == FORMAT_VERSION  # older readers still load unpruned artifacts
    assert read_manifest(tiny_artifact_dir).format_version == FORMAT_VERSION
    # a reader from before pruning read FORMAT_VERSION only: it refuses the pruned artifact
    monkeypatch.setattr(manifest_module, "READABLE_FORMAT_VERSIONS", (FORMAT_VERSION,))
    with pytest.raises(ManifestError, match=f"format version is {FORMAT_VERSION_PRUNED}"):
        read_manifest(pruned_dir)
    read_manifest(tiny_artifact_dir)


@pytest.mark.export
def test_too_small_sample_fails_and_writes_nothing(tiny_run_dir: Path, tmp_path: Path) -> None:
    options = ex.ExportOptions(int8=False, vocab=vp.PruneOptions(enabled=True, min_sample_rows=5))
    with pytest.raises(vp.VocabPruneError, match=">= 5 rows, got 1"):
        ex.export_artifact(tiny_run_dir, tmp_path / "art", options, vocab_sample=SAMPLE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.export
def test_a_wrong_map_fails_the_parity_gate(
    tiny_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = vp.build_id_map

    def neighbour_rows(kept: np.ndarray, vocab_size: int, special: SpecialIds) -> np.ndarray:
        id_map = real(kept, vocab_size, special)
        ordinary = id_map > special.unk
        id_map[ordinary] = np.maximum(id_map[ordinary] - 1, special.unk + 1)  # each id reads its neighbour
        return id_map

    monkeypatch.setattr(vp, "build_id_map", neighbour_rows)
    options = ex.ExportOptions(int8=False, vocab=PRUNE)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        ex.export_artifact(tiny_run_dir, tmp_path / "art", options, vocab_sample=SAMPLE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.export
def test_hybrid_export_gates_the_pruned_graph(tiny_run_dir: Path, tmp_path: Path) -> None:
    """The hybrid parity gate builds a Scorer on the partial directory: it must read the map there."""
    from commentmod.serving.hybrid import HybridSpec, LabelStack
    from commentmod.training.fit.hybrid_fit import current_provenance, save_hybrid

    run = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    labels = ("abusive", "mocking", "off_topic")
    spec = HybridSpec(labels, {k: LabelStack("transformer", 0.9, 0.0, 0.1, why="test") for k in labels})
    save_hybrid(run, spec, dict.fromkeys(labels, 0.5), current_provenance(run))
    options = ex.ExportOptions(int8=False, vocab=PRUNE, hybrid_parity_rows=10)
    result = ex.export_artifact(run, tmp_path / "art", options, vocab_sample=SAMPLE)
    assert result.hybrid_parity is not None and result.hybrid_parity.max_abs_delta <= 1e-4
    assert Scorer.load(tmp_path / "art").score([UNSEEN])[0].status == "ok"


@pytest.mark.export
def test_cli_prunes_from_a_dataset_dir(tiny_run_dir: Path, tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = {"text": [f"Comentariu {i}" for i in range(1000)], "article_title": ["Titlu"] * 1000}
    DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict(rows)}).save_to_disk(
        str(tmp_path / "data")
    )
    items, source = vp.load_sample_items(tmp_path / "data", max_rows=1500)
    assert len(items) == 1500 and items[0][1] == "Titlu" and "1500 of 2000 rows" in source
    args = ["export", "--model", str(tiny_run_dir), "--out", str(tmp_path / "art"), "--no-int8"]
    assert main([*args, "--prune-vocab", "--prune-sample-data", str(tmp_path / "data")]) == 0
    info = read_manifest(tmp_path / "art").extra[VOCAB_EXTRA]
    assert info["sample"]["rows"] == 2000 and info["top_k_by_tokenizer_score"] == 20_000


@pytest.mark.export
def test_coverage_counts_comments_with_a_pruned_token(pruned_dir: Path) -> None:
    tok = Tokenizer.from_file(str(pruned_dir / "tokenizer.json"))
    id_map = np.load(pruned_dir / VOCAB_MAP_FILE).astype(np.int64)
    items = [SAMPLE.items[0], (UNSEEN, None, None)]
    cov = vp.coverage(tok, items, ContextRule(), id_map, SPECIAL)
    windows = encode_comments(tok, items, ContextRule(), SPECIAL)
    assert cov.items == 2 and cov.items_all_kept == 0.5
    assert cov.tokens == sum(len(w) for ws in windows for w in ws) and 0 < cov.tokens_kept < 1
