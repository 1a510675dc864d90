"""Tests for netgpt_lite.edge.scoring: AUROC, ECE, calibration maps (monotone, invertible) and the learned scorer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.edge.scoring import (
    IsotonicCalibration,
    LearnedScorer,
    auroc,
    expected_calibration_error,
    reliability_table,
    score_report,
)
from netgpt_lite.theory.threshold import MIN_SLOPE, LogisticCalibration

scores_and_labels = st.integers(min_value=0, max_value=2**31 - 1).map(
    lambda seed: (
        np.random.default_rng(seed).random(60),
        np.r_[0, 1, (np.random.default_rng(seed + 1).random(58) < 0.5).astype(int)],
    )
)


def test_auroc_perfect_reversed_and_undefined():
    s, y = np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 0, 1, 1])
    assert auroc(s, y) == 1.0 and auroc(-s, y) == 0.0 and auroc(np.ones(4), y) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        auroc(s, np.ones(4))


def test_ece_of_perfectly_calibrated_probabilities_is_near_zero():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    assert expected_calibration_error(p, rng.random(p.size) < p) < 0.01


def test_ece_crafted_cases():
    assert expected_calibration_error([0.9] * 10, [1] * 9 + [0]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [0] * 4) == pytest.approx(1.0)
    # two bins: |0.3 - 0.5| weighted 1/2, |0.95 - 1| weighted 1/2
    assert expected_calibration_error([0.3, 0.3, 0.95, 0.95], [0, 1, 1, 1]) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="probs"):
        expected_calibration_error([1.5], [1])
    table = reliability_table([0.3, 0.3, 0.95, 0.95], [0, 1, 1, 1])
    assert list(table["count"]) == [2, 2] and list(table["accuracy"]) == [0.5, 1.0]


@settings(max_examples=40)
@given(scores_and_labels)
def test_isotonic_map_is_monotone_bounded_and_inverse_is_its_threshold(data):
    s, y = data
    g = IsotonicCalibration.fit(s, y)
    grid = np.linspace(-0.5, 1.5, 401)
    probs = g(grid)
    assert np.all(np.diff(probs) >= -1e-12) and np.all((probs >= 0) & (probs <= 1))
    for target in (0.25, 0.5, 0.75):
        tau = g.inverse(target)
        if np.isfinite(tau):
            assert g(tau) >= target - 1e-9
            assert np.all(g(grid[grid < tau - 1e-9]) < target)
        elif tau == np.inf:
            assert probs.max() < target
        else:
            assert probs.min() >= target


@settings(max_examples=40)
@given(scores_and_labels)
def test_platt_map_is_increasing_and_inverts_exactly(data):
    s, y = data  # random labels: the score often does not rank, and the fit's slope is then floored
    g = LogisticCalibration.fit(s, y)
    probs = g(np.linspace(0, 1, 101))
    assert g.a >= MIN_SLOPE and np.all(np.diff(probs) > 0)
    for target in (0.2, 0.5, 0.8):
        assert float(g(g.inverse(target))) == pytest.approx(target, abs=1e-9)


@pytest.mark.parametrize("calibration", [IsotonicCalibration, LogisticCalibration])
def test_calibration_maps_share_one_interface(calibration):
    """Both maps: ``fit(scores, labels)`` classmethod, ``g(scores)`` keeps the shape, ``inverse`` undoes it."""
    rng = np.random.default_rng(3)
    s = rng.random(500)
    g = calibration.fit(s, rng.random(500) < s)
    probs = g(np.linspace(0, 1, 12).reshape(3, 4))
    assert probs.shape == (3, 4) and np.all(np.diff(probs.ravel()) >= 0) and np.all((probs >= 0) & (probs <= 1))
    tau = g.inverse(0.5)
    assert 0 < float(tau) < 1 and float(g(tau)) == pytest.approx(0.5, abs=1e-9)


def test_platt_recovers_slope_and_intercept_of_a_logistic_truth():
    rng = np.random.default_rng(1)
    s = rng.random(40_000)
    y = rng.random(s.size) < 1 / (1 + np.exp(-(6.0 * s - 3.0)))
    g = LogisticCalibration.fit(s, y)
    assert g.a == pytest.approx(6.0, rel=0.1) and g.b == pytest.approx(-3.0, rel=0.1)
    np.testing.assert_allclose(g.inverse(np.array([0.5])), [0.5], atol=0.03)


def test_learned_scorer_ranks_held_out_data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 8))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    scorer = LearnedScorer(seed=0).fit(x[:400], y[:400])
    assert auroc(scorer.predict(x[400:]), y[400:]) > 0.85
    with pytest.raises(ValueError, match="both classes"):
        LearnedScorer().fit(x[:10], np.ones(10))


def test_shipped_edge_scores_rank_right_above_wrong_on_held_out_tasks():
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.tasks.generate import generate_tasks

    agent = EdgeAgent.from_pretrained("tiny", device="cpu")
    test = generate_tasks("validation", 80, seed=11)
    report = score_report(agent, test, agent.run(test), generate_tasks("train", 100, seed=11),
                          generate_tasks("validation", 60, seed=12), seed=0)  # fmt: skip
    m = report.metrics
    assert m["label_source"] == "cloud" and 0.05 < m["test_exact_match"] < 0.95
    assert m["scores"]["self_mean"]["auroc"] > 0.65 and m["scores"]["learned"]["auroc"] > 0.6
    assert m["scores"]["self_mean"]["ece_isotonic"] < 0.3
    assert set(report.calibrations) == {"self_mean", "self_min", "learned"}
