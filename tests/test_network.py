"""Tests for netgpt_lite.network: validation, latency model, Markov traces, CSV replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.network.state import (
    REGIMES,
    LatencyModel,
    NetworkState,
    cloud_time_ms,
    edge_time_ms,
    nearest_regime,
)
from netgpt_lite.network.traces import (
    EXAMPLE_TRACE_CSV,
    NetworkTrace,
    commute_trace,
    markov_trace,
    read_trace_csv,
    write_trace_csv,
)

BANDWIDTH = st.floats(0.01, 10_000.0)
RTT = st.floats(0.1, 5_000.0)


def test_regimes_have_the_five_names_and_are_ordered_by_quality():
    assert list(REGIMES) == ["5g_good", "4g", "congested", "satellite", "near_outage"]
    t = {n: float(cloud_time_ms(r.bandwidth_mbps, r.rtt_ms, 6000, 400, 40)) for n, r in REGIMES.items()}
    assert t["5g_good"] < t["4g"] < t["congested"] < t["satellite"] < t["near_outage"]
    assert REGIMES["satellite"].rtt_ms > 10 * REGIMES["4g"].rtt_ms  # high-RTT regime


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bandwidth_mbps": 0.0, "rtt_ms": 10.0}, "bandwidth_mbps"),
        ({"bandwidth_mbps": -1.0, "rtt_ms": 10.0}, "bandwidth_mbps"),
        ({"bandwidth_mbps": math.nan, "rtt_ms": 10.0}, "bandwidth_mbps"),
        ({"bandwidth_mbps": 10.0, "rtt_ms": math.inf}, "rtt_ms"),
        ({"bandwidth_mbps": 10.0, "rtt_ms": 0.0}, "rtt_ms"),
    ],
)
def test_network_state_rejects_bad_values_naming_field_and_range(kwargs, field):
    with pytest.raises(ValueError, match=rf"{field} must be finite and > 0, allowed range \(0, inf\)"):
        NetworkState(**kwargs)


def test_latency_model_validation():
    with pytest.raises(ValueError, match="cloud_tokens_per_s"):
        LatencyModel(cloud_tokens_per_s=0.0)
    with pytest.raises(ValueError, match="queueing_ms"):
        LatencyModel(queueing_ms=-1.0)
    LatencyModel(queueing_ms=0.0)  # zero queueing is allowed


def test_cloud_time_matches_the_formula_term_by_term():
    lat = LatencyModel(queueing_ms=30.0, cloud_tokens_per_s=50.0)
    got = cloud_time_ms(2.0, 80.0, 3000, 1000, 25, lat)
    expected = 80.0 + 8 * 4000 / (2.0 * 1000) + 30.0 + 25 / 50.0 * 1000
    assert got == pytest.approx(expected, rel=1e-12)
    assert edge_time_ms(25, LatencyModel(edge_tokens_per_s=10.0)) == pytest.approx(2500.0)


def test_cloud_time_broadcasts_over_arrays():
    bw = np.array([1.0, 10.0, 100.0])[:, None]
    rtt = np.array([10.0, 100.0])[None, :]
    t = cloud_time_ms(bw, rtt, 6000, 400, 40)
    assert t.shape == (3, 2)
    assert (np.diff(t, axis=0) < 0).all() and (np.diff(t, axis=1) > 0).all()
    with pytest.raises(ValueError, match="rtt_ms"):
        cloud_time_ms(bw, np.array([10.0, -1.0]), 6000, 400, 40)
    with pytest.raises(ValueError, match="request_bytes"):
        cloud_time_ms(1.0, 1.0, -5, 400, 40)


@settings(max_examples=200, deadline=None)
@given(BANDWIDTH, BANDWIDTH, RTT, RTT)
def test_cloud_time_decreases_in_bandwidth_and_increases_one_for_one_in_rtt(b1, b2, r1, r2):
    lo, hi = sorted((b1, b2))
    assert cloud_time_ms(hi, r1, 6000, 400, 40) <= cloud_time_ms(lo, r1, 6000, 400, 40)
    diff = cloud_time_ms(b1, r2, 6000, 400, 40) - cloud_time_ms(b1, r1, 6000, 400, 40)
    assert diff == pytest.approx(r2 - r1, abs=1e-9 * (1 + abs(r1) + abs(r2)) + 1e-6)


def test_markov_trace_is_deterministic_per_seed_and_changes_with_seed():
    a, b, c = markov_trace(500, seed=3), markov_trace(500, seed=3), markov_trace(500, seed=4)
    np.testing.assert_array_equal(a.bandwidth_mbps, b.bandwidth_mbps)
    np.testing.assert_array_equal(a.regime, b.regime)
    assert not np.array_equal(a.bandwidth_mbps, c.bandwidth_mbps)
    assert len(a) == 500 and a.t_s[1] - a.t_s[0] == 1.0
    assert set(a.regime) <= set(REGIMES) and len(set(a.regime)) >= 3  # it does move between regimes


def test_markov_trace_stays_and_jitters_as_configured():
    tr = markov_trace(2000, seed=0, stay_prob=0.9, jitter=0.1, step_s=2.0, start="4g")
    assert tr.regime[0] == "4g" and tr.t_s[-1] == pytest.approx(2.0 * 1999)
    stay_rate = float(np.mean(tr.regime[1:] == tr.regime[:-1]))
    assert 0.87 < stay_rate < 0.93
    ratio = tr.bandwidth_mbps / np.array([REGIMES[r].bandwidth_mbps for r in tr.regime])
    assert abs(np.mean(ratio) - 1.0) < 0.02 and 0.08 < np.std(np.log(ratio)) < 0.12
    frozen = markov_trace(50, seed=1, stay_prob=1.0, jitter=0.0, start="satellite")
    assert set(frozen.regime) == {"satellite"} and (frozen.rtt_ms == REGIMES["satellite"].rtt_ms).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_steps": 0}, "n_steps"),
        ({"stay_prob": 1.5}, "stay_prob"),
        ({"jitter": -1}, "jitter"),
        ({"regimes": ("wifi",)}, "unknown regimes"),
        ({"start": "wifi"}, "unknown regimes"),
    ],
)
def test_markov_trace_validation(kwargs, match):
    args = {"n_steps": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        markov_trace(**args)


def test_nearest_regime_maps_each_regime_to_itself():
    names = nearest_regime([r.bandwidth_mbps for r in REGIMES.values()], [r.rtt_ms for r in REGIMES.values()])
    assert list(names) == list(REGIMES)


def test_shipped_example_csv_is_the_documented_commute_trace():
    shipped = read_trace_csv(EXAMPLE_TRACE_CSV)
    regenerated = commute_trace(seed=0)
    np.testing.assert_allclose(shipped.bandwidth_mbps, regenerated.bandwidth_mbps, rtol=1e-4)
    np.testing.assert_allclose(shipped.rtt_ms, regenerated.rtt_ms, rtol=1e-4)
    np.testing.assert_array_equal(shipped.t_s, regenerated.t_s)
    legs = [str(r) for i, r in enumerate(shipped.regime) if i == 0 or r != shipped.regime[i - 1]]
    assert legs == ["5g_good", "congested", "4g"]


def test_csv_round_trip_and_sample_and_hold(tmp_path):
    tr = markov_trace(30, seed=7, step_s=0.5)
    back = read_trace_csv(write_trace_csv(tr, tmp_path / "t.csv", comment="test"))
    np.testing.assert_allclose(back.rtt_ms, tr.rtt_ms, rtol=1e-4)
    np.testing.assert_array_equal(back.regime, tr.regime)
    assert back.state_at(0.74).rtt_ms == back.rtt_ms[1]
    assert back.state_at(-5.0).rtt_ms == back.rtt_ms[0]


def test_csv_without_regime_column_gets_nearest_regime(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("t,bandwidth_mbps,rtt_ms\n0,190,21\n1,0.06,2400\n")
    assert list(read_trace_csv(path).regime) == ["5g_good", "near_outage"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("0,10,20\n1,abc,20\n", r"line 3: field 'bandwidth_mbps' = 'abc' is not a number"),
        ("0,10,20\n1,10,-3\n", r"line 3: field 'rtt_ms': rtt_ms must be finite and > 0, allowed range"),
        ("0,10,20\n1,0,20\n", r"line 3: field 'bandwidth_mbps'"),
        ("0,10,nan\n", r"line 2: field 'rtt_ms'"),
        ("5,10,20\n1,10,20\n", r"line 3: field 't': t must be finite and >= the previous t"),
        ("0,10\n", r"line 2: expected 3 fields, got 2"),
        ("", "no data rows"),
    ],
)
def test_csv_errors_name_line_and_field(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text("t,bandwidth_mbps,rtt_ms\n" + body)
    with pytest.raises(ValueError, match=match):
        read_trace_csv(path)


def test_csv_header_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("# comment\ntime,bw,rtt_ms\n0,1,2\n")
    with pytest.raises(ValueError, match=r"line 2: header lacks field\(s\) \['t', 'bandwidth_mbps'\]"):
        read_trace_csv(path)


def test_trace_validation():
    with pytest.raises(ValueError, match="non-decreasing"):
        NetworkTrace(np.array([1.0, 0.0]), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="equal length"):
        NetworkTrace(np.arange(3.0), np.ones(2), np.ones(2))
