"""FuncDyn: the closed form of chapter 2 as a routing policy, tau*(z, p) = g^-1(kappa(z, p)) per request.

The threshold follows the network state z and the price p each request meets: :func:`kappa` of
:mod:`netgpt_lite.theory.threshold` gives the calibrated success probability below which the cloud is
worth its latency and cost, and the inverse of the calibration g (P(edge right | score)) turns it into
a score threshold.  g is fitted on logs (:func:`fit_calibration`: isotonic by default, or Platt), as are
the cloud's success probability and answer size; :meth:`FuncDyn.tune` then fits two free parameters
(a penalty scale and a calibration temperature) for utility on the same logs.  The correctness Oracle
(:class:`netgpt_lite.routing.policies.Oracle`) reuses FuncDyn's estimates with a perfect g.

Example:
    >>> import numpy as np
    >>> from netgpt_lite.network.state import LatencyModel
    >>> from netgpt_lite.routing.context import RoutingContext
    >>> from netgpt_lite.theory.threshold import UtilityWeights
    >>> rng = np.random.default_rng(0)
    >>> s = rng.random(500); right = rng.random(500) < s   # logs: the edge is right with probability s
    >>> f = FuncDyn.fit(s, right, np.ones(500), np.full(500, 40.0), np.full(500, 400.0), UtilityWeights(),
    ...                 LatencyModel(), calibration="platt")
    >>> bandwidth_mbps, rtt_ms = [0.1, 10.0, 300.0], [2000.0, 80.0, 10.0]
    >>> ctx = RoutingContext.constant(np.full(3, 0.5), bandwidth_mbps, rtt_ms)
    >>> f.thresholds(ctx).round(3)   # near outage nothing falls back; the better the network, the higher tau
    array([0.   , 0.651, 0.683])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from netgpt_lite.network.state import positive_array
from netgpt_lite.routing.context import RoutingContext, check_probability, route
from netgpt_lite.theory.threshold import LogisticCalibration, Workload, kappa, threshold_from_kappa

P_CLIP = 1e-3  # probabilities kept off 0 and 1 so their logits stay finite (isotonic maps reach both)

CALIBRATIONS = ("platt", "isotonic")


def fit_calibration(scores, edge_correct, method: str = "isotonic"):
    """g(s) = P(edge right | score s) fitted on logs: ``"isotonic"`` (non-parametric, follows a jagged
    empirical map) or ``"platt"`` (logistic, two parameters, smooth).

    Example:
        >>> g = fit_calibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "platt")
        >>> bool(g(0.9) > g(0.1))
        True
    """
    if method == "platt":
        return LogisticCalibration.fit(scores, edge_correct)
    if method == "isotonic":
        from netgpt_lite.edge.scoring import IsotonicCalibration

        return IsotonicCalibration.fit(scores, edge_correct)
    raise ValueError(f"calibration must be one of {list(CALIBRATIONS)}; got {method!r}")


@dataclass(frozen=True)
class FuncDyn:
    """The closed form of chapter 2, evaluated per request: tau = g^-1(kappa(z, p)).

    Built with :meth:`fit` from logs: the calibration g (isotonic by default, or Platt), the cloud
    success probability q_c and the expected cloud answer size are estimated; the prompt size, network
    state and price are read from each request's context.  :meth:`tune` then fits its two free
    parameters by maximising empirical utility on the same logs.

    Attributes:
        calibration: an increasing map g with ``__call__`` and ``inverse`` (e.g.
            :class:`~netgpt_lite.theory.threshold.LogisticCalibration`).
        q_cloud: estimated cloud success probability in [0, 1].
        cloud_output_tokens: expected output tokens of a cloud answer (>= 0).
        response_bytes: expected bytes of a cloud answer (>= 0).
        weights: ``theory.UtilityWeights`` (the simulator's).
        latency: ``network.LatencyModel``.
        penalty_scale: multiplies the fallback penalty (lambda_T T_c + lambda_C C_c) / R (> 0; 1 = the
            plug-in rule); absorbs a latency or cost model that is off by a factor.
        temperature: tempers the calibration, g_T(s) = sigmoid(logit(g(s)) / T) (> 0; 1 = as fitted);
            corrects a map that is over- or under-confident on new traffic.

    Example:
        >>> from netgpt_lite.theory.threshold import UtilityWeights
        >>> from netgpt_lite.network.state import LatencyModel
        >>> f = FuncDyn(LogisticCalibration(10.0, -5.0), 0.9, 40.0, 500.0, UtilityWeights(), LatencyModel())
        >>> ctx = RoutingContext.constant(np.array([0.5, 0.5]), bandwidth_mbps=[0.1, 100.0], rtt_ms=[2000.0, 20.0])
        >>> bool(f.thresholds(ctx)[0] < f.thresholds(ctx)[1])  # a worse network keeps more on the edge
        True
    """

    calibration: object
    q_cloud: float
    cloud_output_tokens: float
    response_bytes: float
    weights: object
    latency: object
    penalty_scale: float = 1.0
    temperature: float = 1.0
    name: str = "funcdyn"

    def __post_init__(self) -> None:
        check_probability("q_cloud", self.q_cloud)
        positive_array("cloud_output_tokens", self.cloud_output_tokens, allow_zero=True)
        positive_array("response_bytes", self.response_bytes, allow_zero=True)
        positive_array("penalty_scale", self.penalty_scale)
        positive_array("temperature", self.temperature)

    @classmethod
    def fit(cls, scores, edge_correct, cloud_correct, cloud_output_tokens, response_bytes, weights, latency,
            calibration: str = "isotonic") -> FuncDyn:
        """Estimate g (``calibration``: ``"isotonic"`` or ``"platt"``), q_c and the cloud answer size from
        logged requests (arrays per request): the plug-in rule."""
        return cls(fit_calibration(scores, edge_correct, calibration), float(np.mean(cloud_correct)),
                   float(np.mean(cloud_output_tokens)), float(np.mean(response_bytes)), weights, latency)

    def tune(self, context: RoutingContext, edge_utility, cloud_utility,
             penalty_scales=(0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 2.0), temperatures=(0.5, 0.75, 1.0, 1.5, 2.0)) -> FuncDyn:
        """The (penalty_scale, temperature) on the grid with the highest empirical utility on logged
        requests (``context`` plus both logged utilities per request); ties keep the plug-in values.

        Example:
            >>> from netgpt_lite.theory.threshold import UtilityWeights
            >>> from netgpt_lite.network.state import LatencyModel
            >>> f = FuncDyn(LogisticCalibration(10.0, -5.0), 0.9, 40.0, 500.0, UtilityWeights(), LatencyModel())
            >>> ctx = RoutingContext.constant(np.linspace(0, 1, 50), bandwidth_mbps=50.0, rtt_ms=40.0)
            >>> tuned = f.tune(ctx, np.zeros(50), np.ones(50))  # logs where the cloud always won
            >>> int(route(ctx.scores, f.thresholds(ctx)).sum()), int(route(ctx.scores, tuned.thresholds(ctx)).sum())
            (27, 36)
        """
        gain = np.asarray(cloud_utility, float) - np.asarray(edge_utility, float)
        best, best_value = self, float(np.sum(gain[route(context.scores, self.thresholds(context))]))
        for scale in penalty_scales:
            for temp in temperatures:
                cand = replace(self, penalty_scale=float(scale), temperature=float(temp))
                value = float(np.sum(gain[route(context.scores, cand.thresholds(context))]))
                if value > best_value + 1e-12:
                    best, best_value = cand, value
        return best

    def _workload(self, context: RoutingContext):
        return Workload(request_bytes=context.request_bytes, response_bytes=self.response_bytes,
                        n_input_tokens=context.n_input_tokens, n_output_tokens=self.cloud_output_tokens)

    def kappa(self, context: RoutingContext) -> np.ndarray:
        """kappa(z, p) per request: the calibrated success probability below which it falls back
        (the plug-in kappa with the penalty scaled by ``penalty_scale``)."""
        w = self.weights
        if self.penalty_scale != 1.0:
            w = replace(w, lambda_latency_per_ms=w.lambda_latency_per_ms * self.penalty_scale,
                        lambda_cost_per_usd=w.lambda_cost_per_usd * self.penalty_scale)
        return kappa(context.bandwidth_mbps, context.rtt_ms, context.usd_per_1k_input, context.usd_per_1k_output,
                     q_cloud=self.q_cloud, weights=w, workload=self._workload(context), latency=self.latency)

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return self.threshold_at(self.kappa(context))

    def calibrated(self, scores) -> np.ndarray:
        """g_T(s) = sigmoid(logit(g(s)) / T): the calibration as tempered by ``temperature``, kept off 0 and 1.

        Example:
            >>> f = FuncDyn(LogisticCalibration(10.0, -5.0), 0.9, 40.0, 500.0, None, None, temperature=2.0)
            >>> f.calibrated([0.5, 0.7]).round(3)
            array([0.5  , 0.731])
        """
        g = np.clip(np.asarray(self.calibration(scores), dtype=float), P_CLIP, 1.0 - P_CLIP)
        if self.temperature == 1.0:
            return g
        return 1.0 / (1.0 + np.exp(-np.log(g / (1.0 - g)) / self.temperature))

    def threshold_at(self, k, offset=0.0) -> np.ndarray:
        """The score threshold for kappa values ``k`` under the calibration tempered by ``temperature`` and
        shifted by ``offset`` in logit space: g_{T,b}(s) = sigmoid(logit(g(s)) / T + b).

        ``offset`` (scalar or one per k) is what online recalibration learns
        (:class:`~netgpt_lite.routing.online.OnlineRecalibration`); 0 is the calibration fitted on the logs.

        Example:
            >>> f = FuncDyn(LogisticCalibration(10.0, -5.0), 0.9, 40.0, 500.0, None, None)
            >>> f.threshold_at([0.5]).round(3), f.threshold_at([0.5], offset=-1.0).round(3)  # less trust: higher tau
            (array([0.5]), array([0.6]))
        """
        k = np.asarray(k, dtype=float)
        offset = np.asarray(offset, dtype=float)
        if self.temperature != 1.0 or offset.any():
            # g_{T,b}(s) < k  <=>  g(s) < sigmoid(T (logit(k) - b)), for k in (0, 1)
            inside = (k > 0.0) & (k < 1.0)
            kc = np.clip(k, 1e-12, 1.0 - 1e-12)
            z = self.temperature * (np.log(kc / (1.0 - kc)) - offset)
            k = np.where(inside, 1.0 / (1.0 + np.exp(-z)), k)
        return threshold_from_kappa(k, self.calibration)
