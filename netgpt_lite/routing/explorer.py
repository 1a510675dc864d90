"""Chapter 5's experiments: build proposal tables, fit every policy on logs, evaluate on fresh streams.

1. **Tables.** :func:`edge_table` runs the edge agent (default: the shipped tiny checkpoint) and the
   simulated cloud once on a split of tasks and caches the :class:`~netgpt_lite.routing.simulator.ProposalTable`
   as ``.npz``, keyed by the model's sha256, the split, ``n`` and the seed (``NETGPT_LITE_CACHE``
   or ``~/.cache/netgpt-lite``).  :func:`default_tables` falls back to clearly labelled synthetic
   tables when no checkpoint is shipped.
2. **Logs and fitting.** :func:`fit_policies` draws exploration logs (``regime="log_uniform"``) from
   the *log* table (validation tasks) and fits the policies on them: the calibrated quantile, the
   cascade under a budget, FuncDyn (Platt g, q_c, answer sizes) and PolicyNet (same weights as
   the simulator).  The Oracle reads the truth.
3. **Evaluation.** :func:`run_frontier` evaluates every policy on streams of the *test* table for
   several seeds, adds the best fixed threshold *in hindsight* on each evaluation stream (the best
   any network-blind threshold can do: a generous baseline), the anchors' sweep metrics, and the
   goals: cost at equal success relative to the best fixed threshold, and the share of the
   Oracle's utility gain each policy recovers (over AlwaysEdge and over the best fixed threshold).

Example:
    >>> from netgpt_lite.routing.simulator import synthetic_table
    >>> res = run_frontier(synthetic_table(300, 1), synthetic_table(300, 2), seeds=(0,), n_requests=300,
    ...                    n_logs=500, policynet_epochs=20)                        # doctest: +SKIP
    >>> sorted(res["policies"])[:2]                                                # doctest: +SKIP
    ['always_cloud', 'always_edge']
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.routing.policies import n_fallback_sorted
from netgpt_lite.routing.simulator import (
    ProposalTable,
    SimulationConfig,
    Stream,
    simulate,
)


def fallback_share(scores, thresholds) -> np.ndarray:
    """Share of ``scores`` that each threshold sends to the cloud (for E2's offload-rate curves)."""
    s = np.sort(np.asarray(scores, dtype=float))
    return n_fallback_sorted(s, thresholds) / s.size


def state_stream(table: ProposalTable, bandwidth_mbps: float, rtt_ms: float, usd_per_1k_input: float = 0.003,
                 usd_per_1k_output: float = 0.015, config: SimulationConfig | None = None) -> Stream:
    """Every (task, cloud draw) of ``table`` once, all at one network state and price: simulating
    it gives a policy's expected operating point at that state."""
    from netgpt_lite.network.traces import NetworkTrace

    n, k = len(table), table.n_cloud_draws
    size = n * k
    cfg = config or SimulationConfig(n_requests=size)
    trace = NetworkTrace(np.zeros(size), np.full(size, float(bandwidth_mbps)), np.full(size, float(rtt_ms)))
    return Stream(row=np.repeat(np.arange(n), k), cloud_draw=np.tile(np.arange(k), n), trace=trace,
                  load=np.zeros(size), usd_per_1k_input=np.full(size, float(usd_per_1k_input)),
                  usd_per_1k_output=np.full(size, float(usd_per_1k_output)), config=cfg)


def operating_points(table: ProposalTable, policies: dict, bandwidth_mbps: float, rtt_ms: float,
                     usd_per_1k_input: float = 0.003, usd_per_1k_output: float = 0.015) -> dict:
    """Each policy's expected success, cost, latency, utility, offload and mean threshold at one state."""
    stream = state_stream(table, bandwidth_mbps, rtt_ms, usd_per_1k_input, usd_per_1k_output)
    out = {}
    for name, policy in policies.items():
        log = simulate(policy, table, stream)
        out[name] = {"success": float(log["success"].mean()), "cost_usd": float(log["cost_usd"].mean()),
                     "latency_ms": float(log["latency_ms"].mean()), "utility": float(log["utility"].mean()),
                     "offload": float(log["fallback"].mean()),
                     "threshold": float(np.mean(np.clip(log["threshold"], 0.0, 1.0)))}
    return out


def explorer_grid(table: ProposalTable, policies: dict, bandwidth_mbps, rtt_ms, thresholds=None,
                  usd_per_1k_input: float = 0.003, usd_per_1k_output: float = 0.015) -> dict:
    """Everything the frontier explorer draws, precomputed over a (bandwidth, RTT) grid: the
    fixed-threshold sweep (:func:`~netgpt_lite.routing.simulator.frontier_grid`) and every policy's operating
    point at each state (``points[name][key]`` arrays of shape (n_bw, n_rtt))."""
    from netgpt_lite.routing.simulator import frontier_grid

    bw, rtt = np.asarray(bandwidth_mbps, float), np.asarray(rtt_ms, float)
    taus = np.linspace(0.0, 1.0, 51) if thresholds is None else np.asarray(thresholds, float)
    curve = frontier_grid(table, bw, rtt, taus, usd_per_1k_input, usd_per_1k_output)
    keys = ("success", "cost_usd", "latency_ms", "utility", "offload", "threshold")
    points = {name: {k: np.zeros((bw.size, rtt.size)) for k in keys} for name in policies}
    for i, b in enumerate(bw):
        for j, r in enumerate(rtt):
            for name, p in operating_points(table, policies, b, r, usd_per_1k_input, usd_per_1k_output).items():
                for k in keys:
                    points[name][k][i, j] = p[k]
    return {"bandwidth_mbps": bw, "rtt_ms": rtt, "threshold": taus, "curve": curve, "points": points}
