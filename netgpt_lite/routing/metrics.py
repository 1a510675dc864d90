"""Quality-cost metrics for routers: per-request summaries and the anchors' threshold-sweep metrics.

Two kinds of numbers describe a router.  **Operating-point metrics** summarise one run (a stream of
routed requests): task success, schema-valid rate, offload (cloud) rate, cost per 1,000 requests,
p50/p95 latency and mean utility.  **Sweep metrics** summarise a whole family of operating points
obtained by sweeping the threshold from "never call the cloud" to "always call the cloud":

* **PGR / APGR** (RouteLLM, Ong et al. 2024): the performance gap recovered at call fraction ``x`` is
  ``PGR(x) = (quality(x) - quality_edge) / (quality_cloud - quality_edge)``; APGR is its average
  over call fractions in [0, 1] (area under the PGR curve, trapezoid rule).
* **CPT(p)** (RouteLLM): the smallest cloud-call fraction at which PGR reaches ``p`` (linear
  interpolation between sweep points), e.g. CPT(50%) and CPT(80%).
* **AIQ** (RouterBench, Hu et al. 2024): the area under the non-decreasing convex hull of the
  (cost, quality) points, divided by the cost range: the average quality a router family achieves
  over the budgets it spans.

All functions take numpy arrays and are pure.  Per-regime numbers come from :func:`summarize_by`.

Example:
    >>> import numpy as np
    >>> call, quality = np.array([0.0, 0.5, 1.0]), np.array([0.5, 0.8, 0.9])
    >>> round(apgr(call, quality), 4), round(cpt(call, quality, 0.5), 4)
    (0.625, 0.3333)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from netgpt_lite.stats import mean_interval

SUMMARY_KEYS = (
    "n_requests",
    "task_success",
    "schema_valid_rate",
    "offload_rate",
    "cost_per_1k_requests_usd",
    "latency_p50_ms",
    "latency_p95_ms",
    "mean_utility",
)


def _as_1d(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {arr.shape}")
    return arr


# --- operating-point metrics -----------------------------------------------------------------
def task_success(success) -> float:
    """Fraction of requests answered correctly."""
    return float(_as_1d("success", success).mean())


def schema_valid_rate(schema_valid) -> float:
    """Fraction of final answers that parse and validate against the tool's JSON schema."""
    return float(_as_1d("schema_valid", schema_valid).mean())


def offload_rate(fallback) -> float:
    """Fraction of requests routed to the cloud."""
    return float(_as_1d("fallback", fallback).mean())


def cost_per_1k_requests_usd(cost_usd) -> float:
    """Cloud spend per 1,000 requests in USD (mean cost per request x 1000)."""
    return 1000.0 * float(_as_1d("cost_usd", cost_usd).mean())


def latency_percentile_ms(latency_ms, q: float) -> float:
    """The ``q``-th percentile (q in [0, 100]) of end-to-end latency in ms."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be a percentile in [0, 100]; got {q}")
    return float(np.percentile(_as_1d("latency_ms", latency_ms), q))


def summarize(log: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Operating-point metrics of a request log with keys ``success, schema_valid, fallback,
    cost_usd, latency_ms, utility`` (parallel arrays), as a dict with :data:`SUMMARY_KEYS`.

    Example:
        >>> log = dict(success=[1, 0], schema_valid=[1, 1], fallback=[0, 1], cost_usd=[0.0, 0.002],
        ...            latency_ms=[100.0, 300.0], utility=[0.9, -0.3])
        >>> summarize(log)["cost_per_1k_requests_usd"]
        1.0
    """
    return {
        "n_requests": int(_as_1d("success", log["success"]).size),
        "task_success": task_success(log["success"]),
        "schema_valid_rate": schema_valid_rate(log["schema_valid"]),
        "offload_rate": offload_rate(log["fallback"]),
        "cost_per_1k_requests_usd": cost_per_1k_requests_usd(log["cost_usd"]),
        "latency_p50_ms": latency_percentile_ms(log["latency_ms"], 50.0),
        "latency_p95_ms": latency_percentile_ms(log["latency_ms"], 95.0),
        "mean_utility": float(_as_1d("utility", log["utility"]).mean()),
    }


INTERVAL_METRICS = {"task_success": ("success", 1.0), "schema_valid_rate": ("schema_valid", 1.0),
                    "offload_rate": ("fallback", 1.0), "cost_per_1k_requests_usd": ("cost_usd", 1000.0),
                    "mean_utility": ("utility", 1.0)}
"""The :func:`summarize` metrics that are means of a per-request log field (times a scale), so they have
bootstrap intervals over requests: ``{metric: (log field, scale)}``."""


def summarize_intervals(log: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray] | None = None,
                        n_bootstrap: int = 10_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """95% bootstrap intervals over requests of the :data:`INTERVAL_METRICS` of ``log``; with ``baseline``
    (a log of the *same* requests under another policy or system), of the paired differences log minus
    baseline instead.  Each value: ``n``, ``mean``, ``ci_low``, ``ci_high``.

    Example:
        >>> log = dict(success=[1, 0, 1, 1], schema_valid=[1, 1, 1, 1], fallback=[0, 1, 0, 0],
        ...            cost_usd=[0.0, 0.002, 0.0, 0.0], latency_ms=[90.0, 300.0, 80.0, 85.0],
        ...            utility=[0.9, -0.3, 0.9, 0.9])
        >>> summarize_intervals(log, n_bootstrap=200)["offload_rate"]["mean"]
        0.25
    """
    out = {}
    for metric, (field, scale) in INTERVAL_METRICS.items():
        values = scale * _as_1d(field, log[field]).astype(float)
        other = None if baseline is None else scale * _as_1d(field, baseline[field]).astype(float)
        out[metric] = mean_interval(values, other, n_bootstrap=n_bootstrap, seed=seed)
    return out


def summarize_by(log: Mapping[str, np.ndarray], key: str = "regime") -> dict[str, dict[str, float]]:
    """:func:`summarize` for each value of ``log[key]`` (e.g. per network regime), in sorted order."""
    groups = np.asarray(log[key])
    out = {}
    for value in sorted(set(groups.tolist())):
        mask = groups == value
        out[str(value)] = summarize({k: np.asarray(v)[mask] for k, v in log.items() if k in _LOG_FIELDS})
    return out


_LOG_FIELDS = ("success", "schema_valid", "fallback", "cost_usd", "latency_ms", "utility")


def mean_and_std(runs: list[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (sample, ddof=1; 0 for one run) standard deviation of each metric over seeds."""
    if not runs:
        raise ValueError("runs must hold at least one summary")
    out = {}
    for key in runs[0]:
        values = np.array([float(r[key]) for r in runs])
        out[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


# --- sweep metrics -----------------------------------------------------------------------------
def _sorted_curve(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_1d("x", x), _as_1d("y", y)
    if x.shape != y.shape:
        raise ValueError(f"curve arrays must have equal length; got {x.shape} and {y.shape}")
    order = np.lexsort((y, x))
    return x[order], y[order]


def performance_gap_recovered(quality, quality_edge: float, quality_cloud: float) -> np.ndarray:
    """PGR = (quality - quality_edge) / (quality_cloud - quality_edge), elementwise.

    Raises:
        ValueError: if quality_cloud == quality_edge (there is no gap to recover).
    """
    gap = float(quality_cloud) - float(quality_edge)
    if gap == 0.0:
        raise ValueError("quality_cloud must differ from quality_edge (no performance gap to recover)")
    return (np.asarray(quality, dtype=float) - float(quality_edge)) / gap


def _pgr_curve(call_fraction, quality, quality_edge, quality_cloud):
    call, q = _sorted_curve(call_fraction, quality)
    if call[0] < 0.0 or call[-1] > 1.0:
        raise ValueError("call_fraction must lie in [0, 1]")
    q_edge = q[0] if quality_edge is None else quality_edge
    q_cloud = q[-1] if quality_cloud is None else quality_cloud
    return call, performance_gap_recovered(q, q_edge, q_cloud)


def apgr(call_fraction, quality, quality_edge: float | None = None, quality_cloud: float | None = None) -> float:
    """Average performance gap recovered (RouteLLM): area under PGR(call fraction) over [0, 1].

    The sweep should include both ends (call fraction 0 and 1); by default the edge-only and
    cloud-only qualities are read off those ends.

    Example:
        >>> round(apgr([0.0, 0.5, 1.0], [0.5, 0.8, 0.9]), 4)
        0.625
    """
    call, pgr = _pgr_curve(call_fraction, quality, quality_edge, quality_cloud)
    return float(np.sum(np.diff(call) * (pgr[1:] + pgr[:-1]) / 2.0))


def cpt(
    call_fraction,
    quality,
    target_pgr: float,
    quality_edge: float | None = None,
    quality_cloud: float | None = None,
) -> float:
    """Call-performance threshold (RouteLLM): smallest call fraction with PGR >= ``target_pgr``.

    Linear interpolation between neighbouring sweep points; ``nan`` if the target is never reached.

    Example:
        >>> round(cpt([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], 0.8), 4)
        0.6
    """
    if not 0.0 < target_pgr <= 1.0:
        raise ValueError(f"target_pgr must be in (0, 1]; got {target_pgr}")
    call, pgr = _pgr_curve(call_fraction, quality, quality_edge, quality_cloud)
    hit = np.flatnonzero(pgr >= target_pgr - 1e-12)
    if hit.size == 0:
        return float("nan")
    i = int(hit[0])
    if i == 0:
        return float(call[0])
    x0, x1, y0, y1 = call[i - 1], call[i], pgr[i - 1], pgr[i]
    return float(x0 + (x1 - x0) * (target_pgr - y0) / (y1 - y0))


def upper_convex_hull(cost, quality) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of (cost, quality) points (RouterBench's frontier).

    Returns the hull vertices sorted by cost.  Points that are dominated (more cost, no more
    quality) or lie under a chord between two other points are dropped.

    Example:
        >>> upper_convex_hull([0.0, 1.0, 2.0, 3.0], [0.5, 0.6, 0.9, 0.8])
        (array([0., 2.]), array([0.5, 0.9]))
    """
    c, q = _sorted_curve(cost, quality)
    hull: list[tuple[float, float]] = []
    for point in zip(c.tolist(), q.tolist()):
        if hull and point[1] <= hull[-1][1]:  # no quality gain for more cost: dominated
            continue
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the chord hull[-2] -> point
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(point)
    arr = np.array(hull, dtype=float)
    return arr[:, 0], arr[:, 1]


def aiq(cost, quality) -> float:
    """Average improvement in quality (RouterBench): area under the non-decreasing convex hull of
    (cost, quality) over [min cost, max cost], divided by the cost range.

    Example:
        >>> aiq([0.0, 1.0, 2.0], [0.5, 0.6, 0.9])  # hull (0, .5) -> (2, .9): mean .7
        0.7
    """
    c = _as_1d("cost", cost)
    c_min, c_max = float(c.min()), float(c.max())
    if c_max <= c_min:
        raise ValueError("cost must span a range (max > min) to compute AIQ")
    hc, hq = upper_convex_hull(cost, quality)
    # the hull ends at its best point; beyond it the best quality stays flat up to c_max
    hc, hq = np.append(hc, c_max), np.append(hq, hq[-1])
    area = np.sum(np.diff(hc) * (hq[1:] + hq[:-1]) / 2.0)
    return float(round(area / (c_max - c_min), 12))


def sweep_metrics(call_fraction, quality, cost) -> dict[str, float]:
    """APGR, CPT(50%), CPT(80%) and AIQ of one threshold sweep, as a dict."""
    return {
        "apgr": apgr(call_fraction, quality),
        "cpt50": cpt(call_fraction, quality, 0.5),
        "cpt80": cpt(call_fraction, quality, 0.8),
        "aiq": aiq(cost, quality),
    }
