"""The optimal fallback threshold tau*(bandwidth, RTT, price): derived in SymPy, evaluated in numpy.

The edge has already answered, so its latency and cost are sunk: the decision only weighs what happens next.  With reward
R for a correct tool call, latency weight lambda_T (per ms) and money weight lambda_C (per USD):

    keep the edge answer:  R * g(s)                      g(s) = P(edge right | score s), increasing
    fall back to cloud:    R * q_c - lambda_T * T_c(z) - lambda_C * C_c(p)

so the task falls back iff g(s) < kappa(z, p) = q_c - (lambda_T * T_c + lambda_C * C_c) / R, i.e. iff
s < tau* = g^-1(kappa).  Clipping: if kappa <= g(0) no score is low enough, tau* = 0 (everything stays
on the edge); if kappa >= g(1) every score is, tau* = 1 (everything falls back, except a perfect s = 1,
since the rule is "fall back iff s < tau").  For logistic calibration g(s) = 1 / (1 + exp(-(a s + b)))
the inverse is closed: tau* = (log(kappa / (1 - kappa)) - b) / a.

The calibration g is fitted by :meth:`LogisticCalibration.fit` (Platt scaling, numpy Newton steps);
threshold sweeps over a set of scores live in :mod:`netgpt_lite.theory.sweep`.  This module keeps the
numeric path light (numpy only); the SymPy derivations and proofs live in
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
from netgpt_lite.theory.sweep import threshold_sweep


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


DEFAULT_RIDGE = 1e-4  # L2 weight on the slope: scikit-learn's LogisticRegression(C=1e4)
MIN_SLOPE = 1e-3  # the smallest slope a fit returns, so that g stays strictly increasing


def _logistic_newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """argmin_theta sum(log(1 + e^z) - y z) + sum(ridge theta^2) / 2 with z = offset + x theta.

    Damped Newton (backtracking on the objective): the objective is strictly convex whenever an
    unpenalised column varies or ``ridge`` > 0, so it converges in a few dozen steps at most.
    """
    def objective(theta):
        z = offset + x @ theta
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(ridge * theta**2))

    theta = np.zeros(x.shape[1])
    f = objective(theta)
    for _ in range(200):
        with np.errstate(over="ignore"):  # e^-z overflows to inf for z << 0; p is then exactly 0
            p = 1.0 / (1.0 + np.exp(-(offset + x @ theta)))
        grad = x.T @ (p - y) + ridge * theta
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + np.diag(ridge) + 1e-12 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-12 and objective(theta - t * step) > f - 1e-4 * t * float(grad @ step):
            t /= 2.0
        theta = theta - t * step
        f_new = objective(theta)
        if f - f_new <= 1e-14 * (1.0 + abs(f)):
            break
        f = f_new
    return theta


@dataclass(frozen=True)
class LogisticCalibration:
    """g(s) = 1 / (1 + exp(-(a * s + b))), the probability that the edge call is right given score s.

    The one logistic (Platt) calibration of the library: chapter 2's closed form uses its ``a``
    and ``b`` (tau* = (logit(kappa) - b) / a), chapter 4 fits it to logged scores and FuncDyn to
    exploration logs, all with :meth:`fit`.  Like ``edge.scoring.IsotonicCalibration`` it is built
    by ``fit(scores, labels)``, called as ``g(scores)`` and inverted by ``g.inverse(prob)``.

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

    @classmethod
    def fit(cls, scores, labels, *, ridge: float = DEFAULT_RIDGE, min_slope: float = MIN_SLOPE) -> LogisticCalibration:
        """Platt scaling: maximum likelihood of g on logged (score, edge right?) pairs, in numpy.

        Minimises the summed log-loss plus ``ridge * a**2 / 2`` (the intercept is not penalised):
        exactly scikit-learn's ``LogisticRegression(C=1 / ridge)``.  The small default ridge only
        matters when the logs are separable (a score that ranks perfectly), where the unpenalised
        slope would diverge; on a few hundred noisy logs it changes a by well under 1%.

        The slope is constrained to ``a >= min_slope`` (> 0) so that g is increasing and
        invertible, as the closed form needs.  For a score that does not rank (its unconstrained
        fit has a < min_slope: higher scores are not more often right) the constrained optimum sits
        on the boundary, a = min_slope with b refitted: g is then nearly flat at the base rate of
        right answers, so the threshold tau* = g^-1(kappa) is ~0 or ~1 (all edge when kappa is
        below the base rate, all cloud above it): such a score cannot route better than that.

        Args:
            scores: logged edge scores, shape (n,), finite.
            labels: whether each edge answer was right (0/1 or booleans); both classes must occur.
            ridge: the L2 weight on the slope (> 0).
            min_slope: the smallest slope returned (> 0).

        Example:
            >>> g = LogisticCalibration.fit([0.1, 0.3, 0.4, 0.6, 0.7, 0.9], [0, 0, 1, 0, 1, 1])
            >>> round(g.a, 2), round(g.b, 2)
            (6.74, -3.37)
            >>> LogisticCalibration.fit([0.1, 0.3, 0.6, 0.9], [1, 1, 0, 0]).a  # ranks backwards: floored
            0.001
        """
        s = np.asarray(scores, dtype=float).ravel()
        y = np.asarray(labels, dtype=float).ravel()
        if s.shape != y.shape or s.size == 0 or not np.isfinite(s).all():
            raise ValueError(f"scores must be finite, non-empty and as long as labels; got {s.size} and {y.size}")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be 0/1 (or booleans)")
        if y.min() == y.max():
            raise ValueError("labels must contain both classes (right and wrong edge answers) to fit a calibration")
        positive_array("ridge", ridge)
        positive_array("min_slope", min_slope)
        ones = np.ones((s.size, 1))
        a, b = _logistic_newton(np.hstack([s[:, None], ones]), y, np.zeros(s.size), np.array([ridge, 0.0]))
        if a < min_slope:  # convex objective: the constrained optimum lies on the boundary a = min_slope
            a = float(min_slope)
            (b,) = _logistic_newton(ones, y, a * s, np.zeros(1))
        return cls(a=float(a), b=float(b))

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
    return threshold_from_kappa(kappa(bandwidth_mbps, rtt_ms, usd_per_1k_input, usd_per_1k_output, **kappa_kwargs),
                                calibration)


def threshold_from_kappa(k, calibration=LogisticCalibration()) -> np.ndarray:  # noqa: B008 - frozen default
    """tau = g^-1(kappa) clipped to [0, 1]: 0 where no score is low enough (kappa <= g(0)), 1 where every
    score is (kappa >= g(1)); ``calibration`` is any increasing map with ``__call__`` and ``inverse``.

    Example:
        >>> threshold_from_kappa([-0.5, 0.5, 2.0], LogisticCalibration(10.0, -5.0)).tolist()
        [0.0, 0.5, 1.0]
    """
    k = np.asarray(k, dtype=float)
    g0, g1 = float(calibration(0.0)), float(calibration(1.0))
    tau = np.asarray(calibration.inverse(np.clip(k, g0, g1)), dtype=float)
    tau[k <= g0] = 0.0  # no score is low enough: everything stays on the edge
    tau[k >= g1] = 1.0  # every score is: everything falls back
    return np.clip(tau, 0.0, 1.0, out=tau)


def expected_utility(thresholds, scores, kappa_value: float, calibration=LogisticCalibration(), reward=1.0):  # noqa: B008
    """Mean utility per task (up to the sunk edge terms) of the rule "fall back iff s < tau", per threshold.

    Keeping earns R * g(s); falling back earns R * q_c - lambda_T T_c - lambda_C C_c = R * kappa.
    For increasing g this is maximised at tau = g^-1(kappa) (the theorem; see the notebook figure).
    One sorted sweep (:func:`~netgpt_lite.theory.sweep.threshold_sweep`) serves every threshold.

    Example:
        >>> expected_utility([0.0, 0.5, 1.0], [0.25, 0.75], 0.5, LogisticCalibration(10.0, -5.0)).round(3).tolist()
        [0.5, 0.712, 0.5]
    """
    s = np.asarray(scores, dtype=float)
    taus = np.asarray(thresholds, dtype=float).reshape(-1)
    return threshold_sweep(s, taus, {"utility": (reward * calibration(s), reward * kappa_value)})["utility"]


def synthetic_scores(n: int, seed: int = 0, alpha: float = 2.0, beta: float = 1.5) -> np.ndarray:
    """Seeded *synthetic* edge scores ~ Beta(alpha, beta), a stand-in until chapter 4 has real ones."""
    return np.random.default_rng(seed).beta(alpha, beta, size=n)
