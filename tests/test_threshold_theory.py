"""Tests for the fallback threshold: numpy path, SymPy proofs, lambdify agreement, extensions."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.network.state import REGIMES, LatencyModel
from netgpt_lite.theory.proofs import optimal_threshold_lambdified
from netgpt_lite.theory.sweep import (
    ALWAYS_CLOUD,
    cloud_fraction,
    threshold_for_cloud_fraction,
    threshold_sweep,
)
from netgpt_lite.theory.threshold import (
    Deadline,
    LogisticCalibration,
    UtilityWeights,
    Workload,
    expected_utility,
    kappa,
    optimal_threshold,
    synthetic_scores,
)

BANDWIDTH = st.floats(0.01, 10_000.0)
RTT = st.floats(0.1, 5_000.0)
PRICE_PER_1K = st.floats(0.0, 0.1)  # 0-100 USD per 1M tokens


def _log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


@st.composite
def settings_(draw):
    """Random positive weights, workload and calibration (wide ranges)."""
    weights = UtilityWeights(
        draw(_log_uniform(0.1, 10)), draw(_log_uniform(1e-6, 1e-1)), draw(_log_uniform(1e-2, 1e4))
    )
    workload = Workload(
        draw(_log_uniform(10, 1e6)),
        draw(_log_uniform(10, 1e5)),
        draw(_log_uniform(1, 1e5)),
        draw(_log_uniform(1, 1e4)),
    )
    calibration = LogisticCalibration(draw(_log_uniform(0.1, 50)), draw(st.floats(-20, 20)))
    return {
        "weights": weights,
        "workload": workload,
        "q_cloud": draw(st.floats(0, 1)),
        "calibration": calibration,
    }


def _kappa_kwargs(cfg):
    return {k: v for k, v in cfg.items() if k != "calibration"}


def _strict_inside(t_lo, t_hi, k_gap, k_scale):
    """Weak monotonicity always; strict where tau* is inside (0, 1) and the kappa gap is resolvable."""
    assert t_hi >= t_lo
    if 0 < t_lo < 1 and 0 < t_hi < 1 and k_gap > 1e-9 * (1 + k_scale):
        assert t_hi > t_lo


def test_default_weights_move_tau_through_the_unit_interval():
    tau = {n: float(optimal_threshold(r.bandwidth_mbps, r.rtt_ms, 0.003, 0.015)) for n, r in REGIMES.items()}
    assert tau["near_outage"] == 0.0  # near outage: everything stays on the edge
    assert 0.45 < tau["5g_good"] < 0.7  # good 5G: a substantial share falls back
    assert tau["5g_good"] > tau["4g"] > tau["congested"] > tau["satellite"] > 0.0
    scores = synthetic_scores(20_000, seed=0)
    assert float(cloud_fraction(scores, tau["5g_good"])) > 0.3


def test_kappa_matches_the_formula():
    w, wl, lat = UtilityWeights(2.0, 1e-3, 10.0), Workload(1000, 200, 800, 30), LatencyModel(40.0, 60.0, 20.0)
    t_c = 80.0 + 8 * 1200 / (5.0 * 1000) + 40.0 + 1000 * 30 / 60.0
    cost = (800 * 0.002 + 30 * 0.01) / 1000
    got = kappa(5.0, 80.0, 0.002, 0.01, q_cloud=0.8, weights=w, workload=wl, latency=lat)
    assert float(got) == pytest.approx(0.8 - (1e-3 * t_c + 10.0 * cost) / 2.0, rel=1e-12)


def test_fused_kappa_equals_the_network_and_pricing_modules():
    from netgpt_lite.network.pricing import request_cost_usd
    from netgpt_lite.network.state import cloud_time_ms

    rng = np.random.default_rng(2)
    bw, rtt = 10 ** rng.uniform(-2, 4, 500), rng.uniform(0.1, 5000, 500)
    p_in, p_out = rng.uniform(0, 0.1, 500), rng.uniform(0, 0.1, 500)
    w, wl = UtilityWeights(1.5, 2e-4, 35.0), Workload(9000, 700, 2100, 55)
    t_c = cloud_time_ms(bw, rtt, wl.request_bytes, wl.response_bytes, wl.n_output_tokens)
    cost = request_cost_usd(wl.n_input_tokens, wl.n_output_tokens, (p_in, p_out))
    expected = 0.85 - (w.lambda_latency_per_ms * t_c + w.lambda_cost_per_usd * cost) / w.reward
    got = kappa(bw, rtt, p_in, p_out, q_cloud=0.85, weights=w, workload=wl)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_clipping_edges():
    cal = LogisticCalibration(8.0, -4.0)
    # kappa <= g(0): a free, instant cloud that is worse than the edge's worst score -> all stay
    assert float(optimal_threshold(1e4, 0.1, 0, 0, q_cloud=0.0, calibration=cal)) == 0.0
    # kappa >= g(1): perfect cloud with negligible penalties -> all fall back
    tiny = UtilityWeights(1.0, 1e-9, 1e-9)
    assert float(optimal_threshold(1e4, 0.1, 0, 0, q_cloud=1.0, weights=tiny, calibration=cal)) == 1.0
    # inside: g(tau*) == kappa
    k = float(kappa(30.0, 60.0, 0.003, 0.015))
    assert float(cal(optimal_threshold(30.0, 60.0, 0.003, 0.015, calibration=cal))) == pytest.approx(
        k, rel=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(BANDWIDTH, BANDWIDTH, RTT, PRICE_PER_1K, PRICE_PER_1K, settings_())
def test_tau_rises_with_bandwidth(b1, b2, rtt, p_in, p_out, cfg):
    lo, hi = sorted((b1, b2))
    kw = _kappa_kwargs(cfg)
    t_lo, t_hi = (float(optimal_threshold(b, rtt, p_in, p_out, **cfg)) for b in (lo, hi))
    k_lo, k_hi = (float(kappa(b, rtt, p_in, p_out, **kw)) for b in (lo, hi))
    assert k_hi >= k_lo
    _strict_inside(t_lo, t_hi, k_hi - k_lo, abs(k_lo))


@settings(max_examples=60, deadline=None)
@given(BANDWIDTH, RTT, RTT, PRICE_PER_1K, PRICE_PER_1K, settings_())
def test_tau_falls_with_rtt(bw, r1, r2, p_in, p_out, cfg):
    lo, hi = sorted((r1, r2))
    kw = _kappa_kwargs(cfg)
    t_lo, t_hi = (float(optimal_threshold(bw, r, p_in, p_out, **cfg)) for r in (lo, hi))
    k_lo, k_hi = (float(kappa(bw, r, p_in, p_out, **kw)) for r in (lo, hi))
    assert k_hi <= k_lo
    _strict_inside(t_hi, t_lo, k_lo - k_hi, abs(k_lo))


@settings(max_examples=60, deadline=None)
@given(BANDWIDTH, RTT, PRICE_PER_1K, PRICE_PER_1K, PRICE_PER_1K, settings_())
def test_tau_falls_with_price(bw, rtt, q1, q2, p_out, cfg):
    lo, hi = sorted((q1, q2))
    kw = _kappa_kwargs(cfg)
    for args in (lambda p: (p, p_out), lambda p: (p_out, p)):  # input price, then output price
        t_lo, t_hi = (float(optimal_threshold(bw, rtt, *args(p), **cfg)) for p in (lo, hi))
        k_lo, k_hi = (float(kappa(bw, rtt, *args(p), **kw)) for p in (lo, hi))
        assert k_hi <= k_lo
        _strict_inside(t_hi, t_lo, k_lo - k_hi, abs(k_lo))


@settings(max_examples=60, deadline=None)
@given(BANDWIDTH, RTT, PRICE_PER_1K, PRICE_PER_1K, settings_())
def test_decision_crosses_zero_exactly_once_at_tau(bw, rtt, p_in, p_out, cfg):
    """A(s) = R (g(s) - kappa): one sign change on [0, 1], located at tau* (keep iff s >= tau*)."""
    tau = float(optimal_threshold(bw, rtt, p_in, p_out, **cfg))
    k = float(kappa(bw, rtt, p_in, p_out, **_kappa_kwargs(cfg)))
    s = np.linspace(0.0, 1.0, 2001)
    advantage = cfg["weights"].reward * (cfg["calibration"](s) - k)
    keep = advantage >= 0
    assert np.count_nonzero(np.diff(keep.astype(int))) <= 1  # uniqueness
    resolvable = np.abs(s - tau) > 1e-6
    np.testing.assert_array_equal(keep[resolvable], (s >= tau)[resolvable])


@settings(max_examples=25, deadline=None)
@given(BANDWIDTH, RTT, settings_(), st.integers(0, 2**16))
def test_expected_utility_is_maximal_at_tau(bw, rtt, cfg, seed):
    scores = synthetic_scores(400, seed=seed)
    tau = float(optimal_threshold(bw, rtt, 0.003, 0.015, **cfg))
    k = float(kappa(bw, rtt, 0.003, 0.015, **_kappa_kwargs(cfg)))
    grid = np.linspace(0, 1, 101)
    best = expected_utility([tau], scores, k, cfg["calibration"], cfg["weights"].reward)[0]
    others = expected_utility(grid, scores, k, cfg["calibration"], cfg["weights"].reward)
    assert best >= others.max() - 1e-12 * (1 + abs(best))


def test_lambdified_sympy_matches_numpy_on_random_inputs():
    rng = np.random.default_rng(0)
    n = 5_000
    bw, rtt = 10 ** rng.uniform(-2, 4, n), 10 ** rng.uniform(-1, math.log10(5000), n)
    p_in, p_out = rng.uniform(0, 0.01, n), rng.uniform(0, 0.05, n)
    interior = []
    for trial in range(4):
        cfg = (
            {}
            if trial == 0
            else {  # the defaults first, then random settings
                "q_cloud": rng.uniform(0.5, 1.0),
                "weights": UtilityWeights(
                    rng.uniform(0.5, 2), 10 ** rng.uniform(-5, -3), 10 ** rng.uniform(0, 2)
                ),
                "workload": Workload(*(10 ** rng.uniform(2, 4, 4))),
                "calibration": LogisticCalibration(rng.uniform(1, 20), rng.uniform(-10, 5)),
            }
        )
        a = optimal_threshold(bw, rtt, p_in, p_out, **cfg)
        b = optimal_threshold_lambdified(bw, rtt, p_in, p_out, **cfg)
        interior.append(np.mean((a > 0) & (a < 1)))
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert interior[0] > 0.2  # the comparison covers the unclipped closed form, not only 0 and 1


def test_numpy_path_does_not_import_sympy():
    code = (
        "import sys; from netgpt_lite.theory.threshold import optimal_threshold; "
        "optimal_threshold(50.0, 40.0, 0.003, 0.015); assert 'sympy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: optimal_threshold(math.nan, 40, 0.003, 0.015), "bandwidth_mbps"),
        (lambda: optimal_threshold(0.0, 40, 0.003, 0.015), "bandwidth_mbps"),
        (lambda: optimal_threshold(50, math.inf, 0.003, 0.015), "rtt_ms"),
        (lambda: optimal_threshold(50, -1.0, 0.003, 0.015), "rtt_ms"),
        (lambda: optimal_threshold(50, 40, -0.001, 0.015), "usd_per_1k_input"),
        (lambda: optimal_threshold(50, 40, 0.003, math.nan), "usd_per_1k_output"),
        (lambda: optimal_threshold(50, 40, 0.003, 0.015, q_cloud=1.5), "q_cloud"),
        (lambda: optimal_threshold_lambdified(50, -40, 0.003, 0.015), "rtt_ms"),
        (lambda: UtilityWeights(reward=0.0), "reward"),
        (lambda: UtilityWeights(lambda_latency_per_ms=-1e-3), "lambda_latency_per_ms"),
        (lambda: UtilityWeights(lambda_cost_per_usd=math.nan), "lambda_cost_per_usd"),
        (lambda: Workload(request_bytes=-1), "request_bytes"),
        (lambda: LogisticCalibration(a=0.0), "a"),
        (lambda: LogisticCalibration(b=math.inf), "b"),
        (lambda: Deadline(deadline_ms=0.0), "deadline_ms"),
        (lambda: threshold_for_cloud_fraction([0.1, 0.2], 1.2), "cloud_fraction"),
    ],
)
def test_bad_inputs_raise_naming_the_field(call, field):
    with pytest.raises(ValueError, match=rf"^{field} must"):
        call()


@settings(max_examples=60, deadline=None)
@given(BANDWIDTH, BANDWIDTH, RTT, _log_uniform(1, 2000), _log_uniform(1, 2000), _log_uniform(100, 5000))
def test_deadline_extension_is_monotone_in_bandwidth_and_mean_rtt(b1, b2, rtt, m1, m2, deadline_ms):
    lo, hi = sorted((b1, b2))
    m_lo, m_hi = sorted((m1, m2))
    d = Deadline(deadline_ms, 0.5, m_lo)
    assert optimal_threshold(hi, rtt, 0.003, 0.015, deadline=d) >= optimal_threshold(
        lo, rtt, 0.003, 0.015, deadline=d
    )
    assert kappa(hi, rtt, 0.003, 0.015, deadline=d) >= kappa(lo, rtt, 0.003, 0.015, deadline=d)
    d_hi = Deadline(deadline_ms, 0.5, m_hi)
    assert kappa(lo, rtt, 0.003, 0.015, deadline=d_hi) <= kappa(lo, rtt, 0.003, 0.015, deadline=d)
    # a deadline only ever adds penalties: tau* never rises when it is switched on
    assert optimal_threshold(lo, rtt, 0.003, 0.015, deadline=d) <= optimal_threshold(lo, rtt, 0.003, 0.015)


def test_deadline_miss_probability_matches_monte_carlo():
    d = Deadline(deadline_ms=900.0, miss_penalty=1.0, rtt_jitter_mean_ms=150.0)
    rng = np.random.default_rng(1)
    t_c = 700.0
    simulated = np.mean(t_c + rng.exponential(150.0, 200_000) > 900.0)
    assert float(d.miss_probability(t_c)) == pytest.approx(simulated, abs=0.005)
    assert float(d.miss_probability(950.0)) == 1.0


def test_budget_constrained_optimum_is_the_score_quantile():
    """Brute force over thresholds: max success s.t. mean cost <= budget picks RouteLLM's quantile."""
    scores = synthetic_scores(2000, seed=3)
    cal, q_c, cost_usd = LogisticCalibration(8.0, -4.0), 0.95, 0.005
    for budget in (0.0005, 0.001, 0.002):
        thresholds = np.concatenate([[0.0], np.sort(scores), [1.0]])
        fraction = cloud_fraction(scores, thresholds)
        success = np.array([np.mean(np.where(scores < t, q_c, cal(scores))) for t in thresholds])
        feasible = fraction * cost_usd <= budget + 1e-15
        best = thresholds[feasible][np.argmax(success[feasible])]
        tau_q = threshold_for_cloud_fraction(scores, budget / cost_usd)
        assert abs(float(cloud_fraction(scores, best)) - float(cloud_fraction(scores, tau_q))) <= 1 / 2000
        mu = (q_c - float(cal(tau_q))) / cost_usd  # the multiplier that reproduces tau_q as g^-1(q_c - mu C)
        assert mu > 0


def test_cloud_fraction_is_a_cdf():
    scores = np.array([0.1, 0.2, 0.2, 0.9])
    np.testing.assert_allclose(
        cloud_fraction(scores, [0.0, 0.15, 0.2, 0.5, 1.0]), [0, 0.25, 0.25, 0.75, 1.0]
    )
    a, b = synthetic_scores(100, seed=5), synthetic_scores(100, seed=5)
    np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]) | st.floats(0, 1), min_size=1, max_size=40),
       st.lists(st.floats(0, 1) | st.just(ALWAYS_CLOUD), min_size=1, max_size=8), st.integers(0, 2**16))
def test_threshold_sweep_equals_routing_every_request(scores, thresholds, seed):
    """The sorted prefix-sum sweep is the direct rule "fall back iff score < t", request by request."""
    s, t = np.array(scores), np.array(thresholds)
    rng = np.random.default_rng(seed)
    keep, fallback, grid = rng.random(s.size), rng.random(s.size), rng.random((3, s.size))  # grid: a leading axis
    out = threshold_sweep(s, t, {"x": (keep, fallback), "grid": (0.0, grid), "const": (1.0, 2.0)})
    routed = s[None, :] < t[:, None]  # (T, n)
    np.testing.assert_array_equal(out["n_fallback"], routed.sum(axis=1))
    np.testing.assert_allclose(out["offload"], routed.mean(axis=1))
    np.testing.assert_allclose(out["x"], np.where(routed, fallback, keep).mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(out["grid"], np.where(routed[None], grid[:, None], 0.0).mean(axis=-1), atol=1e-12)
    np.testing.assert_allclose(out["const"], 1.0 + routed.mean(axis=1))
    ranked = np.argsort(s, kind="stable")  # pre-sorted input (no reordering inside) gives the same sweep
    again = threshold_sweep(s[ranked], t, {"x": (keep[ranked], fallback[ranked])})
    np.testing.assert_allclose(again["x"], out["x"], atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.floats(0, 1), st.integers(0, 2**16))
def test_threshold_for_cloud_fraction_sends_exactly_that_share(n, fraction, seed):
    scores = synthetic_scores(n, seed=seed)  # continuous: no ties
    tau, k = threshold_for_cloud_fraction(scores, fraction), round(fraction * n)
    assert int(threshold_sweep(scores, tau)["n_fallback"]) == k  # exactly k = round(f n) scores below tau
    assert tau == (0.0 if k == 0 else ALWAYS_CLOUD if k == n else np.sort(scores)[k])


def test_expected_utility_is_the_direct_mean():
    scores, g = synthetic_scores(500, seed=9), LogisticCalibration(6.0, -2.0)
    taus = np.linspace(0, 1, 41)
    direct = [np.mean(np.where(scores < t, 2.0 * 0.6, 2.0 * g(scores))) for t in taus]
    np.testing.assert_allclose(expected_utility(taus, scores, 0.6, g, reward=2.0), direct, atol=1e-12)


def test_logistic_fit_is_scikit_learns_platt_scaling():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    s = rng.random(400)
    y = rng.random(400) < LogisticCalibration(5.0, -2.0)(s)
    for ridge in (1e-4, 1e-1):
        g = LogisticCalibration.fit(s, y, ridge=ridge)
        ref = LogisticRegression(C=1 / ridge, tol=1e-12, max_iter=10_000).fit(s[:, None], y)
        assert g.a == pytest.approx(ref.coef_[0, 0], rel=1e-6) and g.b == pytest.approx(ref.intercept_[0], rel=1e-6)


def test_logistic_fit_floors_a_non_ranking_score_and_stays_finite_on_separable_logs():
    rng = np.random.default_rng(5)
    s = rng.random(2000)
    y = rng.random(2000) < 0.7 - 0.4 * s  # higher score, *less* often right
    g = LogisticCalibration.fit(s, y, min_slope=1e-3)
    assert g.a == 1e-3  # on the boundary: g is increasing but nearly flat ...
    assert float(g(0.5)) == pytest.approx(y.mean(), abs=1e-3)  # ... at the base rate of right answers
    separable = LogisticCalibration.fit([0.1, 0.2, 0.6, 0.9], [0, 0, 1, 1])
    assert 1 < separable.a < 1e3 and np.isfinite(separable.b)  # the ridge keeps a perfect ranking finite
    assert float(separable(0.2)) < 0.5 < float(separable(0.6))


@pytest.mark.parametrize(
    ("scores", "labels", "field"),
    [([0.1, 0.2], [1, 1], "labels"), ([0.1, 0.2], [0, 2], "labels"), ([0.1], [0, 1], "scores"),
     ([math.nan, 0.2], [0, 1], "scores")],
)
def test_logistic_fit_rejects_bad_logs_naming_the_field(scores, labels, field):
    with pytest.raises(ValueError, match=rf"^{field} must"):
        LogisticCalibration.fit(scores, labels)


# ---- SymPy proofs ------------------------------------------------------------------------------


def test_all_symbolic_claims_are_proved():
    from netgpt_lite.theory.proofs import all_proofs

    results = all_proofs()
    assert len(results) >= 15
    failed = [r.claim for r in results if not r.verdict]
    assert not failed, failed


def test_sign_check_can_fail():
    """The verdict is SymPy's sign answer, not a constant: a false claim is reported as not proved."""
    from netgpt_lite.theory.proofs import kappa_expr, sign_claim, sym

    z = sym()
    assert not sign_claim("tau* rises with RTT (false)", kappa_expr().diff(z.RTT), +1).verdict
    assert not sign_claim("undecidable without q_c > ...", kappa_expr(), +1).verdict


def test_derivation_steps():
    import sympy as sp

    from netgpt_lite.theory.proofs import cloud_time_expr, cost_expr, derivation, inverse_derivative, sym

    z, d = sym(), derivation()
    expected = z.q_c - (z.lambda_T * cloud_time_expr() + z.lambda_C * cost_expr()) / z.R
    assert sp.simplify(d["kappa"] - expected) == 0
    logistic_at_tau = d["logistic_calibration"].subs(z.s, d["tau_logistic"])
    assert sp.simplify(logistic_at_tau - z.kappa) == 0
    assert inverse_derivative().has(sp.Derivative)
