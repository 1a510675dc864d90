"""Figures of chapter 7 (the synergy loop): pure Plotly builders, data in, ``go.Figure`` out.

* :func:`rounds_figure` - E4: offload rate, task success and schema-valid rate over rounds, with
  the AlwaysCloud references and the edge's KL to its SFT model on a second axis.
* :func:`refresh_figure` - E6: one metric over rounds with the scorer refresh on and off.
* :func:`decomposition_figure` - where the gain comes from: the 2 x 2 table (edge round x routing
  round) as an annotated heatmap.

Example:
    >>> rows = [{"round": 0, "offload_rate": 0.8, "task_success": 0.9, "schema_valid_rate": 1.0},
    ...         {"round": 1, "offload_rate": 0.5, "task_success": 0.9, "schema_valid_rate": 1.0}]
    >>> len(rounds_figure(rows).data)
    3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.viz.style import PALETTE, tidy

_RATES = (("offload_rate", "offload rate (cloud calls)", PALETTE[5]),
          ("task_success", "task success", PALETTE[0]),
          ("schema_valid_rate", "schema-valid rate", PALETTE[2]))


def rounds_figure(rounds: Sequence[Mapping], title: str = "Edge and cloud, learning together") -> go.Figure:
    """E4: rates over rounds (left axis) and KL-to-SFT of the edge (right axis, when present).

    Args:
        rounds: one mapping per round with ``round`` and some of ``offload_rate``, ``task_success``,
            ``schema_valid_rate``, ``kl_to_sft``, ``always_cloud_task_success`` (dotted reference).
        title: figure title.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [r["round"] for r in rounds]
    for key, label, color in _RATES:
        if key in rounds[0]:
            fig.add_trace(go.Scatter(x=x, y=[r[key] for r in rounds], mode="lines+markers", name=label,
                                     line={"color": color}), secondary_y=False)
    if "always_cloud_task_success" in rounds[0]:
        fig.add_trace(go.Scatter(x=x, y=[r["always_cloud_task_success"] for r in rounds], mode="lines",
                                 name="AlwaysCloud task success", line={"color": PALETTE[0], "dash": "dot"}),
                      secondary_y=False)
    if "kl_to_sft" in rounds[0]:
        fig.add_trace(go.Scatter(x=x, y=[r["kl_to_sft"] for r in rounds], mode="lines+markers",
                                 name="KL(edge || SFT), nats/token", line={"color": "#7f7f7f", "dash": "dash"}),
                      secondary_y=True)
        fig.update_yaxes(title_text="KL to SFT (nats/token)", secondary_y=True, rangemode="tozero", tickformat=".2g")
    fig.update_yaxes(title_text="rate", range=[0, 1.02], secondary_y=False)
    fig.update_xaxes(title_text="round", dtick=1)
    fig.update_layout(template="plotly_white")
    return tidy(fig, title)


def refresh_figure(runs: Mapping[str, Sequence[Mapping]], metric: str = "offload_rate",
                   title: str = "Scorer refresh on vs off") -> go.Figure:
    """E6: ``metric`` over rounds for each named run (e.g. ``{"refresh every round": ..., "never": ...}``)."""
    fig = go.Figure()
    for name, rounds in runs.items():
        fig.add_trace(go.Scatter(x=[r["round"] for r in rounds], y=[r[metric] for r in rounds],
                                 mode="lines+markers", name=name))
    fig.update_layout(template="plotly_white", xaxis={"title": "round", "dtick": 1},
                      yaxis={"title": metric.replace("_", " ")})  # fmt: skip
    return tidy(fig, title)


def decomposition_figure(rows: Sequence[Mapping], metric: str = "offload_rate",
                         title: str = "Where the gain comes from") -> go.Figure:
    """The 2 x 2 decomposition: ``metric`` for (edge round, routing round) pairings, annotated."""
    edge_rounds = sorted({r["edge_round"] for r in rows})
    routing_rounds = sorted({r["routing_round"] for r in rows})
    cell = {(r["edge_round"], r["routing_round"]): r[metric] for r in rows}
    z = [[cell.get((e, k)) for k in routing_rounds] for e in edge_rounds]
    text = [[("" if v is None else f"{v:.3f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[f"routing of round {k}" for k in routing_rounds],
                               y=[f"edge of round {e}" for e in edge_rounds], text=text,
                               texttemplate="%{text}", colorscale="Blues",
                               colorbar={"title": metric.replace("_", "<br>")}))  # fmt: skip
    fig.update_layout(template="plotly_white", xaxis_title="routing (scorer, calibration, τ) taken from",
                      yaxis_title="edge model taken from")  # fmt: skip
    return tidy(fig, f"{title}<br><sup>{metric.replace('_', ' ')} of each pairing</sup>", height=420)
