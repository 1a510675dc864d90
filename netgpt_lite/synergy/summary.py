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

from dataclasses import asdict
from pathlib import Path

from netgpt_lite.routing.metrics import summarize_intervals
from netgpt_lite.synergy.loop import atomic_write_json, decompose_gain
from netgpt_lite.synergy.stages import default_stages


def round_over_round(rounds: list[dict]) -> list[dict]:
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
    return [summarize_intervals(b["per_request"], baseline=a["per_request"]) for a, b in zip(rounds, rounds[1:])]


def compare_with_always_cloud(metrics: dict) -> dict:
    """Cloud calls saved and success given up relative to AlwaysCloud on the same held-out stream."""
    saved = 1.0 - metrics["offload_rate"] / max(metrics["always_cloud_offload_rate"], 1e-12)
    return {"cloud_calls_saved_vs_always_cloud": saved,
            "success_gap_vs_always_cloud": metrics["task_success"] - metrics["always_cloud_task_success"]}


def write_summary(result, *, stages=None) -> dict:
    """Write ``summary.json``: rounds, AlwaysCloud comparisons at round 0 and last, the decomposition.

    ``stages`` load the checkpoints for the decomposition (default: :func:`default_stages`).
    """
    stages = default_stages() if stages is None else stages
    first, last = result.rounds[0], result.rounds[-1]  # (fake stages may not report AlwaysCloud)
    summary = {
        "config": asdict(result.config), "n_logged": result.n_logged, "rounds": result.rounds,
        "seconds_per_round": result.seconds_per_round,
        "round_0_vs_always_cloud": compare_with_always_cloud(first) if "always_cloud_offload_rate" in first else {},
        "last_vs_always_cloud": compare_with_always_cloud(last) if "always_cloud_offload_rate" in last else {},
        "decomposition": decompose_gain(result.out_dir, result.config, stages=stages),
        "round_over_round": round_over_round(result.rounds),
    }
    atomic_write_json(Path(result.out_dir) / "summary.json", summary)
    return summary
