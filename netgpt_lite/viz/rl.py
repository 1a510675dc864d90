"""Figures of chapter 6 (SFT-anchored RL): the KL toy, training curves, and experiment E5 (its arms,
its paired contrasts and its learning curves).

Pure builders: each takes numbers computed by :mod:`netgpt_lite.rl.toy` / :mod:`netgpt_lite.rl` (E5: the
artifact as :func:`netgpt_lite.experiments.rl_comparison.read_e5` returns it, with the current metric names)
and returns a ``plotly.graph_objects.Figure``.

Example:
    >>> fig = kl_toy_figure([0.495, 0.01, 0.495], [0.33, 0.34, 0.33], [0.98, 0.02, 0.0])
    >>> len(fig.data)
    3
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from netgpt_lite.viz.style import PALETTE, tidy

COLORS = {"full": PALETTE[0], "no_forward_kl": PALETTE[1], "no_reverse_kl": PALETTE[2], "plain_pg": PALETTE[5]}
LABELS = {
    "reward": "reward (mean)",
    "exact_match": "exact match",
    "schema_valid": "schema-valid rate",
    "kl_k3_to_sft": "KL to SFT, k3 (nats/token)",
    "anchor_nll_gap": "SFT anchor: NLL gap (nats/token)",
    "entropy": "entropy (nats/token)",
    "frac_zero_std": "zero-variance groups",
    "eval_exact_match": "test exact match",
    "eval_schema_valid": "test schema-valid rate",
}


def kl_toy_figure(p: Sequence[float], q_forward: Sequence[float], q_reverse: Sequence[float]) -> go.Figure:
    """Bars of the target p and the one-bump fits by forward KL (mass-covering) and reverse KL (mode-seeking)."""
    tokens = [f"token {i}" for i in range(len(p))]
    fig = go.Figure()
    fig.add_bar(x=tokens, y=list(p), name="target p (bimodal)", marker_color="#7f7f7f")
    fig.add_bar(x=tokens, y=list(q_forward), name="q minimising KL(p || q): forward, mass-covering")
    fig.add_bar(x=tokens, y=list(q_reverse), name="q minimising KL(q || p): reverse, mode-seeking")
    fig.update_layout(barmode="group", xaxis_title="token", yaxis_title="probability", yaxis_range=[0, 1])
    return tidy(fig, "Fitting a one-bump q to a two-mode p")


def training_curves_figure(history: Sequence[dict], metrics: Sequence[str] = ("reward", "exact_match",
                           "schema_valid", "kl_k3_to_sft")) -> go.Figure:  # fmt: skip
    """One small panel per logged metric against the step (rows of :func:`netgpt_lite.rl.train_minimal`).

    Panels sit two to a row (titles never collide, even on a phone); the step axis is titled on the bottom row.
    """
    cols = min(2, len(metrics))
    n_rows = -(-len(metrics) // cols)
    fig = make_subplots(rows=n_rows, cols=cols, subplot_titles=[LABELS.get(m, m) for m in metrics],
                        vertical_spacing=0.22 if n_rows > 1 else 0.1, horizontal_spacing=0.12)  # fmt: skip
    for i, name in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        rows = [h for h in history if name in h and not _isnan(h[name])]
        fig.add_scatter(x=[h["step"] for h in rows], y=[h[name] for h in rows], mode="lines+markers",
                        showlegend=False, row=r, col=c)  # fmt: skip
        if r == n_rows:
            fig.update_xaxes(title_text="RL step", row=r, col=c)
    return tidy(fig, "SFT-anchored RL, per step", height=260 + 200 * n_rows, top=105)


ARM_LABELS = {"sft": "SFT (start)", "more_sft": "SFT + more SFT", "raft": "SFT + rejection sampling",
              "rl": "SFT + anchored RL", "more_sft_rl": "SFT + more SFT, then anchored RL",
              "no_forward_kl": "RL, no forward KL", "no_reverse_kl": "RL, no reverse KL", "plain_pg": "RL, plain PG"}
ARM_COLORS = {"sft": "#7f7f7f", "more_sft": PALETTE[3], "raft": "#8c564b", "rl": COLORS["full"], "more_sft_rl": PALETTE[4],
              "no_forward_kl": COLORS["no_forward_kl"],
              "no_reverse_kl": COLORS["no_reverse_kl"], "plain_pg": COLORS["plain_pg"]}


def e5_figure(artifact: dict) -> go.Figure:
    """E5, one panel per quantity: held-out test exact match and schema-valid rate of every run (a dot per
    seed, a bar at the mean), and the k3 KL to SFT on the last RL steps' samples.

    Args:
        artifact: the E5 artifact (``runs`` and ``summary``) as :func:`~netgpt_lite.experiments.rl_comparison.run_e5`
            or :func:`~netgpt_lite.experiments.rl_comparison.read_e5` return it.
    """
    arms = list(dict.fromkeys(r["arm"] for r in artifact["runs"]))
    panels = [("test exact match", lambda r: r["eval"]["test"]["exact_match"]),
              ("test schema-valid rate", lambda r: r["eval"]["test"]["schema_valid"]),
              ("KL to SFT, last 3 RL steps (nats/token)", None)]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=[p[0] for p in panels])
    unknown = [a for a in arms if a not in ARM_COLORS]
    if unknown:
        raise ValueError(f"e5_figure has no colour for the arm(s) {unknown}: add them to ARM_LABELS and ARM_COLORS")
    labels = [ARM_LABELS.get(a, a) for a in arms]
    for row, (_, value) in enumerate(panels, start=1):
        if value is None:
            kl = [artifact["summary"][a].get("kl_k3_to_sft_last_mean") for a in arms]
            fig.add_bar(x=labels, y=[k if k is not None else 0.0 for k in kl], showlegend=False,
                        marker_color=[ARM_COLORS.get(a) for a in arms], row=row, col=1)  # fmt: skip
            continue
        for arm, label in zip(arms, labels):
            values = [value(r) for r in artifact["runs"] if r["arm"] == arm]
            fig.add_bar(x=[label], y=[sum(values) / len(values)], marker_color=ARM_COLORS.get(arm), opacity=0.55,
                        showlegend=False, row=row, col=1)  # fmt: skip
            fig.add_scatter(x=[label] * len(values), y=values, mode="markers", marker={"color": "black", "size": 6},
                            showlegend=False, hovertemplate="%{y:.3f}<extra>one seed</extra>", row=row, col=1)  # fmt: skip
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(tickangle=-30, row=3, col=1)
    return tidy(fig, "E5: SFT and what each arm learned from the same day<br><sup>bars: mean over seeds; "
                "dots: single seeds</sup>", height=820, top=105)  # fmt: skip


def e5_contrast_figure(table: Sequence[dict], suite: str = "test") -> go.Figure:
    """E5's paired contrasts on one suite: each row A minus B in exact match (points), the mean over seeds
    with its 95% interval over requests, zero marked.

    Args:
        table: :func:`~netgpt_lite.experiments.rl_summary.contrasts` of the artifact's runs.
        suite: which evaluation suite (``"test"``, ``"handwritten"``, ``"independent"``).
    """
    rows = [c for c in table if c["suite"] == suite][::-1]  # the first contrast on top
    if not rows:
        raise ValueError(f"no contrast on suite {suite!r}; suites present: {sorted({c['suite'] for c in table})}")
    labels = [f"{ARM_LABELS.get(c['a'], c['a'])}  vs  {ARM_LABELS.get(c['b'], c['b'])}" for c in rows]
    points = [100 * c["difference"] for c in rows]
    fig = go.Figure()
    fig.add_vline(x=0.0, line={"color": "#444", "width": 1})
    fig.add_scatter(x=points, y=labels, mode="markers", showlegend=False,
                    marker={"size": 10, "color": [ARM_COLORS.get(c["a"], "#444") for c in rows]},
                    error_x={"type": "data", "symmetric": False,
                             "array": [100 * c["ci_high"] - p for c, p in zip(rows, points)],
                             "arrayminus": [p - 100 * c["ci_low"] for c, p in zip(rows, points)]},
                    customdata=[[c["n"], c["n_seeds"], c["n_seeds_b"]] for c in rows],
                    hovertemplate="%{x:+.1f} points<br>%{customdata[0]} requests, seeds %{customdata[1]} vs "
                                  "%{customdata[2]}<extra></extra>")  # fmt: skip
    fig.update_xaxes(title_text="difference in exact match (points), 95% interval", zeroline=False)
    n = rows[0]["n"]
    tidy(fig, f"E5: paired differences, {suite} requests<br><sup>{n} requests, mean over seeds; "
         "bars: 95% interval over requests</sup>", height=140 + 48 * len(rows))  # fmt: skip
    # the long row labels push the plot area right: the title starts at the figure's edge instead
    return fig.update_layout(title_xref="container", title_x=0.01)


def e5_curve_figure(artifact: dict) -> go.Figure:
    """E5's learning curves: greedy exact match on the curve's requests against the RL step, one line per RL
    run (arm and seed), the start's value at step 0.  The curve's requests are of the day's phrasings
    (``config.day_split``: validation, or the deployment's own, never an evaluated request).

    Args:
        artifact: the E5 artifact (``runs`` with each RL run's ``history``; ``config``).
    """
    phrasing = ("the deployment's phrasings" if artifact.get("config", {}).get("day_split") == "test"
                else "the validation phrasings")
    fig = go.Figure()
    shown = set()
    for r in artifact["runs"]:
        history = r.get("history")
        if not isinstance(history, list) or not any("eval_exact_match" in h for h in history):
            continue
        points = [(h["step"], h["eval_exact_match"]) for h in history if h.get("eval_exact_match") is not None]
        fig.add_scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                        name=ARM_LABELS.get(r["arm"], r["arm"]), legendgroup=r["arm"],
                        showlegend=r["arm"] not in shown, line={"color": ARM_COLORS.get(r["arm"])},
                        hovertemplate=f"seed {r['seed']}: " + "step %{x}, %{y:.3f}<extra></extra>")  # fmt: skip
        shown.add(r["arm"])
    if not shown:
        raise ValueError("no run of this artifact has a learning curve (history rows with eval_exact_match)")
    fig.update_xaxes(title_text="RL step")
    fig.update_yaxes(title_text="exact match on the curve's requests")
    return tidy(fig, f"E5: learning curves of the RL runs<br><sup>greedy, the least confident requests of {phrasing} "
                "(never evaluated); one line per seed</sup>", height=440)  # fmt: skip


def sweep_curve_figure(sweep: dict) -> go.Figure:
    """A settings sweep (``scripts/rl_sweep.py --summary``): each setting's greedy exact match on the curve's
    requests against the RL step (left) and its KL to SFT on its own samples (right).

    Args:
        sweep: the sweep artifact (``runs``: ``name``, ``summary.val_exact_match`` as ``[step, value]`` pairs,
            ``history`` with ``kl_k3_to_sft`` per step).
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("exact match on the curve's requests", "KL to SFT (nats/token)"))
    for k, run in enumerate(sweep["runs"]):
        color = PALETTE[k % len(PALETTE)]
        curve = run["summary"]["val_exact_match"]
        fig.add_scatter(x=[p[0] for p in curve], y=[p[1] for p in curve], mode="lines+markers", name=run["name"],
                        legendgroup=run["name"], line={"color": color}, row=1, col=1,
                        hovertemplate="step %{x}: %{y:.3f}<extra></extra>")
        kl = [(h["step"], h["kl_k3_to_sft"]) for h in run["history"] if h.get("kl_k3_to_sft") is not None]
        fig.add_scatter(x=[p[0] for p in kl], y=[p[1] for p in kl], mode="lines", name=run["name"],
                        legendgroup=run["name"], showlegend=False, line={"color": color}, row=1, col=2,
                        hovertemplate="step %{x}: %{y:.5f}<extra></extra>")  # fmt: skip
    fig.update_xaxes(title_text="RL step")
    n = sweep.get("day", {}).get("n_val")
    return tidy(fig, f"RL settings compared on the curve's requests<br><sup>greedy; {n} requests of the day's "
                "phrasings, never evaluated; one line per setting, one seed</sup>", height=420)  # fmt: skip


def headroom_figure(summaries: dict[str, dict]) -> go.Figure:
    """pass@k against k for one or more models (a line each, the greedy exact match dotted in the same
    colour): the room RL has is the distance from the dotted line up to the curve.

    Args:
        summaries: ``{label: summary}``, each the ``summary`` of :func:`~netgpt_lite.rl.headroom.headroom`.
    """
    fig = go.Figure()
    palette = ["#7f7f7f", COLORS["full"], PALETTE[3], "#8c564b"]
    for i, (label, s) in enumerate(summaries.items()):
        ks = sorted(int(k.removeprefix("pass_at_")) for k in s if k.startswith("pass_at_"))
        color = palette[i % len(palette)]
        fig.add_scatter(x=ks, y=[s[f"pass_at_{k}"] for k in ks], mode="lines+markers", name=f"{label}: pass@k",
                        line={"color": color})  # fmt: skip
        fig.add_scatter(x=[ks[0], ks[-1]], y=[s["greedy_exact_match"]] * 2, mode="lines", name=f"{label}: greedy",
                        line={"color": color, "dash": "dot"})  # fmt: skip
    fig.update_xaxes(title_text="k (samples per request)", type="log", tickvals=[1, 2, 4, 8, 16, 32, 64])
    fig.update_yaxes(title_text="share of requests")
    n = next(iter(summaries.values()))["n"]
    return tidy(fig, f"Room for RL: pass@k and greedy exact match<br><sup>{n} validation requests, "
                "temperature 1</sup>", height=420)  # fmt: skip


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)
