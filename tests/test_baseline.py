"""Baseline (the hybrid's n-gram model): TF-IDF char n-grams + logistic regression per label, ONNX parity,
thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from commentmod.serving.hybrid import PAD, chars_for_onnx, layout_for_onnx
from commentmod.training.fit.baseline import (
    BaselineConfig,
    BaselineError,
    choose_threshold,
    comment_only_targets,
    train_baseline,
)
from commentmod.training.fit.baseline_onnx import (
    META_NAME,
    ONNX_NAME,
    OnnxBaseline,
    export_onnx,
    train_and_save,
)

ABUSIVE = [
    "Ești un cretin, taci din gură.",
    "idiotule, taci",
    "You are an idiot and a moron.",
    "Сдохни, тварь.",
    "what a stupid idiot you are",
    "cretinule ordinar",
    "Ты тупой идиот",
    "moron, shut up",
]
CLEAN = [
    "Noua linie de tramvai din Cluj va fi gata anul viitor.",
    "The library will close on Sundays from next month.",
    "Міська рада ухвалила новий бюджет на наступний рік.",
    "Primăria a anunțat lucrări pe strada principală.",
    "Thanks for the article, very useful.",
    "Дякую за статтю, дуже корисно.",
    "When will the bridge open?",
    "Vremea va fi frumoasă mâine.",
    "#rezist ## #tag ###",
]
ODD = [
    "  Hello\tWORLD  ȘTIINȚĂ  x ",
    "a b c",
    "Ёлка ЇЖАК İstanbul",
    "",
    "🙄🙄 😂 👏",
    "x",
    "line one\nline two\u00a0nbsp\u200bzero",
    "#",
    "ok ##",
    "<pad> pad",
]


def _data() -> tuple[list[str], np.ndarray]:
    texts = ABUSIVE + CLEAN
    y = np.full((len(texts), 3), np.nan)
    y[:, 0] = [1] * len(ABUSIVE) + [0] * len(CLEAN)
    y[::2, 1] = 0  # mocking known on half the rows, all negative -> no head
    y[:4, 1] = [1, 0, 1, 0]
    return texts, y


def test_choose_threshold_f1_and_precision() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    # cut at 0.3: P=3/4 R=1 F1=.857; at 0.8: P=1 R=2/3 F1=.8 (thresholds sit mid-way between scores)
    assert choose_threshold(y, p) == pytest.approx(0.25)
    assert choose_threshold(y, p, mode="precision", target_precision=0.95) == pytest.approx(0.6)
    # NaN labels are ignored
    y_nan = np.array([np.nan, 0, 1, 0, 1, 1])
    assert choose_threshold(y_nan, p) == pytest.approx(0.25)
    # single class: nothing to choose
    assert choose_threshold(np.ones(3), np.array([0.1, 0.2, 0.3])) == 0.5
    with pytest.raises(ValueError, match="target_precision"):
        choose_threshold(y, p, mode="precision")


def test_train_masks_unknown_labels_and_skips_single_class() -> None:
    texts, y = _data()
    model = train_baseline(texts, y, BaselineConfig(min_df=1))
    assert model.heads["abusive"] is not None
    assert model.heads["off_topic"] is None  # all None
    assert model.train_counts["mocking"] == {"positives": 2, "negatives": 9}
    probs = model.predict_probs(["idiot cretin", "tramvai Cluj"])
    assert probs.shape == (2, 3)
    assert np.isnan(probs[:, 2]).all()
    assert probs[0, 0] > probs[1, 0]


def test_layout_for_onnx() -> None:
    assert layout_for_onnx("  Ab\tCD\n e ") == " ab  cd  e "
    assert layout_for_onnx("   ") == ""
    chars = chars_for_onnx(["Ab", "", "x"])
    assert chars.shape == (3, 4)
    assert chars[0].tolist() == [" ", "a", "b", " "]
    assert chars[1].tolist() == [PAD] * 4
    assert chars_for_onnx([""]).shape == (1, 1)


def test_onnx_parity_with_sklearn(tmp_path: Path) -> None:
    texts, y = _data()
    model = train_baseline(texts, y, BaselineConfig(min_df=1))
    model.thresholds = {"abusive": 0.42, "mocking": 0.5, "off_topic": 0.5}
    export_onnx(model, tmp_path / "bl")
    meta = json.loads((tmp_path / "bl" / META_NAME).read_text())
    assert meta["trained"] == {"abusive": True, "mocking": True, "off_topic": False}
    assert "vocabulary" not in json.dumps(meta)
    loaded = OnnxBaseline.load(tmp_path / "bl", batch_size=4)
    assert any("#" in k for k in model.vectorizer.vocabulary_)  # padding must not create '#' n-grams
    assert loaded.thresholds["abusive"] == pytest.approx(0.42)
    probe = texts + ODD
    expected = model.predict_probs(probe)
    got = loaded.predict_probs(probe)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[:, :2], expected[:, :2], atol=1e-5)
    one_by_one = OnnxBaseline.load(tmp_path / "bl", batch_size=1).predict_probs(probe)
    np.testing.assert_allclose(one_by_one[:, :2], got[:, :2], atol=1e-6)


def test_onnx_load_errors(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="lacks"):
        OnnxBaseline.load(tmp_path)
    texts, y = _data()
    export_onnx(train_baseline(texts, y, BaselineConfig(min_df=1)), tmp_path)
    (tmp_path / ONNX_NAME).write_bytes((tmp_path / ONNX_NAME).read_bytes() + b"x")
    with pytest.raises(BaselineError, match="sha256"):
        OnnxBaseline.load(tmp_path)


def test_train_and_save_picks_thresholds_on_validation(tmp_path: Path) -> None:
    texts, y = _data()
    model = train_and_save(texts, y, texts, y, tmp_path / "bl", config=BaselineConfig(min_df=1))
    assert model.thresholds["off_topic"] == 0.5
    assert model.thresholds["abusive"] != 0.5
    assert (tmp_path / "bl" / ONNX_NAME).is_file()


def test_comment_only_targets_forget_the_context_labels_of_synthetic_pairs() -> None:
    # one comment under its own article (off_topic 0) and under a foreign one (off_topic 1), then a
    # real spam row: the n-gram model may learn abusive/mocking from every row, off_topic from real rows
    y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, np.nan, 1.0]])
    synthetic = np.array([True, True, False])
    got = comment_only_targets(y, synthetic, ("abusive", "mocking", "off_topic"))
    np.testing.assert_array_equal(got[:, :2], y[:, :2])
    assert np.isnan(got[:2, 2]).all() and got[2, 2] == 1.0
    assert y[0, 2] == 0.0  # the caller's array is left alone
    # labels named in another order: the context label is found by name
    got = comment_only_targets(y[:, ::-1], synthetic, ("off_topic", "mocking", "abusive"))
    assert np.isnan(got[:2, 0]).all() and not np.isnan(got[:, 2]).any()
    with pytest.raises(BaselineError, match="synthetic flags"):
        comment_only_targets(y, synthetic[:2])
