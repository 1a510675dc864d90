"""The static HTML report of ``netgpt-lite reproduce``: every figure of E1-E6 and the E3 table on one page.

:func:`report_figures` reads the numbers of a ``results.json`` and draws them with the chapters' Plotly
builders (:mod:`netgpt_lite.viz`); :func:`write_report` puts them on one HTML page with plotly.js inlined
once, so the report opens offline.  Nothing is computed here.

Example:
    >>> report_figures({"E6": {"refresh_on": [], "refresh_off": []}}).keys()
    dict_keys(['E6 scorer refresh'])
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from netgpt_lite.viz.rl import e5_figure
from netgpt_lite.viz.routing import frontier_figure, threshold_curves_figure
from netgpt_lite.viz.synergy import decomposition_figure, refresh_figure, rounds_figure
from netgpt_lite.viz.threshold import utility_vs_threshold_figure


def report_figures(results: dict) -> dict:
    """Title -> Plotly figure for every experiment in ``results`` (pure: reads numbers, draws)."""

    figs = {}
    if "E1" in results:
        e1 = results["E1"]
        figs["E1 quality-cost frontiers"] = frontier_figure({r: v["sweep"] for r, v in e1.items()},
                                                            {r: v["points"] for r, v in e1.items()})
    for axis, label in (("bandwidth_mbps", "bandwidth (Mbps)"), ("rtt_ms", "RTT (ms)"), ("price_multiplier", "price x")):
        if "E2" not in results:
            break
        curves = results["E2"][axis]["curves"]
        figs[f"E2 threshold vs {label}"] = threshold_curves_figure(
            results["E2"][axis]["x"], {n: c["threshold"] for n, c in curves.items()}, label)
        figs[f"E2 offload vs {label}"] = threshold_curves_figure(
            results["E2"][axis]["x"], {n: c["offload"] for n, c in curves.items()}, label, y_title="offload rate")
    if "E2" in results:
        u = results["E2"]["utility_vs_threshold"]
        peaks = u["n_local_maxima"]  # an empirical table is jagged: say how many maxima this curve has
        figs["E2 utility vs threshold"] = utility_vs_threshold_figure(
            np.array(u["threshold"]), {"4G-like state": np.array(u["utility"])}, {"4G-like state": u["best_threshold"]},
            note=f"{peaks} local {'maximum' if peaks == 1 else 'maxima'}; the best fixed threshold marked x")
    for trace, e4 in results.get("E4", {}).get("traces", {}).items():
        first = e4["runs"][str(e4["seeds"][0])]
        which = f"{trace} trace, seed {e4['seeds'][0]}"  # every figure of the page has its own title
        figs[f"E4 synergy rounds, {trace} trace (seed {e4['seeds'][0]})"] = rounds_figure(
            first["rounds"], title=f"E4: edge and cloud, learning together<br><sup>{which}</sup>")
        figs[f"E4 gain decomposition, {trace} trace (seed {e4['seeds'][0]})"] = decomposition_figure(
            first["decomposition"], title=f"E4: where the gain comes from ({which})")
    if "E5" in results:
        figs["E5 SFT vs more SFT vs anchored RL"] = e5_figure(results["E5"])
    if "E6" in results:
        figs["E6 scorer refresh"] = refresh_figure(results["E6"], title="E6: scorer refresh on vs off")
    return figs


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(results: dict, path: str | Path) -> Path:
    """One self-contained HTML page (plotly.js inlined once) with every figure and the E3 table."""
    from plotly.offline import get_plotlyjs

    m = results["manifest"]
    parts = [f"<h1>netgpt-lite: experiments E1-E6 ({m['mode']} mode)</h1>",
             f"<p>Computed {html.escape(str(m['finished_utc']))} in {m['wall_s']} s (CPU {m.get('cpu_s')} s), "
             f"peak memory {m['peak_rss_mb']} MB, library source {html.escape(str(m.get('source_hash')))}; "
             f"tables: {html.escape(str(results['tables']))}.</p>"]
    for title, fig in report_figures(results).items():
        parts.append(f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False))
    if "E3" in results:
        parts.append("<h2>E3 main table (mean ± std over seeds)</h2>" + _table_html(results["E3"]["rows"]))
    parts.append("<h2>Manifest</h2><pre>" + html.escape(json.dumps(m, indent=1)) + "</pre>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>netgpt-lite results</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
