"""Network-aware routing (issue 13): the threshold oracle and the log-tuned fixed threshold are what they
claim, FuncDyn and PolicyNet are monotone in bandwidth, RTT and price, and trace sources behave."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.experiments.frontier import TraceSource, fit_policies
from netgpt_lite.network import read_mahimahi
from netgpt_lite.network.traces import commute_trace
from netgpt_lite.routing import (
    FixedThreshold,
    PolicyNet,
    RoutingContext,
    ThresholdOracle,
    best_threshold,
    route,
)
from netgpt_lite.routing.proposals import synthetic_table
from netgpt_lite.routing.simulator import (
    SimulationConfig,
    outcomes,
    simulate,
    stream_context,
)


def _total(scores, thresholds, gain):
    return float(np.sum(np.asarray(gain)[route(scores, thresholds)]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(-1, 1)), min_size=1, max_size=40))
def test_best_threshold_beats_every_other_threshold(pairs):
    s, g = (np.array(x) for x in zip(*pairs, strict=True))
    best = best_threshold(s, g)
    value = _total(s, np.full(s.size, best), g)
    for t in np.concatenate([[0.0, 1.0, np.inf], s, s + 1e-9]):
        assert value >= _total(s, np.full(s.size, t), g) - 1e-9


@pytest.fixture(scope="module")
def logged():
    table = synthetic_table(300, 0)
    stream = TraceSource("mixed").streams(table, table, SimulationConfig(n_requests=1500, seed=0), 1500)[0]
    return table, stream, stream_context(table, stream), outcomes(table, stream)


def test_threshold_oracle_is_at_least_as_good_as_any_fixed_threshold_and_finer_cells_never_lose(logged):
    table, stream, ctx, both = logged
    u = {}
    for bins in (1, 3, 6):
        oracle = ThresholdOracle.fit(ctx, both["edge_utility"], both["cloud_utility"], bins=bins)
        u[bins] = simulate(oracle, table, stream)["utility"].mean()
    for t in np.linspace(0, 1, 21):
        assert u[1] >= simulate(FixedThreshold(float(t)), table, stream)["utility"].mean() - 1e-12
    assert u[1] <= u[3] + 1e-12 <= u[6] + 2e-12  # nested optima on the same stream: a refinement never loses
    assert u[3] > u[1]  # on a mixed network the cells carry information


def test_threshold_oracle_cells_are_quantile_bins(logged):
    _, _, ctx, both = logged
    oracle = ThresholdOracle.fit(ctx, both["edge_utility"], both["cloud_utility"], bins=3)
    bw_cell, rtt_cell, price_cell = oracle.cells(ctx)
    assert np.bincount(bw_cell).tolist() == pytest.approx([500, 500, 500], abs=2)
    assert set(price_cell.tolist()) == {0}  # flat pricing: one price, one bin
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        ThresholdOracle.fit(ctx, both["edge_utility"], both["cloud_utility"], bins=0)


def _contexts(n, seed):
    rng = np.random.default_rng(seed)
    return RoutingContext(scores=rng.random(n), bandwidth_mbps=np.exp(rng.uniform(np.log(0.05), np.log(300), n)),
                          rtt_ms=np.exp(rng.uniform(np.log(10), np.log(3000), n)),
                          usd_per_1k_input=rng.uniform(0.001, 0.01, n), usd_per_1k_output=rng.uniform(0.005, 0.05, n),
                          n_input_tokens=rng.integers(100, 1500, n).astype(float),
                          request_bytes=rng.integers(400, 6000, n).astype(float),
                          is_next_step=(rng.random(n) < 0.4).astype(float))


@pytest.fixture(scope="module")
def fitted():
    table = synthetic_table(200, 3)
    _, logs = TraceSource("mixed").streams(table, table, SimulationConfig(n_requests=10, pricing="surge", seed=0), 3000)
    policies = fit_policies(table, logs, seed=0, policynet_epochs=60)
    ctx, both = stream_context(table, logs), outcomes(table, logs)
    policies["policynet_utility"] = PolicyNet(epochs=60, seed=1, objective="utility").fit(
        ctx, both["edge_utility"], both["cloud_utility"])
    return policies


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), field=st.sampled_from(["bandwidth_mbps", "rtt_ms", "usd_per_1k_input",
                                                          "usd_per_1k_output"]),
       factor=st.floats(1.01, 50.0))
def test_funcdyn_and_policynet_are_monotone_in_network_and_price(fitted, seed, field, factor):
    """Raising bandwidth never lowers the threshold; raising RTT or a price never raises it (both PolicyNet
    objectives, FuncDyn plug-in and tuned), at any state and for any task."""
    ctx = _contexts(64, seed)
    up = RoutingContext(**{**ctx.__dict__, field: getattr(ctx, field) * factor})
    for name in ("funcdyn", "funcdyn_plugin", "policynet", "policynet_utility"):
        before, after = fitted[name].thresholds(ctx), fitted[name].thresholds(up)
        if field == "bandwidth_mbps":
            assert (after >= before - 1e-6).all(), name
        else:
            assert (after <= before + 1e-6).all(), name


def test_policynet_kappa_objective_needs_checker_verdicts():
    ctx = _contexts(20, 0)
    with pytest.raises(ValueError, match="edge_correct"):
        PolicyNet(epochs=2).fit(ctx, np.zeros(20), np.ones(20))


def test_trace_sources_make_another_day_for_the_logs(tmp_path):
    table = synthetic_table(50, 0)
    cfg = SimulationConfig(n_requests=400, seed=2)
    for source in (TraceSource("mixed"), TraceSource("commute"), TraceSource("4g"),
                   TraceSource("file", commute_trace(seed=5))):
        ev, logs = source.streams(table, table, cfg, 300)
        assert len(ev) == 400 and len(logs) == 300
        assert not np.array_equal(ev.trace.bandwidth_mbps[:300], logs.trace.bandwidth_mbps)
    assert TraceSource("file", commute_trace()).repeats(400) == pytest.approx(400 / 120, abs=0.01)
    assert not TraceSource("4g").time_varying and TraceSource("file", commute_trace()).time_varying
    mm = tmp_path / "x-UMTS.down"
    mm.write_text("".join(f"{t}\n" for t in range(0, 3000, 2)))
    ev, _ = TraceSource("mm", read_mahimahi(mm)).streams(table, table, cfg, 100)
    assert set(np.round(ev.trace.bandwidth_mbps, 3)) == {6.0}  # 500 packets/s x 1500 B


def test_cross_fitted_limits_score_each_half_with_the_other_halfs_choice():
    from netgpt_lite.routing.context import RoutingContext
    from netgpt_lite.routing.limits import ThresholdOracle, best_fixed_threshold, cross_fitted

    rng = np.random.default_rng(5)
    n = 400
    ctx = RoutingContext(rng.random(n), rng.uniform(1, 100, n), rng.uniform(20, 500, n), 0.001, 0.002, 600.0,
                         3000.0, 0.0)
    eu, cu = rng.random(n), np.full(n, 0.5)
    half = np.arange(n) % 2 == 0
    fixed = cross_fitted(lambda c, e, u: best_fixed_threshold(c.scores, e, u), ctx, eu, cu)
    other = best_fixed_threshold(ctx.scores[~half], eu[~half], cu[~half]).threshold
    assert np.all(fixed.thresholds(ctx)[half] == other)
    oracle = cross_fitted(lambda c, e, u: ThresholdOracle.fit(c, e, u, bins=2), ctx, eu, cu)
    assert oracle.values.shape == (n,) and not np.isnan(oracle.values).any()  # inf: every request falls back
    with pytest.raises(ValueError, match="only for the stream it was fitted on"):
        fixed.thresholds(RoutingContext.constant(np.zeros(3), 10.0, 50.0))
    with pytest.raises(ValueError, match="folds must be an integer >= 2"):
        cross_fitted(lambda c, e, u: None, ctx, eu, cu, folds=1)


def test_cross_fitting_by_task_keeps_every_draw_of_a_task_in_one_fold():
    from netgpt_lite.routing.context import RoutingContext
    from netgpt_lite.routing.limits import best_fixed_threshold, cross_fitted

    tasks = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # a stream that asks each of 4 tasks twice
    ctx = RoutingContext.constant(np.array([0.2, 0.3, 0.6, 0.7] * 2), 50.0, 40.0)
    eu, cu = np.array([0, 1, 0, 1] * 2, dtype=float), np.full(8, 0.5)
    seen = []

    def fit(c, e, u):
        seen.append(sorted(np.round(c.scores, 1).tolist()))
        return best_fixed_threshold(c.scores, e, u)

    cross_fitted(fit, ctx, eu, cu, groups=tasks)
    assert seen == [[0.3, 0.3, 0.7, 0.7], [0.2, 0.2, 0.6, 0.6]]  # fold 0 = tasks 0, 2; fitted on tasks 1, 3
