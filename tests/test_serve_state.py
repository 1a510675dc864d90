"""The service's parts that hold state: the shipped FuncDyn, the checkpoint codec that replaced pickle,
the crash-safe traffic log, the network monitor and the circuit breaker (no HTTP here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netgpt_lite.network.state import LatencyModel
from netgpt_lite.routing.context import RoutingContext
from netgpt_lite.routing.funcdyn import FuncDyn
from netgpt_lite.service.circuit import CircuitBreaker
from netgpt_lite.service.monitor import NetworkMonitor, TraceReplay
from netgpt_lite.service.policy_file import POLICY_EDGES, load_serve_policy, policy_path
from netgpt_lite.service.traffic_log import TrafficLog
from netgpt_lite.synergy.loop import load_log
from netgpt_lite.synergy.routing_state import load_routing, save_funcdyn, save_routing
from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights

CTX = RoutingContext.constant(np.linspace(0.0, 1.0, 21), bandwidth_mbps=[0.1] * 10 + [200.0] * 11,
                              rtt_ms=[2000.0] * 10 + [20.0] * 11)


@pytest.mark.parametrize("edge", POLICY_EDGES)
def test_shipped_policies_load_and_follow_the_network(edge):
    policy = load_serve_policy(edge)
    good = RoutingContext.constant(np.full(3, 0.9), bandwidth_mbps=200.0, rtt_ms=20.0)
    bad = RoutingContext.constant(np.full(3, 0.9), bandwidth_mbps=0.05, rtt_ms=2500.0)
    assert policy.thresholds(bad)[0] < policy.thresholds(good)[0]  # a worse network keeps more on the edge
    manifest = json.loads((policy_path(edge).parent / "manifest.json").read_text())
    assert edge in manifest["policies"] and manifest["command"].startswith("python -m netgpt_lite.service")


def _funcdyn(calibration) -> FuncDyn:
    return FuncDyn(calibration, 0.96, 21.0, 380.0, UtilityWeights(), LatencyModel(), penalty_scale=0.85,
                   temperature=1.5)


def test_funcdyn_round_trip_is_exact(tmp_path):
    from netgpt_lite.edge.scoring import IsotonicCalibration

    rng = np.random.default_rng(0)
    scores = rng.random(200)
    for calibration in (LogisticCalibration(7.0, -4.0), IsotonicCalibration.fit(scores, rng.random(200) < scores)):
        policy = _funcdyn(calibration)
        loaded = load_serve_policy(save_funcdyn(policy, tmp_path / "p.json"))
        np.testing.assert_array_equal(loaded.thresholds(CTX), policy.thresholds(CTX))
        assert (loaded.penalty_scale, loaded.temperature) == (0.85, 1.5)


def test_checkpoint_round_trip_without_pickle(tmp_path):
    from netgpt_lite.edge.scoring import LearnedScorer
    from netgpt_lite.routing.policy_net import PolicyNet

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4))
    scorer = LearnedScorer(seed=0).fit(x, (x[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int))
    n = 200
    ctx = RoutingContext(rng.random(n), rng.uniform(0.1, 200, n), rng.uniform(10, 2000, n), 0.5, 1.5, 600.0,
                         3000.0, 0.0, edge_correct=rng.random(n) < 0.7)
    net = PolicyNet(epochs=20, seed=0).fit(ctx, rng.normal(size=n), rng.normal(size=n))
    for policy in (_funcdyn(LogisticCalibration()), net):
        folder = tmp_path / type(policy).__name__
        folder.mkdir()
        save_routing(folder, scorer, policy, kl_to_sft=0.25)
        assert not list(folder.glob("*.pkl"))
        loaded = load_routing(folder)
        np.testing.assert_allclose(loaded["scorer"].predict(x), scorer.predict(x), rtol=0, atol=1e-12)
        np.testing.assert_allclose(loaded["policy"].thresholds(ctx), policy.thresholds(ctx), rtol=0, atol=1e-6)
        assert loaded["kl_to_sft"] == 0.25


def test_damaged_checkpoints_name_the_file(tmp_path):
    save_routing(tmp_path, None, _funcdyn(LogisticCalibration()), 0.0)
    path = tmp_path / "routing.json"
    path.write_text(path.read_text()[:40])  # truncated
    with pytest.raises(ValueError, match=r"routing\.json.*resume from an earlier round"):
        load_routing(tmp_path)
    path.unlink()
    with pytest.raises(ValueError, match=r"routing\.json: missing"):
        load_routing(tmp_path)
    (tmp_path / "routing.pkl").write_bytes(b"\x80\x04K*.")  # pickle of 42: never opened
    with pytest.raises(ValueError, match="no longer loaded"):
        load_routing(tmp_path)


def _record(i: int) -> dict:
    return {"request_id": f"serve-{i}", "round": 0, "task": "{}", "cloud_call": json.dumps({"name": "f"}),
            "edge_score": 0.5, "scorer_holdout": False}


def test_traffic_log_commits_shards_and_keeps_uncommitted_leftovers(tmp_path):
    from netgpt_lite.synergy.loop import save_shard

    log = TrafficLog(tmp_path, shard_size=3)
    assert [log.append(_record(i)) for i in range(3)] == [False, False, True]
    assert log.flush() == 3 and log.flush() == 0
    log.append(_record(3))
    log.flush()
    (tmp_path / "log" / "shard_000002").mkdir()  # a shard a killed (journal-less) writer renamed, never committed
    save_shard([_record(9)], tmp_path / "log" / "shard_000002")
    (tmp_path / ".tmp-state.json-1").write_text("{")
    reopened = TrafficLog(tmp_path)
    assert not list(tmp_path.glob(".tmp-*"))  # the library's own temporaries go; the shard's answer is kept
    assert reopened.n_committed == 5 and load_log(tmp_path)["request_id"][-1] == "serve-9"
    reopened.append(_record(4))
    reopened.flush()
    assert load_log(tmp_path)["request_id"] == [f"serve-{i}" for i in (0, 1, 2, 3, 9, 4)]


def test_traffic_log_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"config": {}, "log_shards": []}))  # a synergy run
    with pytest.raises(ValueError, match="choose another --log-dir"):
        TrafficLog(tmp_path)


def test_monitor_ewma_probe_and_trace_replay():
    now = [0.0]
    monitor = NetworkMonitor(alpha=0.5, probe_interval_s=5.0, clock=lambda: now[0])
    assert monitor.state().rtt_ms == 60.0  # 4G until measured
    monitor.observe_transfer(1_000_000, 0.5)  # 16 Mbit/s
    monitor.observe_transfer(1_000_000, 1.0)  # 8 Mbit/s
    assert monitor.state().bandwidth_mbps == pytest.approx(12.0)
    monitor.observe_rtt(float("nan"))
    assert monitor.n_rtt_samples == 0 and not monitor.needs_probe()
    now[0] = 6.0
    assert monitor.needs_probe()
    with pytest.raises(ValueError, match="alpha"):
        NetworkMonitor(alpha=0.0)
    from netgpt_lite.network.traces import NetworkTrace

    trace = NetworkTrace(np.array([0.0, 10.0]), np.array([100.0, 1.0]), np.array([20.0, 500.0]))
    replay = TraceReplay(trace, speed=10.0, clock=lambda: now[0])  # starts at now = 6
    now[0] = 7.5  # 15 trace seconds later: the second state
    assert replay.state().rtt_ms == 500.0
    now[0] = 8.5  # 25 s: looped back to the first
    assert replay.state().rtt_ms == 20.0


def test_circuit_breaker_cycle():
    now = [0.0]
    breaker = CircuitBreaker(max_failures=3, open_s=5.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.record(False)
    assert breaker.state == "closed" and breaker.allow()
    breaker.record(False)
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 6.0
    assert breaker.allow() and not breaker.allow()  # one trial call
    breaker.record(False)  # the trial failed: open again
    assert breaker.state == "open"
    now[0] = 12.0
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state == "closed"


def test_mahimahi_and_csv_replays_are_the_readers_traces():
    from netgpt_lite.network import read_mahimahi, read_trace_csv
    from netgpt_lite.network.traces import EXAMPLE_TRACE_CSV
    from netgpt_lite.service.app import ServeConfig, network_source

    shipped = EXAMPLE_TRACE_CSV.parent / "example-lte-drive.mahimahi"
    now = [0.0]
    for kwargs, read in (({"mahimahi": str(shipped)}, read_mahimahi), ({"trace": str(EXAMPLE_TRACE_CSV)}, read_trace_csv)):
        path = next(iter(kwargs.values()))
        now[0] = 0.0  # the replay starts when it is built
        source = network_source(ServeConfig("http://127.0.0.1:1/v1", "m", **kwargs), clock=lambda: now[0])
        trace = read(path)
        for t_s in (0.0, float(trace.t_s[len(trace) // 2])):
            now[0] = t_s  # speed 1: trace seconds = wall seconds
            assert source.state() == trace.state_at(t_s) and source.source == "trace"
    with pytest.raises(ValueError, match="mahimahi"):
        ServeConfig("http://127.0.0.1:1/v1", "m", trace=str(EXAMPLE_TRACE_CSV), mahimahi=str(shipped))
