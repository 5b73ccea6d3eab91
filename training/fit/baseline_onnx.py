"""The baseline (:mod:`commentmod.training.fit.baseline`) as ONNX: graph, export, onnxruntime scoring.

Saving uses no pickle: :func:`export_onnx` writes one ONNX graph
(``baseline.onnx``: string ``chars [N, C]`` → ``probs [N, n_labels]``) and a JSON
metadata file (``baseline.json``: labels, thresholds, config, counts, sha256; no
vocabulary). skl2onnx cannot convert ``char_wb``, so the n-gram counting node is
converted by skl2onnx from an equivalent ``analyzer="char"`` vectorizer with the same
vocabulary, applied to text laid out by ``commentmod.serving.hybrid.layout_for_onnx``
(lower-cased words joined by two spaces: no n-gram crossing a word boundary can match a
``char_wb`` n-gram) and fed as single characters (``chars_for_onnx``, same module, which the
Scorer uses too). The TF-IDF weighting, normalisation and heads are plain ONNX nodes
(skl2onnx's ``sublinear_tf`` computes ``log(1+tf)``, not scikit-learn's ``1+log(tf)``).
:class:`OnnxBaseline` scores from those files with onnxruntime (no scikit-learn needed).
:func:`train_and_save` is the whole recipe: train, thresholds on validation, export.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...model.manifest_io import sha256_file
from ...model.versions import library_versions
from ...serving.hybrid import PAD, chars_for_onnx
from .baseline import (
    BaselineConfig,
    BaselineError,
    BaselineModel,
    comment_only_targets,
    fit_thresholds,
    train_baseline,
)

logger = logging.getLogger(__name__)

ONNX_NAME = "baseline.onnx"
META_NAME = "baseline.json"
BASELINE_FORMAT = 1
OPSET = 17
# the libraries whose versions baseline.json records
BASELINE_LIBRARIES = ("numpy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime")


# --------------------------------------------------------------------------- graph


def _char_clone(vectorizer: Any) -> Any:
    """An ``analyzer="char"`` CountVectorizer with the char_wb vocabulary (for skl2onnx)."""
    from sklearn.feature_extraction.text import CountVectorizer

    clone = CountVectorizer(
        analyzer="char",
        ngram_range=vectorizer.ngram_range,
        lowercase=False,
        dtype=np.float32,
    )
    clone.vocabulary_ = dict(vectorizer.vocabulary_)
    clone.fixed_vocabulary_ = True
    return clone


def _ngram_node(vectorizer: Any) -> Any:
    """skl2onnx's n-gram counting node (``TfIdfVectorizer``), rewired to read ``chars`` and write
    ``bl_counts``; the regex ``Tokenizer`` skl2onnx puts in front of it is dropped."""
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType

    clone = _char_clone(vectorizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "conversion of CountVectorizer may not work" (char)
        counts_model = convert_sklearn(
            clone,
            initial_types=[("text", StringTensorType([None, 1]))],
            options={id(clone): {"tokenexp": "."}},
            target_opset=OPSET,
        )
    ngram_nodes = [n for n in counts_model.graph.node if n.op_type == "TfIdfVectorizer"]
    if len(ngram_nodes) != 1:
        raise BaselineError(
            f"skl2onnx produced {len(ngram_nodes)} TfIdfVectorizer nodes, expected 1; "
            "check the installed skl2onnx version"
        )
    ngram = onnx.NodeProto()
    ngram.CopyFrom(ngram_nodes[0])
    del ngram.input[:]
    ngram.input.append("chars")
    del ngram.output[:]
    ngram.output.append("bl_counts")
    return ngram


def _head_arrays(model: BaselineModel) -> tuple[np.ndarray, np.ndarray]:
    """The heads as one ``[n_features, n_labels]`` weight matrix and a bias (zeros for untrained labels)."""
    n_features = len(model.vectorizer.vocabulary_)
    n_labels = len(model.labels)
    weights = np.zeros((n_features, n_labels), dtype=np.float32)
    bias = np.zeros((n_labels,), dtype=np.float32)
    for j, name in enumerate(model.labels):
        head = model.heads.get(name)
        if head is not None:
            weights[:, j] = head.coef_[0]
            bias[j] = head.intercept_[0]
    return weights, bias


def _initializers(model: BaselineModel) -> list[Any]:
    """The graph's constants: idf, head weights and bias, and the scalars the nodes use."""
    from onnx import numpy_helper

    weights, bias = _head_arrays(model)
    return [
        numpy_helper.from_array(np.asarray(model.vectorizer.idf_, dtype=np.float32), "bl_idf"),
        numpy_helper.from_array(weights, "bl_weights"),
        numpy_helper.from_array(bias, "bl_bias"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "bl_zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "bl_one"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "bl_eps"),
    ]


def _scoring_nodes(sublinear_tf: bool) -> list[Any]:
    """``bl_counts`` → ``probs``: (sublinear) tf, idf, L2 normalisation, heads, sigmoid."""
    from onnx import helper

    nodes = []
    tf = "bl_counts"
    if sublinear_tf:  # scikit-learn: tf -> 1 + log(tf) where tf > 0
        nodes += [
            helper.make_node("Greater", ["bl_counts", "bl_zero"], ["bl_pos"]),
            helper.make_node("Max", ["bl_counts", "bl_one"], ["bl_safe"]),
            helper.make_node("Log", ["bl_safe"], ["bl_log"]),
            helper.make_node("Add", ["bl_log", "bl_one"], ["bl_log1"]),
            helper.make_node("Where", ["bl_pos", "bl_log1", "bl_zero"], ["bl_tf"]),
        ]
        tf = "bl_tf"
    nodes += [
        helper.make_node("Mul", [tf, "bl_idf"], ["bl_tfidf"]),
        helper.make_node("ReduceL2", ["bl_tfidf"], ["bl_norm"], axes=[1], keepdims=1),
        helper.make_node("Max", ["bl_norm", "bl_eps"], ["bl_norm_safe"]),
        helper.make_node("Div", ["bl_tfidf", "bl_norm_safe"], ["bl_x"]),
        helper.make_node("MatMul", ["bl_x", "bl_weights"], ["bl_mm"]),
        helper.make_node("Add", ["bl_mm", "bl_bias"], ["bl_logits"]),
        helper.make_node("Sigmoid", ["bl_logits"], ["probs"]),
    ]
    return nodes


def build_onnx(model: BaselineModel) -> Any:
    """One ONNX graph: ``chars`` (string ``[N, C]``, see :func:`chars_for_onnx`) → ``probs [N, L]``.

    The n-gram counting node (``TfIdfVectorizer``, with the vocabulary as its string pool) comes
    from skl2onnx; skl2onnx's regex ``Tokenizer`` in front of it is dropped (slow, and its padding
    token ``#`` forms n-grams that exist in the vocabulary), so the caller feeds single characters
    padded with :data:`PAD`, which can never match a one-character pool entry.
    """
    import onnx
    from onnx import TensorProto, helper

    n_labels = len(model.labels)
    graph = helper.make_graph(
        [_ngram_node(model.vectorizer), *_scoring_nodes(model.vectorizer.sublinear_tf)],
        "commentmod_baseline",
        [helper.make_tensor_value_info("chars", TensorProto.STRING, [None, None])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, n_labels])],
        initializer=_initializers(model),
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="commentmod-baseline",
        ir_version=8,
    )
    onnx.checker.check_model(onnx_model)
    return onnx_model


# --------------------------------------------------------------------------- export / load


def export_onnx(model: BaselineModel, out_dir: Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``baseline.onnx`` + ``baseline.json`` (no pickle, no vocabulary in JSON) into ``out_dir``.

    ``extra`` (e.g. the dataset it was trained on) is stored under ``"extra"`` in the JSON.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_model = build_onnx(model)
    onnx_path = out_dir / ONNX_NAME
    onnx_path.write_bytes(onnx_model.SerializeToString())
    meta = {
        "format": BASELINE_FORMAT,
        "kind": "tfidf-char_wb+logreg",
        "labels": list(model.labels),
        "trained": {name: model.heads.get(name) is not None for name in model.labels},
        "thresholds": dict(model.thresholds),
        "config": model.config.to_dict(),
        "n_features": len(model.vectorizer.vocabulary_),
        "train_counts": model.train_counts,
        "input": "chars: string [N, C], single characters of layout_for_onnx(text), right-padded with "
        f"{PAD!r} (commentmod.serving.hybrid.chars_for_onnx)",
        "output": "probs: float [N, n_labels]",
        "library_versions": library_versions(BASELINE_LIBRARIES),
        "files": {ONNX_NAME: sha256_file(onnx_path)},
        "extra": dict(extra or {}),
    }
    (out_dir / META_NAME).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("baseline written to %s (%d features)", out_dir, meta["n_features"])
    return onnx_path


@dataclass
class OnnxBaseline:
    """The exported baseline, scored with onnxruntime (no scikit-learn needed)."""

    session: Any
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    trained: dict[str, bool]
    meta: dict[str, Any]
    batch_size: int = 256

    @classmethod
    def load(cls, directory: Path, batch_size: int = 256) -> OnnxBaseline:
        import onnxruntime as ort

        directory = Path(directory)
        meta_path, onnx_path = directory / META_NAME, directory / ONNX_NAME
        if not meta_path.is_file() or not onnx_path.is_file():
            raise BaselineError(
                f"{directory} lacks {META_NAME} or {ONNX_NAME}; train it with `commentmod hybrid --model RUN "
                "--data DATA` (saves it in RUN/baseline)"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != BASELINE_FORMAT:
            raise BaselineError(
                f"{meta_path}: baseline format {meta.get('format')!r}, expected {BASELINE_FORMAT}"
            )
        expected = meta.get("files", {}).get(ONNX_NAME)
        if expected and sha256_file(onnx_path) != expected:
            raise BaselineError(f"{onnx_path} does not match the sha256 in {meta_path}; retrain the baseline")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        return cls(
            session=session,
            labels=tuple(meta["labels"]),
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            trained={k: bool(v) for k, v in meta["trained"].items()},
            meta=meta,
            batch_size=batch_size,
        )

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.labels)), np.nan, dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            feed = chars_for_onnx([texts[i] for i in idx])
            out[idx] = self.session.run(["probs"], {"chars": feed})[0]
        for j, name in enumerate(self.labels):
            if not self.trained.get(name, False):
                out[:, j] = np.nan
        return out


def train_and_save(
    train_texts: Sequence[str],
    train_y: np.ndarray,
    val_texts: Sequence[str],
    val_y: np.ndarray,
    out_dir: Path | None,
    *,
    config: BaselineConfig | None = None,
    extra: Mapping[str, Any] | None = None,
    train_synthetic: np.ndarray | None = None,
    val_synthetic: np.ndarray | None = None,
) -> BaselineModel:
    """Train on train, choose thresholds on validation (0.5 when it is empty), export when ``out_dir``.

    ``train_synthetic`` / ``val_synthetic``: the rows' synthetic flags; their context labels are then
    unknown to the model (:func:`comment_only_targets`), which ``baseline.json`` records."""
    config = config or BaselineConfig()
    if train_synthetic is not None and val_synthetic is not None:
        train_y = comment_only_targets(train_y, train_synthetic)
        val_y = comment_only_targets(val_y, val_synthetic)
        extra = {**(extra or {}), "synthetic_context_labels": "unknown"}
    model = train_baseline(train_texts, train_y, config)
    if len(val_texts):
        model.thresholds = fit_thresholds(model, val_texts, val_y, config)
    else:
        logger.warning("baseline: no validation rows; thresholds stay at 0.5")
    if out_dir is not None:
        export_onnx(model, out_dir, extra)
    return model
