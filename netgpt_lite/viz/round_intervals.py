"""E4 seed by seed: each round's offload rate and task success with their 95% intervals (chapters 7 and 8).

:func:`~netgpt_lite.viz.synergy.rounds_figure` draws one run's rates and its KL to SFT; this figure puts the
seeds of one trace side by side, each round's estimate with the 95% interval the run measured on its
held-out requests (``intervals`` of each round), so that a reader sees whether a change from one round to
the next is larger than the uncertainty of either.  Rounds that kept no intervals are drawn as points.

Example:
    >>> iv = {"offload_rate": {"ci_low": 0.2, "ci_high": 0.3}, "task_success": {"ci_low": 0.9, "ci_high": 0.95}}
    >>> rounds = [{"round": r, "offload_rate": 0.25, "task_success": 0.93, "always_cloud_task_success": 0.95,
    ...            "n_requests": 300, "intervals": iv} for r in (0, 1)]
    >>> fig = round_intervals_figure({"seed 0": rounds, "seed 1": rounds})
    >>> len(fig.data), round(fig.data[0].error_y.arrayminus[0], 3)
    (6, 0.05)
    >>> round_intervals_figure({"seed 0": [{"round": 0, "offload_rate": 0.3, "task_success": 0.9}]}).layout.title.text
    'Offload and success per round<br><sup>no intervals kept; dotted: AlwaysCloud</sup>'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.viz.style import PALETTE, tidy

_PANELS = (("offload_rate", "offload rate"), ("task_success", "task success"))  # short: they share a phone's width
_SPREAD = 0.08  # rounds apart on the x axis between neighbouring seeds, so that their intervals do not overlap


def _errors(rounds: Sequence[Mapping], key: str) -> dict | None:
    """Plotly's asymmetric error bars from each round's interval; None when a round kept none."""
    intervals = [(m.get("intervals") or {}).get(key) for m in rounds]
    if any(iv is None for iv in intervals):
        return None
    return {"type": "data", "symmetric": False, "array": [iv["ci_high"] - m[key] for iv, m in zip(intervals, rounds)],
            "arrayminus": [m[key] - iv["ci_low"] for iv, m in zip(intervals, rounds)], "thickness": 1.2}


def round_intervals_figure(runs: Mapping[str, Sequence[Mapping]],
                           title: str = "Offload and success per round") -> go.Figure:
    """Offload rate (left) and task success (right) over rounds, one colour per run, 95% intervals as bars.

    Args:
        runs: run name (e.g. ``"seed 0"``) -> its rounds, each a mapping with ``round``, ``offload_rate``,
            ``task_success`` and, when measured, ``intervals`` (``{"offload_rate": {"ci_low", "ci_high"},
            ...}``) and ``always_cloud_task_success`` (drawn dotted: AlwaysCloud on the same requests).
        title: figure title; the number of held-out requests per round is added below it.

    Returns:
        A ``plotly`` figure with two panels sharing the round axis.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=[label for _, label in _PANELS], horizontal_spacing=0.1)
    names = list(runs)
    for i, name in enumerate(names):
        rounds, color = runs[name], PALETTE[(i + 1) % len(PALETTE)]
        x = [m["round"] + (i - (len(names) - 1) / 2) * _SPREAD for m in rounds]
        for col, (key, _) in enumerate(_PANELS, start=1):
            fig.add_trace(go.Scatter(x=x, y=[m[key] for m in rounds], error_y=_errors(rounds, key),
                                     mode="lines+markers", name=name, legendgroup=name, showlegend=col == 1,
                                     line={"color": color}), row=1, col=col)
        if all("always_cloud_task_success" in m for m in rounds):
            fig.add_trace(go.Scatter(x=x, y=[m["always_cloud_task_success"] for m in rounds], mode="lines",
                                     name=f"{name}: AlwaysCloud success", legendgroup=name,
                                     line={"color": color, "dash": "dot"}), row=1, col=2)
    n = "/".join(map(str, sorted({int(m["n_requests"]) for rs in runs.values() for m in rs if "n_requests" in m})))
    bars = any(trace.error_y.array is not None for trace in fig.data)
    said = ("bars: 95% intervals" if bars else "no intervals kept") + (f" (n = {n})" if n else "")
    title += f"<br><sup>{said}; dotted: AlwaysCloud</sup>"
    fig.update_xaxes(title_text="round", dtick=1)
    fig.update_yaxes(title_text="share of held-out requests", row=1, col=1)
    fig.update_layout(template="plotly_white")
    return tidy(fig, title, top=105)
