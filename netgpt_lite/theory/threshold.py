"""The optimal fallback threshold tau*(bandwidth, RTT, price): derived in SymPy, evaluated in numpy.

The edge has already answered, so its latency and cost are sunk (DESIGN.md section 2).  With reward
R for a correct tool call, latency weight lambda_T (per ms) and money weight lambda_C (per USD):

    keep the edge answer:  R * g(s)                      g(s) = P(edge right | score s), increasing
    fall back to cloud:    R * q_c - lambda_T * T_c(z) - lambda_C * C_c(p)

so the task falls back iff g(s) < kappa(z, p) = q_c - (lambda_T * T_c + lambda_C * C_c) / R, i.e. iff
s < tau* = g^-1(kappa).  Clipping: if kappa <= g(0) no score is low enough, tau* = 0 (everything stays
on the edge); if kappa >= g(1) every score is, tau* = 1 (everything falls back, except a perfect s = 1,
since the rule is "fall back iff s < tau").  For logistic calibration g(s) = 1 / (1 + exp(-(a s + b)))
the inverse is closed: tau* = (log(kappa / (1 - kappa)) - b) / a.

This module keeps the numeric path light (numpy only); the SymPy derivations and proofs live in
:mod:`netgpt_lite.theory.proofs`, which also lambdifies the closed form (:func:`threshold_lambdified`).

Default weights: ``lambda_latency_per_ms = 5e-4`` (2 s of waiting cost one correct answer) and
``lambda_cost_per_usd = 20`` (5 US cents cost one).  With the default workload (1,500 input and 40
output tokens, 6.4 kB on the wire) and price, the penalty of a fallback is ~0.34 on 5G, ~0.45 in a
congested cell, ~0.65 over satellite and > 2 near outage, so with ``q_cloud = 0.9`` tau* moves through
(0, 1): ~0.53 on good 5G (a large share falls back), ~0.36 over satellite, 0 near outage.

Example:
    >>> from netgpt_lite.theory.threshold import optimal_threshold
    >>> round(float(optimal_threshold(200.0, 20.0, 0.003, 0.015)), 3)  # good 5G, default price
    0.532
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netgpt_lite.network.state import LatencyModel, positive_array


@dataclass(frozen=True)
class UtilityWeights:
    """Weights of the per-request utility U = R * 1{success} - lambda_T * latency_ms - lambda_C * cost_usd.

    Attributes:
        reward: R, utility of a correct tool call (> 0).
        lambda_latency_per_ms: utility lost per millisecond of waiting (> 0).
        lambda_cost_per_usd: utility lost per US dollar spent on the cloud (> 0).
    """

    reward: float = 1.0
    lambda_latency_per_ms: float = 5e-4
    lambda_cost_per_usd: float = 20.0

    def __post_init__(self) -> None:
        for name in ("reward", "lambda_latency_per_ms", "lambda_cost_per_usd"):
            positive_array(name, getattr(self, name))


@dataclass(frozen=True)
class Workload:
    """Size of one tool-calling request (defaults: a prompt with a few JSON tool schemas).

    Attributes:
        request_bytes: bytes uploaded to the cloud (messages + tool schemas), >= 0.
        response_bytes: bytes downloaded (the tool call), >= 0.
        n_input_tokens: billed prompt tokens, >= 0.
        n_output_tokens: billed and generated output tokens, >= 0.
    """

    request_bytes: float = 6000.0
    response_bytes: float = 400.0
    n_input_tokens: float = 1500.0
    n_output_tokens: float = 40.0

    def __post_init__(self) -> None:
        for name in ("request_bytes", "response_bytes", "n_input_tokens", "n_output_tokens"):
            positive_array(name, getattr(self, name), allow_zero=True)


@dataclass(frozen=True)
class LogisticCalibration:
    """g(s) = 1 / (1 + exp(-(a * s + b))), the probability that the edge call is right given score s.

    Attributes:
        a: slope (> 0, so g is strictly increasing).
        b: intercept (finite); g(0) = sigmoid(b), g(1) = sigmoid(a + b).

    Example:
        >>> g = LogisticCalibration(a=10.0, b=-5.0)
        >>> float(g(0.5)), float(g.inverse(0.5))
        (0.5, 0.5)
    """

    a: float = 8.0
    b: float = -4.0

    def __post_init__(self) -> None:
        positive_array("a", self.a)
        if not np.isfinite(self.b):
            raise ValueError(f"b must be finite (the logistic intercept); got {self.b}")

    def __call__(self, score) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(score, dtype=float) + self.b)))

    def inverse(self, prob) -> np.ndarray:
        """g^-1(p) = (log(p / (1 - p)) - b) / a for p in (0, 1)."""
        p = np.asarray(prob, dtype=float)
        out = np.empty_like(p)
        np.subtract(1.0, p, out=out)
        np.log(np.divide(p, out, out=out), out=out)  # log(p / (1 - p)), in place
        out -= self.b
        out /= self.a
        return out


@dataclass(frozen=True)
class Deadline:
    """Extension (i): a latency deadline with random RTT.

    The measured ``rtt_ms`` is taken as the minimum RTT; the actual RTT is rtt_ms + Exp(mean
    ``rtt_jitter_mean_ms``).  A fallback that finishes after ``deadline_ms`` loses ``miss_penalty``.
    Then E[T_c] = T_c + mean, and P(miss) = exp(-(deadline - T_c) / mean) (1 when T_c >= deadline).

    Attributes:
        deadline_ms: the latency budget of one request in ms (> 0).
        miss_penalty: utility lost when the cloud answer comes late (> 0).
        rtt_jitter_mean_ms: mean of the exponential part of the RTT in ms (> 0).
    """

    deadline_ms: float = 1500.0
    miss_penalty: float = 0.5
    rtt_jitter_mean_ms: float = 100.0

    def __post_init__(self) -> None:
        for name in ("deadline_ms", "miss_penalty", "rtt_jitter_mean_ms"):
            positive_array(name, getattr(self, name))

    def miss_probability(self, cloud_ms) -> np.ndarray:
        """P(T_c + Exp(mean) > deadline) for the deterministic part ``cloud_ms``."""
        slack_ms = self.deadline_ms - np.asarray(cloud_ms, dtype=float)
        return np.exp(-np.maximum(slack_ms, 0.0) / self.rtt_jitter_mean_ms)


def _probability(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not (np.isfinite(arr) & (arr >= 0) & (arr <= 1)).all():
        raise ValueError(f"{name} must be a probability in [0, 1]; got {value}")
    return arr


def kappa(
    bandwidth_mbps,
    rtt_ms,
    usd_per_1k_input,
    usd_per_1k_output,
    *,
    q_cloud=0.9,
    weights: UtilityWeights = UtilityWeights(),  # noqa: B008 - frozen dataclass defaults are immutable
    workload: Workload = Workload(),  # noqa: B008
    latency: LatencyModel = LatencyModel(),  # noqa: B008
    deadline: Deadline | None = None,
) -> np.ndarray:
    """kappa = q_c - (lambda_T * E[T_c] + lambda_C * C_c + penalty * P(miss)) / R, broadcasting.

    The calibrated success probability g(s) below which a task falls back to the cloud.  Without a
    ``deadline`` the last term is absent and E[T_c] = T_c.

    Example:
        >>> round(float(kappa(200.0, 20.0, 0.003, 0.015)), 4)
        0.5629
    """
    bw = positive_array("bandwidth_mbps", bandwidth_mbps)
    rtt = positive_array("rtt_ms", rtt_ms)
    p_in = positive_array("usd_per_1k_input", usd_per_1k_input, allow_zero=True)
    p_out = positive_array("usd_per_1k_output", usd_per_1k_output, allow_zero=True)
    q = _probability("q_cloud", q_cloud)
    w, wl = weights, workload
    # The same formulas as network.cloud_time_ms and pricing.request_cost_usd, fused in place
    # (two buffers, no temporaries): a million states take ~20 ms of one core.
    shape = np.broadcast_shapes(bw.shape, rtt.shape, p_in.shape, p_out.shape, q.shape)
    t_c, buf = np.empty(shape), np.empty(shape)
    np.divide(8.0 * (wl.request_bytes + wl.response_bytes) / 1000.0, bw, out=t_c)  # transfer ms
    t_c += rtt
    t_c += latency.queueing_ms + 1000.0 * wl.n_output_tokens / latency.cloud_tokens_per_s
    extra = 0.0
    if deadline is not None:  # E[T_c] gains the jitter mean; a late answer costs the miss penalty
        extra = w.lambda_latency_per_ms * deadline.rtt_jitter_mean_ms
        extra = extra + deadline.miss_penalty * deadline.miss_probability(t_c)
    penalty = np.multiply(t_c, w.lambda_latency_per_ms, out=t_c)  # lambda_T * T_c
    penalty += np.multiply(p_in, w.lambda_cost_per_usd * wl.n_input_tokens / 1000.0, out=buf)
    penalty += np.multiply(p_out, w.lambda_cost_per_usd * wl.n_output_tokens / 1000.0, out=buf)
    penalty += extra
    penalty /= -w.reward  # now -penalty / R
    penalty += q  # now kappa
    return penalty


def optimal_threshold(
    bandwidth_mbps,
    rtt_ms,
    usd_per_1k_input,
    usd_per_1k_output,
    *,
    calibration: LogisticCalibration = LogisticCalibration(),  # noqa: B008
    **kappa_kwargs,
) -> np.ndarray:
    """tau* = g^-1(kappa) clipped to [0, 1]: fall back iff the edge score s < tau* (broadcasting).

    Args:
        bandwidth_mbps, rtt_ms: network state(s), finite and > 0.
        usd_per_1k_input, usd_per_1k_output: cloud price(s), finite and >= 0.
        calibration: an increasing map g with ``__call__`` and ``inverse`` (default logistic).
        **kappa_kwargs: ``q_cloud``, ``weights``, ``workload``, ``latency``, ``deadline`` of :func:`kappa`.

    Example:
        >>> float(optimal_threshold(0.05, 2500.0, 0.003, 0.015))  # near outage: all stay on the edge
        0.0
    """
    k = kappa(bandwidth_mbps, rtt_ms, usd_per_1k_input, usd_per_1k_output, **kappa_kwargs)
    g0, g1 = float(calibration(0.0)), float(calibration(1.0))
    tau = np.asarray(calibration.inverse(np.clip(k, g0, g1)), dtype=float)
    tau[k <= g0] = 0.0  # no score is low enough: everything stays on the edge
    tau[k >= g1] = 1.0  # every score is: everything falls back
    return np.clip(tau, 0.0, 1.0, out=tau)


def offload_fraction(thresholds, scores) -> np.ndarray:
    """Share of ``scores`` below each threshold (the cloud fraction), vectorised over thresholds."""
    s = np.sort(np.asarray(scores, dtype=float))
    return np.searchsorted(s, np.asarray(thresholds, dtype=float), side="left") / len(s)


def expected_utility(thresholds, scores, kappa_value: float, calibration=LogisticCalibration(), reward=1.0):  # noqa: B008
    """Mean utility per task (up to the sunk edge terms) of the rule "fall back iff s < tau".

    Keeping earns R * g(s); falling back earns R * q_c - lambda_T T_c - lambda_C C_c = R * kappa.
    For increasing g this is maximised at tau = g^-1(kappa) (the theorem; see the notebook figure).
    """
    s = np.asarray(scores, dtype=float)
    keep = s[None, :] >= np.asarray(thresholds, dtype=float).reshape(-1, 1)
    return reward * np.where(keep, calibration(s)[None, :], kappa_value).mean(axis=1)


def threshold_for_cloud_fraction(scores, cloud_fraction: float) -> float:
    """RouteLLM-style calibration: the score quantile that sends ``cloud_fraction`` of tasks to the cloud.

    Extension (ii): maximising success subject to mean cost <= budget gives tau = g^-1(q_c - mu C_c)
    (see :mod:`netgpt_lite.theory.proofs`); the binding budget fixes the fraction budget / C_c,
    and the threshold that achieves a fraction is this quantile.
    """
    f = float(_probability("cloud_fraction", cloud_fraction))
    return float(np.quantile(np.asarray(scores, dtype=float), f))


def synthetic_scores(n: int, seed: int = 0, alpha: float = 2.0, beta: float = 1.5) -> np.ndarray:
    """Seeded *synthetic* edge scores ~ Beta(alpha, beta), a stand-in until chapter 4 has real ones."""
    return np.random.default_rng(seed).beta(alpha, beta, size=n)
