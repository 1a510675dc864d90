"""Chapter 5's experiment: fit every policy on logs, evaluate on fresh streams, compare frontiers.

1. **Logs and fitting.** :func:`fit_policies` draws exploration logs (``regime="log_uniform"``) from
   the *log* table (validation tasks) and fits the policies on them: the calibrated quantile, the
   cascade under a budget, FuncDyn (Platt g, q_c, answer sizes) and PolicyNet (same weights as
   the simulator).  The Oracle reads the truth.
2. **Evaluation.** :func:`run_frontier` evaluates every policy on streams of the *test* table for
   several seeds, adds the best fixed threshold *in hindsight* on each evaluation stream (the best
   any network-blind threshold can do: a generous baseline), the anchors' sweep metrics, and the
   goals: cost at equal success relative to the best fixed threshold, and the share of the
   Oracle's utility gain each policy recovers (over AlwaysEdge and over the best fixed threshold).

Proposal tables come from :mod:`netgpt_lite.routing.tables`.

Example:
    >>> from netgpt_lite.routing.simulator import synthetic_table
    >>> res = run_frontier(synthetic_table(300, 1), synthetic_table(300, 2), seeds=(0,), n_requests=300,
    ...                    n_logs=500, policynet_epochs=20)                        # doctest: +SKIP
    >>> sorted(res["policies"])[:2]                                                # doctest: +SKIP
    ['always_cloud', 'always_edge']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from netgpt_lite.routing import metrics
from netgpt_lite.routing.policies import (
    AlwaysCloud,
    AlwaysEdge,
    CalibratedQuantile,
    Cascade,
    FixedThreshold,
    FuncDyn,
    Oracle,
    sweep_candidates,
)
from netgpt_lite.routing.policy_net import PolicyNet
from netgpt_lite.routing.simulator import (
    LOG_UNIFORM,
    ProposalTable,
    SimulationConfig,
    Stream,
    make_stream,
    outcomes,
    simulate,
    stream_context,
    sweep_stream,
)

POLICY_ORDER = ("always_edge", "always_cloud", "best_fixed", "calibrated_quantile", "cascade", "funcdyn",
                "policynet", "oracle")


def exploration_logs(log_table: ProposalTable, config: SimulationConfig, n_logs: int, seed: int):
    """Exploration logs: ``(context, outcomes, stream)`` of a log-uniform network stream on ``log_table``
    with the flat base price times a log-uniform multiplier in [1, 3] (so the logs, and the policies
    fitted on them, do not depend on the evaluation's regime or pricing schedule)."""
    stream = make_stream(log_table, replace(config, regime=LOG_UNIFORM, pricing="flat", n_requests=n_logs, seed=seed))
    return stream_context(log_table, stream), outcomes(log_table, stream), stream


def fit_policies(log_table: ProposalTable, config: SimulationConfig, seed: int = 0, n_logs: int = 8000,
                 cloud_fraction: float = 0.3, budget_share: float = 0.5, policynet_epochs: int = 400) -> dict:
    """Fit every policy on exploration logs (seeded).  The cascade's budget is ``budget_share`` of the
    always-cloud cost in the logs; the calibrated quantile targets ``cloud_fraction``."""
    ctx, both, stream = exploration_logs(log_table, config, n_logs, seed)
    out_tokens = log_table.cloud_output_tokens[stream.row, stream.cloud_draw]
    response_bytes = log_table.response_bytes[stream.row, stream.cloud_draw]
    funcdyn = FuncDyn.fit(ctx.scores, ctx.edge_correct, both["cloud_success"], out_tokens, response_bytes,
                          config.weights, config.latency)
    budget = budget_share * float(both["cloud_cost_usd"].mean())
    net = PolicyNet(epochs=policynet_epochs, seed=seed).fit(ctx, both["edge_utility"], both["cloud_utility"])
    return {
        "always_edge": AlwaysEdge(), "always_cloud": AlwaysCloud(),
        "calibrated_quantile": CalibratedQuantile.fit(ctx.scores, cloud_fraction),
        "cascade": Cascade.fit(ctx.scores, ctx.edge_correct, both["cloud_success"], both["cloud_cost_usd"], budget),
        "funcdyn": funcdyn, "policynet": net, "oracle": Oracle(funcdyn),
    }


def best_fixed_threshold(table: ProposalTable, stream: Stream) -> FixedThreshold:
    """The network-blind threshold with the highest mean utility on ``stream`` (chosen in hindsight)."""
    cands = sweep_candidates(table.edge_score[stream.row])
    utility = sweep_stream(table, stream, cands)["utility"]
    return FixedThreshold(float(min(cands[int(np.argmax(utility))], 1.0)), name="best_fixed")


def cost_at_equal_success(sweep: dict, success: float, cost: float, key: str = "cost_usd") -> float:
    """Relative saving 1 - cost / cost_fixed, where cost_fixed is the cheapest fixed threshold of
    ``sweep`` whose success is at least ``success`` (nan if none reaches it or it costs nothing)."""
    reach = sweep["success"] >= success - 1e-12
    if not reach.any():
        return float("nan")
    fixed = float(sweep[key][reach].min())
    return float(1.0 - cost / fixed) if fixed > 0 else float("nan")


def gain_recovered(utility: float, baseline: float, oracle: float) -> float:
    """Share of the Oracle's utility gain over ``baseline`` that a policy recovers."""
    return float((utility - baseline) / (oracle - baseline)) if oracle != baseline else float("nan")


def evaluate_policies(policies: dict, test_table: ProposalTable, config: SimulationConfig) -> dict:
    """Evaluate fitted ``policies`` (plus the best fixed threshold in hindsight) on one stream of
    ``test_table``: summaries, per-regime summaries, sweep metrics, goals, logs."""
    stream = make_stream(test_table, config)
    policies = {**policies, "best_fixed": best_fixed_threshold(test_table, stream)}
    logs = {name: simulate(policies[name], test_table, stream) for name in POLICY_ORDER}
    sweep = sweep_stream(test_table, stream, sweep_candidates(test_table.edge_score[stream.row]))
    w = config.weights
    sweep["total_cost"] = w.lambda_latency_per_ms * sweep["latency_ms"] + w.lambda_cost_per_usd * sweep["cost_usd"]
    summary = {name: metrics.summarize(log) for name, log in logs.items()}
    u = {name: s["mean_utility"] for name, s in summary.items()}
    goals = {}
    for name in ("funcdyn", "policynet", "calibrated_quantile", "cascade"):
        log = logs[name]
        total = w.lambda_latency_per_ms * log["latency_ms"].mean() + w.lambda_cost_per_usd * log["cost_usd"].mean()
        goals[name] = {
            "usd_saving_at_equal_success": cost_at_equal_success(sweep, log["success"].mean(), log["cost_usd"].mean()),
            "total_cost_saving_at_equal_success": cost_at_equal_success(sweep, log["success"].mean(), total, "total_cost"),
            "oracle_gain_vs_always_edge": gain_recovered(u[name], u["always_edge"], u["oracle"]),
            "oracle_gain_vs_best_fixed": gain_recovered(u[name], u["best_fixed"], u["oracle"]),
        }
    return {
        "summary": summary, "per_regime": {n: metrics.summarize_by(log) for n, log in logs.items()},
        "sweep": metrics.sweep_metrics(sweep["offload"], sweep["success"], sweep["cost_usd"]), "goals": goals,
        "thresholds": {n: float(np.mean(logs[n]["threshold"].clip(0, 1))) for n in POLICY_ORDER},
        "policies": policies, "stream": stream, "logs": logs,
    }


def _mean_std_nested(items: list[dict]) -> dict:
    """Mean/std over seeds of nested dicts of floats (``{"mean", "std"}`` leaves)."""
    if isinstance(items[0], dict):
        keys = [k for k in items[0] if all(k in it for it in items)]
        return {k: _mean_std_nested([it[k] for it in items]) for k in keys}
    values = np.array(items, dtype=float)
    ok = values[np.isfinite(values)]
    return {"mean": float(ok.mean()) if ok.size else float("nan"),
            "std": float(ok.std(ddof=1)) if ok.size > 1 else 0.0}


def aggregate(runs: list[dict]) -> dict:
    """Mean and std over seeds of :func:`evaluate_policies` results (JSON-able)."""
    return {
        "policies": _mean_std_nested([r["summary"] for r in runs]),
        "per_regime": _mean_std_nested([r["per_regime"] for r in runs]),
        "sweep": _mean_std_nested([r["sweep"] for r in runs]),
        "goals": _mean_std_nested([r["goals"] for r in runs]),
        "mean_threshold": _mean_std_nested([r["thresholds"] for r in runs]),
    }


def run_frontier(test_table: ProposalTable, log_table: ProposalTable, regime: str = "mixed", pricing: str = "flat",
                 seeds=(0, 1, 2), n_requests: int = 2000, n_logs: int = 8000, policynet_epochs: int = 400,
                 keep_runs: bool = False) -> dict:
    """Every policy on ``regime`` x ``pricing``, mean and std over ``seeds``: a JSON-able dict with
    ``policies`` (metrics), ``per_regime``, ``sweep`` (APGR, CPT, AIQ) and ``goals``; with
    ``keep_runs`` also ``runs`` (fitted policies, streams and logs per seed, not JSON-able)."""
    if len(seeds) < 1:
        raise ValueError("seeds must hold at least one seed")
    config = SimulationConfig(n_requests=n_requests, regime=regime, pricing=pricing)
    runs = [evaluate_policies(fit_policies(log_table, config, seed=s, n_logs=n_logs, policynet_epochs=policynet_epochs),
                              test_table, replace(config, seed=s)) for s in seeds]
    result = aggregate(runs)
    result.update({
        "regime": regime, "pricing": pricing, "seeds": list(seeds), "n_requests": n_requests, "n_logs": n_logs,
        "table_source": test_table.source, "log_table_source": log_table.source})
    if keep_runs:
        result["runs"] = runs
    return result


def main_table(test_table: ProposalTable, log_table: ProposalTable, regimes, pricings, seeds=(0, 1, 2),
               n_requests: int = 2000, n_logs: int = 8000, policynet_epochs: int = 400,
               fitted: dict | None = None) -> tuple[dict, dict]:
    """E3: policies x regimes x pricing schedules, mean and std over ``seeds``.

    The policies are fitted once per seed (exploration logs do not depend on the regime or the
    schedule; pass ``fitted={seed: policies}`` to reuse fits) and evaluated on a fresh stream per
    (regime, schedule, seed).

    Returns:
        ``(results, fitted)``: ``results["regime/pricing"]`` is an :func:`aggregate` dict;
        ``fitted[seed]`` the policies fitted with that seed.
    """
    fitted = dict(fitted or {})
    for s in seeds:
        if s not in fitted:
            fitted[s] = fit_policies(log_table, SimulationConfig(), seed=s, n_logs=n_logs,
                                     policynet_epochs=policynet_epochs)
    results = {}
    for regime in regimes:
        for pricing in pricings:
            cfg = SimulationConfig(n_requests=n_requests, regime=regime, pricing=pricing)
            runs = [evaluate_policies(fitted[s], test_table, replace(cfg, seed=s)) for s in seeds]
            results[f"{regime}/{pricing}"] = aggregate(runs)
    return results, fitted


def table_rows(results: dict, keys=("task_success", "schema_valid_rate", "offload_rate", "cost_per_1k_requests_usd",
                                     "latency_p50_ms", "latency_p95_ms", "mean_utility")) -> list[dict]:
    """Flatten :func:`main_table` results into rows ``{regime, pricing, policy, <key>: "mean ± std"}``."""
    rows = []
    for cell, res in results.items():
        regime, pricing = cell.split("/")
        for policy, m in res["policies"].items():
            rows.append({"regime": regime, "pricing": pricing, "policy": policy,
                         **{k: f"{m[k]['mean']:.3f} ± {m[k]['std']:.3f}" for k in keys}})
    return rows
