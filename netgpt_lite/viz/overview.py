"""The picture of chapter 0: a request's path through the edge, the fallback decision, and the cloud.

Drawn with Plotly shapes and annotations (no image files, no JavaScript beyond plotly.js), so it renders
the same in Jupyter, Colab and the static book.

Example:
    >>> from netgpt_lite.viz.overview import request_path_diagram
    >>> fig = request_path_diagram()
    >>> len(fig.layout.shapes) > 5
    True
"""

from __future__ import annotations

import plotly.graph_objects as go

# box name -> (x_center, y_center, label, fill colour); coordinates in a 0..6.4 x 0..10.6 canvas, drawn top to
# bottom so that the same picture is readable on a phone (390 px) and on a wide screen
_BOXES = {
    "task": (3.2, 9.3, "<b>task</b><br>messages + tools<br>(JSON schemas)", "#e8eef9"),
    "edge": (3.2, 7.4, "<b>edge LM</b><br>completion (tool_call)<br>+ score s", "#dff3e4"),
    "decide": (3.2, 5.5, "<b>route</b><br>s &lt; τ(B, RTT, p) ?", "#fff4d6"),
    "keep": (1.5, 3.3, "<b>keep edge answer</b><br>no network,<br>no price", "#dff3e4"),
    "cloud": (4.9, 3.3, "<b>cloud LLM</b><br>RTT + bytes / B<br>+ USD per token", "#fde2e2"),
    "log": (4.9, 1.0, "<b>log of cloud answers</b><br>→ SFT, anchored RL:<br>a better edge, new τ", "#efe6fb"),
}
_HALF_W, _HALF_H = 1.4, 0.72

# (from, to, label) arrows between boxes
_ARROWS = [
    ("task", "edge", ""),
    ("edge", "decide", ""),
    ("decide", "keep", "no"),
    ("decide", "cloud", "yes: fall back"),
    ("cloud", "log", "training data"),
]


def _anchor(name: str, toward: str) -> tuple[float, float]:
    """Point on the border of box ``name`` facing box ``toward`` (so arrows do not overlap text)."""
    x0, y0 = _BOXES[name][:2]
    x1, y1 = _BOXES[toward][:2]
    dx, dy = x1 - x0, y1 - y0
    if abs(dx) * _HALF_H >= abs(dy) * _HALF_W:  # leaves through a vertical side
        return x0 + _HALF_W * (1 if dx > 0 else -1), y0 + dy * _HALF_W / max(abs(dx), 1e-9)
    return x0 + dx * _HALF_H / max(abs(dy), 1e-9), y0 + _HALF_H * (1 if dy > 0 else -1)


def request_path_diagram() -> go.Figure:
    """The request path of NetGPT: task -> edge (score) -> threshold decision -> edge answer or cloud -> the
    log of cloud answers the edge learns from (drawn top to bottom).

    Returns:
        A Plotly figure with one rectangle per component and labelled arrows.
    """
    fig = go.Figure()
    for x, y, label, colour in _BOXES.values():
        fig.add_shape(
            type="rect", x0=x - _HALF_W, x1=x + _HALF_W, y0=y - _HALF_H, y1=y + _HALF_H,
            line=dict(color="#555", width=1.5), fillcolor=colour, layer="below",
        )
        fig.add_annotation(x=x, y=y, text=label, showarrow=False, font=dict(size=12))
    for start, end, label in _ARROWS:
        (xs, ys), (xe, ye) = _anchor(start, end), _anchor(end, start)
        fig.add_annotation(
            x=xe, y=ye, ax=xs, ay=ys, xref="x", yref="y", axref="x", ayref="y",
            showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.6, arrowcolor="#444", text="",
        )
        if label:  # beside the arrow, on its outer side, so that the line never runs through the text
            side = 1.0 if xe >= xs else -1.0
            shift = 0.95 if abs(xe - xs) < 1e-9 else 0.75
            fig.add_annotation(x=(xs + xe) / 2 + side * shift, y=(ys + ye) / 2, text=f"<i>{label}</i>",
                               showarrow=False, font=dict(size=11, color="#444"))
    fig.add_annotation(
        x=3.2, y=10.45, showarrow=False, font=dict(size=11, color="#7a5b00"),
        text="τ rises with bandwidth, falls with RTT and price",
    )
    fig.update_xaxes(visible=False, range=[0.0, 6.4])
    fig.update_yaxes(visible=False, range=[0.1, 10.7], scaleanchor="x", scaleratio=1)
    fig.update_layout(
        title="How a request travels in NetGPT", height=720, margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white", showlegend=False,
    )
    return fig
