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

from netgpt_lite.viz.style import tidy

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
    fig.update_layout(barmode="group", xaxis_title="token", yaxis_title="probability", yaxis_range=[0, 1])
    return tidy(fig, "Fitting a one-bump q to a two-mode p")


def training_curves_figure(history: Sequence[dict], metrics: Sequence[str] = ("reward", "exact_match",
                           "schema_valid", "kl_to_sft")) -> go.Figure:  # fmt: skip
    """One small panel per logged metric against the step (rows of :func:`netgpt_lite.rl.train_minimal`).

    Panels sit two to a row (titles never collide, even on a phone); the step axis is titled on the bottom row.
    """
    cols = min(2, len(metrics))
    n_rows = -(-len(metrics) // cols)
    fig = make_subplots(rows=n_rows, cols=cols, subplot_titles=[LABELS.get(m, m) for m in metrics],
                        vertical_spacing=0.22 if n_rows > 1 else 0.1, horizontal_spacing=0.12)  # fmt: skip
    for i, name in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        rows = [h for h in history if name in h and not _isnan(h[name])]
        fig.add_scatter(x=[h["step"] for h in rows], y=[h[name] for h in rows], mode="lines+markers",
                        showlegend=False, row=r, col=c)  # fmt: skip
        if r == n_rows:
            fig.update_xaxes(title_text="RL step", row=r, col=c)
    return tidy(fig, "SFT-anchored RL, per step", height=260 + 200 * n_rows, top=105)


def ablation_figure(results: dict, metrics: Sequence[str] = ("eval_exact_match", "eval_schema_valid",
                    "kl_to_sft")) -> go.Figure:  # fmt: skip
    """Mean (line) and +-1 std over seeds (band) of each metric, one line per variant of the E5 ablation.

    Args:
        results: ``{"variants": {name: {"runs": [{"seed": s, "history": [rows]}]}}}`` as written by
            :func:`netgpt_lite.rl.run_ablation`.
        metrics: History keys to draw, one panel each.
    """
    n = len(metrics)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.16 / max(n - 1, 1) + 0.04,
                        subplot_titles=[LABELS.get(m, m) for m in metrics])  # fmt: skip
    for name, variant in results["variants"].items():
        color = COLORS.get(name)
        for row, metric in enumerate(metrics, start=1):
            steps, mean, std = _mean_over_seeds(variant["runs"], metric)
            if not steps:
                continue
            fig.add_scatter(x=steps + steps[::-1], y=[m + s for m, s in zip(mean, std)] +
                            [m - s for m, s in zip(mean, std)][::-1], mode="lines", fill="toself", line={"width": 0},
                            fillcolor=color, opacity=0.15, showlegend=False, hoverinfo="skip", row=row, col=1)  # fmt: skip
            fig.add_scatter(x=steps, y=mean, mode="lines+markers", name=name, line={"color": color},
                            legendgroup=name, showlegend=row == 1, row=row, col=1)  # fmt: skip
    fig.update_xaxes(title_text="RL step", row=n, col=1)
    fig.update_layout(legend_title_text="variant")
    return tidy(fig, "E5: which anchor keeps the edge on a leash<br><sup>mean ± std over seeds</sup>",
                height=220 + 210 * n, top=105)  # fmt: skip


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
