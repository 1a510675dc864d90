"""The simulator: deterministic for a seed, consistent logs, and a vectorised sweep equal to direct routing."""

import dataclasses

import numpy as np
import pytest

from netgpt_lite.network.pricing import Price
from netgpt_lite.network.traces import NetworkTrace
from netgpt_lite.routing import metrics
from netgpt_lite.routing.context import route
from netgpt_lite.routing.explorer import state_stream
from netgpt_lite.routing.policies import AlwaysCloud, AlwaysEdge, FixedThreshold
from netgpt_lite.routing.proposals import ProposalTable, synthetic_table
from netgpt_lite.routing.simulator import (
    SimulationConfig,
    frontier_grid,
    make_stream,
    outcomes,
    simulate,
    stream_context,
)

TABLE = synthetic_table(300, seed=0)


def _log(seed: int, policy=None, **kw):
    stream = make_stream(TABLE, SimulationConfig(n_requests=400, seed=seed, **kw))
    return simulate(policy or FixedThreshold(0.5), TABLE, stream)


def test_same_seed_same_log_and_different_seed_differs():
    a, b, c = _log(3, pricing="surge"), _log(3, pricing="surge"), _log(4, pricing="surge")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["bandwidth_mbps"], c["bandwidth_mbps"])
    assert not np.array_equal(a["task_id"], c["task_id"])


def test_log_is_consistent():
    log = _log(0)
    fb = log["fallback"]
    np.testing.assert_array_equal(fb, route(log["score"], log["threshold"]))
    assert (log["cost_usd"][~fb] == 0).all() and (log["cost_usd"][fb] > 0).all()
    assert set(log["route"][fb]) == {"cloud"} and set(log["route"][~fb]) == {"edge"}
    assert (log["latency_ms"] > 0).all()
    s = metrics.summarize(log)
    assert s["offload_rate"] == pytest.approx(fb.mean())


def test_cloud_fallback_pays_edge_time_plus_network_time():
    stream = make_stream(TABLE, SimulationConfig(n_requests=200, seed=1, regime="satellite"))
    both = outcomes(TABLE, stream)
    assert (both["cloud_latency_ms"] > both["edge_latency_ms"] + 0.6 * 650).all()  # RTT jitter stays > 0.6x
    edge, cloud = simulate(AlwaysEdge(), TABLE, stream), simulate(AlwaysCloud(), TABLE, stream)
    assert edge["cost_usd"].sum() == 0 and cloud["fallback"].all()
    w = stream.config.weights
    expected = w.reward * cloud["success"] - w.lambda_latency_per_ms * cloud["latency_ms"] - w.lambda_cost_per_usd * cloud["cost_usd"]
    np.testing.assert_allclose(cloud["utility"], expected)


def test_regime_and_pricing_shape_the_stream():
    stream = make_stream(TABLE, SimulationConfig(n_requests=500, seed=2, regime="4g"))
    assert set(stream.trace.regime) == {"4g"}
    mixed = make_stream(TABLE, SimulationConfig(n_requests=2000, seed=2, stay_prob=0.95))
    assert len(set(mixed.trace.regime)) >= 4
    peak = make_stream(TABLE, SimulationConfig(n_requests=240, seed=2, pricing="peak_offpeak"))
    assert peak.usd_per_1k_input.max() == pytest.approx(2 * peak.usd_per_1k_input.min())
    explore = make_stream(TABLE, SimulationConfig(n_requests=2000, seed=2, regime="log_uniform"))
    assert abs(np.corrcoef(np.log(explore.trace.bandwidth_mbps), np.log(explore.trace.rtt_ms))[0, 1]) < 0.1


def test_config_validation_names_the_field():
    for kw, name in [({"n_requests": 0}, "n_requests"), ({"regime": "moon"}, "regime"),
                     ({"pricing": "free"}, "pricing"), ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=name):
            SimulationConfig(**kw)


def test_frontier_grid_equals_direct_routing():
    table = synthetic_table(120, seed=5, n_cloud_draws=1)
    bw, rtt, taus = np.array([0.5, 30.0]), np.array([20.0, 650.0]), np.array([0.0, 0.3, 0.7, np.inf])
    grid = frontier_grid(table, bw, rtt, taus)
    assert grid["utility"].shape == (2, 2, 4)
    for i, b in enumerate(bw):
        for j, r in enumerate(rtt):
            # a one-state stream: every request of the table once, at (b, r), flat default price
            stream = make_stream(table, SimulationConfig(n_requests=len(table)), trace=NetworkTrace([0.0], [b], [r]),
                                 rows=np.arange(len(table)), cloud_draw=np.zeros(len(table), int))
            for k, tau in enumerate(taus):
                log = simulate(FixedThreshold(min(tau, 1.0)) if np.isfinite(tau) else AlwaysCloud(), table, stream)
                assert grid["success"][i, j, k] == pytest.approx(log["success"].mean())
                assert grid["cost_usd"][i, j, k] == pytest.approx(log["cost_usd"].mean())
                assert grid["latency_ms"][i, j, k] == pytest.approx(log["latency_ms"].mean())
                assert grid["utility"][i, j, k] == pytest.approx(log["utility"].mean())
    assert grid["offload"][0, 0, 0] == 0 and grid["offload"][0, 0, -1] == 1


def test_proposal_table_roundtrip_and_validation(tmp_path):
    path = TABLE.save(tmp_path / "t.npz")
    back = ProposalTable.load(path)
    assert back.source == "synthetic" and len(back) == len(TABLE)
    np.testing.assert_array_equal(back.edge_score, TABLE.edge_score)
    np.testing.assert_array_equal(back.cloud_correct, TABLE.cloud_correct)
    with pytest.raises(ValueError, match="edge_score"):
        dataclasses.replace(TABLE, edge_score=TABLE.edge_score + 2)


def test_stream_context_hides_nothing_the_policy_needs():
    stream = make_stream(TABLE, SimulationConfig(n_requests=50, seed=0))
    ctx = stream_context(TABLE, stream)
    assert len(ctx) == 50 and ctx.edge_correct is not None
    np.testing.assert_array_equal(ctx.scores, TABLE.edge_score[stream.row])


def test_one_stream_builder_replays_a_given_trace_rows_draws_and_base_price():
    trace = NetworkTrace([0.0, 5.0, 9.0], [1.0, 20.0, 300.0], [900.0, 60.0, 15.0])
    rows, draws = np.arange(7) % len(TABLE), np.arange(7) % TABLE.n_cloud_draws
    cfg = SimulationConfig(n_requests=7, pricing="peak_offpeak", seed=1)
    stream = make_stream(TABLE, cfg, trace=trace, rows=rows, cloud_draw=draws, base_price=Price(0.01, 0.02))
    np.testing.assert_array_equal(stream.trace.bandwidth_mbps, [1.0, 20.0, 300.0, 1.0, 20.0, 300.0, 1.0])  # cyclic
    np.testing.assert_array_equal(stream.row, rows)
    np.testing.assert_array_equal(stream.cloud_draw, draws)
    assert np.allclose(np.diff(stream.trace.t_s), 86_400 / 7)  # the requests still span one day
    peak = (stream.trace.t_s >= 9 * 3600) & (stream.trace.t_s < 18 * 3600)
    np.testing.assert_allclose(stream.usd_per_1k_input, np.where(peak, 0.02, 0.01))  # the schedule on the new base
    again = make_stream(TABLE, cfg, trace=trace, rows=rows, cloud_draw=draws, base_price=Price(0.01, 0.02))
    np.testing.assert_array_equal(stream.load, again.load)
    for bad in ({"rows": np.arange(6)}, {"rows": np.full(7, len(TABLE))}, {"cloud_draw": np.full(7, -1)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            make_stream(TABLE, cfg, **bad)


def test_state_stream_is_every_task_and_draw_once_at_one_state_and_price():
    table = synthetic_table(30, seed=2, n_cloud_draws=3)
    stream = state_stream(table, 12.0, 150.0, 0.002, 0.01, SimulationConfig(pricing="surge", seed=4))
    assert len(stream) == 90 and stream.config.pricing == "flat"
    assert sorted(zip(stream.row.tolist(), stream.cloud_draw.tolist())) == [(i, d) for i in range(30) for d in range(3)]
    assert set(stream.trace.bandwidth_mbps) == {12.0} and set(stream.trace.rtt_ms) == {150.0}
    assert set(stream.usd_per_1k_input) == {0.002} and set(stream.usd_per_1k_output) == {0.01}
    default = state_stream(table, 12.0, 150.0)
    assert set(default.usd_per_1k_input) == {Price().usd_per_1k_input}


def test_the_explorer_puts_thresholds_on_the_calibrated_axis():
    """With a calibration g the explorer's thresholds are g(tau), the probability that the edge is right: the sweep
    at the scores' quantiles, each policy's mean g(threshold) beside its raw threshold, and the axis says so."""
    from netgpt_lite.routing.explorer import explorer_grid
    from netgpt_lite.routing.policies import FixedThreshold
    from netgpt_lite.routing.simulator import synthetic_table
    from netgpt_lite.viz.routing import frontier_explorer_figure

    table = synthetic_table(200, 0)

    def g(s):  # an increasing map onto [0, 1] that squeezes scores near 1 apart
        return np.clip((np.asarray(s, float) - 0.5) * 2.0, 0.0, 1.0)

    policies = {"fixed": FixedThreshold(0.75)}
    grid = explorer_grid(table, policies, [1.0, 50.0], [20.0, 200.0], calibration=g)
    assert np.allclose(grid["threshold_prob"], g(np.clip(grid["threshold"], 0, 1)))
    assert np.all(np.diff(grid["threshold"]) > 0) and grid["threshold"][0] == 0.0 and grid["threshold"][-1] > 1.0
    assert np.allclose(grid["points"]["fixed"]["threshold_prob"], 0.5)  # g(0.75)
    fig = frontier_explorer_figure(grid)
    assert fig.layout.xaxis2.title.text.startswith("threshold as P(edge answer right)")
    assert "threshold_prob" not in explorer_grid(table, policies, [1.0], [20.0])  # the raw axis without g
