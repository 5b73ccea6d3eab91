"""The hybrid stacker: model choice per label on synthetic arrays, thresholds, stacker.json, the CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from commentmod.model.numeric import logit as prob_logit
from commentmod.serving.hybrid import HybridSpec, stack_probs
from commentmod.training.fit.baseline import choose_threshold
from commentmod.training.fit.hybrid_fit import (
    STACKER_NAME,
    load_hybrid,
    sample_rows,
    save_hybrid,
    stale_reason,
)
from commentmod.training.fit.stacker import StackerError, fit_label, fit_stacker, make_lr, stacker_thresholds

LABELS = ("abusive", "mocking", "off_topic")


def _signals(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, two independent informative signals and pure noise, as columns of length ``n``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    s1 = 1.5 * y + rng.normal(size=n)
    s2 = 1.5 * y + rng.normal(size=n)
    noise = rng.normal(size=n)
    return y, s1, s2, noise


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_blend_when_both_carry_independent_signal() -> None:
    y, s1, s2, _ = _signals()
    stack = fit_label(2.0 * s1 - 1.0, _sigmoid(s2), y, seed=0)
    assert stack.mode == "blend"
    assert stack.coef_transformer > 0 and stack.coef_ngram > 0
    cv = stack.validation["cv_pr_auc"]
    assert cv["blend"] > max(cv["transformer"], cv["ngram"]) + 0.002
    assert stack.validation["n"] == 1200 and stack.validation["positives"] == int(y.sum())
    assert stack.why.startswith(f"blend CV PR-AUC {cv['blend']:.3f} > transformer {cv['transformer']:.3f}")
    assert "5-fold, 1,200 validation rows" in stack.why


def test_single_model_when_the_other_is_noise() -> None:
    y, s1, _, noise = _signals()
    t_only = fit_label(s1, _sigmoid(noise), y)
    assert t_only.mode == "transformer" and t_only.coef_ngram == 0.0 and t_only.coef_transformer > 0
    assert t_only.why.startswith("transformer CV PR-AUC")
    assert t_only.validation["cv_pr_auc"]["blend"] <= t_only.validation["cv_pr_auc"]["transformer"] + 0.002
    n_only = fit_label(noise, _sigmoid(s1), y)
    assert n_only.mode == "ngram" and n_only.coef_transformer == 0.0 and n_only.coef_ngram > 0
    assert n_only.why.startswith("n-gram CV PR-AUC")
    # a huge margin never blends, even with two good signals
    _, _, s2, _ = _signals()
    assert fit_label(s1, _sigmoid(s2), y, margin=1.0).mode in ("transformer", "ngram")


def test_a_label_judged_by_the_article_never_ships_the_ngram_model_alone() -> None:
    y, _s1, s2, noise = _signals()
    weak_t = noise  # the transformer carries no signal here, the n-gram model a lot
    free = fit_label(weak_t, _sigmoid(2.0 * s2), y)
    assert free.mode == "ngram"
    bound = fit_label(weak_t, _sigmoid(2.0 * s2), y, needs_context=True)
    assert bound.mode in ("blend", "transformer")
    assert "never reads the article" in bound.why
    spec = fit_stacker(
        np.column_stack([weak_t] * 3),
        np.column_stack([_sigmoid(2.0 * s2)] * 3),
        np.column_stack([y] * 3),
        LABELS,
    )
    assert spec.per_label["mocking"].mode == "ngram"
    assert spec.per_label["off_topic"].mode != "ngram"  # CONTEXT_LABELS


def test_the_ngram_model_alone_only_when_the_transformer_adds_nothing_even_in_a_blend() -> None:
    y, s1, s2, noise = _signals()
    useless_t = -0.3 * s1 + noise  # its blend weight comes out negative: no signal to keep
    stack = fit_label(useless_t, _sigmoid(2.0 * s2), y, needs_context=True)
    assert stack.mode == "ngram" and stack.coef_transformer == 0.0
    assert "transformer adds nothing even in a blend" in stack.why


def test_a_model_with_negative_weight_is_not_used() -> None:
    y, s1, s2, _ = _signals()
    # an inverted transformer ranks well in CV (LR flips its sign) but must not ship with a negative weight
    stack = fit_label(-3.0 * s1, _sigmoid(s2), y)
    assert stack.mode == "ngram" and stack.coef_transformer == 0.0 and stack.coef_ngram > 0
    assert "not used because a fitted weight is <= 0: blend, transformer" in stack.why
    assert stack.validation["cv_pr_auc"]["transformer"] > 0.6  # it was scored (base rate 0.3), then excluded
    both_inverted = fit_label(-s1, _sigmoid(-s2), y)
    assert (both_inverted.mode, both_inverted.coef_transformer, both_inverted.intercept) == (
        "transformer",
        1.0,
        0.0,
    )
    assert both_inverted.why.startswith("no option has positive fitted weights")


def test_deterministic_for_a_seed_and_nan_labels_excluded() -> None:
    y, s1, s2, _ = _signals()
    lt = np.stack([s1, s1, s1], axis=1)
    pn = np.stack([_sigmoid(s2)] * 3, axis=1)
    yy = np.stack([y, y, y], axis=1)
    yy[::3, 1] = np.nan
    a = fit_stacker(lt, pn, yy, LABELS, seed=3, fitted_on="synthetic")
    b = fit_stacker(lt, pn, yy, LABELS, seed=3, fitted_on="synthetic")
    assert a.to_dict() == b.to_dict() and a.fitted_on == "synthetic"
    assert a.per_label["mocking"].validation["n"] == 800  # a third of the rows is unknown
    with pytest.raises(StackerError, match="shape"):
        fit_stacker(lt, pn[:10], yy, LABELS)


def test_no_positives_and_no_ngram_model() -> None:
    y, s1, s2, _ = _signals()
    lt = np.stack([s1, s1, s1], axis=1)
    pn = np.stack([_sigmoid(s2)] * 3, axis=1)
    pn[:, 2] = np.nan  # no n-gram head for off_topic
    yy = np.stack([y, np.zeros_like(y), y], axis=1)  # mocking: no positives
    spec = fit_stacker(lt, pn, yy, LABELS)
    mocking = spec.per_label["mocking"]
    assert (mocking.mode, mocking.coef_transformer, mocking.coef_ngram, mocking.intercept) == (
        "transformer",
        1.0,
        0.0,
        0.0,
    )
    assert "0 positives" in mocking.why
    off = spec.per_label["off_topic"]
    assert off.mode == "transformer" and off.coef_ngram == 0.0 and off.coef_transformer > 0
    assert off.why.startswith("n-gram has no model") and off.validation["cv_pr_auc"]["ngram"] is None
    # the stacked scores never read the NaN column
    assert np.isfinite(stack_probs(lt, pn, spec)).all()
    one_positive = np.zeros(50)
    one_positive[0] = 1
    assert fit_label(np.zeros(50), np.full(50, 0.5), one_positive).coef_transformer == 1.0


def test_stack_probs_equals_sklearn_predict_proba() -> None:
    y, s1, s2, noise = _signals()
    lt = np.stack([s1, noise, s1], axis=1)
    pn = np.stack([_sigmoid(s2), _sigmoid(s1), _sigmoid(noise)], axis=1)
    yy = np.stack([y, y, y], axis=1)
    spec = fit_stacker(lt, pn, yy, LABELS)
    assert [spec.per_label[k].mode for k in LABELS] == ["blend", "ngram", "transformer"]
    got = stack_probs(lt, pn, spec)
    features = {
        "blend": lambda j: np.stack([lt[:, j], prob_logit(pn[:, j])], axis=1),
        "transformer": lambda j: lt[:, j : j + 1],
        "ngram": lambda j: prob_logit(pn[:, j])[:, None],
    }
    for j, name in enumerate(LABELS):
        x = features[spec.per_label[name].mode](j)
        expected = make_lr().fit(x, y.astype(int)).predict_proba(x)[:, 1]
        np.testing.assert_allclose(got[:, j], expected, atol=1e-6)


def test_thresholds_and_stacker_json_round_trip(tmp_path: Path) -> None:
    y, s1, s2, _ = _signals()
    lt = np.stack([s1, s1, s1], axis=1)
    pn = np.stack([_sigmoid(s2)] * 3, axis=1)
    yy = np.stack([y, y, np.zeros_like(y)], axis=1)
    spec = fit_stacker(lt, pn, yy, LABELS)
    thresholds = stacker_thresholds(spec, lt, pn, yy)
    stacked = stack_probs(lt, pn, spec)
    assert thresholds["abusive"] == pytest.approx(choose_threshold(y, stacked[:, 0]))
    assert thresholds["off_topic"] == 0.5  # no positives: nothing to choose
    strict = stacker_thresholds(spec, lt, pn, yy, mode="precision", target_precision=0.95)
    assert strict["abusive"] > thresholds["abusive"]
    path = save_hybrid(tmp_path, spec, thresholds, {"dataset": "x"})
    assert path == tmp_path / STACKER_NAME
    data = json.loads(path.read_text())
    assert set(data) == {"spec", "thresholds", "provenance"}
    assert HybridSpec.from_dict(data["spec"]) == spec
    spec2, thresholds2 = load_hybrid(tmp_path)
    assert spec2 == spec and thresholds2 == thresholds
    np.testing.assert_array_equal(stack_probs(lt, pn, spec2), stacked)
    with pytest.raises(StackerError, match="no threshold"):
        save_hybrid(tmp_path, spec, {"abusive": 0.5})
    path.write_text('{"spec": {"format": 99}, "thresholds": {}}')
    with pytest.raises(StackerError, match="malformed"):
        load_hybrid(tmp_path)
    with pytest.raises(StackerError, match="commentmod hybrid"):
        load_hybrid(tmp_path / "missing")


def test_sample_rows_is_a_seeded_random_sample() -> None:
    picked = sample_rows(1000, 100, seed=0)
    assert len(picked) == 100 and np.all(np.diff(picked) > 0)
    assert picked.max() > 500  # not the head of the split
    np.testing.assert_array_equal(picked, sample_rows(1000, 100, seed=0))
    np.testing.assert_array_equal(sample_rows(10, None), np.arange(10))
    np.testing.assert_array_equal(sample_rows(10, 50), np.arange(10))


# --------------------------------------------------------------------------- on a tiny run


def _records(n_rep: int, prefix: str) -> list:
    from commentmod.model.record import CommentRecord

    bad = ["ești un cretin ordinar", "taci idiotule", "you stupid moron", "shut up idiot"]
    good = ["primăria repară strada", "tramvaiul nou e gata", "the council met today", "nice article"]
    out = []
    for rep in range(n_rep):
        for i, text in enumerate(bad + good):
            out.append(
                CommentRecord(
                    id=f"{prefix}{rep}-{i}",
                    text=f"{text} {rep}",
                    source="src-ro" if i % 4 < 2 else "src-en",
                    licence="CC-BY-4.0",
                    lang="ro" if i % 4 < 2 else "en",
                    article_title="Știri locale" if i % 2 else None,
                    labels={"abusive": int(i < len(bad)), "mocking": i % 2, "off_topic": int(i == 7)},
                )
            )
    return out


@pytest.fixture
def tiny_hybrid_run(tiny_run_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    from commentmod.training.data.build_io import BuildResult, save_build

    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    # a synthetic off-topic pair in train: one comment under its own article and under a foreign one
    pair = [
        replace(r, id=f"pair-{k}", synthetic=True, labels={**r.labels, "off_topic": k})
        for k, r in enumerate(_records(1, "p")[4:6])
    ]
    train = [*_records(4, "a"), *pair]
    splits = {"train": train, "validation": _records(3, "v"), "test": _records(1, "t")}
    data_dir = save_build(BuildResult(splits=splits, info={"sources": []}), tmp_path / "data")
    return run_dir, data_dir


def test_commentmod_hybrid_cli(tiny_hybrid_run: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    from commentmod.serving.cli import main

    run_dir, data_dir = tiny_hybrid_run
    assert stale_reason(run_dir) is not None  # no stacker.json yet
    args = ["hybrid", "--model", str(run_dir), "--data", str(data_dir), "--device", "cpu"]
    assert main([*args, "--max-validation-rows", "20"]) == 0
    out = capsys.readouterr().out
    assert "stacker written to" in out and "abusive" in out
    assert (run_dir / "baseline" / "baseline.onnx").is_file()
    # the n-gram model (comment only) learns off_topic from the 32 real train rows, not the pair
    counts = json.loads((run_dir / "baseline" / "baseline.json").read_text())["train_counts"]
    assert counts["off_topic"] == {"positives": 4, "negatives": 28}
    meta = json.loads((run_dir / "baseline" / "baseline.json").read_text())
    assert meta["extra"]["synthetic_context_labels"] == "unknown"
    assert counts["abusive"]["positives"] + counts["abusive"]["negatives"] == 34
    saved = json.loads((run_dir / STACKER_NAME).read_text())
    assert saved["provenance"]["validation_rows"] == 20 and saved["provenance"]["dataset"] == str(data_dir)
    assert "seeded random sample of 24" in saved["spec"]["fitted_on"]
    spec, thresholds = load_hybrid(run_dir)
    assert set(thresholds) == set(LABELS) and spec.labels == LABELS
    assert stale_reason(run_dir) is None
    # retraining the n-gram model makes the stacker stale
    (run_dir / "baseline" / "baseline.onnx").write_bytes(b"changed")
    assert "n-gram" in (stale_reason(run_dir) or "")
