"""Fine-tuning: config validation, masked loss, batching, the loop, checkpoint/resume, the CLI."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training import train as tr
from commentmod.training.config import ConfigError, config_from_dict, load_config
from commentmod.training.modeling import WEIGHTS_NAME, CommentClassifier, RunInfo

REPO = Path(__file__).resolve().parent.parent

CLEAN = [
    "Noua linie de tramvai din Cluj va fi gata anul viitor",
    "Primăria a anunțat lucrări pe strada principală",
    "The library will close on Sundays from next month",
    "Міська рада ухвалила новий бюджет на наступний рік",
    "Дякую за статтю, дуже корисно",
]
ABUSIVE = ["Ești un cretin, taci din gură", "Сдохни, тварь", "disgrace, idiot, resign"]


def _records(n: int, split: str, seed: int) -> list[CommentRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ab = i % 3 == 0
        text = rng.choice(ABUSIVE if ab else CLEAN) + " " + rng.choice(CLEAN).split()[0]
        labels = {
            "abusive": int(ab),
            "mocking": None if i % 2 else int(rng.random() < 0.3),  # half unknown
            "off_topic": None,  # never known: must be masked, never learnt as 0
        }
        source = "toy-a" if i % 2 else "toy-b"
        out.append(CommentRecord(id=f"{split}-{i}", text=text, source=source, licence="MIT", labels=labels))
    return out


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    from commentmod.training.dataset_build import to_dataset_dict

    out = tmp_path / "data"
    splits = {
        "train": _records(48, "train", 1),
        "validation": _records(24, "val", 2),
        "test": _records(6, "test", 3),
    }
    to_dataset_dict(splits).save_to_disk(str(out))
    info = {
        "sources": [
            {"name": "toy-a", "licence": "MIT", "weight": 1.0, "status": "used"},
            {"name": "toy-b", "licence": "CC-BY-NC-4.0", "weight": 2.0, "status": "used"},
        ]
    }
    (out / "build_info.json").write_text(json.dumps(info), encoding="utf-8")
    return out


def _cfg(base: Path, data: Path, **kw):
    raw = {
        "base_model": str(base),
        "data": {"dataset_dir": str(data)},
        "context": {"max_length": 48, "min_context_tokens": 4, "max_context_tokens": 16, "stride": 4},
        "batch_size": 8,
        "eval_batch_size": 16,
        "learning_rate": 1e-3,
        "head_lr": 1e-2,
        "epochs": 2,
        "num_threads": 1,
        "seed": 5,
        "device": "cpu",
    }
    raw.update(kw)
    return config_from_dict(raw)


# --- config ----------------------------------------------------------------------------------------


def test_config_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown key 'lr'; did you mean 'learning_rate'\?"):
        config_from_dict({"lr": 1e-4, "data": {"sources": ["starter"]}})
    with pytest.raises(
        ConfigError, match=r"unknown key 'data.dataset_dri'; did you mean 'data.dataset_dir'\?"
    ):
        config_from_dict({"data": {"dataset_dri": "x"}})


def test_config_type_and_range_errors_say_what_to_write():
    with pytest.raises(ConfigError) as err:
        config_from_dict(
            {
                "data": {"sources": "starter"},
                "batch_size": "sixteen",
                "freeze_word_embeddings": "yes",
                "threshold_mode": "f2",
            }
        )
    msg = str(err.value)
    assert "batch_size is 'sixteen' (str); write an integer, e.g. 16" in msg
    assert "freeze_word_embeddings is 'yes' (str); write true or false" in msg
    assert "threshold_mode is 'f2'; write 'f1' or 'precision'; did you mean 'f1'?" in msg
    with pytest.raises(ConfigError, match=r"warmup_ratio is 1.5; write a fraction in \[0, 1\)"):
        config_from_dict({"data": {"sources": ["starter"]}, "warmup_ratio": 1.5})
    with pytest.raises(ConfigError, match=r"pos_weight\.abusiv: unknown label; did you mean 'abusive'"):
        config_from_dict({"data": {"sources": ["starter"]}, "pos_weight": {"abusiv": 2.0}})
    with pytest.raises(ConfigError, match="data names no rows"):
        config_from_dict({})
    with pytest.raises(ConfigError, match="max_context_tokens"):
        config_from_dict({"data": {"sources": ["starter"]}, "context": {"max_length": 64}})


def test_config_reads_yaml_floats_and_defaults(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {sources: [starter]}\nlearning_rate: 5e-5\nepochs: 2.0\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.learning_rate == 5e-5
    assert cfg.epochs == 2
    assert cfg.data.sources == ("starter",)
    assert cfg.rule.max_length == 256
    assert cfg.to_dict()["data"]["sources"] == ["starter"]


@pytest.mark.parametrize("name", ["quick.yaml", "full.yaml"])
def test_repo_configs_are_valid(name: str):
    cfg = load_config(REPO / "configs" / name)
    assert cfg.base_model == "artifacts/base-e5"
    assert cfg.rule.max_length <= 256


# --- loss and batching -----------------------------------------------------------------------------


def test_masked_bce_ignores_unknown_labels():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.3, 0.7, -2.0]], requires_grad=True)
    targets = torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, 123.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    loss = tr.masked_bce(logits, targets, mask)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None
    assert logits.grad[0, 1] == 0.0 and logits.grad[1, 2] == 0.0
    assert (logits.grad[mask > 0] != 0).all()
    known = mask > 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    assert loss.item() == pytest.approx(expected.item())


def test_masked_bce_pos_weight_and_row_weights():
    logits = torch.zeros(2, 3)
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.ones(2, 3)
    base = tr.masked_bce(logits, targets, mask).item()
    weighted = tr.masked_bce(logits, targets, mask, pos_weight=torch.tensor([3.0, 1.0, 1.0])).item()
    assert weighted == pytest.approx(base * (2 * 3 + 4) / 6)
    rows = tr.masked_bce(logits, targets, mask, row_weights=torch.tensor([2.0, 0.0])).item()
    assert rows == pytest.approx(base)


def test_label_arrays_mask_none():
    rec = CommentRecord(id="1", text="x", source="s", licence="MIT", labels={"abusive": 0, "mocking": 1})
    y, m = tr.label_arrays([rec])
    assert y.tolist() == [[0.0, 1.0, 0.0]]
    assert m.tolist() == [[1.0, 1.0, 0.0]]


def test_length_grouped_batches_cover_each_example_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=203)
    for epoch in range(3):
        batches = tr.length_grouped_batches(lengths, 16, seed=7, epoch=epoch, group_factor=4)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(203))
        assert all(1 <= len(b) <= 16 for b in batches)
    again = tr.length_grouped_batches(lengths, 16, seed=7, epoch=1, group_factor=4)
    assert again == tr.length_grouped_batches(lengths, 16, seed=7, epoch=1, group_factor=4)
    assert again != tr.length_grouped_batches(lengths, 16, seed=7, epoch=2, group_factor=4)

    def padding(batches):
        return sum(len(b) * max(lengths[b]) - lengths[b].sum() for b in batches)

    shuffled = [list(rng.permutation(203)[i : i + 16]) for i in range(0, 203, 16)]
    assert padding(again) < padding(shuffled) / 2


def test_cap_train_rows_per_source_and_total():
    from commentmod.training.config import DataConfig

    recs = _records(40, "t", 0)
    recs.append(CommentRecord(id="nolabel", text="x", source="toy-a", licence="MIT"))
    capped = tr.cap_train_rows(recs, DataConfig(sources=("x",), source_caps={"toy-a": 5}), seed=1)
    assert sum(r.source == "toy-a" for r in capped) == 5
    assert sum(r.source == "toy-b" for r in capped) == 20
    assert all(r.id != "nolabel" for r in capped)
    total = tr.cap_train_rows(recs, DataConfig(sources=("x",), max_train_rows=7), seed=1)
    assert len(total) == 7
    assert total == tr.cap_train_rows(recs, DataConfig(sources=("x",), max_train_rows=7), seed=1)


def test_lr_schedule_warmup_then_decay():
    factors = [tr.lr_factor(s, 10, 2) for s in range(10)]
    assert factors[0] == 0.5 and factors[1] == 1.0
    assert factors[2] == 1.0 and factors[-1] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in itertools.pairwise(factors[1:]))


def test_plan_unfreeze_step_and_time_budget():
    from commentmod.training.config import DataConfig, TrainConfig

    cfg = TrainConfig(
        data=DataConfig(sources=("x",)),
        epochs=2,
        freeze_word_embeddings=True,
        unfreeze_embeddings_last_epoch=True,
    )
    plan = tr.make_plan(cfg, n_train=160)  # 10 steps per epoch
    assert (plan.steps_per_epoch, plan.total_steps, plan.unfreeze_step) == (10, 20, 10)
    short = tr.make_plan(cfg, n_train=160, total_override=14)
    assert (short.total_steps, short.unfreeze_step) == (14, 7)  # never later than half-way
    assert tr.make_plan(cfg, n_train=160, total_override=8).unfreeze_step == 0
    frozen = tr.make_plan(TrainConfig(data=DataConfig(sources=("x",)), freeze_word_embeddings=True), 160)
    assert frozen.unfreeze_step is None
    # 20 steps took 100 s (5 s/step); budget 200 s with 10% reserve -> 180 s -> 36 steps fit
    assert tr.fit_to_budget(plan, 20, 100.0, 5.0, 200.0) is None  # plan has 20 steps: fits
    long_plan = tr.make_plan(cfg, n_train=800)
    assert tr.fit_to_budget(long_plan, 20, 100.0, 5.0, 200.0) == 36


# --- the loop --------------------------------------------------------------------------------------


def _val_loss(model: CommentClassifier, data: tr.Encoded) -> float:
    logits = tr.window_logits(model, data.windows, 16, torch.device("cpu"))
    return float(tr.validation_metrics(logits, data.labels, data.mask)["loss"])


def test_training_reduces_loss_on_learnable_toy_set(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    from tokenizers import Tokenizer

    cfg = _cfg(tiny_base, dataset_dir, epochs=4, warmup_ratio=0.0)
    tok = Tokenizer.from_file(str(tiny_base / "tokenizer.json"))
    train = tr.encode_records(tok, tr.read_split(dataset_dir, "train"), cfg.rule)
    torch.manual_seed(0)
    model = CommentClassifier.from_base(tiny_base)
    before = _val_loss(model, train)
    state, plan, finished = tr.run_loop(model, cfg, train, train, tmp_path / "run", torch.device("cpu"))
    assert finished and state.step == plan.total_steps == 24
    assert _val_loss(model, train) < before * 0.8
    assert len(state.history) == 4  # one evaluation per epoch
    assert all(h["pr_auc"]["off_topic"] is None for h in state.history)


def test_train_end_to_end_writes_run_dir(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = tr.train(_cfg(tiny_base, dataset_dir, eval_every_steps=3), out)
    assert result.finished and result.info is not None
    model, info = CommentClassifier.load(out)
    assert isinstance(model, CommentClassifier)
    assert isinstance(info, RunInfo)
    assert set(info.thresholds) == set(LABELS)
    assert 0.0 < info.thresholds["abusive"] < 1.0
    assert info.thresholds["off_topic"] == 0.5  # never known in validation
    assert info.temperature["off_topic"] == 1.0
    assert {s["name"]: s["rows"] for s in info.data_sources} == {"toy-a": 24, "toy-b": 24}
    assert {s["name"]: s["commercial_ok"] for s in info.data_sources} == {"toy-a": True, "toy-b": False}
    assert info.training_config["batch_size"] == 8
    assert info.context_rule["max_length"] == 48
    assert info.extra["best_step"] in [h["step"] for h in info.extra["history"]]
    assert not (out / tr.STATE_DIR).exists()
    assert len((out / tr.LOG_NAME).read_text().splitlines()) == len(info.extra["history"])
    with pytest.raises(tr.TrainError, match="already holds a finished run"):
        tr.train(_cfg(tiny_base, dataset_dir), out, resume=True)


def test_not_empty_out_dir_is_refused(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(tr.TrainError, match="pass --resume"):
        tr.train(_cfg(tiny_base, dataset_dir), out)


def test_threshold_mode_precision(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    result = tr.train(
        _cfg(tiny_base, dataset_dir, threshold_mode="precision", target_precision=0.99, calibrate=False),
        tmp_path / "run",
    )
    assert result.info is not None
    assert result.info.temperature == {k: 1.0 for k in LABELS}
    report = result.info.extra["validation_calibration"]["abusive"]["threshold"]
    assert report["precision"] >= 0.99 or not report["reached_target"]


def test_resume_gives_the_same_weights(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    cfg = _cfg(
        tiny_base,
        dataset_dir,
        epochs=3,
        grad_accum=2,
        dropout=0.3,
        checkpoint_every_steps=2,
        eval_every_steps=3,
        freeze_word_embeddings=True,
        unfreeze_embeddings_last_epoch=True,
    )
    straight = tr.train(cfg, tmp_path / "a")
    part = tr.train(cfg, tmp_path / "b", stop_at_step=5)  # "killed" after step 5; last checkpoint at 4
    assert not part.finished
    assert (tmp_path / "b" / tr.STATE_DIR / tr.CHECKPOINT_DIR / "optimizer.safetensors").is_file()
    with pytest.raises(tr.TrainError, match="config differs"):
        tr.train(
            _cfg(tiny_base, dataset_dir, epochs=4, checkpoint_every_steps=2), tmp_path / "b", resume=True
        )
    resumed = tr.train(cfg, tmp_path / "b", resume=True)
    assert resumed.finished and straight.info is not None and resumed.info is not None
    a = load_file(str(tmp_path / "a" / WEIGHTS_NAME))
    b = load_file(str(tmp_path / "b" / WEIGHTS_NAME))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert straight.info.thresholds == resumed.info.thresholds
    assert straight.state.best_step == resumed.state.best_step


def test_sparse_embedding_unfreeze_last_epoch(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    from tokenizers import Tokenizer

    cfg = _cfg(
        tiny_base, dataset_dir, epochs=2, freeze_word_embeddings=True, unfreeze_embeddings_last_epoch=True
    )
    tok = Tokenizer.from_file(str(tiny_base / "tokenizer.json"))
    train = tr.encode_records(tok, tr.read_split(dataset_dir, "train"), cfg.rule)
    torch.manual_seed(0)
    model = CommentClassifier.from_base(tiny_base)
    emb = tr.word_embeddings(model)
    start = emb.weight.detach().clone()
    seen_sparse: list[bool] = []

    def after_step(step: int, total: int, loss: float) -> None:
        if step == 6:  # end of epoch 0: embeddings still frozen
            assert torch.equal(emb.weight.detach(), start)
        seen_sparse.append(emb.sparse)

    state, plan, _ = tr.run_loop(
        model, cfg, train, train, tmp_path / "run", torch.device("cpu"), on_step=after_step
    )
    assert plan.unfreeze_step == 6 and state.step == 12
    assert all(seen_sparse)
    used = sorted({t for ws in train.windows for w in ws for t in w} - {1})  # the pad row never moves
    unused = sorted(set(range(emb.num_embeddings)) - set(used))
    changed = (emb.weight.detach() != start).any(dim=1)
    assert changed[used].all()
    assert not changed[unused].any()


def test_time_budget_stops_the_run(tiny_base: Path, dataset_dir: Path, tmp_path: Path):
    cfg = _cfg(tiny_base, dataset_dir, epochs=50, max_train_minutes=1e-5)
    result = tr.train(cfg, tmp_path / "run")
    assert result.finished and result.info is not None
    assert result.info.extra["out_of_time"]
    assert result.state.step < 50 * 6
    assert result.info.extra["history"]  # evaluated before stopping


def test_cli_train(tiny_base: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from commentmod.model.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {sources: [starter]}\n"
        "context: {max_length: 48, min_context_tokens: 4, max_context_tokens: 16, stride: 4}\n"
        "batch_size: 8\nepochs: 1\nnum_threads: 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    argv = ["train", "--config", str(config), "--out", str(out), "--base", str(tiny_base)]
    rc = main([*argv, "--data", str(dataset_dir), "--max-steps", "2", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "abusive" in printed and "s/step" in printed
    info = RunInfo.load(out)
    assert info.extra["steps"] == 2
    assert info.training_config["max_steps"] == 2
    assert info.training_config["data"]["dataset_dir"] == str(dataset_dir)
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\ndata: {sources: [starter]}\n", encoding="utf-8")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r2")]) == 2
    assert "did you mean 'learning_rate'" in capsys.readouterr().err
