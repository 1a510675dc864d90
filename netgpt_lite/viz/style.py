"""House style shared by the figure builders: legends that never cover data, margins that fit a phone.

The book is read from 390 px (a phone) to wide screens; Plotly neither wraps titles nor moves legends out of the
way, so every builder calls :func:`tidy` last: a horizontal legend *below* the figure (anchored to the figure's
bottom edge, so Plotly grows the bottom margin for it instead of drawing it over the x-axis title), room for a
two-line title, and side margins small enough to leave the plot area most of a narrow screen.
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
# Okabe & Ito's colour-blind-safe palette (black dropped: it is the text colour); one colour per curve, in order
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


# one colour per network regime in every figure of the book (the regimes of network.state.REGIMES, in order)
REGIME_COLOURS = {"5g_good": PALETTE[2], "4g": PALETTE[0], "congested": PALETTE[1], "satellite": PALETTE[3],
                  "near_outage": PALETTE[5]}


def regime_colour(name: str, i: int = 0) -> str:
    """A regime's fixed colour (:data:`REGIME_COLOURS`); another name gets the ``i``-th palette colour.

    Example:
        >>> regime_colour("4g") == REGIME_COLOURS["4g"], regime_colour("lte", 1)
        (True, '#E69F00')
    """
    return REGIME_COLOURS.get(name, colour(i))


def colour(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling), so that a curve and its markers share one colour.

    Example:
        >>> colour(0), colour(len(PALETTE))
        ('#0072B2', '#0072B2')
    """
    return PALETTE[i % len(PALETTE)]
LEGEND_BELOW = {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0, "xanchor": "left"}
MARGIN = {"l": 60, "r": 20, "t": 80, "b": 20}


def tidy(fig: go.Figure, title: str | None = None, height: int | None = None, top: int | None = None) -> go.Figure:
    """Apply the house layout to ``fig`` in place (and return it): legend below, compact margins, title.

    Args:
        fig: the figure to style.
        title: the figure's title; keep it under ~45 characters and put details in a ``<br><sup>...</sup>``
            second line, which stays readable on a phone.
        height: figure height in px (default: Plotly's 450).
        top: top margin in px (default 80; subplot grids need ~105 so their panel titles clear a two-line title).
            Panel titles are set in a smaller font so that neighbouring ones do not touch on a phone.
    """
    # no title.automargin: with a two-line title it pushes the first line out of the figure; 80 px fit two lines
    layout = {"legend": LEGEND_BELOW, "margin": MARGIN, "title_x": 0.0, "title_xref": "paper"}
    if title is not None:
        layout["title_text"] = title
    if height is not None:
        layout["height"] = height
    if top is not None:
        layout["margin"] = {**MARGIN, "t": top}
    fig.update_layout(**layout)
    for ann in fig.layout.annotations:  # make_subplots titles: paper-anchored, bottom-anchored, no arrow
        if ann.showarrow is False and ann.yanchor == "bottom" and ann.xref == "paper":
            ann.font.size = 13
    return fig
