"""What a routing policy sees, and the one rule that turns its thresholds into a route.

A request arrives with an edge answer already scored; a policy looks at a :class:`RoutingContext`
(the scores plus the network state, price and request size each request meets) and returns one
**threshold** per request.  :func:`route` is the only place where the rule "fall back to the cloud
iff score < threshold" is applied (as in RouteLLM, where a router is a score and one shared function
applies the threshold).  The policies themselves live in :mod:`netgpt_lite.routing.policies`,
:mod:`netgpt_lite.routing.funcdyn` and :mod:`netgpt_lite.routing.policy_net`; the simulator and the
router service only need this module.

Example:
    >>> import numpy as np
    >>> ctx = RoutingContext.constant(np.array([0.2, 0.9]), bandwidth_mbps=50.0, rtt_ms=40.0)
    >>> route(ctx.scores, np.full(len(ctx), 0.5))
    array([ True, False])
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from netgpt_lite.network.pricing import Price
from netgpt_lite.network.state import positive_array


def route(scores, thresholds) -> np.ndarray:
    """The routing rule: a boolean fallback mask, True where ``score < threshold`` (broadcasts).

    This is the only place the comparison happens; policies only produce thresholds.

    Example:
        >>> route([0.1, 0.5, 0.9], 0.5)
        array([ True, False, False])
    """
    return np.asarray(scores, dtype=float) < np.asarray(thresholds, dtype=float)


def check_probability(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number in [0, 1] (policy settings).

    Example:
        >>> check_probability("threshold", 1.5)
        Traceback (most recent call last):
        ...
        ValueError: threshold must be in [0, 1]; got 1.5
    """
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1]; got {value}")


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
        edge_correct: whether the edge answer is right; only :class:`~netgpt_lite.routing.policies.Oracle`
            may read it (``None`` when unknown).
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
