"""House style shared by the figure builders: legends that never cover data, margins that fit a phone.

The book is read from 390 px (a phone) to wide screens; Plotly neither wraps titles nor moves legends out of the
way, so every builder calls :func:`tidy` last: a horizontal legend *below* the figure (anchored to the figure's
bottom edge, so Plotly grows the bottom margin for it instead of drawing it over the x-axis title), a title
whose margin grows with it, and side margins small enough to leave the plot area most of a narrow screen.
Symbols follow the book's notation: ``TAU`` is the threshold τ, ``TAU_STAR`` the optimal threshold τ*.

Example:
    >>> import plotly.graph_objects as go
    >>> fig = tidy(go.Figure(go.Scatter(x=[0, 1], y=[0, 1], name="a")), "A title")
    >>> fig.layout.legend.yref, fig.layout.title.text
    ('container', 'A title')
"""

from __future__ import annotations

import plotly.graph_objects as go

TAU = "τ"
TAU_STAR = "τ*"
LEGEND_BELOW = {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0, "xanchor": "left"}
MARGIN = {"l": 60, "r": 20, "t": 70, "b": 20}


def tidy(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """Apply the house layout to ``fig`` in place (and return it): legend below, compact margins, title.

    Args:
        fig: the figure to style.
        title: the figure's title; keep it under ~45 characters and put details in a ``<br><sup>...</sup>``
            second line, which stays readable on a phone.
        height: figure height in px (default: Plotly's 450).
    """
    layout = {"legend": LEGEND_BELOW, "margin": MARGIN, "title_automargin": True, "title_x": 0.0,
              "title_xref": "paper"}  # fmt: skip
    if title is not None:
        layout["title_text"] = title
    if height is not None:
        layout["height"] = height
    fig.update_layout(**layout)
    return fig
