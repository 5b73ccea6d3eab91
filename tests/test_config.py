"""The training config (pydantic models) and the one context rule it, run dirs and manifests share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commentmod.model.inputs import ContextRule, RuleFieldError
from commentmod.training.fit.config import (
    ConfigError,
    ContextConfig,
    DataConfig,
    TrainConfig,
    config_from_dict,
    load_config,
    with_changes,
    with_dataset_dir,
    with_overrides,
)

REPO = Path(__file__).resolve().parents[1]
ROWS = {"data": {"sources": ["starter"]}}


def _error(data: dict, origin: str = "c.yaml") -> str:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, origin=origin)
    return str(err.value)


@pytest.mark.parametrize("name", ["demo.yaml", "quick.yaml", "full.yaml", "gpu.yaml"])
def test_repo_configs_load_and_round_trip(name: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert isinstance(cfg.rule, ContextRule)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_unknown_keys_name_the_path_and_the_valid_keys() -> None:
    assert _error({**ROWS, "context": {"max_len": 64}}) == (
        "c.yaml: unknown key 'context.max_len'; did you mean 'context.max_length'?"
    )
    msg = _error({**ROWS, "zzz": 1})
    assert msg.startswith("c.yaml: unknown key 'zzz'; valid keys: base_model, data, context, ")


def test_wrong_types_name_the_field_what_to_write_and_what_it_is() -> None:
    msg = _error({**ROWS, "max_steps": "many", "context": {"stride": True}})
    lines = msg.splitlines()
    assert "c.yaml: context.stride is True (bool); write an integer, e.g. 32 (tokens shared" in lines[0]
    assert lines[1].startswith(
        "c.yaml: max_steps is 'many' (str); write an integer or null (cap on optimizer"
    )
    assert _error({"data": {"sources": ["a", 3]}}) == "c.yaml: data.sources[1] is 3 (int); write a string"
    assert _error({"data": "x"}).startswith("c.yaml: data is 'x' (str); write a mapping")


def test_value_ranges_say_what_is_allowed() -> None:
    msg = _error({"data": {"sources": ["a"], "source_caps": {"a": -1}}, "dropout": 1.0})
    assert "c.yaml: data.source_caps.a is -1; write a row count >= 0" in msg
    assert "c.yaml: dropout is 1.0; write a fraction in [0, 1), e.g. 0.1" in msg
    assert "learning_rate is 0.5; write a number in (0, 0.1]" in _error({**ROWS, "learning_rate": 0.5})
    assert "label_weights.spam: unknown label; labels are" in _error({**ROWS, "label_weights": {"spam": 1}})


def test_cross_field_rules() -> None:
    msg = _error({**ROWS, "unfreeze_embeddings_last_epoch": True})
    assert msg.startswith(
        "c.yaml: unfreeze_embeddings_last_epoch is true but freeze_word_embeddings is false"
    )
    msg = _error({"data": {"dataset_dir": "d", "sources": ["a"]}})
    assert msg.startswith("c.yaml: data has both dataset_dir and catalog/sources")
    msg = _error({**ROWS, "context": {"max_length": 64}})
    assert msg == (
        "c.yaml: context: max_context_tokens=128 leaves too little room for the comment; "
        "use at most max_length // 2 = 32"
    )


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("data: {sources: [starter]}\nbatch_size: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: batch_size is 0; write an integer > 0, e\.g\. 16"):
        load_config(path)
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"does not exist; pass e\.g\. --config configs/quick\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_copies_are_validated_again() -> None:
    cfg = config_from_dict({**ROWS, "max_train_minutes": 3})
    assert with_overrides(cfg, epochs=5, max_steps=None).epochs == 5
    assert with_changes(cfg, max_train_minutes=None).max_train_minutes is None
    with pytest.raises(ConfigError, match=r"^override: epochs is 0; write an integer > 0"):
        with_overrides(cfg, epochs=0)
    moved = with_dataset_dir(cfg, "out/data")
    assert (moved.data.dataset_dir, moved.data.sources, moved.data.catalog) == ("out/data", (), None)
    with pytest.raises(Exception, match="frozen"):
        cfg.epochs = 2


def test_every_field_is_documented() -> None:
    for model in (TrainConfig, DataConfig, ContextConfig):
        undocumented = [name for name, f in model.model_fields.items() if not f.description]
        assert not undocumented, (model.__name__, undocumented)


def test_context_section_defaults_are_the_rule_defaults() -> None:
    assert ContextConfig().rule() == ContextRule()


def test_context_rule_from_dict_checks_types_and_layout() -> None:
    rule = ContextRule(max_length=64, max_context_tokens=16, min_context_tokens=8, stride=8)
    assert ContextRule.from_dict({**rule.to_dict(), "added_later": 1}) == rule
    with pytest.raises(RuleFieldError, match=r"^max_length is a str '64', expected an integer") as err:
        ContextRule.from_dict({"max_length": "64"})
    assert err.value.field == "max_length"
    with pytest.raises(RuleFieldError, match="title_separator"):
        ContextRule.from_dict({"title_separator": 1})
    with pytest.raises(ValueError, match="max_length is 8; use at least 16"):
        ContextRule.from_dict({"max_length": 8})


def test_run_info_holds_a_rule_and_reads_old_files(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from commentmod.training.fit.modeling import RUN_INFO_NAME, RunDirError, RunInfo

    rule = ContextRule(max_length=96, max_context_tokens=40, min_context_tokens=16, stride=16)
    RunInfo(context_rule=rule).save(tmp_path)
    stored = json.loads((tmp_path / RUN_INFO_NAME).read_text(encoding="utf-8"))
    assert stored["context_rule"] == rule.to_dict()
    assert RunInfo.load(tmp_path).context_rule == rule
    # the keys a run info file has always had (written before RunInfo held a ContextRule)
    written = {
        "max_length": 128,
        "min_context_tokens": 16,
        "max_context_tokens": 48,
        "stride": 16,
        "article_text_chars": 600,
        "title_separator": "\n",
    }
    old = {"labels": ["abusive", "mocking", "off_topic"], "context_rule": written, "thresholds": {}}
    (tmp_path / RUN_INFO_NAME).write_text(json.dumps(old), encoding="utf-8")
    assert RunInfo.load(tmp_path).context_rule == ContextRule(**written)
    (tmp_path / RUN_INFO_NAME).write_text(json.dumps({"context_rule": {"stride": "8"}}), encoding="utf-8")
    with pytest.raises(RunDirError, match=r"context_rule\.stride is a str '8', expected an integer"):
        RunInfo.load(tmp_path)
