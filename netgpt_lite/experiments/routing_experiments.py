"""Experiments E1-E3 of ``netgpt-lite reproduce``: routing one edge's proposal tables (chapters 2 and 5).

Each experiment calls the library function that owns it (nothing is re-implemented here):

* **E1** quality-cost frontiers per regime: :func:`netgpt_lite.routing.simulator.frontier_grid` (the
  fixed-threshold sweep) and :func:`netgpt_lite.routing.explorer.operating_points` (every policy) at each
  regime's nominal network state, plus the anchors' sweep metrics (APGR, CPT, AIQ) from E3.
* **E2** tau* and offload rate against bandwidth, RTT and price for FuncDyn and PolicyNet
  (:func:`netgpt_lite.theory.sweep.cloud_fraction`), and utility against tau at one state (its local maxima counted:
  the theory's single maximum holds for a smooth calibration map, an empirical table is jagged).
* **E3** the main table, policies x traces (time-varying: Markov mixed, commute, the Mahimahi LTE drive;
  then the static regimes as a sanity check) x pricing, mean +- std over seeds
  (:func:`netgpt_lite.experiments.frontier.main_table`).

All three evaluate on the *test* split's unseen phrasings with policies fitted on logs
(:func:`routing_tables`): the validation split's phrasings, or with ``log_source="deployment"`` the test split's
own traffic on another day, E3 then reporting the validation-logs fit beside it as a distribution-shift arm
(:func:`shift_arm`).

Example:
    >>> from netgpt_lite.experiments.reproduce_config import ReproduceConfig
    >>> from netgpt_lite.routing.simulator import synthetic_table
    >>> cfg = ReproduceConfig(fast=True, regimes=("4g",), n_requests=50, policynet_epochs=2)
    >>> e1 = run_e1(cfg, synthetic_table(100), exploration_policies(cfg, synthetic_table(100, 1)), {})
    >>> e1["4g"]["sweep"]["offload"][0]
    0.0
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.experiments.frontier import (
    exploration_logs,
    fit_policies,
    main_table,
    named_source,
    table_rows,
)
from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.network.pricing import Price
from netgpt_lite.network.state import REGIMES
from netgpt_lite.routing.edge_outputs import load_edge_tables
from netgpt_lite.routing.explorer import operating_points
from netgpt_lite.routing.limits import REFERENCE_BINS
from netgpt_lite.routing.policies import RoutingContext
from netgpt_lite.routing.simulator import SimulationConfig, frontier_grid
from netgpt_lite.routing.tables import default_tables, edge_table
from netgpt_lite.theory.sweep import cloud_fraction


def routing_tables(cfg: ReproduceConfig, logs: str | None = None):
    """``(log_table, test_table)``: E1-E3 evaluate on the *test* split's unseen phrasings, with policies
    fitted on logs from ``logs`` (default ``cfg.log_source``): ``"validation"`` phrasings, or ``"deployment"``
    (the test split's traffic on another day: the next seed).  ``smollm2``: the shipped edge outputs
    (:func:`load_edge_tables`, 300 tasks a stream whatever ``n_test``); ``tiny``: the from-scratch model run now
    on ``n_test`` / ``n_logs`` tasks."""
    logs = cfg.log_source if logs is None else logs
    if cfg.edge == "smollm2":
        return load_edge_tables(logs=logs)
    log_table, test_table = default_tables(n_test=cfg.n_test, n_logs=cfg.n_logs, seed=cfg.seed, eval_split="test")
    if logs == "deployment":
        log_table = edge_table("test", cfg.n_logs, cfg.seed + 1)  # the evaluation's phrasings, other requests
    return log_table, test_table


def shift_arm(cfg: ReproduceConfig, test_table) -> dict | None:
    """E3's distribution-shift arm: the time-varying cells again with policies fitted on *validation* logs
    (what a router fitted on yesterday's traffic of another distribution does); None unless E3's main logs
    are the deployment's own (``cfg.log_source == "deployment"``)."""
    if cfg.log_source != "deployment":
        return None
    log_table, _ = routing_tables(cfg, logs="validation")
    sources = [named_source(t) for t in cfg.traces]
    cells = main_table(test_table, log_table, sources, cfg.pricings, seeds=cfg.seeds, n_requests=cfg.n_requests,
                       n_logs=4 * cfg.n_requests, policynet_epochs=cfg.policynet_epochs)
    return {"cells": cells, "logs": "validation"}


def exploration_policies(cfg: ReproduceConfig, log_table) -> dict:
    """Policies fitted on log-uniform exploration logs (bandwidth, RTT and price drawn independently):
    what E1 and E2 draw, since they ask how a rule moves over the whole range of states."""
    logs = exploration_logs(log_table, SimulationConfig(), 4 * cfg.n_requests, cfg.seed)
    return fit_policies(log_table, logs, seed=cfg.seed, policynet_epochs=cfg.policynet_epochs, online=False)


def run_e1(cfg: ReproduceConfig, test_table, policies: dict, e3: dict) -> dict:
    """E1: fixed-threshold sweep and policy operating points at each regime's nominal state."""

    taus = np.linspace(0.0, 1.0, 41)
    out = {}
    for regime in cfg.regimes:
        z = REGIMES[regime]
        grid = frontier_grid(test_table, z.bandwidth_mbps, z.rtt_ms, taus)
        out[regime] = {
            "sweep": {k: grid[k].reshape(-1).tolist() for k in ("success", "cost_usd", "offload", "utility")},
            "points": operating_points(test_table, policies, z.bandwidth_mbps, z.rtt_ms),
            "sweep_metrics": e3.get(f"{regime}/flat", {}).get("sweep", {}),
        }
    return out


def run_e2(cfg: ReproduceConfig, test_table, policies: dict) -> dict:
    """E2: FuncDyn's and PolicyNet's thresholds and offload rates against bandwidth, RTT and price."""

    n_in, req = float(np.median(test_table.cloud_input_tokens)), float(np.median(test_table.request_bytes))
    axes = {"bandwidth_mbps": np.geomspace(0.05, 500, 40), "rtt_ms": np.geomspace(10, 3000, 40),
            "price_multiplier": np.geomspace(0.25, 8, 40)}
    base = {"bandwidth_mbps": 30.0, "rtt_ms": 60.0, "price_multiplier": 1.0}
    out = {}
    for axis, values in axes.items():
        state = {k: np.full(values.size, v) for k, v in base.items()}
        state[axis] = values
        price = Price()  # the default price, times the price-multiplier axis
        ctx = RoutingContext(np.zeros(values.size), state["bandwidth_mbps"], state["rtt_ms"],
                             price.usd_per_1k_input * state["price_multiplier"],
                             price.usd_per_1k_output * state["price_multiplier"], n_in, req, 0.0)
        curves = {}
        for name in ("funcdyn", "policynet"):
            tau = np.clip(policies[name].thresholds(ctx), 0.0, 1.0)
            curves[name] = {"threshold": tau.tolist(), "offload": cloud_fraction(test_table.edge_score, tau).tolist()}
        out[axis] = {"x": values.tolist(), "curves": curves,
                     "funcdyn_monotone": bool(_monotone(curves["funcdyn"]["threshold"], axis))}
    taus = np.linspace(0.0, 1.0, 101)
    utility = frontier_grid(test_table, base["bandwidth_mbps"], base["rtt_ms"], taus)["utility"].reshape(-1)
    peaks = int(np.sum((utility[1:-1] > utility[:-2]) & (utility[1:-1] >= utility[2:])))
    out["utility_vs_threshold"] = {"threshold": taus.tolist(), "utility": utility.tolist(), "n_local_maxima": peaks,
                                   "best_threshold": float(taus[int(np.argmax(utility))])}
    return out


def _monotone(tau, axis: str) -> bool:
    d = np.diff(np.asarray(tau))
    return bool((d >= -1e-9).all() if axis == "bandwidth_mbps" else (d <= 1e-9).all())


def run_e3(cfg: ReproduceConfig, test_table, log_table) -> dict:
    """E3: policies x (time-varying traces, then the static regimes as a sanity check) x pricing schedules,
    fitted per cell and seed on another day's logs of the same trace (:func:`main_table`)."""
    sources = [named_source(t) for t in cfg.traces] + [named_source(r) for r in cfg.regimes]
    results = main_table(test_table, log_table, sources, cfg.pricings, seeds=cfg.seeds, n_requests=cfg.n_requests,
                         n_logs=4 * cfg.n_requests, policynet_epochs=cfg.policynet_epochs)
    out = {"cells": results, "rows": table_rows(results),
           "config": {"traces": list(cfg.traces), "static_regimes": list(cfg.regimes), "pricings": list(cfg.pricings),
                      "seeds": list(cfg.seeds), "n_requests": cfg.n_requests, "n_logs": 4 * cfg.n_requests,
                      "threshold_oracle_bins": REFERENCE_BINS, "edge": cfg.edge, "logs": cfg.log_source}}
    shift = shift_arm(cfg, test_table)
    if shift is not None:
        out["shift"] = shift
    return out
