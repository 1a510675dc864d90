"""Figures of chapter 3 (tool calls): the task mix and the simulated cloud's accuracy by difficulty.

Pure builders: each takes numbers computed by :mod:`netgpt_lite.tasks.generate`, :mod:`netgpt_lite.agents`
and :mod:`netgpt_lite.tasks.checker` and returns a ``plotly.graph_objects.Figure``.

Example:
    >>> fig = task_mix_figure({("single_step", "easy"): 3, ("next_step", "hard"): 1})
    >>> len(fig.data)
    2
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from netgpt_lite.viz.style import PALETTE, tidy

DIFFICULTY_ORDER = ("easy", "medium", "hard")
KIND_COLORS = {"single_step": PALETTE[0], "next_step": PALETTE[1]}


def task_mix_figure(counts: Mapping[tuple[str, str], int], title: str = "Task mix") -> go.Figure:
    """Stacked bars: number of tasks per difficulty, split by kind; ``counts[(kind, difficulty)]``."""
    fig = go.Figure()
    for kind in sorted(
        {k for k, _ in counts}, key=lambda k: list(KIND_COLORS).index(k) if k in KIND_COLORS else 9
    ):
        fig.add_bar(x=list(DIFFICULTY_ORDER), y=[counts.get((kind, d), 0) for d in DIFFICULTY_ORDER],
                    name=kind.replace("_", "-"), marker_color=KIND_COLORS.get(kind))  # fmt: skip
    fig.update_layout(barmode="stack", xaxis_title="difficulty", yaxis_title="tasks (count)", legend_title="kind")
    return tidy(fig, title)


def accuracy_by_difficulty_figure(
    accuracy: Mapping[str, float],
    n_tasks: Mapping[str, int],
    configured: Mapping[str, float] | None = None,
    title: str = "Simulated cloud: exact-match accuracy (checker)",
) -> go.Figure:
    """Bars of measured accuracy per difficulty with 95% binomial error bars, and the configured values.

    Args:
        accuracy: difficulty -> measured fraction of exactly right calls.
        n_tasks: difficulty -> number of tasks behind each fraction (for the error bar).
        configured: difficulty -> the success probability the simulator was given (drawn as markers).
        title: Figure title.
    """
    names = [d for d in DIFFICULTY_ORDER if d in accuracy]
    errors = [
        1.96 * math.sqrt(max(accuracy[d] * (1 - accuracy[d]), 1e-12) / max(n_tasks[d], 1)) for d in names
    ]
    fig = go.Figure()
    fig.add_bar(x=names, y=[accuracy[d] for d in names], name="measured (checker)",
                error_y={"type": "data", "array": errors}, marker_color=PALETTE[2])  # fmt: skip
    if configured is not None:
        fig.add_scatter(x=names, y=[configured[d] for d in names], mode="markers", name="configured",
                        marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}, "color": "black"})  # fmt: skip
    low = min([accuracy[d] - e for d, e in zip(names, errors)] + [0.8])
    fig.update_layout(xaxis_title="difficulty", yaxis_title="exact-match accuracy",
                      yaxis_range=[max(0.0, low - 0.05), 1.0])  # fmt: skip
    return tidy(fig, title)


def error_type_figure(
    error_counts: Sequence[tuple[str, int]], title: str = "Why wrong answers are wrong"
) -> go.Figure:
    """Horizontal bars of checker error types (pairs ``(error_type, count)``), largest first."""
    pairs = sorted(error_counts, key=lambda p: p[1])
    fig = go.Figure(
        go.Bar(x=[c for _, c in pairs], y=[e for e, _ in pairs], orientation="h", marker_color=PALETTE[5])
    )
    fig.update_layout(xaxis_title="wrong answers (count)", yaxis_title="error type (checker)")
    return tidy(fig, title)
