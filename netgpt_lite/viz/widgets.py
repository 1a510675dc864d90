"""Thin ipywidgets layer: live explorers that call the library on every slider move.

In Colab or Jupyter the sliders recompute through the library (:func:`netgpt_lite.frontier.operating_points`
and :func:`netgpt_lite.routing.simulator.frontier_grid`); in the static book the widget shows the state
computed at build time (use :func:`netgpt_lite.viz.routing.frontier_explorer_figure` for a
kernel-free explorer).

Example:
    >>> box = frontier_explorer_widget(table, policies)   # doctest: +SKIP
    >>> box                                                # doctest: +SKIP
"""

from __future__ import annotations

from netgpt_lite.network.pricing import Price
from netgpt_lite.routing.explorer import operating_points
from netgpt_lite.routing.simulator import frontier_grid
from netgpt_lite.viz.routing import live_explorer_figure


def frontier_explorer_widget(table, policies: dict, bandwidth_mbps: float = 30.0, rtt_ms: float = 60.0,
                             price_multiplier: float = 1.0):
    """Bandwidth, RTT and price sliders over the quality-cost explorer of ``policies`` on ``table``.

    Returns:
        An ``ipywidgets.VBox`` (sliders + an output area holding the current figure).
    """
    import ipywidgets as widgets
    import numpy as np

    bw = widgets.FloatLogSlider(value=bandwidth_mbps, base=10, min=-1.3, max=2.5, step=0.05,
                                description="Mbps", continuous_update=False)
    rtt = widgets.FloatLogSlider(value=rtt_ms, base=10, min=1.0, max=3.5, step=0.05, description="RTT ms",
                                 continuous_update=False)
    price = widgets.FloatSlider(value=price_multiplier, min=0.5, max=4.0, step=0.25, description="price x",
                                continuous_update=False)
    out = widgets.Output()

    def redraw(*_):
        p = Price().scaled(price.value)
        taus = np.linspace(0.0, 1.0, 51)
        grid = frontier_grid(table, bw.value, rtt.value, taus, p.usd_per_1k_input, p.usd_per_1k_output)
        sweep = {k: grid[k][0, 0] for k in ("cost_usd", "success", "utility")} | {"threshold": taus}
        points = operating_points(table, policies, bw.value, rtt.value, p.usd_per_1k_input, p.usd_per_1k_output)
        title = f"bandwidth {bw.value:.3g} Mbps, RTT {rtt.value:.3g} ms, price x{price.value:g}"
        # Replace the output area's content through widget state only (no output capture with
        # `with out:` / clear_output): headless executors such as nbclient can lose capture messages.
        out.outputs = ()
        out.append_display_data(live_explorer_figure(points, sweep, title))

    for w in (bw, rtt, price):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([bw, rtt, price]), out])
