"""Online recalibration: the logit shift is learned from the fallbacks' labels, never from a request's own
outcome, and it pays where today's traffic is worse than the logs promised."""

import numpy as np
import pytest

from netgpt_lite.network.state import LatencyModel
from netgpt_lite.routing.context import RoutingContext, route
from netgpt_lite.routing.funcdyn import FuncDyn
from netgpt_lite.routing.online import OnlineRecalibration, fit_offset
from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights

LOGS_G = LogisticCalibration(10.0, -5.0)  # what the logs say: P(right | s) = sigmoid(10 s - 5)


def base_rule() -> FuncDyn:
    return FuncDyn(LOGS_G, 0.9, 40.0, 500.0, UtilityWeights(), LatencyModel())


def today(shift: float, n: int = 3000, seed: int = 0):
    """A day whose true P(right | s) is sigmoid(10 s - 5 + shift), network and price constant."""
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    p_true = 1.0 / (1.0 + np.exp(-(10.0 * s - 5.0 + shift)))
    right = rng.random(n) < p_true
    return RoutingContext.constant(s, bandwidth_mbps=50.0, rtt_ms=40.0, edge_correct=right), p_true


@pytest.mark.parametrize("shift", [-1.0, 0.0, 1.0])
def test_fit_offset_recovers_a_known_logit_shift(shift):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20_000)
    y = rng.random(p.size) < 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + shift)))
    assert fit_offset(p, y, prior_strength=1.0) == pytest.approx(shift, abs=0.08)


def test_the_prior_holds_the_logs_calibration_until_labels_disagree():
    assert fit_offset(np.full(5, 0.5), np.zeros(5), prior_strength=1e6) == pytest.approx(0.0, abs=1e-4)
    weak, strong = (fit_offset(np.full(40, 0.5), np.zeros(40), prior_strength=k) for k in (1.0, 100.0))
    assert weak < strong < 0.0  # all wrong: b goes negative, less far under a stronger prior


def test_no_decision_uses_its_own_or_a_later_outcome():
    ctx, _ = today(-1.5, n=600)
    online = OnlineRecalibration(base_rule(), block=50)
    tau = online.thresholds(ctx)
    flipped = ctx.edge_correct.copy()
    flipped[300:] = ~flipped[300:]  # rewrite the outcomes from request 300 on
    from dataclasses import replace

    tau2 = online.thresholds(replace(ctx, edge_correct=flipped))
    np.testing.assert_array_equal(tau[:350], tau2[:350])  # block 300-349 was decided before its labels came back
    assert not np.array_equal(tau[350:], tau2[350:])


def test_offsets_start_at_zero_and_track_the_shift():
    for shift in (-1.5, 0.0):
        ctx, _ = today(shift)
        b = OnlineRecalibration(base_rule()).offsets(ctx)
        assert b[0] == 0.0
        assert b[-1] == pytest.approx(shift, abs=0.35)


def test_recalibration_pays_when_today_is_worse_than_the_logs():
    base = base_rule()
    ctx, p_true = today(-1.5, n=4000)
    k = base.kappa(ctx)  # falling back earns kappa (in units of R); keeping earns P(right)

    def utility(thresholds):
        return float(np.mean(np.where(route(ctx.scores, thresholds), k, p_true)))

    best = utility(base.threshold_at(k, offset=-1.5))  # the rule that knows the shift
    u_base, u_online = utility(base.thresholds(ctx)), utility(OnlineRecalibration(base).thresholds(ctx))
    assert u_base < u_online <= best + 1e-12
    assert (u_online - u_base) > 0.5 * (best - u_base)


@pytest.mark.parametrize("kwargs, message", [
    ({"block": 0}, "block must be an integer >= 1"),
    ({"window": 2.5}, "window must be an integer >= 1"),
    ({"prior_strength": -1.0}, "prior_strength must be a finite number >= 0"),
])
def test_bad_settings_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OnlineRecalibration(base_rule(), **kwargs)


def test_a_context_without_labels_is_refused():
    ctx = RoutingContext.constant(np.linspace(0, 1, 10), bandwidth_mbps=50.0, rtt_ms=40.0)
    with pytest.raises(ValueError, match="must carry edge_correct"):
        OnlineRecalibration(base_rule()).thresholds(ctx)


def test_fit_policies_adds_the_online_rule_unless_asked_not_to():
    from netgpt_lite.experiments.frontier import fit_policies
    from netgpt_lite.routing.simulator import SimulationConfig, make_stream, synthetic_table

    table = synthetic_table(200, 1)
    logs = make_stream(table, SimulationConfig(n_requests=400, seed=3))
    with_online = fit_policies(table, logs, seed=0, policynet_epochs=5)
    assert isinstance(with_online["funcdyn_online"], OnlineRecalibration)
    assert with_online["funcdyn_online"].base == with_online["funcdyn"]
    assert "funcdyn_online" not in fit_policies(table, logs, seed=0, policynet_epochs=5, online=False)
