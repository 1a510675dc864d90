"""Routing policies: who answers a request, the edge (already run) or the cloud (fallback)?

Every policy only computes a **threshold** per request from a
:class:`~netgpt_lite.routing.context.RoutingContext`; :func:`~netgpt_lite.routing.context.route` is the
one place where the rule "fall back iff score < threshold" is applied (as in RouteLLM, where a router is a
score and one shared function applies the threshold).  A threshold of 0 keeps every edge answer (scores
are in [0, 1]); ``ALWAYS_CLOUD`` (+inf) sends every request to the cloud.

Policies, all applied by the one ``route`` path, from network-blind to network-aware to the limit:

* :class:`AlwaysEdge`, :class:`AlwaysCloud`, :class:`FixedThreshold` - constant thresholds;
* :class:`CalibratedQuantile` - RouteLLM-style: the score quantile that sends a target fraction of
  calibration requests to the cloud;
* :class:`Cascade` - FrugalGPT-style under a budget: the threshold, chosen on logs, that maximises
  success subject to mean cloud cost <= budget;
* :class:`~netgpt_lite.routing.funcdyn.FuncDyn` - the closed form of chapter 2,
  tau*(z, p) = g^-1(kappa(z, p)), with g fitted on logs and evaluated per request from the measured network
  state and price (its own module, :mod:`netgpt_lite.routing.funcdyn`);
* :class:`~netgpt_lite.routing.policy_net.PolicyNet` - a small MLP that learns the threshold from logs without
  being told the formula (its own module, :mod:`netgpt_lite.routing.policy_net`, since it needs torch);
* :class:`Oracle` - knows whether the edge answer is right: the physical limit of routing.

Example:
    >>> import numpy as np
    >>> from netgpt_lite.routing.context import RoutingContext, route
    >>> ctx = RoutingContext.constant(np.array([0.2, 0.9]), bandwidth_mbps=50.0, rtt_ms=40.0)
    >>> route(ctx.scores, FixedThreshold(0.5).thresholds(ctx))
    array([ True, False])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# RoutingContext and FuncDyn are also imported from here by synergy/ and experiments/ (Oracle uses FuncDyn)
from netgpt_lite.routing.context import RoutingContext, check_probability
from netgpt_lite.routing.funcdyn import FuncDyn
from netgpt_lite.theory.sweep import ALWAYS_CLOUD, threshold_for_cloud_fraction, threshold_sweep


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
        check_probability("threshold", self.threshold)

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
        check_probability("target_cloud_fraction", self.target_cloud_fraction)
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


# --- the limit -----------------------------------------------------------------------------------
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
