"""Thresholds chosen from outcomes: the log-tuned fixed threshold and the threshold oracle.

A routing rule that only compares the score to a threshold can at best pick, for every network state
and price, the threshold that turns out best.  Two policies make that concrete, both fitted on
*outcomes* (each logged request's utility if the edge answer is kept, and if it falls back):

* :func:`best_fixed_threshold` - the one threshold with the highest total utility on a set of requests.
  Fitted on the *logs* it is the honest network-blind baseline (``fixed_logs``); fitted on the
  evaluation stream itself it is the best any network-blind threshold could have done in hindsight
  (``fixed_hindsight``).
* :class:`ThresholdOracle` - the best threshold *per cell* of quantile bins of (bandwidth, RTT, price),
  chosen in hindsight on the evaluation stream: the limit of any threshold rule on this score at that
  resolution.  Finer cells overfit a finite stream (with 6 bins a 2,000-request stream has ~9 requests
  per cell of 216), which is why 3 bins per dimension (27 cells) is the reference.

Chosen on the stream they are scored on, both are optimistic: they also fit that stream's noise.
:func:`cross_fitted` scores each half of the stream with the limit chosen on the other half
(:class:`CrossFitted`), the honest version of "the best that could have been chosen in hindsight".

All are ordinary policies: they only output thresholds, and :func:`~netgpt_lite.routing.context.route`
applies them.  The *correctness* Oracle (:class:`~netgpt_lite.routing.policies.Oracle`), which knows
which edge answers are right, stays the limit of routing itself.

Example:
    >>> import numpy as np
    >>> from netgpt_lite.routing.context import RoutingContext
    >>> ctx = RoutingContext.constant(np.array([0.1, 0.4, 0.8]), bandwidth_mbps=50.0, rtt_ms=40.0)
    >>> best_fixed_threshold(ctx.scores, edge_utility=[0.0, 1.0, 1.0], cloud_utility=[0.8, 0.8, 0.8]).threshold
    0.4
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from netgpt_lite.routing.context import RoutingContext
from netgpt_lite.routing.policies import FixedThreshold, sweep_candidates
from netgpt_lite.theory.sweep import threshold_sweep

CELL_DIMENSIONS = ("bandwidth_mbps", "rtt_ms", "usd_per_1k_input")  # the price enters through its input price
REFERENCE_BINS = 3


def _gains(edge_utility, cloud_utility) -> np.ndarray:
    return np.asarray(cloud_utility, dtype=float) - np.asarray(edge_utility, dtype=float)


def best_threshold(scores, gain) -> float:
    """The threshold t maximising sum_i gain_i 1{score_i < t} (the utility over keeping every edge answer);
    the smallest such t on ties, ``ALWAYS_CLOUD`` when falling everything back wins, 0 for no requests.

    Example:
        >>> best_threshold([0.2, 0.5, 0.9], [0.3, -0.1, 0.1])   # a tie: the smallest maximiser
        0.5
    """
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return 0.0
    cands = sweep_candidates(s)  # the one sorted sweep: mean gain of each candidate's fallback set {s < t}
    value = threshold_sweep(s, cands, {"gain": (0.0, np.asarray(gain, dtype=float))})["gain"]
    return float(cands[int(np.argmax(value))])


def best_fixed_threshold(scores, edge_utility, cloud_utility, name: str = "fixed_logs") -> FixedThreshold:
    """The network-blind :class:`FixedThreshold` with the highest total utility on the given requests."""
    return FixedThreshold(min(best_threshold(scores, _gains(edge_utility, cloud_utility)), 1.0), name=name)


def _cell_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner quantile edges of ``values`` for ``bins`` bins (duplicates dropped: a constant has none)."""
    edges = np.unique(np.quantile(values, np.arange(1, bins) / bins)) if bins > 1 else np.empty(0)
    return edges[(edges > values.min()) & (edges <= values.max())]


@dataclass(frozen=True, eq=False)
class ThresholdOracle:
    """The best threshold per cell of quantile bins of (bandwidth, RTT, price), chosen on outcomes.

    Build it with :meth:`fit` on the *evaluation* stream (it is a limit, not a deployable policy).

    Attributes:
        bins: quantile bins per dimension (>= 1).
        edges: inner bin edges per dimension of :data:`CELL_DIMENSIONS` (a tuple of 1-D arrays).
        cell_thresholds: the chosen threshold of each cell, shape ``(len(edges[0]) + 1, ...)``; a cell
            without requests gets the best threshold over all of them.

    Example:
        >>> ctx = RoutingContext.constant(np.array([0.2, 0.6, 0.2, 0.6]), bandwidth_mbps=[1, 1, 100, 100], rtt_ms=50.0)
        >>> oracle = ThresholdOracle.fit(ctx, edge_utility=[0, 1, 0, 1], cloud_utility=[0.5, 0.5, -1, -1], bins=2)
        >>> oracle.thresholds(ctx).tolist()   # fall back on the low score only where the cloud is cheap
        [0.6, 0.6, 0.0, 0.0]
    """

    bins: int
    edges: tuple
    cell_thresholds: np.ndarray
    name: str = "threshold_oracle"

    def __post_init__(self) -> None:
        if int(self.bins) < 1:
            raise ValueError(f"bins must be an integer >= 1; got {self.bins}")
        if len(self.edges) != len(CELL_DIMENSIONS):
            raise ValueError(f"edges must hold one array per dimension {CELL_DIMENSIONS}; got {len(self.edges)}")
        shape = tuple(len(e) + 1 for e in self.edges)
        if np.shape(self.cell_thresholds) != shape:
            raise ValueError(f"cell_thresholds must have shape {shape}; got {np.shape(self.cell_thresholds)}")

    def cells(self, context: RoutingContext) -> tuple[np.ndarray, ...]:
        """The cell index of each request along each dimension."""
        return tuple(np.searchsorted(e, getattr(context, dim), side="right")
                     for e, dim in zip(self.edges, CELL_DIMENSIONS, strict=True))

    @classmethod
    def fit(cls, context: RoutingContext, edge_utility, cloud_utility, bins: int = REFERENCE_BINS) -> ThresholdOracle:
        """Quantile cells of ``context``'s requests and the best threshold in each (both utilities per request)."""
        if int(bins) < 1:
            raise ValueError(f"bins must be an integer >= 1; got {bins}")
        gain = _gains(edge_utility, cloud_utility)
        edges = tuple(_cell_edges(np.asarray(getattr(context, dim), dtype=float), int(bins)) for dim in CELL_DIMENSIONS)
        shape = tuple(len(e) + 1 for e in edges)
        probe = cls(int(bins), edges, np.zeros(shape))
        flat = np.ravel_multi_index(probe.cells(context), shape)
        fallback_all = best_threshold(context.scores, gain)
        table = np.full(int(np.prod(shape)), fallback_all)
        for cell in np.unique(flat):
            mine = flat == cell
            table[cell] = best_threshold(context.scores[mine], gain[mine])
        return cls(int(bins), edges, table.reshape(shape))

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        return self.cell_thresholds[self.cells(context)].astype(float)


@dataclass(frozen=True, eq=False)
class CrossFitted:
    """Thresholds chosen per request by a limit fitted on the *other* folds of the same stream.

    Built by :func:`cross_fitted`; it answers only for the stream it was fitted on (its length is checked).

    Attributes:
        values: one threshold per request of that stream, shape (n,).
        name: the policy's name in tables.
    """

    values: np.ndarray
    name: str = "cross_fitted"

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        if len(context) != self.values.size:
            raise ValueError(f"a cross-fitted limit answers only for the stream it was fitted on "
                             f"({self.values.size} requests); got {len(context)}")
        return self.values


def _rows(context: RoutingContext, mask: np.ndarray) -> RoutingContext:
    return RoutingContext(*(None if (v := getattr(context, f.name)) is None else v[mask] for f in fields(context)))


def cross_fitted(fit, context: RoutingContext, edge_utility, cloud_utility, folds: int = 2,
                 name: str = "cross_fitted", groups=None) -> CrossFitted:
    """A limit scored out of sample: the stream's requests are dealt into ``folds`` interleaved folds
    (request i to fold i mod folds, so each fold spans the whole day), and each fold gets the thresholds of
    ``fit(context_rows, edge_utility_rows, cloud_utility_rows)`` fitted on the other folds.

    ``groups`` (one integer per request, e.g. the task each request asks) deals whole groups instead
    (group k to fold k mod folds): a stream that draws the same task several times must not let a limit learn
    a task's outcome on one fold and score it on the other.

    Example:
        >>> ctx = RoutingContext.constant(np.array([0.2, 0.2, 0.6, 0.6]), bandwidth_mbps=50.0, rtt_ms=40.0)
        >>> fit = lambda c, e, u: best_fixed_threshold(c.scores, e, u)
        >>> cross_fitted(fit, ctx, [0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]).values.tolist()  # each half: 0.6
        [0.6, 0.6, 0.6, 0.6]
    """
    if int(folds) < 2:
        raise ValueError(f"folds must be an integer >= 2; got {folds}")
    eu, cu = np.asarray(edge_utility, dtype=float), np.asarray(cloud_utility, dtype=float)
    fold = (np.arange(len(context)) if groups is None else np.asarray(groups, dtype=np.int64)) % int(folds)
    values = np.empty(len(context))
    for k in range(int(folds)):
        train, test = fold != k, fold == k
        values[test] = fit(_rows(context, train), eu[train], cu[train]).thresholds(_rows(context, test))
    return CrossFitted(values, name)
