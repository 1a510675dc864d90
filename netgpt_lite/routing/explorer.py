"""Operating points of the policies at one network state: what chapter 5's explorers draw.

:func:`state_stream` builds a stream in which every request sees one network state and price;
:func:`operating_points` evaluates each policy there, and :func:`explorer_grid` precomputes the
fixed-threshold sweep and every policy's point over a grid of bandwidths and RTTs, so that a static
page (Plotly sliders) can show them without a kernel.

Example:
    >>> from netgpt_lite.routing.proposals import synthetic_table
    >>> from netgpt_lite.routing.policies import FixedThreshold
    >>> points = operating_points(synthetic_table(200, 0), {"fixed": FixedThreshold(0.5)}, 20.0, 60.0)
    >>> sorted(points)
    ['fixed']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from netgpt_lite.network.pricing import Price
from netgpt_lite.network.traces import NetworkTrace
from netgpt_lite.routing.proposals import ProposalTable
from netgpt_lite.routing.simulator import (
    SimulationConfig,
    Stream,
    frontier_grid,
    make_stream,
    simulate,
)


def state_stream(table: ProposalTable, bandwidth_mbps: float, rtt_ms: float,
                 usd_per_1k_input: float = Price().usd_per_1k_input,
                 usd_per_1k_output: float = Price().usd_per_1k_output, config: SimulationConfig | None = None) -> Stream:
    """Every (task, cloud draw) of ``table`` once, all at one network state and one flat price: simulating
    it gives a policy's expected operating point at that state.

    Built by :func:`~netgpt_lite.routing.simulator.make_stream` with a trace of one state; ``config``
    supplies the weights, latency model and seed (its size and pricing are set here).

    Example:
        >>> from netgpt_lite.routing.proposals import synthetic_table
        >>> s = state_stream(synthetic_table(5, n_cloud_draws=2), 20.0, 60.0)
        >>> len(s), float(s.trace.rtt_ms.min()), float(s.usd_per_1k_input.max()) == Price().usd_per_1k_input
        (10, 60.0, True)
    """
    n, k = len(table), table.n_cloud_draws
    cfg = replace(config or SimulationConfig(), n_requests=n * k, pricing="flat")
    one_state = NetworkTrace(np.zeros(1), np.array([float(bandwidth_mbps)]), np.array([float(rtt_ms)]))
    return make_stream(table, cfg, trace=one_state, rows=np.repeat(np.arange(n), k), cloud_draw=np.tile(np.arange(k), n),
                       base_price=Price(float(usd_per_1k_input), float(usd_per_1k_output)))


def operating_points(table: ProposalTable, policies: dict, bandwidth_mbps: float, rtt_ms: float,
                     usd_per_1k_input: float = Price().usd_per_1k_input,
                     usd_per_1k_output: float = Price().usd_per_1k_output, calibration=None) -> dict:
    """Each policy's expected success, cost, latency, utility, offload and mean threshold at one state; with
    ``calibration`` (an increasing map g of scores, e.g. FuncDyn's) also ``threshold_prob``, the mean of
    g(threshold): the threshold as the probability that the edge's answer is right."""
    stream = state_stream(table, bandwidth_mbps, rtt_ms, usd_per_1k_input, usd_per_1k_output)
    out = {}
    for name, policy in policies.items():
        log = simulate(policy, table, stream)
        tau = np.clip(log["threshold"], 0.0, 1.0)
        out[name] = {"success": float(log["success"].mean()), "cost_usd": float(log["cost_usd"].mean()),
                     "latency_ms": float(log["latency_ms"].mean()), "utility": float(log["utility"].mean()),
                     "offload": float(log["fallback"].mean()), "threshold": float(np.mean(tau))}
        if calibration is not None:
            out[name]["threshold_prob"] = float(np.mean(calibration(tau)))
    return out


def explorer_grid(table: ProposalTable, policies: dict, bandwidth_mbps, rtt_ms, thresholds=None,
                  usd_per_1k_input: float = Price().usd_per_1k_input,
                  usd_per_1k_output: float = Price().usd_per_1k_output, calibration=None) -> dict:
    """Everything the frontier explorer draws, precomputed over a (bandwidth, RTT) grid: the
    fixed-threshold sweep (:func:`~netgpt_lite.routing.simulator.frontier_grid`) and every policy's operating
    point at each state (``points[name][key]`` arrays of shape (n_bw, n_rtt)).

    With ``calibration`` (an increasing map g, e.g. ``policies["funcdyn"].calibration``) the thresholds are put
    on the axis a reader can see move: ``threshold_prob`` = g(threshold), the probability that the edge's answer
    is right, and the default sweep takes its thresholds at the scores' quantiles, so that every step moves the
    same share of requests (a token probability bunches near 1, where a uniform grid has two or three points)."""

    bw, rtt = np.asarray(bandwidth_mbps, float), np.asarray(rtt_ms, float)
    if thresholds is not None:
        taus = np.asarray(thresholds, float)
    elif calibration is not None:  # 0, the 50 score quantiles, and above every score (all to the cloud)
        taus = np.unique(np.r_[0.0, np.quantile(table.edge_score, np.linspace(0.02, 1.0, 50)), 1.0 + 1e-9])
    else:
        taus = np.linspace(0.0, 1.0, 51)
    curve = frontier_grid(table, bw, rtt, taus, usd_per_1k_input, usd_per_1k_output)
    keys = ("success", "cost_usd", "latency_ms", "utility", "offload", "threshold")
    keys += ("threshold_prob",) if calibration is not None else ()
    points = {name: {k: np.zeros((bw.size, rtt.size)) for k in keys} for name in policies}
    for i, b in enumerate(bw):
        for j, r in enumerate(rtt):
            for name, p in operating_points(table, policies, b, r, usd_per_1k_input, usd_per_1k_output,
                                            calibration).items():
                for k in keys:
                    points[name][k][i, j] = p[k]
    grid = {"bandwidth_mbps": bw, "rtt_ms": rtt, "threshold": taus, "curve": curve, "points": points}
    if calibration is not None:
        grid["threshold_prob"] = np.asarray(calibration(np.clip(taus, 0.0, 1.0)), float)
    return grid
