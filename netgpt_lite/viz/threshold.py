"""Figures of chapter 2 (the fallback threshold): pure builders, data in, ``go.Figure`` out.

The heatmap's price slider is a Plotly ``layout.sliders`` that toggles trace visibility, so it
works in the static HTML book without a kernel.

Example:
    >>> import numpy as np
    >>> tau = np.zeros((2, 3, 4))
    >>> fig = threshold_heatmap_figure(np.arange(1, 5.0), np.arange(1, 4.0), ["low", "high"], tau)
    >>> len(fig.data), len(fig.layout.sliders[0].steps)
    (2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from netgpt_lite.viz.style import TAU, TAU_STAR, colour, tidy


def threshold_heatmap_figure(
    bandwidth_mbps: np.ndarray,
    rtt_ms: np.ndarray,
    price_labels: Sequence[str],
    tau: np.ndarray,
    active: int = 0,
    price_note: str = "",
) -> go.Figure:
    """tau* over (bandwidth, RTT) as a heatmap, one frame per price chosen with a slider.

    Args:
        bandwidth_mbps: x grid (n_bw,), drawn on a log axis.
        rtt_ms: y grid (n_rtt,), drawn on a log axis.
        price_labels: one label per price (n_price,).
        tau: thresholds of shape (n_price, n_rtt, n_bw).
        active: index of the price the figure opens at (e.g. the default price, not a free cloud).
        price_note: a short line under the title that says what the price labels mean.
    """
    tau = np.asarray(tau)
    if tau.shape != (len(price_labels), len(rtt_ms), len(bandwidth_mbps)):
        raise ValueError(f"tau must have shape (n_price, n_rtt, n_bw); got {tau.shape}")
    if not 0 <= active < len(price_labels):
        raise ValueError(f"active must index price_labels (0..{len(price_labels) - 1}); got {active}")
    fig = go.Figure()
    # one colour scale for every price, fitted to the thresholds shown: moving the slider changes colours
    low, high = float(np.nanmin(tau)), float(np.nanmax(tau))
    if high - low < 1e-6:
        low, high = low - 0.5e-6, high + 0.5e-6
    for i, label in enumerate(price_labels):
        fig.add_trace(
            go.Heatmap(
                x=bandwidth_mbps,
                y=rtt_ms,
                z=tau[i].astype(np.float32),  # float32: the colour scale cannot show more; half the page size
                zmin=low,
                zmax=high,
                colorscale="Viridis",
                colorbar={"title": TAU_STAR},
                visible=i == active,
                name=label,
                hovertemplate=f"B=%{{x:.3g}} Mbps<br>RTT=%{{y:.3g}} ms<br>{TAU_STAR}=%{{z:.3f}}<extra></extra>",
            )
        )
    steps = [
        {
            "method": "restyle",
            "args": [{"visible": [j == i for j in range(len(price_labels))]}],
            "label": label,
        }
        for i, label in enumerate(price_labels)
    ]
    fig.update_layout(
        xaxis={"title": "bandwidth (Mbps)", "type": "log"},
        yaxis={"title": "RTT (ms)", "type": "log"},
        sliders=[{"active": active, "currentvalue": {"prefix": "price: "}, "steps": steps, "pad": {"t": 50}}],
    )
    title = f"Optimal threshold {TAU_STAR}(bandwidth, RTT)<br><sup>{price_note or 'slide the price'}</sup>"
    return tidy(fig, title, height=560)


def offload_curves_figure(
    x: np.ndarray, offload_by_label: Mapping[str, np.ndarray], x_title: str, log_x: bool = True
) -> go.Figure:
    """Share of tasks that fall back to the cloud against one network variable, one line per setting."""
    fig = go.Figure()
    for label, fraction in offload_by_label.items():
        fig.add_trace(go.Scatter(x=x, y=fraction, mode="lines", name=label))
    fig.update_layout(
        xaxis={"title": x_title, "type": "log" if log_x else "linear"},
        yaxis={"title": "fraction sent to the cloud", "range": [0, 1]},
    )
    return tidy(fig, f"Offload fraction vs {x_title}")


def utility_vs_threshold_figure(
    thresholds: np.ndarray,
    utility_by_label: Mapping[str, np.ndarray],
    tau_star_by_label: Mapping[str, float],
    note: str | None = None,
) -> go.Figure:
    """Expected utility against the threshold, with a marker (in the curve's colour) at the optimal tau* of each
    curve; ``note`` is the subtitle (default: the smooth case's "one maximum"; an empirical curve may have more).
    """
    fig = go.Figure()
    for i, (label, utility) in enumerate(utility_by_label.items()):
        fig.add_trace(go.Scatter(x=thresholds, y=utility, mode="lines", name=label, legendgroup=label,
                                 line={"color": colour(i)}))
        tau = float(tau_star_by_label[label])
        u_star = float(np.interp(tau, thresholds, utility))
        fig.add_trace(
            go.Scatter(
                x=[tau],
                y=[u_star],
                mode="markers",
                marker={"size": 10, "symbol": "x", "color": colour(i)},
                name=f"{TAU_STAR} ({label})",
                legendgroup=label,
                showlegend=False,
            )
        )
    fig.update_layout(
        xaxis_title=f"threshold {TAU} (fall back iff score < {TAU})",
        yaxis_title="expected utility per task",
    )
    note = note if note is not None else f"one maximum, at {TAU_STAR} (marked x)"
    return tidy(fig, f"Expected utility vs threshold<br><sup>{note}</sup>")
