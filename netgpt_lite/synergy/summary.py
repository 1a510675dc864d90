"""A synergy run's summary: each round against AlwaysCloud and against the round before, and the decomposition.

:func:`write_summary` writes ``summary.json`` beside a run's rounds: the per-round metrics that
:func:`~netgpt_lite.synergy.stages.evaluate_system` measured, the cloud calls saved and the success given up
relative to AlwaysCloud at round 0 and at the last round (:func:`compare_with_always_cloud`), each round's paired
differences from the one before with 95% intervals (:func:`round_over_round`), and the gain decomposition
(:func:`~netgpt_lite.synergy.loop.decompose_gain`).

Example:
    >>> compare_with_always_cloud({"offload_rate": 0.25, "always_cloud_offload_rate": 1.0, "task_success": 0.8,
    ...                            "always_cloud_task_success": 0.82})["cloud_calls_saved_vs_always_cloud"]
    0.75
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from netgpt_lite.routing.metrics import summarize_intervals
from netgpt_lite.stats import mean_interval
from netgpt_lite.synergy.loop import atomic_write_json, decompose_gain, load_round, read_state
from netgpt_lite.synergy.stages import default_stages


def round_over_round(rounds: list[dict], n_bootstrap: int = 10_000) -> list[dict]:
    """Each round against the one before on the same held-out requests: the paired differences (this round
    minus the previous) of success, schema-valid, offload, cost and utility with 95% intervals
    (:func:`~netgpt_lite.routing.metrics.summarize_intervals`); empty when the rounds kept no per-request values.

    Example:
        >>> one = {"success": [1, 1], "schema_valid": [1, 1], "fallback": [1, 1], "cost_usd": [0.001, 0.001],
        ...        "utility": [0.5, 0.5]}
        >>> two = {**one, "fallback": [0, 1], "cost_usd": [0.0, 0.001]}
        >>> round_over_round([{"per_request": one}, {"per_request": two}])[0]["offload_rate"]["mean"]
        -0.5
    """
    if not all("per_request" in r for r in rounds):
        return []
    return [summarize_intervals(b["per_request"], baseline=a["per_request"], n_bootstrap=n_bootstrap)
            for a, b in zip(rounds, rounds[1:])]


def compare_with_always_cloud(metrics: dict) -> dict:
    """Cloud calls saved and success given up relative to AlwaysCloud on the same held-out stream."""
    saved = 1.0 - metrics["offload_rate"] / max(metrics["always_cloud_offload_rate"], 1e-12)
    return {"cloud_calls_saved_vs_always_cloud": saved,
            "success_gap_vs_always_cloud": metrics["task_success"] - metrics["always_cloud_task_success"]}


def written_requests(result, suites: dict, *, stages) -> dict:
    """The round-0 and the last round's edge on requests written apart from the task generator, paired.

    Args:
        result: a finished run (:class:`~netgpt_lite.synergy.loop.SynergyResult`).
        suites: suite name -> tasks (e.g. the hand-written and the independently written requests).
        stages: load the two checkpoints (:func:`~netgpt_lite.synergy.loop.load_round`).

    Returns:
        Per suite: each edge's exact match and schema-valid rate (greedy, decoded as the run's edge answers),
        and the last minus the round-0 edge, paired on the same requests with a 95% interval
        (:func:`~netgpt_lite.edge.evaluation.compare`).
    """
    from netgpt_lite.edge.evaluation import compare, evaluate
    from netgpt_lite.synergy.edge_models import edge_agent

    last = read_state(result.out_dir)["last_completed_round"]
    evaluations = {}
    for r in (0, last):  # one edge in memory at a time
        agent = edge_agent(load_round(result.out_dir, result.config, r, stages=stages), result.config.edge_decoding)
        evaluations[r] = {name: evaluate(agent, tasks) for name, tasks in suites.items()}
        del agent
    out = {}
    for name in suites:
        first, final = evaluations[0][name], evaluations[last][name]
        out[name] = {"n": len(suites[name]), "round_0": first.report(), "last": final.report(),
                     "last_round": last, "last_minus_round_0": compare(final, first),
                     # per request, in the suite's order: seeds and arms can be pooled and paired later
                     "correct": {"round_0": [bool(v.correct) for v in first.verdicts],
                                 "last": [bool(v.correct) for v in final.verdicts]}}
    return out


def write_summary(result, *, stages=None, written: dict | None = None) -> dict:
    """Write ``summary.json``: rounds, AlwaysCloud comparisons at round 0 and last, the decomposition.

    ``stages`` load the checkpoints for the decomposition (default: :func:`default_stages`); ``written``
    (suite name -> tasks) adds :func:`written_requests` under ``"written"``.
    """
    made_from = _made_from(result, written)
    try:  # a finished run's summary is reused: the decomposition and the written requests cost minutes each
        kept = json.loads((Path(result.out_dir) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        kept = None
    if isinstance(kept, dict) and kept.get("made_from") == made_from:
        return kept
    stages = default_stages() if stages is None else stages
    first, last = result.rounds[0], result.rounds[-1]  # (fake stages may not report AlwaysCloud)
    summary = {
        "made_from": made_from,
        "config": asdict(result.config), "n_logged": result.n_logged, "rounds": result.rounds,
        "seconds_per_round": result.seconds_per_round,
        "peak_rss_mb": result.peak_rss_mb,
        "round_0_vs_always_cloud": compare_with_always_cloud(first) if "always_cloud_offload_rate" in first else {},
        "last_vs_always_cloud": compare_with_always_cloud(last) if "always_cloud_offload_rate" in last else {},
        "decomposition": decompose_gain(result.out_dir, result.config, stages=stages),
        "round_over_round": round_over_round(result.rounds),
        "written": written_requests(result, written, stages=stages) if written else {},
    }
    atomic_write_json(Path(result.out_dir) / "summary.json", summary)
    return summary


def _made_from(result, written: dict | None) -> dict:
    """What a summary is computed from: the run's committed state (sha256 of ``state.json``) and each written
    suite's requests; a summary made from the same is reused as it is."""
    from netgpt_lite.provenance import file_sha256

    suites = {name: hashlib.sha256(json.dumps([t.to_dict() for t in tasks], sort_keys=True).encode()).hexdigest()
              for name, tasks in (written or {}).items()}
    return {"state_sha256": file_sha256(Path(result.out_dir) / "state.json"), "written": suites}


# --- several runs: seeds pooled, arms paired -----------------------------------------------------
def pooled_values(rounds: list[dict], key: str) -> dict[str, np.ndarray]:
    """The per-request values ``key`` of several rounds (one per seed), field by field, concatenated."""
    return {f: np.concatenate([np.asarray(r[key][f], dtype=float) for r in rounds]) for f in rounds[0][key]}


def _kept_values(rounds: list[dict]) -> bool:
    return all("per_request" in r and "per_request_always_cloud" in r for r in rounds)


def pooled_last_round(summaries: list[dict], n_bootstrap: int = 10_000) -> dict | None:
    """The last round of several runs (seeds) against AlwaysCloud, each seed's held-out requests pooled: cloud
    calls saved, the success gap (paired, request by request), schema-valid, offload and success, each with its
    95% bootstrap interval over the pooled requests (:func:`~netgpt_lite.routing.metrics.summarize_intervals`);
    None when a run kept no per-request values.

    Example:
        >>> one = {"fallback": [0, 1, 0, 0], "success": [1, 1, 0, 1], "schema_valid": [1, 1, 1, 1],
        ...        "cost_usd": [0, 1e-3, 0, 0], "utility": [0.9, 0.5, -0.1, 0.9]}
        >>> always = {**one, "fallback": [1, 1, 1, 1], "success": [1, 1, 1, 1], "cost_usd": [1e-3] * 4}
        >>> run = {"rounds": [{"per_request": one, "per_request_always_cloud": always}]}
        >>> out = pooled_last_round([run, run], n_bootstrap=200)
        >>> out["cloud_calls_saved_vs_always_cloud"]["mean"], out["success_gap_vs_always_cloud"]["mean"], out["n"]
        (0.75, -0.25, 8)
    """
    lasts = [s["rounds"][-1] for s in summaries]
    if not lasts or not _kept_values(lasts):
        return None
    ours, always = pooled_values(lasts, "per_request"), pooled_values(lasts, "per_request_always_cloud")
    # saved share of AlwaysCloud's calls, per request: (its call - ours) / its mean call rate
    saved = (always["fallback"] - ours["fallback"]) / max(float(always["fallback"].mean()), 1e-12)
    alone = summarize_intervals(ours, n_bootstrap=n_bootstrap)
    gap = summarize_intervals(ours, baseline=always, n_bootstrap=n_bootstrap)["task_success"]
    out = {"cloud_calls_saved_vs_always_cloud": mean_interval(saved, n_bootstrap=n_bootstrap),
           "success_gap_vs_always_cloud": gap,
           **{k: alone[k] for k in ("schema_valid_rate", "offload_rate", "task_success")}}
    return {**out, "n": int(saved.size), "n_seeds": len(lasts)}


def pooled_round_over_round(summaries: list[dict], n_bootstrap: int = 10_000) -> list[dict] | None:
    """Round ``r`` minus round ``r - 1`` on the same held-out requests, seeds pooled: :func:`round_over_round`
    of the pooled rounds (paired differences with 95% intervals), one entry per round after round 0, each with
    its ``round``; None without per-request values.

    Example:
        >>> a = {"fallback": [1, 1, 0, 1], "success": [1, 1, 1, 0], "schema_valid": [1, 1, 1, 1],
        ...      "cost_usd": [1e-3, 1e-3, 0, 1e-3], "utility": [0.5, 0.5, 0.9, -0.5]}
        >>> b = {**a, "fallback": [0, 1, 0, 0]}
        >>> run = {"rounds": [{"per_request": a, "per_request_always_cloud": a},
        ...                   {"per_request": b, "per_request_always_cloud": a}]}
        >>> pooled_round_over_round([run], n_bootstrap=200)[0]["offload_rate"]["mean"]
        -0.5
    """
    rounds = [s["rounds"] for s in summaries]
    if not rounds or not all(_kept_values(r) for r in rounds) or len({len(r) for r in rounds}) != 1:
        return None
    pooled = [{"per_request": pooled_values([r[k] for r in rounds], "per_request")} for k in range(len(rounds[0]))]
    return [{"round": k, **d} for k, d in enumerate(round_over_round(pooled, n_bootstrap), start=1)]


def pooled_last_vs_first(summaries: list[dict], n_bootstrap: int = 10_000) -> dict | None:
    """The last round minus round 0 on the same held-out requests, seeds pooled (paired differences of
    success, offload, schema-valid, cost and utility with 95% intervals); None without per-request values.

    Example:
        >>> a = {"fallback": [1, 1, 0, 1], "success": [1, 1, 1, 0], "schema_valid": [1, 1, 1, 1],
        ...      "cost_usd": [1e-3, 1e-3, 0, 1e-3], "utility": [0.5, 0.5, 0.9, -0.5]}
        >>> run = {"rounds": [{"per_request": a, "per_request_always_cloud": a},
        ...                   {"per_request": {**a, "success": [1, 1, 1, 1]}, "per_request_always_cloud": a}]}
        >>> pooled_last_vs_first([run, run], n_bootstrap=200)["task_success"]["mean"]
        0.25
    """
    ends = [[s["rounds"][0], s["rounds"][-1]] for s in summaries]
    if not ends or not all(_kept_values(e) for e in ends):
        return None
    first, last = (pooled_values([e[k] for e in ends], "per_request") for k in (0, 1))
    return {**summarize_intervals(last, baseline=first, n_bootstrap=n_bootstrap), "n": int(first["fallback"].size)}


def arm_contrast(arm: dict, head: dict) -> dict | None:
    """An arm's last round minus the run it was forked from, on the same held-out requests: the paired
    differences of :func:`~netgpt_lite.routing.metrics.summarize_intervals` (offload, success, cost, ...) with
    95% intervals; None when either kept no per-request values."""
    a, b = arm["rounds"][-1], head["rounds"][-1]
    if "per_request" not in a or "per_request" not in b or len(a["per_request"]["fallback"]) != len(
            b["per_request"]["fallback"]):
        return None
    return summarize_intervals(a["per_request"], baseline=b["per_request"])
