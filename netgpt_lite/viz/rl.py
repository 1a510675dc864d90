"""Figures of chapter 6 (SFT-anchored RL): the KL toy, training curves, and the ablation (E5).

Pure builders: each takes numbers computed by :mod:`netgpt_lite.rl.objective` / :mod:`netgpt_lite.rl` and
returns a ``plotly.graph_objects.Figure``.

Example:
    >>> fig = kl_toy_figure([0.495, 0.01, 0.495], [0.33, 0.34, 0.33], [0.98, 0.02, 0.0])
    >>> len(fig.data)
    3
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLORS = {"full": "#1f77b4", "no_forward_kl": "#ff7f0e", "no_reverse_kl": "#2ca02c", "plain_pg": "#d62728"}
LABELS = {
    "reward": "reward (mean)",
    "exact_match": "exact match",
    "schema_valid": "schema-valid rate",
    "kl_to_sft": "KL to SFT (nats/token)",
    "entropy": "entropy (nats/token)",
    "frac_zero_std": "zero-variance groups",
    "eval_exact_match": "test exact match",
    "eval_schema_valid": "test schema-valid rate",
}


def kl_toy_figure(p: Sequence[float], q_forward: Sequence[float], q_reverse: Sequence[float]) -> go.Figure:
    """Bars of the target p and the one-bump fits by forward KL (mass-covering) and reverse KL (mode-seeking)."""
    tokens = [f"token {i}" for i in range(len(p))]
    fig = go.Figure()
    fig.add_bar(x=tokens, y=list(p), name="target p (bimodal)", marker_color="#7f7f7f")
    fig.add_bar(x=tokens, y=list(q_forward), name="q minimising KL(p || q): forward, mass-covering")
    fig.add_bar(x=tokens, y=list(q_reverse), name="q minimising KL(q || p): reverse, mode-seeking")
    fig.update_layout(barmode="group", yaxis_title="probability", yaxis_range=[0, 1],
                      title="Fitting a one-bump q to a two-mode p", legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def training_curves_figure(history: Sequence[dict], metrics: Sequence[str] = ("reward", "exact_match",
                           "schema_valid", "kl_to_sft")) -> go.Figure:  # fmt: skip
    """One small panel per logged metric against the step (rows of :func:`netgpt_lite.rl.train_minimal`)."""
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[LABELS.get(m, m) for m in metrics])
    for col, name in enumerate(metrics, start=1):
        rows = [h for h in history if name in h and not _isnan(h[name])]
        fig.add_scatter(x=[h["step"] for h in rows], y=[h[name] for h in rows], mode="lines+markers",
                        showlegend=False, row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(height=320, title="SFT-anchored RL, per step")
    return fig


def ablation_figure(results: dict, metrics: Sequence[str] = ("eval_exact_match", "eval_schema_valid",
                    "kl_to_sft")) -> go.Figure:  # fmt: skip
    """Mean (line) and +-1 std over seeds (band) of each metric, one line per variant of the E5 ablation.

    Args:
        results: ``{"variants": {name: {"runs": [{"seed": s, "history": [rows]}]}}}`` as written by
            :func:`netgpt_lite.rl.run_ablation`.
        metrics: History keys to draw, one panel each.
    """
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[LABELS.get(m, m) for m in metrics])
    for name, variant in results["variants"].items():
        color = COLORS.get(name)
        for col, metric in enumerate(metrics, start=1):
            steps, mean, std = _mean_over_seeds(variant["runs"], metric)
            if not steps:
                continue
            fig.add_scatter(x=steps + steps[::-1], y=[m + s for m, s in zip(mean, std)] +
                            [m - s for m, s in zip(mean, std)][::-1], fill="toself", line={"width": 0},
                            fillcolor=color, opacity=0.15, showlegend=False, hoverinfo="skip", row=1, col=col)  # fmt: skip
            fig.add_scatter(x=steps, y=mean, mode="lines+markers", name=name, line={"color": color},
                            legendgroup=name, showlegend=col == 1, row=1, col=col)  # fmt: skip
            fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(height=360, title="E5: which anchor keeps the edge model on a leash (mean +- std over seeds)",
                      legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return fig


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _mean_over_seeds(runs: Sequence[dict], metric: str) -> tuple[list, list, list]:
    """Steps where every run logged ``metric``, and the mean and std across runs there."""
    per_run = [{h["step"]: h[metric] for h in r["history"] if metric in h and not _isnan(h[metric])} for r in runs]
    steps = sorted(set.intersection(*(set(d) for d in per_run))) if per_run else []
    mean, std = [], []
    for s in steps:
        values = [d[s] for d in per_run]
        m = sum(values) / len(values)
        mean.append(m)
        std.append(math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)))
    return steps, mean, std
