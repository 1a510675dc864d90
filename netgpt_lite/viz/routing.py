"""Figures of chapter 5 (routing): frontiers, the bandwidth/RTT explorer, thresholds along a trace.

Pure builders: each takes numbers computed by :mod:`netgpt_lite.routing.simulator` and
:mod:`netgpt_lite.frontier` and returns a ``plotly.graph_objects.Figure``.  The explorer
(:func:`frontier_explorer_figure`) works in a static HTML page with no kernel: it holds a
precomputed grid and two ``layout.sliders``; the bandwidth slider switches which traces are visible
and the RTT slider restyles their data, so the two compose.

Example:
    >>> fig = threshold_curves_figure([1.0, 10.0], {"funcdyn": [0.2, 0.5]}, "bandwidth (Mbps)")
    >>> fig.data[0].name
    'funcdyn'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.viz.style import PALETTE, TAU, tidy

# one colour per policy across the book, from Okabe & Ito's colour-blind-safe palette (lighter tints for variants)
POLICY_COLORS = {
    "always_edge": "#7f7f7f", "always_cloud": PALETTE[4], "fixed": PALETTE[1], "fixed_logs": PALETTE[1],
    "fixed_hindsight": "#F0C86E", "quantile": PALETTE[3], "cascade": "#8c564b", "funcdyn": PALETTE[5],
    "funcdyn_plugin": "#EBA07E", "funcdyn_online": "#A34700", "policynet": PALETTE[0], "threshold_oracle": "#7FCDB5",
    "oracle": PALETTE[2],
}


def _color(name: str) -> str:
    """The policy's colour; a derived series such as "funcdyn offload" takes its policy's colour."""
    return POLICY_COLORS.get(name) or POLICY_COLORS.get(name.split(" ")[0], "#333333")


def frontier_figure(sweeps: Mapping[str, Mapping], points: Mapping[str, Mapping[str, Mapping]] | None = None,
                    cols: int = 3) -> go.Figure:
    """E1: task success against cost per 1,000 requests, one panel per regime.

    Args:
        sweeps: regime -> fixed-threshold sweep with arrays ``cost_usd`` and ``success``.
        points: regime -> policy -> ``{"cost_usd", "success"}`` (operating points, means).
        cols: panels per row.
    """
    names = list(sweeps)
    cols = max(1, min(cols, len(names)))
    rows = -(-len(names) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, shared_yaxes=True,
                        vertical_spacing=0.3 / rows, horizontal_spacing=0.04)  # fmt: skip
    shown = set()
    for idx, regime in enumerate(names):
        r, c = idx // cols + 1, idx % cols + 1
        sw = sweeps[regime]
        fig.add_scatter(x=1000 * np.asarray(sw["cost_usd"]), y=sw["success"], mode="lines", row=r, col=c,
                        line={"color": "#bbbbbb"}, name="fixed thresholds", showlegend=idx == 0,
                        legendgroup="sweep")
        for name, p in (points or {}).get(regime, {}).items():
            fig.add_scatter(x=[1000 * p["cost_usd"]], y=[p["success"]], mode="markers", row=r, col=c, name=name,
                            marker={"color": _color(name), "size": 9}, legendgroup=name,
                            showlegend=name not in shown)
            shown.add(name)
    # short x titles on the bottom row (long ones run into each other on a narrow screen); the subtitle spells it out
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="USD / 1k req.", title_font_size=11, row=rows, col=c)
    fig.update_yaxes(title_text="task success", col=1)
    fig.update_layout(legend_title_text="policy")
    return tidy(fig, "Quality-cost frontier per regime<br><sup>x: cloud USD per 1k requests; grey: fixed τ</sup>",
                height=170 + 300 * rows, top=105)  # fmt: skip


def threshold_curves_figure(x: Sequence[float], curves: Mapping[str, Sequence[float]], x_title: str,
                            y_title: str = "threshold tau", log_x: bool = True, title: str = "") -> go.Figure:
    """E2: one line per policy (or quantity) against a network or price variable (untitled: "y vs x")."""
    y_title = y_title.replace("tau", TAU)
    x_title = x_title.replace("price x", "price (× default)")
    fig = go.Figure()
    for name, y in curves.items():
        dash = "dot" if "offload" in name else None  # a policy's offload next to its threshold: same colour, dotted
        fig.add_scatter(x=list(x), y=list(y), mode="lines", name=name, line={"color": _color(name), "dash": dash})
    fig.update_layout(xaxis_title=x_title, yaxis_title=y_title, xaxis_type="log" if log_x else "linear",
                      legend_title_text="policy")  # fmt: skip
    return tidy(fig, title or f"{y_title[0].upper()}{y_title[1:]} vs {x_title}")


def threshold_trace_figure(t_s, bandwidth_mbps, rtt_ms, thresholds: Mapping[str, Sequence[float]],
                           regime=None) -> go.Figure:
    """(3) The threshold each policy uses along a network trace, above the bandwidth and RTT."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.25, 0.25, 0.5], vertical_spacing=0.04)
    hours = np.asarray(t_s, float) / 3600.0
    text = None if regime is None else list(regime)
    fig.add_scatter(x=hours, y=bandwidth_mbps, name="bandwidth", line={"color": "#444"}, row=1, col=1, text=text,
                    showlegend=False)
    fig.add_scatter(x=hours, y=rtt_ms, name="RTT", line={"color": "#888"}, row=2, col=1, text=text,
                    showlegend=False)
    dashes = ("solid", "dash", "dot", "dashdot")  # lines that coincide stay visible, one under the other
    clipped = {name: np.clip(np.asarray(tau, float), 0, 1) for name, tau in thresholds.items()}
    for k, (name, tau) in enumerate(clipped.items()):
        fig.add_scatter(x=hours, y=tau, name=name, row=3, col=1,
                        line={"color": _color(name), "dash": dashes[k % len(dashes)], "width": 2})
    # the axis fitted to the thresholds shown: a score bunched near 1 would otherwise squeeze them into a line
    values = np.concatenate([t[np.isfinite(t)] for t in clipped.values()] or [np.zeros(1)])
    low, high = float(values.min()), float(values.max())
    pad = max(0.05 * (high - low), 0.005)
    fig.update_yaxes(type="log", title_text="bandwidth<br>(Mbps)", row=1, col=1)
    fig.update_yaxes(type="log", title_text="RTT (ms)", row=2, col=1)
    fig.update_yaxes(title_text=f"threshold {TAU} (score)", range=[max(low - pad, -0.02), min(high + pad, 1.02)],
                     row=3, col=1)
    fig.update_xaxes(title_text="time of day (h)", row=3, col=1)
    fig.update_layout(legend_title_text="policy")
    return tidy(fig, "Thresholds along a network trace", height=660)


def _tick(value: float) -> str:
    """A slider label: 3 significant digits, no exponent (1330, not 1.33e+03)."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _explorer_data(grid: Mapping, i: int, j: int, names: list[str]) -> list[dict]:
    """x/y/text of the three dynamic traces of bandwidth index ``i`` at RTT index ``j``."""
    curve, pts = grid["curve"], grid["points"]

    def r(values):  # 5 significant digits: what a screen can show, and a much lighter page
        return [float(f"{v:.5g}") for v in values]

    axis = "threshold_prob" if "threshold_prob" in grid else "threshold"  # calibrated when the grid has it
    return [
        {"x": r(grid[axis]), "y": r(curve["utility"][i, j])},
        {"x": r(1000 * pts[n]["cost_usd"][i, j] for n in names), "y": r(pts[n]["success"][i, j] for n in names)},
        {"x": r(pts[n][axis][i, j] for n in names), "y": r(pts[n]["utility"][i, j] for n in names)},
    ]


def frontier_explorer_figure(grid: Mapping, bandwidth_index: int = 0, rtt_index: int = 0) -> go.Figure:
    """(1) The quality-cost explorer with bandwidth and RTT sliders that work without a kernel.

    Top: success against cost per 1k requests (the fixed-threshold sweep, which the network does
    not move, and each policy's operating point, which it does).  Bottom: mean utility against the
    threshold at the chosen state, with each policy's (mean) threshold; on the calibrated axis (the
    probability that the edge's answer is right) when the grid was built with a calibration.  The panels are stacked, not
    side by side, so that they and the sliders stay readable on a phone.

    Args:
        grid: the output of :func:`netgpt_lite.frontier.explorer_grid`.
        bandwidth_index, rtt_index: the state shown first.
    """
    names = list(grid["points"])
    bw, rtt = grid["bandwidth_mbps"], grid["rtt_ms"]
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.14,
                        subplot_titles=("success vs cost", f"mean utility vs threshold {TAU}"))  # fmt: skip
    curve = grid["curve"]
    fig.add_scatter(x=1000 * np.asarray(curve["cost_usd"][0, 0]), y=curve["success"][0, 0], mode="lines",
                    name="fixed thresholds", line={"color": "#bbbbbb"}, row=1, col=1)
    colors = [_color(n) for n in names]
    for i in range(len(bw)):
        data = _explorer_data(grid, i, rtt_index, names)
        visible = i == bandwidth_index
        fig.add_scatter(**data[0], mode="lines", line={"color": "#555"}, name=f"utility (fixed {TAU})", row=2, col=1,
                        visible=visible, showlegend=False)
        # no text labels on the points (close points made them collide): the legend names the colours,
        # hovering a point names its policy
        fig.add_scatter(**data[1], mode="markers", text=names, hovertemplate="%{text}<extra></extra>", row=1, col=1,
                        marker={"color": colors, "size": 10}, visible=visible, showlegend=False, name="policies")
        fig.add_scatter(**data[2], mode="markers", text=names, hovertemplate="%{text}<extra></extra>", row=2, col=1,
                        marker={"color": colors, "size": 10}, visible=visible, showlegend=False, name="policies")
    for name, color in zip(names, colors, strict=True):  # legend entries only: one per policy, always shown
        fig.add_scatter(x=[None], y=[None], mode="markers", marker={"color": color, "size": 10}, name=name,
                        showlegend=True, row=1, col=1)
    dynamic = list(range(1, 1 + 3 * len(bw)))
    legend_only = [True] * len(names)
    bw_steps = [{"label": _tick(b), "method": "restyle",
                 "args": [{"visible": [True] + [k // 3 == i for k in range(3 * len(bw))] + legend_only}]}
                for i, b in enumerate(bw)]
    rtt_steps = []
    for j, r in enumerate(rtt):
        per_trace = [d for i in range(len(bw)) for d in _explorer_data(grid, i, j, names)]
        rtt_steps.append({"label": _tick(r), "method": "restyle",
                          "args": [{"x": [d["x"] for d in per_trace], "y": [d["y"] for d in per_trace]}, dynamic]})
    fig.update_layout(
        sliders=[{"active": bandwidth_index, "steps": bw_steps, "currentvalue": {"prefix": "bandwidth (Mbps): "},
                  "pad": {"t": 60}},
                 {"active": rtt_index, "steps": rtt_steps, "currentvalue": {"prefix": "RTT (ms): "}, "pad": {"t": 150}}],
        # the legend at the very bottom, under the sliders: wrapped onto several rows on a phone, it touches nothing
        height=980, margin={"l": 60, "r": 20, "t": 105, "b": 300}, showlegend=True,
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": 0.0, "yanchor": "bottom", "yref": "container"},
        title={"text": "Quality-cost explorer<br><sup>move bandwidth and RTT; grey: the fixed-τ sweep</sup>",
               "x": 0.0, "xref": "paper"},
    )
    fig.update_annotations(font_size=13)
    fig.update_xaxes(title_text="cloud cost per 1k requests (USD)", row=1, col=1)
    fig.update_yaxes(title_text="task success", row=1, col=1)
    label = (f"threshold as P(edge answer right), g({TAU})" if "threshold_prob" in grid else f"threshold {TAU}")
    fig.update_xaxes(title_text=label, range=[-0.02, 1.02], row=2, col=1)
    fig.update_yaxes(title_text="mean utility", row=2, col=1)
    return fig


def live_explorer_figure(points: Mapping[str, Mapping], sweep: Mapping, title: str = "") -> go.Figure:
    """(2) One state of the explorer (the widget redraws it): policies on the success-cost sweep."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("success vs cost", "utility vs threshold"))
    fig.add_scatter(x=1000 * np.asarray(sweep["cost_usd"]), y=sweep["success"], mode="lines", row=1, col=1,
                    line={"color": "#bbbbbb"}, name="fixed thresholds")
    fig.add_scatter(x=sweep["threshold"], y=sweep["utility"], mode="lines", row=1, col=2, line={"color": "#555"},
                    name=f"utility (fixed {TAU})")
    for name, p in points.items():
        fig.add_scatter(x=[1000 * p["cost_usd"]], y=[p["success"]], mode="markers", name=name, row=1, col=1,
                        marker={"color": _color(name), "size": 10}, legendgroup=name)
        fig.add_scatter(x=[p["threshold"]], y=[p["utility"]], mode="markers", name=name, row=1, col=2,
                        marker={"color": _color(name), "size": 10}, legendgroup=name, showlegend=False)
    fig.update_xaxes(title_text="cloud cost per 1k requests (USD)", row=1, col=1)
    fig.update_xaxes(title_text=f"threshold {TAU}", range=[-0.02, 1.02], row=1, col=2)
    fig.update_yaxes(title_text="task success", row=1, col=1)
    fig.update_yaxes(title_text="mean utility", row=1, col=2)
    return tidy(fig, title or "Quality-cost explorer (one state)", height=480)
