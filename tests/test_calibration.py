"""Per-label thresholds and temperature scaling (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from commentmod.model.numeric import sigmoid
from commentmod.training.fit import calibration as cal

Y = np.array([1, 1, 0, 1, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.2])


def test_pr_points_groups_ties():
    thr, precision, recall = cal.pr_points(np.array([1, 0, 1, 0]), np.array([0.8, 0.8, 0.5, 0.1]))
    assert thr.tolist() == [0.8, 0.5, 0.1]
    assert precision.tolist() == [0.5, 2 / 3, 0.5]
    assert recall.tolist() == [0.5, 1.0, 1.0]


def test_threshold_max_f1_hand_computed():
    choice = cal.threshold_max_f1(Y, P)
    # scores >= 0.6 (the top four): tp=3, fp=1 -> P=0.75, R=1, F1=6/7 (best); the threshold sits
    # half-way to the next lower score 0.2
    assert choice.threshold == pytest.approx(0.4)
    assert np.greater_equal(P, choice.threshold).tolist() == [True, True, True, True, False]
    assert choice.f1 == pytest.approx(6 / 7)
    assert choice.precision == pytest.approx(0.75)
    assert choice.recall == pytest.approx(1.0)


def test_threshold_max_f1_separable_is_perfect():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    choice = cal.threshold_max_f1(y, p)
    assert choice.f1 == 1.0
    assert choice.threshold == pytest.approx(0.5)


def test_threshold_for_precision_takes_most_recall():
    exact = cal.threshold_for_precision(Y, P, 1.0)
    assert exact.threshold == pytest.approx(0.75)  # between 0.8 (kept) and 0.7
    assert exact.precision == 1.0
    assert exact.recall == pytest.approx(2 / 3)
    assert exact.reached_target
    looser = cal.threshold_for_precision(Y, P, 0.75)
    assert looser.threshold == pytest.approx(0.4)
    assert looser.recall == 1.0


def test_threshold_for_precision_unreachable_falls_back_to_f1():
    y = np.array([0, 1, 0, 1])
    p = np.array([0.9, 0.5, 0.8, 0.4])
    choice = cal.threshold_for_precision(y, p, 0.95)
    assert not choice.reached_target
    assert choice.threshold == pytest.approx(cal.threshold_max_f1(y, p).threshold)


def test_threshold_without_positives_is_default():
    choice = cal.threshold_max_f1(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]))
    assert choice.threshold == cal.DEFAULT_THRESHOLD
    assert not choice.reached_target


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="only 0 and 1"):
        cal.threshold_max_f1(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="2 values but scores has 3"):
        cal.brier(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="target precision"):
        cal.threshold_for_precision(Y, P, 1.5)


def _overconfident(scale: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < sigmoid(true_logit)).astype(float)
    return y, true_logit * scale


def test_fit_temperature_recovers_scale():
    y, logits = _overconfident(3.0)
    t = cal.fit_temperature(y, logits)
    assert t == pytest.approx(3.0, rel=0.15)
    assert cal.bce_nll(y, logits, t) < cal.bce_nll(y, logits, 1.0)


def test_fit_temperature_calibrated_stays_near_one():
    y, logits = _overconfident(1.0)
    assert cal.fit_temperature(y, logits) == pytest.approx(1.0, rel=0.15)


def test_choose_temperature_keeps_only_if_brier_improves():
    y, logits = _overconfident(4.0)
    choice = cal.choose_temperature(y, logits)
    assert choice.kept
    assert choice.brier_after < choice.brier_before
    assert choice.ece_after < choice.ece_before
    assert choice.temperature > 2.0
    single = cal.choose_temperature(np.ones(5), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert single.temperature == 1.0
    assert not single.kept
    # a separable handful would push T to its bound: too few of a class -> T stays 1
    few = cal.choose_temperature(np.array([0.0] * 30 + [1.0] * 3), np.r_[np.full(30, -1.0), np.full(3, 1.0)])
    assert few.temperature == 1.0 and not few.kept
    bounded = cal.choose_temperature(
        np.r_[np.zeros(20), np.ones(20)], np.r_[np.full(20, -1.0), np.full(20, 1.0)]
    )
    assert bounded.temperature == pytest.approx(0.2, rel=1e-3)  # separable: at the lower bound, not 0.05


def test_brier_and_ece():
    y = np.array([0, 1, 1, 0])
    assert cal.brier(y, y.astype(float)) == 0.0
    assert cal.brier(y, np.full(4, 0.5)) == pytest.approx(0.25)
    assert cal.expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    assert cal.expected_calibration_error(y, np.array([1.0, 0.0, 0.0, 1.0])) == pytest.approx(1.0)


def test_calibration_metrics_on_empty_input_are_none():
    # no rows: undefined (None), never 0.0 (which would read as "perfectly calibrated")
    empty = np.array([], dtype=float)
    assert cal.brier(empty, empty) is None
    assert cal.expected_calibration_error(empty, empty) is None
    table = cal.reliability_table(empty, empty, 10)
    assert len(table) == 10 and all(r["count"] == 0 and r["fraction_positive"] is None for r in table)
    choice = cal.choose_temperature(empty, empty)
    assert choice.temperature == 1.0 and not choice.kept
    assert (choice.brier_before, choice.brier_after, choice.ece_before, choice.ece_after) == (None,) * 4


def test_reliability_table_and_ece_agree():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 0.85])
    table = cal.reliability_table(y, p, 10)
    assert [r["count"] for r in table] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert table[9]["mean_predicted"] == pytest.approx(0.95) and table[9]["fraction_positive"] == 1.0
    assert cal.expected_calibration_error(y, p, 10) == pytest.approx(0.1)
