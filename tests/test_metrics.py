"""Metrics on small hand-computed cases."""

import math

import numpy as np
import pytest

from netgpt_lite.routing import metrics


def test_summarize_hand_computed():
    log = dict(
        success=[1, 0, 1, 1], schema_valid=[1, 0, 1, 1], fallback=[0, 1, 1, 0],
        cost_usd=[0.0, 0.004, 0.002, 0.0], latency_ms=[100.0, 200.0, 300.0, 400.0], utility=[1.0, -0.5, 0.5, 0.0],
    )
    s = metrics.summarize(log)
    assert s["n_requests"] == 4
    assert s["task_success"] == 0.75 and s["schema_valid_rate"] == 0.75 and s["offload_rate"] == 0.5
    assert s["cost_per_1k_requests_usd"] == pytest.approx(1.5)  # mean 0.0015 USD per request
    assert s["latency_p50_ms"] == pytest.approx(250.0)  # numpy's linear interpolation
    assert s["latency_p95_ms"] == pytest.approx(385.0)  # 300 + 0.85 * 100
    assert s["mean_utility"] == pytest.approx(0.25)
    assert set(s) == set(metrics.SUMMARY_KEYS)


def test_summarize_by_groups():
    log = dict(success=np.array([1, 0, 1]), schema_valid=np.array([1, 1, 1]), fallback=np.array([0, 1, 0]),
               cost_usd=np.array([0.0, 0.01, 0.0]), latency_ms=np.array([1.0, 2.0, 3.0]),
               utility=np.array([1.0, 0.0, 1.0]), regime=np.array(["4g", "satellite", "4g"]))
    by = metrics.summarize_by(log, "regime")
    assert list(by) == ["4g", "satellite"]
    assert by["4g"]["task_success"] == 1.0 and by["satellite"]["offload_rate"] == 1.0
    assert by["satellite"]["cost_per_1k_requests_usd"] == pytest.approx(10.0)


def test_mean_and_std():
    out = metrics.mean_and_std([{"a": 1.0}, {"a": 3.0}])
    assert out["a"]["mean"] == 2.0 and out["a"]["std"] == pytest.approx(math.sqrt(2.0))
    assert metrics.mean_and_std([{"a": 1.0}])["a"]["std"] == 0.0


def test_apgr_and_cpt_hand_computed():
    call, quality = [0.0, 0.5, 1.0], [0.5, 0.8, 0.9]
    # PGR = [0, 0.75, 1]; area = 0.5 * (0 + 0.75) / 2 + 0.5 * (0.75 + 1) / 2 = 0.625
    assert metrics.apgr(call, quality) == pytest.approx(0.625)
    assert metrics.cpt(call, quality, 0.5) == pytest.approx(1 / 3)  # 0.5 of the way to 0.75 on [0, 0.5]
    assert metrics.cpt(call, quality, 0.8) == pytest.approx(0.6)  # 0.5 + 0.5 * 0.05 / 0.25
    # a random router (linear PGR) has APGR 0.5 and CPT(p) = p
    assert metrics.apgr([0, 1], [0.2, 0.6]) == pytest.approx(0.5)
    assert metrics.cpt([0, 0.25, 1], [0.2, 0.3, 0.6], 0.8) == pytest.approx(0.8)
    # unsorted input gives the same numbers
    assert metrics.apgr([1.0, 0.0, 0.5], [0.9, 0.5, 0.8]) == pytest.approx(0.625)


def test_cpt_unreached_is_nan_and_bad_targets_raise():
    assert math.isnan(metrics.cpt([0, 0.5, 1], [0.5, 0.6, 0.9], 1.0, quality_cloud=1.0))
    with pytest.raises(ValueError, match="target_pgr"):
        metrics.cpt([0, 1], [0, 1], 0.0)
    with pytest.raises(ValueError, match="quality_cloud"):
        metrics.apgr([0, 1], [0.5, 0.5])


def test_upper_convex_hull_and_aiq():
    hc, hq = metrics.upper_convex_hull([0, 1, 2, 3], [0.5, 0.6, 0.9, 0.8])
    np.testing.assert_allclose(hc, [0, 2]) and np.testing.assert_allclose(hq, [0.5, 0.9])
    assert metrics.aiq([0, 1, 2], [0.5, 0.6, 0.9]) == pytest.approx(0.7)
    # a point above the chord stays on the hull: (0,0)-(1,0.8)-(2,1) -> area 0.4 + 0.9 = 1.3 over 2
    assert metrics.aiq([0, 1, 2], [0.0, 0.8, 1.0]) == pytest.approx(0.65)
    # after the best point quality stays flat: hull (0,0)-(1,1), then 1 up to cost 4 -> (0.5 + 3) / 4
    assert metrics.aiq([0, 1, 4], [0.0, 1.0, 0.5]) == pytest.approx(0.875)
    with pytest.raises(ValueError, match="cost"):
        metrics.aiq([1, 1], [0.2, 0.3])


def test_sweep_metrics_keys():
    out = metrics.sweep_metrics([0, 0.5, 1], [0.5, 0.8, 0.9], [0, 1, 2])
    assert set(out) == {"apgr", "cpt50", "cpt80", "aiq"} and out["apgr"] == pytest.approx(0.625)


def test_invalid_inputs_name_the_field():
    with pytest.raises(ValueError, match="latency_ms"):
        metrics.latency_percentile_ms([], 50)
    with pytest.raises(ValueError, match="q must"):
        metrics.latency_percentile_ms([1.0], 120)
