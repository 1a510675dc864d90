"""Tests for netgpt_lite.edge.scoring: AUROC, ECE, calibration maps (monotone, invertible) and the learned scorer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.edge.scoring import (
    IsotonicCalibration,
    LearnedScorer,
    PlattCalibration,
    auroc,
    expected_calibration_error,
    reliability_table,
    score_report,
)

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
    g = IsotonicCalibration().fit(s, y)
    grid = np.linspace(-0.5, 1.5, 401)
    probs = g.predict(grid)
    assert np.all(np.diff(probs) >= -1e-12) and np.all((probs >= 0) & (probs <= 1))
    for target in (0.25, 0.5, 0.75):
        tau = g.inverse(target)
        if np.isfinite(tau):
            assert g.predict([tau])[0] >= target - 1e-9
            assert np.all(g.predict(grid[grid < tau - 1e-9]) < target)
        elif tau == np.inf:
            assert probs.max() < target
        else:
            assert probs.min() >= target


@settings(max_examples=40)
@given(scores_and_labels)
def test_platt_map_is_monotone_and_inverts_exactly(data):
    s, y = data
    g = PlattCalibration().fit(s, y)
    probs = g.predict(np.linspace(0, 1, 101))
    assert np.all(np.diff(probs) >= 0) if g.a > 0 else np.all(np.diff(probs) <= 0)
    if g.a > 1e-3:
        for target in (0.2, 0.5, 0.8):
            assert g.predict([g.inverse(target)])[0] == pytest.approx(target, abs=1e-9)


def test_platt_recovers_slope_and_intercept_of_a_logistic_truth():
    rng = np.random.default_rng(1)
    s = rng.random(40_000)
    y = rng.random(s.size) < 1 / (1 + np.exp(-(6.0 * s - 3.0)))
    g = PlattCalibration().fit(s, y)
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

    agent = EdgeAgent.from_pretrained(device="cpu")
    test = generate_tasks("validation", 80, seed=11)
    report = score_report(agent, test, agent.run(test), generate_tasks("train", 100, seed=11),
                          generate_tasks("validation", 60, seed=12), seed=0)  # fmt: skip
    m = report.metrics
    assert m["label_source"] == "cloud" and 0.05 < m["test_exact_match"] < 0.95
    assert m["scores"]["self_mean"]["auroc"] > 0.65 and m["scores"]["learned"]["auroc"] > 0.6
    assert m["scores"]["self_mean"]["ece_isotonic"] < 0.3
    assert set(report.calibrations) == {"self_mean", "self_min", "learned"}
