"""The n-gram model on its non-zero features (serving/ngram_sparse.py) equals ONNX Runtime's dense graph.

The graph is the project's own (``train_and_save`` on a few dozen synthetic comments, as in
test_hybrid.py); the counts must be equal exactly, the probabilities within 1e-6 (float32 sums in
another order). A graph that is not the exported one is left to ONNX Runtime (``load_sparse_ngram``
gives None).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from commentmod.serving.hybrid import chars_of_layouts, layout_for_onnx
from commentmod.serving.ngram_sparse import (
    NgramIndex,
    UnrecognisedGraph,
    _pool_chars,
    load_sparse_ngram,
    read_sparse_ngram,
)
from commentmod.serving.onnx_session import make_session, ngram_probs

onnx = pytest.importorskip("onnx")  # to build the counting-only graph and the altered graphs

PHRASES = [
    "ești un cretin",
    "you stupid idiot",
    "ти тупий дурень",
    "сдохни тварь",
    "bravo geniu curat 👏",
    "sure, genius plan 🙄",
    "ну да конечно 😂",
    "felicitări, ce surpriză",
    "vând logan 2012",
    "buy crypto now http://x.io",
    "mulțumim pentru articol",
    "when does the work start?",
]
TEXTS = [
    *PHRASES,
    "",
    "a",
    "idiot idiot idiot idiot idiot",  # counts above 1 (sublinear tf)
    "Ну да, конечно 😂 " * 40,
    "日本語 idiot ∑∑∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # characters the vocabulary never saw
    "id\x00iot stu\x00pid",  # NUL: the separator of the sparse form, in no n-gram
    "x" * 3000 + " cretin",
    "  \t mixed   SPACING\nand lines  ",
]


def _graph(tmp: Path, sublinear: bool) -> Path:
    from commentmod.training.fit.baseline import BaselineConfig
    from commentmod.training.fit.baseline_onnx import ONNX_NAME, train_and_save

    texts = [p + tail for p in PHRASES for tail in ("", " azi", " again!", " ...")]
    y = np.asarray([[float(i % 3 == j) for j in range(3)] for i in range(len(texts))])
    config = BaselineConfig(min_df=1, sublinear_tf=sublinear)
    train_and_save(texts, y, texts[::3], y[::3], tmp, config=config)
    return tmp / ONNX_NAME


@pytest.fixture(scope="module", params=[True, False], ids=["sublinear", "linear"])
def graph(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _graph(tmp_path_factory.mktemp("ngram"), request.param)


def _dense_counts(path: Path, laid: list[str]) -> np.ndarray:
    """ONNX Runtime's TfIdfVectorizer output alone (the graph cut after its first node)."""
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = helper.make_graph(
        [model.graph.node[0]],
        "counts",
        [helper.make_tensor_value_info("chars", TensorProto.STRING, [None, None])],
        [helper.make_tensor_value_info("bl_counts", TensorProto.FLOAT, [None, None])],
    )
    cut = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    session = ort.InferenceSession(cut.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"chars": chars_of_layouts(laid)})[0]


def test_counts_equal_onnx_runtime_exactly(graph: Path) -> None:
    sparse = read_sparse_ngram(graph)
    laid = [layout_for_onnx(t) for t in TEXTS]
    rows, cols, counts = sparse._counts(laid)
    got = np.zeros((len(laid), len(sparse.idf)), dtype=np.float32)
    got[rows, cols] = counts
    np.testing.assert_array_equal(got, _dense_counts(graph, laid))
    assert counts.max() > 1  # repeated n-grams were counted


def test_probabilities_equal_onnx_runtime(graph: Path) -> None:
    sparse = load_sparse_ngram(graph, n_labels=3)
    assert sparse is not None
    assert sparse.sublinear == any(n.op_type == "Log" for n in onnx.load(str(graph)).graph.node)
    expected = ngram_probs(make_session(graph, 1), TEXTS, 3)
    got = sparse.probs_of_layouts([layout_for_onnx(t) for t in TEXTS])
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    assert sparse.probs_of_layouts([]).shape == (0, 3)


def test_many_texts_are_counted_in_steps(graph: Path) -> None:
    sparse = read_sparse_ngram(graph)
    laid = [layout_for_onnx(t) for t in TEXTS] * 60  # > TEXTS_PER_STEP
    one_by_one = np.concatenate([sparse.probs_of_layouts([t]) for t in laid[: len(TEXTS)]])
    np.testing.assert_array_equal(sparse.probs_of_layouts(laid)[: len(TEXTS)], one_by_one)


def _altered(graph: Path, tmp_path: Path, how: str) -> Path:
    model = onnx.load(str(graph))
    nodes = model.graph.node
    if how == "extra node":
        last = nodes[-1]
        last.output[0] = "probs_raw"
        nodes.append(onnx.helper.make_node("Identity", ["probs_raw"], ["probs"]))
    elif how == "idf mode":
        next(a for a in nodes[0].attribute if a.name == "mode").s = b"IDF"
    elif how == "skips":
        nodes[0].attribute.append(onnx.helper.make_attribute("max_skip_count", 1))
    out = tmp_path / f"{how.replace(' ', '-')}.onnx"
    out.write_bytes(model.SerializeToString())
    return out


@pytest.mark.parametrize("how", ["extra node", "idf mode", "skips"])
def test_other_graphs_are_left_to_onnx_runtime(graph: Path, tmp_path: Path, how: str) -> None:
    with pytest.raises(UnrecognisedGraph):
        read_sparse_ngram(_altered(graph, tmp_path, how))
    assert load_sparse_ngram(_altered(graph, tmp_path, how), n_labels=3) is None


def test_wrong_label_count_or_not_onnx_is_left_to_onnx_runtime(graph: Path, tmp_path: Path) -> None:
    assert load_sparse_ngram(graph, n_labels=2) is None
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\xfe not protobuf \x00\x01")
    assert load_sparse_ngram(junk, n_labels=3) is None


def test_pool_entries_must_be_single_characters() -> None:
    assert _pool_chars([b"a", "é".encode(), "😂".encode()]) == "aé😂"
    for bad in ([b"ab"], [b"", b"ab"], [b"a\x00"], [b"\x00"]):
        with pytest.raises(UnrecognisedGraph):
            _pool_chars(bad)
    with pytest.raises(UnicodeDecodeError):  # half a character in each entry
        _pool_chars([b"\xc3", b"\xa9"])


def test_index_refuses_keys_that_do_not_fit() -> None:
    alphabet = "".join(chr(0x4E00 + i) for i in range(4097))  # 13 bits a character: 5-grams need 65
    with pytest.raises(UnrecognisedGraph):
        NgramIndex.build(alphabet, [0, 0], list(range(len(alphabet) // 2)), range(2, 6))
    with pytest.raises(UnrecognisedGraph):  # NUL would join two texts
        NgramIndex.build("a\x00", [0, 0], [0], range(2, 3))
    with pytest.raises(UnrecognisedGraph):  # one n-gram twice
        NgramIndex.build("abab", [0, 0], [0, 1], range(2, 3))


def test_index_finds_every_occurrence() -> None:
    index = NgramIndex.build("abbc", [0, 0], [7, 3], range(2, 3))  # "ab" -> 7, "bc" -> 3
    rows, cols = index.find(["xabcab", "", "bc"])
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 3), (0, 7), (0, 7), (2, 3)]
    rows, cols = index.find([])
    assert rows.size == cols.size == 0


def test_the_scorer_serves_the_sparse_form(tmp_path: Path) -> None:
    """The golden fp32 artifact made hybrid with this graph: same scores and flags as ONNX Runtime's."""
    import dataclasses
    import shutil

    from tokenizers import Tokenizer

    from commentmod.model.manifest_io import read_manifest
    from commentmod.serving import Scorer
    from commentmod.serving.hybrid import NGRAM_FILE, HybridSpec, LabelStack

    art = Path(shutil.copytree(Path(__file__).resolve().parent / "golden" / "tiny-fp32", tmp_path / "art"))
    shutil.copy(_graph(tmp_path / "ngram", sublinear=True), art / NGRAM_FILE)
    manifest = read_manifest(art, verify=False)
    stack = {label: LabelStack("blend", 0.5, 1.0, 0.1) for label in manifest.labels}
    spec = HybridSpec(labels=tuple(manifest.labels), per_label=stack)
    manifest = dataclasses.replace(manifest, extra={**manifest.extra, "hybrid": spec.to_dict()})
    tok = Tokenizer.from_file(str(art / "tokenizer.json"))
    scorers = [
        Scorer(
            make_session(art / "model.onnx", 1),
            tok,
            manifest,
            art,
            ngram_session=make_session(art / NGRAM_FILE, 1),
        )
        for _ in range(2)
    ]
    sparse, dense = scorers
    dense.ngram_sparse = None  # ONNX Runtime's graph, as before serving/ngram_sparse.py
    assert sparse.ngram_sparse is not None
    items = [{"id": str(i), "text": t, "article_title": "Titlu"} for i, t in enumerate(TEXTS) if t.strip()]
    got, expected = sparse.score(items), dense.score(items)
    for g, e in zip(got, expected, strict=True):
        assert g.flags == e.flags and g.scores == pytest.approx(e.scores, abs=1e-6)
    np.testing.assert_allclose(sparse.ngram_probabilities(TEXTS), dense.ngram_probabilities(TEXTS), atol=1e-6)
