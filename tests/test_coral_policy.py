"""The Coral policy (YAML -> decision) and the settings loader (secret file, policy file, story store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from coral_contract import NEW_SECRET, OLD_SECRET

from commentmod.model.yamlfile import YamlFileError, load_yaml_mapping
from commentmod.serving.coral import CoralSettings, load_coral_settings
from commentmod.serving.coral_policy import (
    DEFAULT_POLICY,
    CoralPolicy,
    CoralPolicyError,
    coral_answer,
    decide,
    load_policy,
)
from commentmod.serving.coral_signature import CoralSecretError, verify
from commentmod.serving.result import Result, not_scored
from commentmod.serving.stories import StoryStore, StoryStoreError

REPO = Path(__file__).resolve().parent.parent


def result(abusive: float, mocking: float, off_topic: float, threshold: float = 0.5) -> Result:
    scores = {"abusive": abusive, "mocking": mocking, "off_topic": off_topic}
    flags = {k: v >= threshold for k, v in scores.items()}
    return Result(None, scores, flags, any(flags.values()))


def policy(**labels: list[dict[str, object]]) -> CoralPolicy:
    reasons = {"abusive": "COMMENT_DETECTED_TOXIC", "mocking": "COMMENT_DETECTED_TOXIC"}
    return CoralPolicy.model_validate(
        {
            "labels": {
                name: {
                    "reason": reasons.get(name, "COMMENT_DETECTED_SPAM"),
                    "rejection_code": "ABUSIVE" if name == "abusive" else "IRRELEVANT_CONTENT",
                    "rules": rules,
                }
                for name, rules in labels.items()
            }
        }
    )


def test_shipped_config_is_the_default_policy() -> None:
    shipped = load_policy(REPO / "configs" / "coral-policy.yaml")
    assert shipped == DEFAULT_POLICY
    assert not DEFAULT_POLICY.rejects()
    assert load_policy(None) is DEFAULT_POLICY


def test_strongest_rule_and_label_wins() -> None:
    p = policy(
        abusive=[
            {"at": "model", "action": "flag"},
            {"at": 0.8, "action": "withhold"},
            {"at": 0.95, "action": "reject"},
        ],
        off_topic=[{"at": 0.6, "action": "flag"}],
    )
    assert decide(result(0.1, 0.1, 0.1), p).action == "none"
    assert decide(result(0.55, 0.1, 0.1), p).action == "flag"
    assert decide(result(0.85, 0.1, 0.1), p).action == "withhold"
    d = decide(result(0.96, 0.1, 0.7), p)
    assert (d.action, d.rejection_code, d.reasons) == (
        "reject",
        "ABUSIVE",
        ("COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"),
    )
    # 'model' follows the artifact's own flag, not a number
    assert decide(result(0.3, 0.1, 0.1, threshold=0.25), p).action == "flag"
    # rule order in the file does not matter
    reordered = policy(abusive=[{"at": 0.95, "action": "reject"}, {"at": "model", "action": "flag"}])
    assert decide(result(0.99, 0, 0), reordered).action == "reject"


def test_not_judged_labels_never_act() -> None:
    p = policy(off_topic=[{"at": 0.1, "action": "reject"}], abusive=[{"at": "model", "action": "flag"}])
    d = decide(result(0.0, 0.0, 1.0), p, not_judged=("off_topic",))
    assert d.action == "none"
    assert d.not_judged == ("off_topic",)
    assert "off_topic" not in dict(d.labels)
    assert decide(result(0.9, 0.0, 1.0), p, not_judged=("off_topic",)).reasons == ("COMMENT_DETECTED_TOXIC",)


def test_not_scored_is_no_opinion() -> None:
    assert decide(not_scored(None, "error", "bad"), DEFAULT_POLICY).action == "none"
    assert coral_answer(decide(not_scored(None, "empty"), DEFAULT_POLICY)) is None


def test_answers_never_say_status_none() -> None:
    p = policy(
        abusive=[
            {"at": 0.1, "action": "flag"},
            {"at": 0.5, "action": "withhold"},
            {"at": 0.9, "action": "reject"},
        ]
    )
    statuses = set()
    for a in (0.0, 0.2, 0.6, 0.95):
        answer = coral_answer(decide(result(a, 0, 0), p))
        statuses.add(None if answer is None else answer.get("status"))
    assert statuses == {None, "SYSTEM_WITHHELD", "REJECTED"}


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("labels: {toxic: {reason: COMMENT_DETECTED_TOXIC}}", "unknown label"),
        (
            "labels: {abusive: {reason: COMMENT_DETECTED_TOXIC, rules: [{at: 1.5, action: flag}]}}",
            "labels.abusive.rules.0.at",
        ),
        ("labels: {abusive: {reason: COMMENT_DETECTED_TOXIC, rules: [{at: 0.5, action: ban}]}}", "action"),
        ("labels: {abusive: {reason: COMMENT_DETECTED_LINKS}}", "reason"),
        ("labels: {abusive: {reason: COMMENT_DETECTED_TOXIC, rejection_code: RUDE}}", "rejection_code"),
        ("labels: {abusive: {reason: COMMENT_DETECTED_TOXIC, treshold: 0.5}}", "treshold"),
        ("version: 2", "version"),
    ],
)
def test_bad_policy_is_named(tmp_path: Path, yaml_text: str, named: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(CoralPolicyError, match=named):
        load_policy(path)


def test_policy_file_not_yaml_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("labels: [unclosed", encoding="utf-8")
    with pytest.raises(YamlFileError, match="not valid YAML"):
        load_policy(path)
    with pytest.raises(YamlFileError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")


def test_load_settings_rotation_and_errors(tmp_path: Path) -> None:
    secret_file = tmp_path / "coral.secret"
    secret_file.write_text(
        f"# old, until Friday\n{OLD_SECRET.decode()}\n\n  {NEW_SECRET.decode()}  \r\n", encoding="utf-8"
    )
    StoryStore(tmp_path / "stories.sqlite", create=True).close()
    settings = load_coral_settings(
        secret_file, REPO / "configs" / "coral-policy.yaml", tmp_path / "stories.sqlite"
    )
    assert settings.secrets == (OLD_SECRET, NEW_SECRET)
    assert settings.stories is not None and settings.stories.count() == 0
    assert OLD_SECRET.decode() not in repr(settings)
    assert verify(b"{}", "sha256=" + "0" * 64, settings.secrets) is False

    with pytest.raises(CoralSecretError, match="does not exist"):
        load_coral_settings(tmp_path / "missing.secret", None, None)
    (tmp_path / "empty.secret").write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(CoralSecretError, match="holds no secret"):
        load_coral_settings(tmp_path / "empty.secret", None, None)
    with pytest.raises(StoryStoreError, match="stories import"):
        load_coral_settings(secret_file, None, tmp_path / "missing.sqlite")
    with pytest.raises(CoralSecretError):
        CoralSettings(())
    assert load_yaml_mapping(REPO / "configs" / "coral-policy.yaml", "policy")["version"] == 1
