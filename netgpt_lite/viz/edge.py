"""Figures of chapter 4 (the edge model): SFT loss curve, accuracy by group, reliability diagram, scores.

Pure builders: each takes numbers computed by :mod:`netgpt_lite.edge.sft`, :mod:`netgpt_lite.edge.agent`
and :mod:`netgpt_lite.edge.scoring` and returns a ``plotly.graph_objects.Figure``.

Example:
    >>> fig = loss_curve_figure({"tiny (this notebook)": ([10, 20], [3.1, 2.4])})
    >>> fig.data[0].name
    'tiny (this notebook)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.viz.style import PALETTE, tidy

# exact match and its lighter twin, schema-valid, from the book's one palette
METRIC_COLORS = {"exact_match": PALETTE[0], "schema_valid": PALETTE[4]}


def loss_curve_figure(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]]) -> go.Figure:
    """Training loss (completion tokens only) against the optimiser step, one line per run."""
    fig = go.Figure()
    for name, (steps, losses) in curves.items():
        fig.add_scatter(x=list(steps), y=list(losses), mode="lines+markers", name=name)
    fig.update_layout(xaxis_title="optimiser step", yaxis_title="cross-entropy (nats/token)", yaxis_type="log")
    return tidy(fig, "SFT loss on the tool_call tokens")


def accuracy_figure(report: Mapping) -> go.Figure:
    """Exact match and schema-valid rate overall, by difficulty and by kind (an ``accuracy_report``)."""
    groups = [("overall", report)] + list(report["by_difficulty"].items()) + list(report["by_kind"].items())
    order = {"easy": 0, "medium": 1, "hard": 2}
    groups = groups[:1] + sorted(groups[1:4], key=lambda g: order.get(g[0], 9)) + groups[4:]
    labels = [f"{name}<br>(n={r['n']})" for name, r in groups]
    fig = go.Figure()
    for metric, color in METRIC_COLORS.items():
        values = [r[metric] for _, r in groups]
        fig.add_bar(x=labels, y=values, name=metric.replace("_", " "), marker_color=color,
                    text=[f"{v:.0%}" for v in values], textposition="outside")  # fmt: skip
    fig.update_layout(barmode="group", yaxis_range=[0, 1.1], yaxis_tickformat=".0%",
                      yaxis_title="share of tasks", xaxis_title="tasks (n = number of tasks)")  # fmt: skip
    return tidy(fig, "The edge model on the test split")


def reliability_figure(tables: Mapping[str, Mapping[str, np.ndarray]], eces: Mapping[str, float] | None = None):
    """Reliability diagram: accuracy against mean predicted probability per bin (marker size ~ count)."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                    line={"dash": "dash", "color": "#7f7f7f"})  # fmt: skip
    for name, t in tables.items():
        label = name if eces is None else f"{name} (ECE {eces[name]:.3f})"
        sizes = 6 + 24 * np.sqrt(np.asarray(t["count"]) / max(np.max(t["count"]), 1))
        fig.add_scatter(x=t["mean_prob"], y=t["accuracy"], mode="lines+markers", name=label,
                        marker={"size": sizes}, text=[f"n={c}" for c in t["count"]])  # fmt: skip
    fig.update_layout(xaxis_title="predicted P(edge right)", yaxis_title="observed fraction right",
                      xaxis_range=[0, 1], yaxis_range=[0, 1.05])  # fmt: skip
    return tidy(fig, "Reliability on the test split<br><sup>marker size ~ tasks in the bin</sup>")


def score_histogram_figure(scores: Mapping[str, np.ndarray], labels: np.ndarray, n_bins: int = 20) -> go.Figure:
    """Score distributions of right and wrong edge answers, one panel per score (shared count axis)."""
    fig = make_subplots(rows=1, cols=len(scores), subplot_titles=list(scores), shared_yaxes=True,
                        horizontal_spacing=0.06)  # fmt: skip
    labels = np.asarray(labels).astype(bool)
    for col, s in enumerate(scores.values(), start=1):
        # blue and orange, not green and red: readable with the commonest colour-vision deficiencies
        for mask, label, color in ((labels, "right", PALETTE[0]), (~labels, "wrong", PALETTE[1])):
            fig.add_histogram(x=np.asarray(s)[mask], name=label, marker_color=color, opacity=0.6,
                              xbins={"start": 0, "end": 1.0001, "size": 1 / n_bins},
                              showlegend=col == 1, row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text="score", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="edge answers (count)", row=1, col=1)
    fig.update_layout(barmode="overlay", legend_title_text="edge answer")
    return tidy(fig, "Scores of right vs wrong edge answers<br><sup>test split; 0 = surely wrong, 1 = surely right</sup>",
                top=105)  # fmt: skip


def scaling_figure(curves: Mapping[str, Mapping[str, Sequence[float]]],
                   references: Mapping[str, float] | None = None) -> go.Figure:
    """Exact match against the number of training examples, one line per evaluation set.

    Args:
        curves: set name -> ``{"n_train": [...], "exact_match": [...], "half_width": [...]}`` (rates in [0, 1];
            ``half_width`` the 95% half-width of each rate, drawn as an error bar).
        references: set name -> the exact match of a reference adapter, drawn as a dotted line in the set's
            colour.

    Example:
        >>> fig = scaling_figure({"test": {"n_train": [400, 800], "exact_match": [0.5, 0.6],
        ...                                "half_width": [0.04, 0.04]}}, {"test": 0.55})
        >>> [d.name for d in fig.data]
        ['test', 'test: reference']
    """
    fig = go.Figure()
    for (name, c), color in zip(curves.items(), PALETTE):
        fig.add_scatter(x=list(c["n_train"]), y=list(c["exact_match"]), mode="lines+markers", name=name,
                        line_color=color, error_y={"type": "data", "array": list(c["half_width"])})
        if references and name in references:
            fig.add_scatter(x=[min(c["n_train"]), max(c["n_train"])], y=[references[name]] * 2, mode="lines",
                            name=f"{name}: reference", line={"color": color, "dash": "dot"})
    fig.update_layout(xaxis_type="log", xaxis_title="logged cloud answers trained on (log scale)",
                      yaxis_title="exact match (share of requests)", yaxis_tickformat=".0%", yaxis_range=[0, 1])
    return tidy(fig, "Exact match against training data")
