"""Routing policies: who answers a request, the edge (already run) or the cloud (fallback)?

Every policy only computes a **threshold** per request; :func:`route` is the one place where the
rule "fall back iff score < threshold" is applied (as in RouteLLM, where a router is a score and
one shared function applies the threshold).  A threshold of 0 keeps every edge answer (scores are
in [0, 1]); ``ALWAYS_CLOUD`` (+inf) sends every request to the cloud.

Policies, all applied by the one :func:`route` path, from network-blind to network-aware to the limit:

* :class:`AlwaysEdge`, :class:`AlwaysCloud`, :class:`FixedThreshold` - constant thresholds;
* :class:`CalibratedQuantile` - RouteLLM-style: the score quantile that sends a target fraction of
  calibration requests to the cloud;
* :class:`Cascade` - FrugalGPT-style under a budget: the threshold, chosen on logs, that maximises
  success subject to mean cloud cost <= budget;
* :class:`FuncDyn` - the closed form of chapter 2, tau*(z, p) = g^-1(kappa(z, p)), with g fitted on
  logs and evaluated per request from the measured network state and price;
* :class:`~netgpt_lite.routing.policy_net.PolicyNet` - a small MLP that learns the threshold from logs without
  being told the formula (its own module, :mod:`netgpt_lite.routing.policy_net`, since it needs torch);
* :class:`Oracle` - knows whether the edge answer is right: the physical limit of routing.

Example:
    >>> import numpy as np
    >>> ctx = RoutingContext.constant(np.array([0.2, 0.9]), bandwidth_mbps=50.0, rtt_ms=40.0)
    >>> route(ctx.scores, FixedThreshold(0.5).thresholds(ctx))
    array([ True, False])
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from netgpt_lite.network.pricing import Price
from netgpt_lite.network.state import positive_array
from netgpt_lite.theory.sweep import ALWAYS_CLOUD, threshold_for_cloud_fraction, threshold_sweep
from netgpt_lite.theory.threshold import LogisticCalibration, Workload, kappa, threshold_from_kappa


def route(scores, thresholds) -> np.ndarray:
    """The routing rule: a boolean fallback mask, True where ``score < threshold`` (broadcasts).

    This is the only place the comparison happens; policies only produce thresholds.

    Example:
        >>> route([0.1, 0.5, 0.9], 0.5)
        array([ True, False, False])
    """
    return np.asarray(scores, dtype=float) < np.asarray(thresholds, dtype=float)


def _column(name: str, values, n: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=float), (n,)).copy()
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; got {arr[~np.isfinite(arr)][0]}")
    return arr


@dataclass(frozen=True)
class RoutingContext:
    """What a policy may look at when a request arrives (parallel arrays, one entry per request).

    Attributes:
        scores: edge scores in [0, 1] (0 for unparseable or schema-invalid edge output).
        bandwidth_mbps: measured bandwidth (> 0) at the request's arrival.
        rtt_ms: measured round-trip time (> 0).
        usd_per_1k_input: cloud price of 1,000 input tokens now (>= 0).
        usd_per_1k_output: cloud price of 1,000 output tokens now (>= 0).
        n_input_tokens: prompt tokens the cloud would read (known before calling it).
        request_bytes: bytes the request would upload (known before calling the cloud).
        is_next_step: task feature, 1.0 for next-step planning tasks, 0.0 for single-step ones.
        edge_correct: whether the edge answer is right; only :class:`Oracle` may read it
            (``None`` when unknown).
    """

    scores: np.ndarray
    bandwidth_mbps: np.ndarray
    rtt_ms: np.ndarray
    usd_per_1k_input: np.ndarray
    usd_per_1k_output: np.ndarray
    n_input_tokens: np.ndarray
    request_bytes: np.ndarray
    is_next_step: np.ndarray
    edge_correct: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=float)
        if scores.ndim != 1:
            raise ValueError(f"scores must be a 1-D array; got shape {scores.shape}")
        if not ((scores >= 0) & (scores <= 1)).all():
            raise ValueError("scores must lie in [0, 1]")
        n = scores.size
        object.__setattr__(self, "scores", scores)
        for f in fields(self)[1:-1]:
            arr = _column(f.name, getattr(self, f.name), n)
            if f.name in ("bandwidth_mbps", "rtt_ms"):
                positive_array(f.name, arr)
            elif f.name != "is_next_step":
                positive_array(f.name, arr, allow_zero=True)
            object.__setattr__(self, f.name, arr)
        if self.edge_correct is not None:
            object.__setattr__(self, "edge_correct", _column("edge_correct", self.edge_correct, n) > 0.5)

    def __len__(self) -> int:
        return self.scores.size

    @classmethod
    def constant(cls, scores, bandwidth_mbps: float, rtt_ms: float, price: Price = Price(),  # noqa: B008
                 n_input_tokens: float = 600.0, request_bytes: float = 3000.0, is_next_step: float = 0.0,
                 edge_correct=None) -> RoutingContext:
        """A context where every request sees the same network state and price."""
        return cls(scores, bandwidth_mbps, rtt_ms, price.usd_per_1k_input, price.usd_per_1k_output,
                   n_input_tokens, request_bytes, is_next_step, edge_correct)

    def with_network(self, bandwidth_mbps, rtt_ms) -> RoutingContext:
        """The same requests under another network state (scalars or arrays)."""
        return replace(self, bandwidth_mbps=bandwidth_mbps, rtt_ms=rtt_ms)


def decide(policy, context: RoutingContext) -> np.ndarray:
    """Fallback mask of ``policy`` on ``context``: ``route(context.scores, policy.thresholds(context))``."""
    return route(context.scores, policy.thresholds(context))


# --- network-blind policies ----------------------------------------------------------------------
@dataclass(frozen=True)
class AlwaysEdge:
    """Never call the cloud (threshold 0)."""

    name: str = "always_edge"

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return np.zeros(len(context))


@dataclass(frozen=True)
class AlwaysCloud:
    """Always call the cloud (threshold +inf)."""

    name: str = "always_cloud"

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return np.full(len(context), ALWAYS_CLOUD)


def _check_probability(name: str, value: float) -> None:
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1]; got {value}")


@dataclass(frozen=True)
class FixedThreshold:
    """One threshold for every request, whatever the network (the classic network-blind router).

    Example:
        >>> FixedThreshold(1.5)
        Traceback (most recent call last):
        ...
        ValueError: threshold must be in [0, 1]; got 1.5
    """

    threshold: float
    name: str = "fixed"

    def __post_init__(self) -> None:
        _check_probability("threshold", self.threshold)

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return np.full(len(context), float(self.threshold))


@dataclass(frozen=True)
class CalibratedQuantile:
    """RouteLLM-style calibration: pick the threshold on calibration scores so that a target
    fraction of requests goes to the cloud (network-blind).  Build it with :meth:`fit`.

    Example:
        >>> pol = CalibratedQuantile.fit(np.linspace(0, 1, 101), target_cloud_fraction=0.3)
        >>> round(pol.threshold, 2)
        0.3
    """

    target_cloud_fraction: float
    threshold: float
    name: str = "calibrated_quantile"

    def __post_init__(self) -> None:
        _check_probability("target_cloud_fraction", self.target_cloud_fraction)
        if not (self.threshold >= 0 and (self.threshold <= 1 or self.threshold == ALWAYS_CLOUD)):
            raise ValueError(f"threshold must be in [0, 1] or ALWAYS_CLOUD; got {self.threshold}")

    @classmethod
    def fit(cls, calibration_scores, target_cloud_fraction: float) -> CalibratedQuantile:
        """The order statistic of ``calibration_scores`` that sends the target fraction to the cloud
        (:func:`~netgpt_lite.theory.sweep.threshold_for_cloud_fraction`)."""
        return cls(target_cloud_fraction, threshold_for_cloud_fraction(calibration_scores, target_cloud_fraction))

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return np.full(len(context), self.threshold)


def sweep_candidates(scores) -> np.ndarray:
    """Thresholds that realise every distinct fallback set of ``scores``: 0, each distinct score, and
    ``ALWAYS_CLOUD`` (between two consecutive candidates nothing changes)."""
    return np.concatenate([[0.0], np.unique(np.asarray(scores, dtype=float)), [ALWAYS_CLOUD]])


@dataclass(frozen=True)
class Cascade:
    """FrugalGPT-style cascade under a budget: the edge answers; the cloud is called when the score
    is below a threshold chosen on logs to maximise task success with mean cost <= budget.

    Example:
        >>> s = np.array([0.1, 0.4, 0.8]); edge = np.array([0, 0, 1]); cloud = np.array([1, 1, 1])
        >>> Cascade.fit(s, edge, cloud, cost_usd=np.full(3, 0.003), budget_usd_per_request=0.001).threshold
        0.4
    """

    budget_usd_per_request: float
    threshold: float
    name: str = "cascade"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.budget_usd_per_request) and self.budget_usd_per_request >= 0):
            raise ValueError(f"budget_usd_per_request must be finite and >= 0; got {self.budget_usd_per_request}")

    @classmethod
    def fit(cls, scores, edge_correct, cloud_correct, cost_usd, budget_usd_per_request: float) -> Cascade:
        """Choose the threshold on logs (all arrays per logged request; cost = the cloud call's USD)."""
        cands = sweep_candidates(scores)
        sweep = threshold_sweep(scores, cands, {"success": (edge_correct, cloud_correct), "cost_usd": (0.0, cost_usd)})
        success, mean_cost = sweep["success"], sweep["cost_usd"]
        feasible = mean_cost <= budget_usd_per_request + 1e-15
        best = np.flatnonzero(feasible & (success == success[feasible].max()))[0]  # cheapest of the best
        return cls(float(budget_usd_per_request), float(cands[best]))

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return np.full(len(context), self.threshold)


# --- network-aware policies -----------------------------------------------------------------------
CALIBRATIONS = ("platt", "isotonic")


def fit_calibration(scores, edge_correct, method: str = "isotonic"):
    """g(s) = P(edge right | score s) fitted on logs: ``"isotonic"`` (non-parametric, follows a jagged
    empirical map) or ``"platt"`` (logistic, two parameters, smooth)."""
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
        _check_probability("q_cloud", self.q_cloud)
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
        k = self.kappa(context)
        if self.temperature != 1.0:  # g_T(s) < k  <=>  g(s) < sigmoid(T logit(k)), for k in (0, 1)
            inside = (k > 0.0) & (k < 1.0)
            kc = np.clip(k, 1e-12, 1.0 - 1e-12)
            k = np.where(inside, 1.0 / (1.0 + np.exp(-self.temperature * np.log(kc / (1.0 - kc)))), k)
        return threshold_from_kappa(k, self.calibration)


@dataclass(frozen=True)
class Oracle:
    """The limit: knows whether the edge answer is right (``context.edge_correct``).  It keeps every
    right edge answer and falls back on a wrong one when the cloud is worth it (kappa > 0): the
    closed form with the perfect calibration g = 1{edge right}, using ``funcdyn``'s estimates."""

    funcdyn: FuncDyn
    name: str = "oracle"

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        if context.edge_correct is None:
            raise ValueError("edge_correct must be set in the context: the Oracle reads it")
        worth_it = self.funcdyn.kappa(context) > 0.0
        return np.where(~context.edge_correct & worth_it, ALWAYS_CLOUD, 0.0)
