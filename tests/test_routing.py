"""Routing policies: one route path, monotone in score, calibrated, learned thresholds with the right shape."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.network.state import LatencyModel
from netgpt_lite.routing.context import RoutingContext, decide, route
from netgpt_lite.routing.funcdyn import FuncDyn
from netgpt_lite.routing.policies import (
    ALWAYS_CLOUD,
    AlwaysCloud,
    AlwaysEdge,
    CalibratedQuantile,
    Cascade,
    FixedThreshold,
    Oracle,
)
from netgpt_lite.routing.policy_net import PolicyNet
from netgpt_lite.routing.proposals import synthetic_table
from netgpt_lite.routing.simulator import (
    SimulationConfig,
    make_stream,
    outcomes,
    stream_context,
)
from netgpt_lite.theory.sweep import threshold_for_cloud_fraction, threshold_sweep
from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights, Workload, optimal_threshold

scores_st = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50)


def _funcdyn():
    return FuncDyn(LogisticCalibration(8.0, -4.0), 0.9, 40.0, 400.0, UtilityWeights(), LatencyModel())


@given(scores_st, st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10))
def test_sorted_count_agrees_with_route(scores, thresholds):
    counts = threshold_sweep(scores, thresholds)["n_fallback"]
    expected = [route(scores, t).sum() for t in thresholds]
    np.testing.assert_array_equal(counts, expected)


@settings(max_examples=40, deadline=None)
@given(scores_st, st.floats(0.1, 500.0), st.floats(5.0, 3000.0), st.floats(0.0, 1.0))
def test_every_policy_is_monotone_in_score(scores, bandwidth_mbps, rtt_ms, param):
    """Under one network state and price, a lower score never stays on the edge while a higher falls back."""
    ctx = RoutingContext.constant(np.array(scores), bandwidth_mbps, rtt_ms)
    policies = [AlwaysEdge(), AlwaysCloud(), FixedThreshold(param), CalibratedQuantile.fit(scores, param),
                _funcdyn()]
    s = ctx.scores
    for policy in policies:
        fallback = decide(policy, ctx)
        # any fallback score must be below any kept score
        if fallback.any() and (~fallback).any():
            assert s[fallback].max() < s[~fallback].min(), policy.name


def test_constant_policies():
    ctx = RoutingContext.constant(np.array([0.0, 0.5, 1.0]), 50.0, 40.0)
    assert not decide(AlwaysEdge(), ctx).any() and decide(AlwaysCloud(), ctx).all()
    np.testing.assert_array_equal(decide(FixedThreshold(0.5), ctx), [True, False, False])


def test_quantile_calibration_hits_target_on_held_out_scores():
    rng = np.random.default_rng(0)
    calibration, held_out = rng.beta(2, 1.5, 4000), rng.beta(2, 1.5, 4000)
    for target in (0.1, 0.3, 0.5, 0.8):
        pol = CalibratedQuantile.fit(calibration, target)
        ctx = RoutingContext.constant(held_out, 50.0, 40.0)
        frac = decide(pol, ctx).mean()
        sampling_sd = np.sqrt(target * (1 - target) * (1 / 4000 + 1 / 4000))
        assert abs(frac - target) < 4 * sampling_sd
        assert decide(pol, RoutingContext.constant(calibration, 50.0, 40.0)).mean() == pytest.approx(target, abs=1e-3)
    assert threshold_for_cloud_fraction([0.2, 0.4], 0.0) == 0.0
    assert threshold_for_cloud_fraction([0.2, 0.4], 1.0) == ALWAYS_CLOUD


def test_cascade_respects_budget_and_uses_more_of_a_larger_one():
    rng = np.random.default_rng(1)
    s = rng.random(500)
    edge = rng.random(500) < s
    cloud = rng.random(500) < 0.9
    cost = np.full(500, 0.004)
    successes = []
    for budget in (0.0, 0.001, 0.002, 0.004):
        pol = Cascade.fit(s, edge, cloud, cost, budget)
        fb = route(s, pol.threshold)
        assert (cost * fb).mean() <= budget + 1e-12
        successes.append(np.where(fb, cloud, edge).mean())
    assert successes == sorted(successes) and successes[-1] > successes[0]


def test_funcdyn_is_the_closed_form_and_moves_with_the_network():
    fd = _funcdyn()
    ctx = RoutingContext.constant(np.full(3, 0.5), 200.0, 20.0)
    expected = optimal_threshold(200.0, 20.0, 0.003, 0.015, calibration=fd.calibration, q_cloud=0.9,
                                 workload=Workload(3000.0, 400.0, 600.0, 40.0))
    np.testing.assert_allclose(fd.thresholds(ctx), expected)
    bw = np.geomspace(0.1, 500, 30)
    by_bw = fd.thresholds(RoutingContext.constant(np.full(30, 0.5), 50.0, 40.0).with_network(bw, 40.0))
    by_rtt = fd.thresholds(RoutingContext.constant(np.full(30, 0.5), 50.0, 40.0).with_network(50.0, bw * 5))
    assert (np.diff(by_bw) >= 0).all() and by_bw[-1] > by_bw[0]
    assert (np.diff(by_rtt) <= 0).all() and by_rtt[-1] < by_rtt[0]


def test_funcdyn_fit_recovers_a_logistic_calibration():
    rng = np.random.default_rng(2)
    s = rng.random(8000)
    edge = rng.random(8000) < LogisticCalibration(6.0, -3.0)(s)
    fd = FuncDyn.fit(s, edge, rng.random(8000) < 0.8, np.full(8000, 30.0), np.full(8000, 300.0),
                     UtilityWeights(), LatencyModel(), calibration="platt")
    assert fd.calibration.a == pytest.approx(6.0, rel=0.15) and fd.calibration.b == pytest.approx(-3.0, rel=0.15)
    assert fd.q_cloud == pytest.approx(0.8, abs=0.03) and fd.cloud_output_tokens == 30.0


def test_oracle_keeps_every_right_edge_answer():
    correct = np.array([True, False, True, False])
    good = RoutingContext.constant(np.array([0.1, 0.9, 0.5, 0.2]), 200.0, 20.0, edge_correct=correct)
    np.testing.assert_array_equal(decide(Oracle(_funcdyn()), good), ~correct)
    outage = good.with_network(0.05, 2500.0)  # the cloud is never worth it
    assert not decide(Oracle(_funcdyn()), outage).any()
    with pytest.raises(ValueError, match="edge_correct"):
        Oracle(_funcdyn()).thresholds(RoutingContext.constant(np.array([0.5]), 50.0, 40.0))


def test_invalid_parameters_name_the_field():
    for make, name in [(lambda: FixedThreshold(1.5), "threshold"),
                       (lambda: CalibratedQuantile.fit([0.1], 2.0), "cloud_fraction"),
                       (lambda: Cascade(-1.0, 0.5), "budget_usd_per_request"),
                       (lambda: FuncDyn(LogisticCalibration(), 1.2, 40.0, 400.0, UtilityWeights(), LatencyModel()),
                        "q_cloud"),
                       (lambda: PolicyNet(hidden=0), "hidden"), (lambda: PolicyNet(temperature=-1.0), "temperature"),
                       (lambda: RoutingContext.constant(np.array([0.5]), -1.0, 40.0), "bandwidth_mbps"),
                       (lambda: RoutingContext.constant(np.array([1.5]), 1.0, 40.0), "scores")]:
        with pytest.raises(ValueError, match=name):
            make()


def _training_logs(seed: int, n: int = 8000):
    table = synthetic_table(800, seed=seed)
    stream = make_stream(table, SimulationConfig(n_requests=n, regime="log_uniform", seed=seed))
    both = outcomes(table, stream)
    return stream_context(table, stream), both


@pytest.mark.slow  # three PolicyNets on 8,000 logs each: ~10 s on an idle core, more on a busy machine
def test_policynet_learns_a_threshold_that_rises_with_bandwidth_and_falls_with_rtt():
    """Trained on noisy 0/1 outcomes, one net's bandwidth effect (small: a few kB only matter below
    ~1 Mbps) is noisy, so the shape is checked on the mean of three nets fitted on independent logs."""
    probe = RoutingContext.constant(np.full(6, 0.5), 30.0, 60.0, n_input_tokens=1000.0)
    by_bw, by_rtt = np.zeros(6), np.zeros(6)
    for seed in (0, 1, 2):
        ctx, both = _training_logs(seed)
        net = PolicyNet(seed=0).fit(ctx, both["edge_utility"], both["cloud_utility"])
        assert net.losses[-1] < net.losses[0]
        by_bw += net.thresholds(probe.with_network(np.array([0.05, 0.1, 0.2, 1.0, 5.0, 30.0]), 100.0)) / 3
        by_rtt += net.thresholds(probe.with_network(30.0, np.array([20.0, 60.0, 200.0, 650.0, 1500.0, 2500.0]))) / 3
    print("bandwidth sweep", by_bw.round(3), "RTT sweep", by_rtt.round(3))
    assert np.all(np.diff(by_bw) >= -1e-9) and np.all(np.diff(by_rtt) <= 1e-9)  # monotone by construction
    assert by_bw[-1] > by_bw[0] + 0.03 and np.corrcoef(np.arange(6), by_bw)[0, 1] > 0.8  # and a learned effect
    assert by_rtt[0] > by_rtt[-1] + 0.1 and np.corrcoef(np.arange(6), by_rtt)[0, 1] < -0.8


def test_policynet_is_reexported_from_routing():
    from netgpt_lite import routing

    assert routing.PolicyNet is PolicyNet


def test_policynet_is_seeded():
    ctx, both = _training_logs(1, n=600)
    a = PolicyNet(epochs=20, seed=3).fit(ctx, both["edge_utility"], both["cloud_utility"]).thresholds(ctx)
    b = PolicyNet(epochs=20, seed=3).fit(ctx, both["edge_utility"], both["cloud_utility"]).thresholds(ctx)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not trained"):
        PolicyNet().thresholds(ctx)
