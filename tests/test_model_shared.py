"""The one-home primitives of commentmod.model: numerics, the window-max rule, YAML, versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commentmod.model.numeric import length_batches, logit, max_over_windows, pad_windows, sigmoid
from commentmod.model.versions import library_versions
from commentmod.model.yamlfile import YamlFileError, load_yaml_mapping


def test_sigmoid_does_not_overflow_and_keeps_float32() -> None:
    x = np.array([-1e4, -30.0, 0.0, 30.0, 1e4, -np.inf, np.inf], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):  # an overflow in exp would raise here
        p = sigmoid(x)
    assert p.dtype == np.float32
    assert p[0] == 0.0 and p[2] == 0.5 and p[4] == 1.0
    assert p[5] == 0.0 and p[6] == 1.0
    assert np.all(np.diff(p[:5]) >= 0)
    assert sigmoid(np.array([0.0])).dtype == np.float64
    assert sigmoid(2.0).shape == ()


def test_logit_inverts_sigmoid_and_clips() -> None:
    x = np.linspace(-8, 8, 17)
    np.testing.assert_allclose(logit(sigmoid(x)), x, atol=1e-9)
    assert np.isfinite(logit([0.0, 1.0])).all()
    assert logit([0.0])[0] == pytest.approx(np.log(1e-6 / (1 - 1e-6)))


def test_pad_windows_pads_right_with_mask() -> None:
    ids, mask = pad_windows([[5, 6, 7], [8]], pad_id=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == np.int64


def test_length_batches_respects_rows_and_token_budget() -> None:
    lengths = [2, 2, 3, 5, 9, 9]
    batches = list(length_batches(lengths, batch_size=3, max_batch_tokens=12))
    assert [list(b) for b in batches] == [[0, 1, 2], [3], [4], [5]]
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * lengths[b[-1]] <= 12


def test_max_over_windows_takes_each_items_max_in_item_order() -> None:
    per_item = [[[1, 2], [3]], [], [[4, 5, 6]], [[7], [8, 9], [1, 1, 1, 1]]]
    calls: list[int] = []

    def run(batch: list[list[int]]) -> np.ndarray:
        calls.append(len(batch))
        return np.array([[len(w), -len(w)] for w in batch], dtype=np.float32)

    out = max_over_windows(per_item, run, n_labels=2, batch_size=2)
    assert out[0].tolist() == [2.0, -1.0]
    assert np.isneginf(out[1]).all()  # no windows: -inf, the caller decides
    assert out[2].tolist() == [3.0, -3.0]
    assert out[3].tolist() == [4.0, -1.0]
    assert sum(calls) == 6 and max(calls) <= 2  # every window run exactly once


def test_load_yaml_mapping_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\nb: [x, y]\n", encoding="utf-8")
    assert load_yaml_mapping(good, "config") == {"a": 1, "b": ["x", "y"]}
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_yaml_mapping(empty, "config") == {}
    with pytest.raises(YamlFileError, match=r"training config .*missing\.yaml does not exist; pass --config"):
        load_yaml_mapping(tmp_path / "missing.yaml", "training config", "pass --config configs/quick.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match="not valid YAML"):
        load_yaml_mapping(bad, "catalog")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match="holds a list at the top; it must be a mapping"):
        load_yaml_mapping(listy, "catalog")


def test_library_versions_reports_missing_ones() -> None:
    versions = library_versions(("numpy", "no-such-distribution-xyz"))
    assert versions["numpy"] == np.__version__
    assert versions["no-such-distribution-xyz"] == "not installed"
