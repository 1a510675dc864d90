"""Chapter 5's experiment, summarised: the policies' order, the mean and spread over seeds, the room above the
best fixed threshold in hindsight with its interval, and the flat rows of the E3 table.

:mod:`netgpt_lite.experiments.frontier` runs the cells; this module turns a cell's per-seed runs into
JSON-able numbers (:func:`aggregate`, :func:`compact_summary`, :func:`table_rows`).

Example:
    >>> POLICY_ORDER[:3]
    ('always_edge', 'always_cloud', 'fixed_logs')
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.stats import mean_interval

POLICY_ORDER = ("always_edge", "always_cloud", "fixed_logs", "fixed_hindsight", "quantile", "cascade", "funcdyn",
                "funcdyn_online", "policynet", "threshold_oracle", "oracle")
EXTRA_POLICIES = ("funcdyn_plugin", "threshold_oracle_4", "threshold_oracle_6", "fixed_hindsight_cv",
                  "threshold_oracle_cv")
DEPLOYABLE = ("fixed_logs", "quantile", "cascade", "funcdyn_plugin", "funcdyn", "funcdyn_online", "policynet")
COMPACT_KEYS = {"utility": "mean_utility", "task_success": "task_success", "offload_rate": "offload_rate",
                "cost_per_1k_requests_usd": "cost_per_1k_requests_usd", "latency_p95_ms": "latency_p95_ms"}
ROOM_BOOTSTRAP = 2000  # resamples of the room's interval (pooled requests of every seed: thousands)


def _mean_std_nested(items: list[dict]) -> dict:
    """Mean/std over seeds of nested dicts of floats (``{"mean", "std"}`` leaves)."""
    if isinstance(items[0], dict):
        keys = [k for k in items[0] if all(k in it for it in items)]
        return {k: _mean_std_nested([it[k] for it in items]) for k in keys}
    values = np.array(items, dtype=float)
    ok = values[np.isfinite(values)]
    return {"mean": float(ok.mean()) if ok.size else float("nan"),
            "std": float(ok.std(ddof=1)) if ok.size > 1 else 0.0}


def room_above_fixed(runs: list[dict], n_bootstrap: int = ROOM_BOOTSTRAP) -> dict:
    """How much a network-aware threshold could add, and what each policy adds, over the best fixed threshold
    chosen in hindsight (``fixed_hindsight``), the seeds' streams pooled request by request.

    The **room** is the threshold oracle's mean utility minus fixed_hindsight's, paired (the same requests under
    the same network draws), with its 95% bootstrap interval over the pooled requests.  Each policy gets its own
    paired difference from fixed_hindsight, and, only where the room is *resolvable* (its interval above 0), the
    share of the room it recovers (``share_of_room``; None elsewhere: a share of an unresolved room is noise).

    Both limits are chosen on the stream they are scored on, so the room also holds the noise they fit.  Where
    the runs carry the cross-fitted limits (``fixed_hindsight_cv``, ``threshold_oracle_cv``), ``cross_fitted``
    holds the same numbers between those two: the room a rule could actually reach.

    Example:
        >>> logs = {"fixed_hindsight": {"utility": np.array([0.5, 0.5, 0.4])},
        ...         "threshold_oracle": {"utility": np.array([0.6, 0.6, 0.5])},
        ...         "funcdyn": {"utility": np.array([0.55, 0.6, 0.45])}}
        >>> out = room_above_fixed([{"logs": logs}], n_bootstrap=200)
        >>> round(out["room"]["mean"], 3), out["resolvable"], round(out["policies"]["funcdyn"]["share_of_room"], 2)
        (0.1, True, 0.67)
    """
    def pooled(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(r["logs"][name]["utility"], dtype=float) for r in runs])

    def room_of(fixed: str, oracle: str, key: str) -> dict:
        base = pooled(fixed)
        room = mean_interval(pooled(oracle), base, n_bootstrap=n_bootstrap)
        resolvable = bool(room["ci_low"] > 0)
        policies = {}
        for name in runs[0]["logs"]:
            vs = mean_interval(pooled(name), base, n_bootstrap=n_bootstrap)
            policies[name] = {key: vs, "share_of_room": vs["mean"] / room["mean"] if resolvable else None}
        return {"room": room, "resolvable": resolvable, "n": int(base.size), "n_seeds": len(runs),
                "policies": policies}

    out = room_of("fixed_hindsight", "threshold_oracle", "vs_fixed_hindsight")
    if "threshold_oracle_cv" in runs[0]["logs"]:  # the same room between the two limits scored out of sample
        out["cross_fitted"] = room_of("fixed_hindsight_cv", "threshold_oracle_cv", "vs_fixed_hindsight_cv")
    return out


def aggregate(runs: list[dict]) -> dict:
    """Mean and std over seeds of :func:`evaluate_policies` results, and the room above the best fixed
    threshold in hindsight with intervals (:func:`room_above_fixed`); JSON-able."""
    return {
        "policies": _mean_std_nested([r["summary"] for r in runs]),
        "per_regime": _mean_std_nested([r["per_regime"] for r in runs]),
        "sweep": _mean_std_nested([r["sweep"] for r in runs]),
        "goals": _mean_std_nested([r["goals"] for r in runs]),
        "mean_threshold": _mean_std_nested([r["thresholds"] for r in runs]),
        "room": room_above_fixed(runs),
    }


def compact_summary(result: dict) -> dict:
    """``{"policies": {NAME: {utility, task_success, offload_rate, cost_per_1k_requests_usd,
    latency_p95_ms, oracle_gain_share, vs_fixed_hindsight, share_of_room}}, "room": ..., "config": ...}``: the
    means of :func:`run_frontier`'s result, and the room above fixed_hindsight with its interval."""
    policies = {}
    for name in (n for n in POLICY_ORDER if n in result["policies"]):  # older artifacts lack newer policies
        m = result["policies"][name]
        policies[name] = {k: round(m[src]["mean"], 6) for k, src in COMPACT_KEYS.items()}
        policies[name]["oracle_gain_share"] = round(m["oracle_gain_share"]["mean"], 4)
        room = result.get("room", {}).get("policies", {}).get(name)
        if room is not None:  # the paired difference from fixed_hindsight, and the share where the room resolves
            vs = room["vs_fixed_hindsight"]
            policies[name]["vs_fixed_hindsight"] = {k: round(vs[k], 6) for k in ("mean", "ci_low", "ci_high")}
            share = room["share_of_room"]
            policies[name]["share_of_room"] = None if share is None else round(share, 4)
    out = {"policies": policies, "config": result["config"]}
    if "room" in result:
        room = result["room"]
        out["room"] = {**{k: round(room["room"][k], 6) for k in ("mean", "ci_low", "ci_high")},
                       "resolvable": room["resolvable"], "n": room["n"], "n_seeds": room["n_seeds"]}
        if "cross_fitted" in room:
            cv = room["cross_fitted"]
            out["room"]["cross_fitted"] = {**{k: round(cv["room"][k], 6) for k in ("mean", "ci_low", "ci_high")},
                                           "resolvable": cv["resolvable"]}
            for name, p in policies.items():
                vs = cv["policies"][name]["vs_fixed_hindsight_cv"]
                p["vs_fixed_hindsight_cv"] = {k: round(vs[k], 6) for k in ("mean", "ci_low", "ci_high")}
                share = cv["policies"][name]["share_of_room"]
                p["share_of_cross_fitted_room"] = None if share is None else round(share, 4)
    return out


def table_rows(results: dict, keys=("task_success", "schema_valid_rate", "offload_rate", "cost_per_1k_requests_usd",
                                     "latency_p50_ms", "latency_p95_ms", "mean_utility", "oracle_gain_share"),
               policies=POLICY_ORDER) -> list[dict]:
    """Flatten :func:`main_table` results into rows ``{trace, pricing, policy, <key>: "mean ± std"}``."""
    rows = []
    for cell, res in results.items():
        trace, pricing = cell.split("/")
        for policy in (p for p in policies if p in res["policies"]):
            m = res["policies"][policy]
            rows.append({"trace": trace, "pricing": pricing, "policy": policy,
                         **{k: f"{m[k]['mean']:.3f} ± {m[k]['std']:.3f}" for k in keys}})
    return rows
