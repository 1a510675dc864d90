"""Figures of chapter 1 (networks and prices): pure builders, data in, ``go.Figure`` out.

Example:
    >>> import numpy as np
    >>> fig = latency_vs_payload_figure(np.array([1.0, 10.0]), {"4g": np.array([500.0, 510.0])})
    >>> len(fig.data)
    1
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.network.traces import NetworkTrace
from netgpt_lite.viz.style import regime_colour, tidy


def latency_vs_payload_figure(
    payload_kb: np.ndarray, latency_ms_by_regime: Mapping[str, np.ndarray]
) -> go.Figure:
    """Cloud fallback time T_c (ms) against request payload (kB), one line per regime, log-log axes."""
    fig = go.Figure()
    for i, (name, latency_ms) in enumerate(latency_ms_by_regime.items()):
        fig.add_trace(go.Scatter(x=payload_kb, y=latency_ms, mode="lines", name=name,
                                 line={"color": regime_colour(name, i)}))
    fig.update_layout(
        xaxis={"title": "request + response payload (kB)", "type": "log"},
        yaxis={"title": "cloud fallback time T<sub>c</sub> (ms)", "type": "log"},
        legend_title="regime",
    )
    return tidy(fig, "Cloud fallback time vs payload")


def latency_breakdown_figure(parts_ms_by_regime: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Stacked bars: the terms of T_c (RTT, transfer, queueing, generation) for each regime."""
    regimes = list(parts_ms_by_regime)
    terms = list(next(iter(parts_ms_by_regime.values())))
    fig = go.Figure([go.Bar(name=t, x=regimes, y=[parts_ms_by_regime[r][t] for r in regimes]) for t in terms])
    fig.update_layout(barmode="stack", xaxis_title="network regime", yaxis_title="time (ms)", legend_title="term")
    return tidy(fig, "Where the cloud time goes")


def cost_per_request_figure(
    n_input_tokens: np.ndarray, cost_usd_by_label: Mapping[str, np.ndarray]
) -> go.Figure:
    """Cost of one cloud request (USD) against prompt length, one line per price."""
    fig = go.Figure()
    for label, cost in cost_usd_by_label.items():
        fig.add_trace(go.Scatter(x=n_input_tokens, y=cost, mode="lines", name=label))
    fig.update_layout(xaxis_title="prompt length (input tokens)", yaxis_title="cost (USD per request)",
                      legend_title="price")  # fmt: skip
    return tidy(fig, "Cost of one cloud fallback")


def price_schedule_figure(
    hours: np.ndarray, usd_per_1k_output_by_schedule: Mapping[str, np.ndarray]
) -> go.Figure:
    """Output-token price over a day for each schedule (x in hours)."""
    fig = go.Figure()
    for name, price in usd_per_1k_output_by_schedule.items():
        fig.add_trace(go.Scatter(x=hours, y=price, mode="lines", name=name, line_shape="hv"))
    fig.update_layout(xaxis_title="hour of day (h)", yaxis_title="price (USD per 1k output tokens)",
                      legend_title="schedule")  # fmt: skip
    return tidy(fig, "Price schedules over one day")


def trace_figure(trace: NetworkTrace, title: str = "Network trace") -> go.Figure:
    """Bandwidth and RTT of a trace over time (two panels, log y), regime shown on hover and as colour."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    regimes = list(dict.fromkeys(trace.regime.tolist()))
    for i, name in enumerate(regimes):
        mask = trace.regime == name
        color = regime_colour(name, i)  # the same colour per regime in every figure of the book
        for row, values in ((1, trace.bandwidth_mbps), (2, trace.rtt_ms)):
            fig.add_trace(
                go.Scatter(
                    x=trace.t_s[mask],
                    y=values[mask],
                    mode="markers",
                    marker={"size": 4, "color": color},
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                ),
                row=row,
                col=1,
            )
    for row, values in ((1, trace.bandwidth_mbps), (2, trace.rtt_ms)):
        line = go.Scatter(
            x=trace.t_s, y=values, mode="lines", line={"width": 1, "color": "gray"}, showlegend=False
        )
        fig.add_trace(line, row=row, col=1)
    fig.update_yaxes(type="log", title_text="bandwidth (Mbps)", row=1, col=1)
    fig.update_yaxes(type="log", title_text="RTT (ms)", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(legend_title="regime")
    return tidy(fig, title, height=520)
