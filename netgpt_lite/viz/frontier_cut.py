"""Cloud calls at equal success, drawn: each round's quality-cost frontier and where it meets the target (ch. 7).

:func:`~netgpt_lite.experiments.equal_success.curve` gives, for one round, the task success after sending each
share of its held-out requests to the cloud, lowest edge scores first.  This figure draws those curves for a
few rounds, the target (AlwaysCloud's success minus the allowed gap) as a dashed line, and a marker where each
curve first reaches it: the cloud calls that round's edge needs at equal success.  A better edge's curve rises
faster and meets the line further left.

Example:
    >>> c = {"cloud_share": [0.0, 0.5, 1.0], "task_success": [0.5, 1.0, 1.0], "always_cloud_success": 1.0,
    ...      "target": 0.98, "needed": 0.5, "n": 2}
    >>> fig = equal_success_figure({"round 0": c})
    >>> [t.name for t in fig.data]
    ['round 0', 'round 0: needs 50%', 'target: AlwaysCloud - 2 points']
    >>> other = {**c, "always_cloud_success": 0.92, "target": 0.9}  # another seed: other requests, other target
    >>> len(equal_success_figure({"seed 0": c, "seed 1": other}).data)  # a dashed target line each
    6
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from netgpt_lite.viz.style import PALETTE, tidy


def equal_success_figure(curves: Mapping[str, Mapping],
                         title: str = "Success against cloud calls") -> go.Figure:
    """One line per labelled round (x: % of requests sent to the cloud, lowest scores first; y: task success),
    a marker where it first reaches the target, and the target itself (dashed: one line when the rounds answer
    the same requests, else one per curve in its colour).

    Args:
        curves: label (e.g. ``"round 0"``) -> :func:`~netgpt_lite.experiments.equal_success.curve` of a round.
        title: figure title; the number of requests is added below it.
    """
    fig = go.Figure()
    for i, (label, c) in enumerate(curves.items()):
        color = PALETTE[(i + 1) % len(PALETTE)]
        x = [100 * s for s in c["cloud_share"]]
        fig.add_trace(go.Scatter(x=x, y=c["task_success"], mode="lines", name=label, line={"color": color}))
        fig.add_trace(go.Scatter(x=[100 * c["needed"]], y=[c["target"]], mode="markers", showlegend=True,
                                 name=f"{label}: needs {100 * c['needed']:.0f}%",
                                 marker={"color": color, "size": 10, "symbol": "diamond"}))
    first = next(iter(curves.values()))
    gap_points = 100 * (first["always_cloud_success"] - first["target"])
    shared = len({c["target"] for c in curves.values()}) == 1  # rounds of one run answer the same requests
    for i, (label, c) in enumerate(curves.items() if not shared else [("", first)]):
        fig.add_trace(go.Scatter(x=[0, 100], y=[c["target"]] * 2, mode="lines",
                                 name=f"target{f' of {label}' if label else ''}: AlwaysCloud - {gap_points:.0f} points",
                                 line={"color": "gray" if shared else PALETTE[(i + 1) % len(PALETTE)],
                                       "dash": "dash", "width": 1}))
    fig.update_xaxes(title_text="requests sent to the cloud, lowest scores first (%)", range=[0, 100])
    fig.update_yaxes(title_text="task success (share of requests)")
    fig.update_layout(template="plotly_white")
    return tidy(fig, title + f"<br><sup>{first['n']} held-out requests; marker: the cloud calls needed</sup>", top=90)
