"""Online recalibration: FuncDyn that keeps learning from the answers the cloud sends back.

FuncDyn's calibration g (P(edge right | score)) is fitted on yesterday's logs.  When today's traffic is
phrased differently, g is off, and every threshold with it.  The router does not have to wait for new
logs: each request it sends to the cloud comes back with the cloud's answer, which is a label for the
edge's answer to the same request (the edge answered first; its score came from that answer).  So the
router can correct g as the day goes on.

The correction is one number, a shift ``b`` in logit space (intercept recalibration):

    g_b(s) = sigmoid(logit(g_T(s)) + b)

fitted by maximum likelihood on the labels seen so far (the most recent ``window`` of them), with a
Gaussian prior that holds ``b`` at 0 until about ``prior_strength`` labels disagree with the logs.  One
parameter is all the labels can carry: they come only from the requests that fell back, that is from low
scores, so they cannot refit the whole map; they can say "the edge is right less (or more) often than the
logs promised", and in logit space that shift carries over to the scores above the threshold.  The
threshold then follows from the same closed form, tau = g_b^-1(kappa(z, p)).

``b`` is refitted every ``block`` requests, from the labels of earlier blocks only: a decision never uses
its own outcome.  In the simulation the revealed label is the checker's verdict on the edge answer; a
deployed router compares the two answers, which adds label noise where the cloud itself is wrong.

Example:
    >>> from netgpt_lite.network.state import LatencyModel
    >>> from netgpt_lite.theory.threshold import LogisticCalibration, UtilityWeights
    >>> base = FuncDyn(LogisticCalibration(10.0, -5.0), 0.9, 40.0, 500.0, UtilityWeights(), LatencyModel())
    >>> rng = np.random.default_rng(0)
    >>> s = rng.random(2000)
    >>> right = rng.random(2000) < 1 / (1 + np.exp(-(10 * s - 5) + 1.5))  # today the edge is worse
    >>> ctx = RoutingContext.constant(s, bandwidth_mbps=50.0, rtt_ms=40.0, edge_correct=right)
    >>> online = OnlineRecalibration(base)
    >>> b = online.offsets(ctx)
    >>> float(b[0]), round(float(b[-1]), 1)   # starts at the logs' calibration, learns the shift
    (0.0, -1.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netgpt_lite.routing.context import RoutingContext, route
from netgpt_lite.routing.funcdyn import P_CLIP, FuncDyn

_NEWTON_STEPS = 8  # the likelihood is concave in b: a few Newton steps converge


def fit_offset(base_prob, labels, prior_strength: float) -> float:
    """The logit shift b maximising the likelihood of 0/1 ``labels`` under P(right) = sigmoid(logit(p) + b),
    ``p`` = ``base_prob``, with the prior b ~ N(0, 4 / prior_strength) (worth about ``prior_strength``
    labels at p = 0.5).

    Example:
        >>> round(fit_offset(np.full(400, 0.5), np.arange(400) % 4 == 0, prior_strength=1.0), 2)  # 25% right
        -1.09
    """
    p = np.clip(np.asarray(base_prob, dtype=float), P_CLIP, 1.0 - P_CLIP)
    y = np.asarray(labels, dtype=float)
    z = np.log(p / (1.0 - p))
    precision = prior_strength / 4.0  # a label at p = 0.5 carries Fisher information 1/4
    b = 0.0
    for _ in range(_NEWTON_STEPS):
        q = 1.0 / (1.0 + np.exp(-(z + b)))
        grad = float(np.sum(y - q)) - precision * b
        hess = float(np.sum(q * (1.0 - q))) + precision
        b += grad / hess
    return float(b)


@dataclass(frozen=True)
class OnlineRecalibration:
    """FuncDyn whose calibration is shifted, block by block, by the labels the cloud's answers reveal.

    Attributes:
        base: the FuncDyn fitted (and tuned) on the logs; its network model, prices and free parameters
            are kept, only the calibration moves.
        block: requests between refits (>= 1).
        window: the most recent labels a refit uses (>= 1): old enough labels are forgotten.
        prior_strength: how many labels' worth of trust the logs' calibration keeps (>= 0).
        name: the policy's name in tables.

    Example:
        >>> from netgpt_lite.theory.threshold import LogisticCalibration
        >>> OnlineRecalibration(FuncDyn(LogisticCalibration(), 0.9, 40.0, 500.0, None, None), block=0)
        Traceback (most recent call last):
        ...
        ValueError: block must be an integer >= 1 (requests between refits); got 0
    """

    base: FuncDyn
    block: int = 50
    window: int = 2000
    prior_strength: float = 20.0
    name: str = "funcdyn_online"

    def __post_init__(self) -> None:
        for field, what in (("block", "requests between refits"), ("window", "labels a refit uses")):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{field} must be an integer >= 1 ({what}); got {value!r}")
        if not np.isfinite(self.prior_strength) or self.prior_strength < 0:
            raise ValueError(f"prior_strength must be a finite number >= 0 (labels' worth of trust in the logs' "
                             f"calibration); got {self.prior_strength!r}")

    def _labels(self, context: RoutingContext) -> np.ndarray:
        if context.edge_correct is None:
            raise ValueError("OnlineRecalibration learns from the cloud's answers to the requests it routes: the "
                             "context must carry edge_correct (the verdicts those answers reveal)")
        return context.edge_correct

    def run(self, context: RoutingContext) -> tuple[np.ndarray, np.ndarray]:
        """``(thresholds, offsets)`` per request, in arrival order: the offset each request was routed with,
        fitted on the labels of earlier blocks' fallbacks."""
        labels = self._labels(context)
        k = self.base.kappa(context)
        base_g = self.base.calibrated(context.scores)  # the tuned map the offset shifts
        thresholds, offsets = np.empty(len(context)), np.empty(len(context))
        seen: list[np.ndarray] = []  # indices of requests whose label has come back, in order
        b = 0.0
        for start in range(0, len(context), self.block):
            rows = np.arange(start, min(start + self.block, len(context)))
            offsets[rows] = b
            thresholds[rows] = self.base.threshold_at(k[rows], offset=b)
            seen.append(rows[route(context.scores[rows], thresholds[rows])])
            recent = np.concatenate(seen)[-self.window:]
            if recent.size:
                b = fit_offset(base_g[recent], labels[recent], self.prior_strength)
        return thresholds, offsets

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return self.run(context)[0]

    def offsets(self, context: RoutingContext) -> np.ndarray:
        """The logit shift in force at each request (0 until the first labels come back)."""
        return self.run(context)[1]
