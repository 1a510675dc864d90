"""Threshold sweeps over a set of scores: the rule "fall back iff score < threshold", counted fast.

Every threshold sweep in the library (the cloud fraction of chapter 2, the expected utility of the
theorem, FrugalGPT's budgeted cascade, the simulator's frontier grid and stream sweep) is the same
computation, done once here by :func:`threshold_sweep`: sort the scores once; the requests that
threshold t sends to the cloud are then the first m(t) sorted ones (m by binary search, the same
strict ``score < t`` as :func:`netgpt_lite.routing.context.route`), so the mean of any per-request
quantity under the rule is a lookup in a cumulative sum.  A sweep over T thresholds of n requests
costs O(n log n + T log n) instead of O(n T).

* :func:`threshold_sweep` - the core: fallback counts, cloud fraction and mean outcomes per threshold;
* :func:`cloud_fraction` - the share of scores each threshold sends to the cloud (an empirical CDF);
* :func:`threshold_for_cloud_fraction` - its inverse, the order statistic that sends a target share
  (RouteLLM's calibrated quantile, and the budget-constrained optimum of extension (ii)).

A threshold of 0 keeps every score in [0, 1] on the edge; :data:`ALWAYS_CLOUD` (+inf) sends every
request to the cloud.

Example:
    >>> scores = [0.1, 0.5, 0.9]
    >>> cloud_fraction(scores, [0.0, 0.5, 0.6, ALWAYS_CLOUD]).tolist()
    [0.0, 0.3333333333333333, 0.6666666666666666, 1.0]
    >>> threshold_for_cloud_fraction(scores, 2 / 3)
    0.9
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ALWAYS_CLOUD = float("inf")  # a threshold above every score: every request falls back


def _scores_1d(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array; got shape {s.shape}")
    return s


def threshold_sweep(scores, thresholds, quantities: Mapping | None = None) -> dict[str, np.ndarray]:
    """Mean outcomes of "fall back iff score < t" for every threshold t, by one sort and prefix sums.

    Scores already in ascending order are not reordered: a caller whose quantities are large
    (a grid of states x requests) can sort its small per-request inputs first and pass sorted
    scores, which saves a gather of every large array.

    Args:
        scores: edge scores, shape (n,).
        thresholds: any shape (T...); each is compared with every score as in ``route``.
        quantities: ``{name: (keep, fallback)}``: per-request values when the edge answer is kept
            and when the request falls back, each broadcastable to (..., n) (leading axes, such as a
            grid of network states, are carried through; a scalar means the same for every request).

    Returns:
        ``threshold`` (T...), ``n_fallback`` (int, T...: requests sent to the cloud), ``offload``
        (n_fallback / n) and, per quantity, the mean over requests of ``fallback`` where
        score < t and ``keep`` elsewhere, shape (..., T...).

    Example:
        >>> out = threshold_sweep([0.9, 0.1, 0.5], [0.0, 0.6, ALWAYS_CLOUD], {"success": ([1, 0, 1], 1.0)})
        >>> out["n_fallback"].tolist(), out["success"].tolist()
        ([0, 2, 3], [0.6666666666666666, 1.0, 1.0])
    """
    s = _scores_1d(scores)
    n = s.size
    ascending = bool(np.all(s[1:] >= s[:-1]))
    order = None if ascending else np.argsort(s, kind="stable")  # None: already sorted, nothing to reorder
    t = np.asarray(thresholds, dtype=float)
    m = np.searchsorted(s if ascending else s[order], t, side="left")  # the first m sorted requests fall back
    out = {"threshold": t, "n_fallback": m, "offload": m / n}
    for name, (keep, fallback) in (quantities or {}).items():
        keep, fallback = np.atleast_1d(np.asarray(keep, float)), np.atleast_1d(np.asarray(fallback, float))
        batch = np.broadcast_shapes(keep.shape, fallback.shape, (n,))[:-1]
        # Reorder along the request axis only where it varies (a length-1 axis is the same for all)
        # and write the gain of a fallback straight into the cumulative-sum buffer: on a frontier
        # grid these are the big (states x requests) arrays, so each pass over them counts.
        keep_sorted = keep[..., order] if order is not None and keep.shape[-1] == n else keep
        fallback_sorted = fallback[..., order] if order is not None and fallback.shape[-1] == n else fallback
        prefix = np.zeros(batch + (n + 1,))
        np.subtract(fallback_sorted, keep_sorted, out=prefix[..., 1:])
        np.cumsum(prefix[..., 1:], axis=-1, out=prefix[..., 1:])
        kept = np.broadcast_to(keep, keep.shape[:-1] + (n,)).sum(axis=-1)  # everything kept on the edge
        out[name] = (np.broadcast_to(kept, batch).reshape(batch + (1,) * t.ndim) + prefix[..., m]) / n
    return out


def cloud_fraction(scores, thresholds) -> np.ndarray:
    """Share of ``scores`` each threshold sends to the cloud (``score < threshold``), shape of ``thresholds``.

    Example:
        >>> cloud_fraction([0.1, 0.2, 0.2, 0.9], [0.0, 0.2, 0.5, 1.0]).tolist()
        [0.0, 0.25, 0.75, 1.0]
    """
    return threshold_sweep(scores, thresholds)["offload"]


def threshold_for_cloud_fraction(scores, cloud_fraction: float) -> float:
    """The threshold that sends ``cloud_fraction`` of ``scores`` to the cloud under ``route``.

    With sorted scores s_(1) <= ... <= s_(n) and k = round(cloud_fraction * n) it is s_(k+1):
    exactly k scores lie below it when there are no ties (ties at s_(k+1) stay on the edge, so
    fewer may); 0 for k = 0 and :data:`ALWAYS_CLOUD` for k = n.  This is RouteLLM's calibrated
    quantile, and extension (ii): maximising success subject to mean cost <= budget gives
    tau = g^-1(q_c - mu C_c) (:mod:`netgpt_lite.theory.proofs`), where the binding budget fixes the
    fraction budget / C_c and this order statistic achieves it.

    Example:
        >>> threshold_for_cloud_fraction([0.4, 0.1, 0.3, 0.2], 0.5), threshold_for_cloud_fraction([0.4], 1.0)
        (0.3, inf)
    """
    f = float(cloud_fraction)
    if not (np.isfinite(f) and 0.0 <= f <= 1.0):
        raise ValueError(f"cloud_fraction must be a probability in [0, 1]; got {cloud_fraction}")
    s = np.sort(_scores_1d(scores))
    k = int(round(f * s.size))
    if k == 0:
        return 0.0
    return ALWAYS_CLOUD if k >= s.size else float(s[k])
