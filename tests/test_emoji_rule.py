"""Whether the transformer reads emoji (ContextRule.strip_emoji), decided when the stacker is fitted."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commentmod.model.inputs import ContextRule
from commentmod.serving.hybrid import HybridSpec, LabelStack
from commentmod.training.fit.emoji_rule import choose_emoji_rule, decide, shipped_cv

LABELS = ("abusive", "mocking", "off_topic")


def spec(cv: dict[str, float]) -> HybridSpec:
    per = {
        k: LabelStack("blend", 1.0, 1.0, 0.0, validation={"cv_pr_auc": {"blend": v}}) for k, v in cv.items()
    }
    return HybridSpec(LABELS, per)


def test_decide_prefers_invariance_unless_it_costs() -> None:
    keep = {"abusive": 0.90, "mocking": 0.60, "off_topic": 0.50}
    assert decide("auto", keep, {"abusive": 0.899, "mocking": 0.61, "off_topic": 0.50}, 0.005)[0] is True
    strip, why = decide("auto", keep, {"abusive": 0.88, "mocking": 0.65, "off_topic": 0.50}, 0.005)
    assert strip is False and "abusive" in why and "0.0200" in why
    assert decide("strip", {}, {}, 0.005) == (True, "strip asked for")
    assert decide("keep", keep, keep, 0.005)[0] is False
    with pytest.raises(ValueError, match="write one of keep, strip, auto"):
        decide("maybe", {}, {}, 0.0)
    assert shipped_cv(spec(keep)) == keep


@dataclass
class _Info:
    context_rule: ContextRule = field(default_factory=ContextRule)


@dataclass
class _Run:
    info: _Info = field(default_factory=_Info)


def test_only_emoji_rows_are_scored_again_and_the_rule_switches() -> None:
    items = [("plain words", None, None), ("great plan 🙄", "Budget", None), ("nice 👏", None, None)]
    logits = np.zeros((3, 3))
    scored: list[Any] = []

    def score(rule: ContextRule, rows: list[Any]) -> np.ndarray:
        scored.append((rule.strip_emoji, [r[0] for r in rows]))
        return np.ones((len(rows), 3))

    def fit(lt: np.ndarray) -> HybridSpec:  # the stripped logits validate a little better
        return spec(dict.fromkeys(LABELS, 0.5 + 0.01 * float(lt.sum() > 0)))

    run = _Run()
    lt, decision, fitted = choose_emoji_rule(run, items, logits, fit, "auto", score)
    assert scored == [(True, ["great plan 🙄", "nice 👏"])]
    assert lt[0].tolist() == [0, 0, 0] and lt[1:].tolist() == [[1, 1, 1]] * 2
    assert decision.strip and decision.emoji_rows == 2 and run.info.context_rule.strip_emoji
    assert json.loads(json.dumps(decision.to_dict()))["cv_strip"]["mocking"] == pytest.approx(0.51)
    assert fitted is not None and shipped_cv(fitted)["mocking"] == pytest.approx(0.51)  # no refit needed

    def worse(lt: np.ndarray) -> HybridSpec:
        return spec(dict.fromkeys(LABELS, 0.5 - 0.1 * float(lt.sum() > 0)))

    run = _Run()
    lt, decision, fitted = choose_emoji_rule(run, items, logits, worse, "auto", score)
    assert not decision.strip and not run.info.context_rule.strip_emoji and not lt.any()
    assert fitted is not None and shipped_cv(fitted)["mocking"] == pytest.approx(0.5)  # the kept side's
    _, decision, fitted = choose_emoji_rule(_Run(), items[:1], logits[:1], fit, "auto", score)
    assert not decision.strip and "no validation row has an emoji" in decision.why and fitted is None


def test_a_run_that_strips_emoji_is_served_without_them(tiny_run_dir: Path, tmp_path: Path) -> None:
    """The rule travels run info -> manifest -> Scorer: a comment scores the same with or without emoji."""
    from commentmod.serving.scorer import Scorer
    from commentmod.training.export.artifact import ExportOptions, export_artifact
    from commentmod.training.fit.modeling import RunInfo

    run = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    info = RunInfo.load(run)
    info.context_rule = ContextRule.from_dict({**info.context_rule.to_dict(), "strip_emoji": True})
    info.save(run)
    art = tmp_path / "art"
    export_artifact(run, art, ExportOptions(int8=False, hybrid=False, openvino_plans=False, name="strip"))
    scorer = Scorer.load(art)
    assert scorer.rule.strip_emoji
    probs = scorer.probabilities(
        [("Brilliant plan, truly 🙄👏", None, None), ("Brilliant plan, truly", None, None)]
    )
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    shutil.rmtree(art)
    info.context_rule = ContextRule.from_dict({**info.context_rule.to_dict(), "strip_emoji": False})
    info.save(run)
    export_artifact(run, art, ExportOptions(int8=False, hybrid=False, openvino_plans=False, name="keep"))
    probs = Scorer.load(art).probabilities(
        [("Brilliant plan, truly 🙄👏", None, None), ("Brilliant plan, truly", None, None)]
    )
    assert not np.allclose(probs[0], probs[1], atol=1e-6)
