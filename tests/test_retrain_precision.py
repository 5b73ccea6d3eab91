"""``commentmod retrain --precision``: the choice, the encoder's features in fp32 and bf16, the cache key.

The encoder of a fast retrain runs under bf16 autocast where the CPU has fast bf16 (AMX /
AVX512-BF16); its pooled features stay float32 numpy and close to fp32's, and the feature cache keeps
the two apart (the gate must compare parent and child on features computed one way).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from commentmod.model.inputs import ContextRule
from commentmod.model.record import CommentRecord
from commentmod.training.fit import hardware
from commentmod.training.retrain.cache import FeatureCache, set_key
from commentmod.training.retrain.errors import RetrainError
from commentmod.training.retrain.features import Pooled, encode_pooled
from commentmod.training.retrain.options import RetrainOptions

AMX = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
PLAIN = "flags\t\t: fpu sse2 avx2\n"
RULE = ContextRule(max_length=64, min_context_tokens=8, max_context_tokens=24, stride=8)


def records(n: int) -> list[CommentRecord]:
    words = "the council approved the new budget for the schools and the tram line opens next year"
    return [
        CommentRecord(
            id=f"r{i}",
            text=" ".join(words.split(" ")[: 3 + i % 12]) + f" {i}",
            source="t",
            licence="MIT",
            article_title="budget" if i % 2 else None,
        )
        for i in range(n)
    ]


def options(tmp_path: Path, **kw: Any) -> RetrainOptions:
    return RetrainOptions(parent=tmp_path, labels=tmp_path / "l.sqlite", out=tmp_path / "o", threads=1, **kw)


def test_precision_is_resolved_for_the_machine_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from commentmod.training.retrain.pipeline import resolved

    with pytest.raises(RetrainError, match="--precision is 'fp16'; use one of auto, fp32, bf16"):
        options(tmp_path, precision="fp16")
    assert options(tmp_path).precision == "auto"  # the default
    monkeypatch.setattr(hardware, "read_cpuinfo", lambda path=hardware.CPUINFO: AMX)
    opts, runtime = resolved(options(tmp_path, device="cpu"))
    assert opts.precision == "bf16" and opts.device == "cpu"
    assert runtime["precision"] == {
        "requested": "auto",
        "used": "bf16",
        "reason": "CPU flags amx_bf16, avx512_bf16",
    }
    assert runtime["threads"]["threads"] == 1 and runtime["device"] == "cpu"
    assert resolved(options(tmp_path, device="cpu", precision="fp32"))[0].precision == "fp32"
    monkeypatch.setattr(hardware, "read_cpuinfo", lambda path=hardware.CPUINFO: PLAIN)
    assert resolved(options(tmp_path, device="cpu"))[0].precision == "fp32"
    with caplog.at_level(logging.WARNING):
        opts, runtime = resolved(options(tmp_path, device="cpu", precision="bf16"))
    assert opts.precision == "fp32" and "fell back to fp32" in runtime["precision"]["reason"]
    assert "fell back to fp32" in caplog.text


def test_features_are_float32_and_bf16_is_close_to_fp32(tiny_run_dir: Path) -> None:
    from tokenizers import Tokenizer

    from commentmod.training.fit.modeling import CommentClassifier

    model, _ = CommentClassifier.load(tiny_run_dir)
    tokenizer = Tokenizer.from_file(str(tiny_run_dir / "tokenizer.json"))
    rows = records(24)
    fp32 = encode_pooled(model, tokenizer, RULE, rows, batch_size=8, precision="fp32")
    assert fp32.features.dtype == np.float32 and fp32.n_rows == 24 and len(fp32.owner) >= 24
    with pytest.raises(ValueError, match="resolve it to fp32 or bf16 first"):
        encode_pooled(model, tokenizer, RULE, rows, precision="auto")
    if not hardware.cpu_bf16_flags(hardware.read_cpuinfo()):
        pytest.skip(
            "this CPU has no amx_bf16/avx512_bf16: bf16 autocast would be emulated (slow), not tested"
        )
    bf16 = encode_pooled(model, tokenizer, RULE, rows, batch_size=8, precision="bf16")
    assert bf16.features.dtype == np.float32 and bf16.features.shape == fp32.features.shape
    np.testing.assert_array_equal(bf16.owner, fp32.owner)
    assert not np.array_equal(bf16.features, fp32.features)  # autocast did run in bf16
    scale = float(np.abs(fp32.features).max())
    assert float(np.abs(bf16.features - fp32.features).max()) < 0.05 * scale
    cos = np.sum(bf16.features * fp32.features, 1) / (
        np.linalg.norm(bf16.features, axis=1) * np.linalg.norm(fp32.features, axis=1)
    )
    assert float(cos.min()) > 0.999


def test_cache_key_and_entries_follow_the_precision(tmp_path: Path) -> None:
    rows = records(5)
    keys = {set_key("enc", RULE, False, p, rows) for p in ("fp32", "bf16")}
    assert len(keys) == 2
    assert set_key("enc", RULE, False, "fp32", rows) == set_key("enc", RULE, False, "fp32", list(rows))
    encoder = torch.nn.Linear(2, 2)
    cache = FeatureCache(tmp_path / "cache")
    calls: list[str] = []

    def compute(tag: str) -> Pooled:
        calls.append(tag)
        return Pooled(np.full((5, 3), len(calls), np.float32), np.arange(5, dtype=np.int64), 5)

    first = cache.pooled(encoder, RULE, False, "fp32", rows, lambda: compute("fp32"))
    cache.pooled(encoder, RULE, False, "bf16", rows, lambda: compute("bf16"))
    again = cache.pooled(encoder, RULE, False, "fp32", rows, lambda: compute("again"))
    assert calls == ["fp32", "bf16"] and (cache.hits, cache.misses) == (1, 2)
    np.testing.assert_array_equal(again.features, first.features)
    assert again.features.dtype == np.float32
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    stats = cache.stats()
    assert stats["encoded_rows"] == 10 and stats["encoded_windows"] == 10 and stats["hits"] == 1
    uncached = FeatureCache(None)
    uncached.pooled(encoder, RULE, False, "fp32", rows, lambda: compute("x"))
    assert uncached.stats()["encoded_rows"] == 5 and uncached.stats()["misses"] == 0


def test_precision_flag_is_checked_by_the_cli(tmp_path: Path) -> None:
    from commentmod.serving.cli import main

    args = ["retrain", "--from", str(tmp_path), "--labels", str(tmp_path / "l"), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--precision", "fp16"])
    assert exc.value.code == 2
