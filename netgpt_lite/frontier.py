"""Chapter 5's experiments: build proposal tables, fit every policy on logs, evaluate on fresh streams.

1. **Tables.** :func:`edge_table` runs the edge agent (default: the shipped tiny checkpoint) and the
   simulated cloud once on a split of tasks and caches the :class:`~netgpt_lite.simulate.ProposalTable`
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
    >>> from netgpt_lite.simulate import synthetic_table
    >>> res = run_frontier(synthetic_table(300, 1), synthetic_table(300, 2), seeds=(0,), n_requests=300,
    ...                    n_logs=500, policynet_epochs=20)                        # doctest: +SKIP
    >>> sorted(res["policies"])[:2]                                                # doctest: +SKIP
    ['always_cloud', 'always_edge']
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from netgpt_lite import metrics
from netgpt_lite.policy_net import PolicyNet
from netgpt_lite.routing import (
    AlwaysCloud,
    AlwaysEdge,
    CalibratedQuantile,
    Cascade,
    FixedThreshold,
    FuncDyn,
    Oracle,
    n_fallback_sorted,
    sweep_candidates,
)
from netgpt_lite.simulate import (
    LOG_UNIFORM,
    ProposalTable,
    SimulationConfig,
    Stream,
    make_stream,
    outcomes,
    simulate,
    stream_context,
    sweep_stream,
    synthetic_table,
)

POLICY_ORDER = ("always_edge", "always_cloud", "best_fixed", "calibrated_quantile", "cascade", "funcdyn",
                "policynet", "oracle")


def cache_dir() -> Path:
    """Where proposal tables are cached: ``$NETGPT_LITE_CACHE`` or ``~/.cache/netgpt-lite``."""
    return Path(os.environ.get("NETGPT_LITE_CACHE", Path.home() / ".cache" / "netgpt-lite")) / "proposal_tables"


def model_sha(path: str | Path) -> str:
    """First 12 hex digits of the sha256 over a checkpoint folder's weight and tokenizer files."""
    digest = hashlib.sha256()
    for f in sorted(Path(path).glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".json", ".bin"):
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def edge_table(split: str = "test", n: int = 300, seed: int = 0, n_cloud_draws: int = 4, model_path=None,
               cache: bool = True) -> ProposalTable:
    """Run the edge agent and the simulated cloud on ``generate_tasks(split, n, seed)``, once (cached)."""
    from netgpt_lite.agents import SimulatedCloud
    from netgpt_lite.checker import check_call
    from netgpt_lite.edge_agent import EdgeAgent, verdicts
    from netgpt_lite.edge_lm import shipped_model_path
    from netgpt_lite.tool_tasks import generate_tasks

    path = Path(model_path) if model_path is not None else shipped_model_path()
    sha = model_sha(path)
    cached = cache_dir() / f"edge-{sha}-{split}-n{n}-seed{seed}-k{n_cloud_draws}.npz"
    if cache and cached.exists():
        return ProposalTable.load(cached)
    tasks = generate_tasks(split, n, seed=seed)
    agent = EdgeAgent.from_pretrained(path)
    outputs = agent.run(tasks)
    edge_ok = np.array([v.correct for v in verdicts(tasks, outputs)])
    cloud = SimulatedCloud(seed=seed)
    out = cloud.outcomes(tasks, n_draws=n_cloud_draws)
    cloud_valid = np.array([[check_call(cloud.answer(t, d)[0], t.tools, t.gold).schema_valid
                             for d in range(n_cloud_draws)] for t in tasks])
    table = ProposalTable(
        task_id=np.array([t.task_id for t in tasks]), kind=np.array([t.kind for t in tasks]),
        difficulty=np.array([t.difficulty for t in tasks]),
        edge_score=np.array([o.confidence(agent.score) for o in outputs]), edge_correct=edge_ok,
        edge_schema_valid=np.array([o.schema_valid for o in outputs]),
        edge_output_tokens=np.array([o.n_output_tokens for o in outputs], float), cloud_correct=out["correct"],
        cloud_schema_valid=cloud_valid, cloud_input_tokens=out["n_input_tokens"],
        cloud_output_tokens=out["n_output_tokens"], request_bytes=out["request_bytes"],
        response_bytes=out["response_bytes"], source=f"edge:{sha}+simulated_cloud",
    )
    if cache:
        table.save(cached)
    return table


def default_tables(n_test: int = 300, n_logs: int = 300, seed: int = 0,
                   eval_split: str = "validation") -> tuple[ProposalTable, ProposalTable]:
    """``(log_table, eval_table)`` through the shipped edge model, or SYNTHETIC tables
    (``source == "synthetic"``) when no checkpoint is shipped.

    Both default to the *deployment workload the edge was trained for*: validation tasks (the training
    phrasings with new values), the logs with ``seed`` and the evaluation stream with ``seed + 1``
    (different tasks).  ``eval_split="test"`` evaluates on the held-out phrasings instead, where the
    shipped edge is mostly wrong and the score distribution shifts; chapter 7 is about that shift.
    """
    from netgpt_lite.edge_lm import shipped_model_path

    if (shipped_model_path() / "config.json").exists():
        eval_seed = seed + 1 if eval_split == "validation" else seed
        return edge_table("validation", n_logs, seed), edge_table(eval_split, n_test, eval_seed)
    return synthetic_table(n_logs, seed + 1), synthetic_table(n_test, seed)


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


def fallback_share(scores, thresholds) -> np.ndarray:
    """Share of ``scores`` that each threshold sends to the cloud (for E2's offload-rate curves)."""
    s = np.sort(np.asarray(scores, dtype=float))
    return n_fallback_sorted(s, thresholds) / s.size


def state_stream(table: ProposalTable, bandwidth_mbps: float, rtt_ms: float, usd_per_1k_input: float = 0.003,
                 usd_per_1k_output: float = 0.015, config: SimulationConfig | None = None) -> Stream:
    """Every (task, cloud draw) of ``table`` once, all at one network state and price: simulating
    it gives a policy's expected operating point at that state."""
    from netgpt_lite.network import NetworkTrace

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
    fixed-threshold sweep (:func:`~netgpt_lite.simulate.frontier_grid`) and every policy's operating
    point at each state (``points[name][key]`` arrays of shape (n_bw, n_rtt))."""
    from netgpt_lite.simulate import frontier_grid

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
