"""What a shipped E4/E6 run shows, in sentences generated from its numbers (README, front page, chapters 7-8),
and a run's rounds as a table (:func:`round_table`).

Every sentence states an estimate with its 95% interval and the number of requests behind it, and its verb
follows the interval: a difference whose interval holds 0 is "not distinguishable".  The book and the README
print these sentences, and ``tests/test_readme_claims.py`` checks that the README still says them word for
word, so a regenerated artifact that changes a finding cannot leave an old sentence behind.

Example:
    >>> points({"mean": -0.021, "ci_low": -0.04, "ci_high": -0.003})
    '-2.1 points (95% interval -4.0 to -0.3)'
    >>> direction({"mean": -0.021, "ci_low": -0.04, "ci_high": -0.003}, "fell", "rose")
    'fell'
"""

from __future__ import annotations

import textwrap


def sentence(clause: str, width: int | None = None) -> str:
    """A finding printed as a sentence: first letter capitalised, a full stop, wrapped at ``width`` characters
    (``None``: one line, which a notebook's output area and the book's wrap at their own edge; lines wrapped
    here at a fixed width would wrap twice in a narrower window).

    Example:
        >>> sentence("offload fell by 3.7 points")
        'Offload fell by 3.7 points.'
    """
    text = clause[:1].upper() + clause[1:] + "."
    return text if width is None else textwrap.fill(text, width)


def points(d: dict, unit: str = "points") -> str:
    """A difference of rates as percentage points with its interval, e.g. ``+1.2 points (95% interval ...)``."""
    return (f"{100 * d['mean']:+.1f} {unit} (95% interval {100 * d['ci_low']:+.1f} to "
            f"{100 * d['ci_high']:+.1f})")


def share(d: dict) -> str:
    """A share as a percentage with its interval, e.g. ``78% (95% interval 74% to 81%)``."""
    return f"{100 * d['mean']:.0f}% (95% interval {100 * d['ci_low']:.0f}% to {100 * d['ci_high']:.0f}%)"


def direction(d: dict, up_or_down_below: str, up: str, same: str = "did not change distinguishably") -> str:
    """``up_or_down_below`` when the interval lies below 0, ``up`` when above, else ``same``."""
    if d["ci_high"] < 0:
        return up_or_down_below
    if d["ci_low"] > 0:
        return up
    return same


def run_size(e4: dict) -> str:
    """The run in one clause: edge, rounds, requests, held-out requests and seeds."""
    cfg, traces = e4["config"], e4["traces"]
    seeds = sorted({len(t["seeds"]) for t in traces.values()})
    edge = "SmolLM2-135M with its LoRA adapter" if cfg["edge"] == "smollm2" else f"the {cfg['edge']} edge"
    return (f"{edge}, {cfg['rounds']} round{'s' if cfg['rounds'] != 1 else ''} of {cfg['requests_per_round']} requests, "
            f"{cfg['eval_requests']} held-out requests per round, {'/'.join(map(str, seeds))} "
            f"seed{'s' if seeds != [1] else ''} per trace")


def last_round(e4: dict, trace: str = "reachable") -> str:
    """The last round against AlwaysCloud on one trace, seeds pooled: calls saved, success gap, schema-valid."""
    d = e4["traces"][trace]["last_round_intervals"]
    valid = d["schema_valid_rate"]
    return (f"on the {trace} trace the last round sent {share(d['cloud_calls_saved_vs_always_cloud'])} fewer "
            f"requests to the cloud than sending all of them, with task success "
            f"{points(d['success_gap_vs_always_cloud'])} against that and schema-valid calls "
            f"{valid['mean']:.3f} ({d['n']} held-out requests over {d['n_seeds']} seed"
            f"{'s' if d['n_seeds'] != 1 else ''})")


def amount(d: dict, digits: int = 3) -> str:
    """A difference in the metric's own unit with its interval, e.g. ``+0.033 (95% interval +0.015 to +0.052)``
    (for utility per request, which is not a rate)."""
    return f"{d['mean']:+.{digits}f} (95% interval {d['ci_low']:+.{digits}f} to {d['ci_high']:+.{digits}f})"


def over_rounds(e4: dict, trace: str) -> str:
    """How offload, success and (where the run kept it) the mean utility per request moved from round 0 to the
    last round on one trace (seeds pooled, paired), and in how many seeds the offload fell in every round."""
    t = e4["traces"][trace]
    d, falls = t["last_vs_round_0"], t["offload_falls_every_round"]
    steps = ", ".join(f"{100 * r['offload_rate']['mean']:+.1f}" for r in t["round_over_round"])
    utility = (f", and the mean utility per request (the router's objective) "
               f"{direction(d['mean_utility'], 'fell', 'rose')}, {amount(d['mean_utility'])}"
               if "mean_utility" in d else "")
    return (f"on the {trace} trace the offload rate {direction(d['offload_rate'], 'fell', 'rose')} from round 0 "
            f"to the last round, {points(d['offload_rate'])}, task success "
            f"{direction(d['task_success'], 'fell', 'rose')}, {points(d['task_success'])}{utility} "
            f"({d['n']} requests); the offload rate fell in every round in {sum(falls)} of {len(falls)} seeds "
            f"(round over round, seeds pooled: {steps} points)")


def edge_and_routing(e4: dict, trace: str = "reachable") -> str:
    """The decomposition in one clause (:func:`decomposition_effects`): what the last round's edge did to the
    offload rate under round 0's routing, what the last round's routing did to round 0's edge, and what
    refitting the routing to the last edge did to the router's objective."""
    effects = decomposition_effects(e4, trace)
    verb = {"better edge": "the last round's edge alone (with round 0's routing)",
            "moved routing": "the last round's routing alone (with round 0's edge)"}
    same = "did not distinguishably change"
    said = [f"{who} {direction(effects[name]['offload_rate'], 'lowered', 'raised', same)} the offload rate, "
            f"{points(effects[name]['offload_rate'])}" for name, who in verb.items()]
    refit = effects["refit routing"]["mean_utility"]
    return (f"on the {trace} trace {said[0]}, and {said[1]}; refitting the routing to the last round's edge, "
            f"rather than keeping round 0's, {direction(refit, 'lowered', 'raised', same)} the mean utility per "
            f"request, {amount(refit)}")


ARM_NAMES = {"rl_off": "Turning RL off (SFT only)", "refresh_off": "Fitting the learned scorer once and never again"}


def arm(e4: dict, name: str) -> str:
    """One arm's last round against the run it was forked from, on the same requests."""
    d = e4["arms"][name]["vs_rl_on"]
    said = [f"its {label} is {direction(d[key], 'lower', 'higher', '')}"
            for key, label in (("offload_rate", "offload rate"), ("task_success", "task success"))
            if direction(d[key], "lower", "higher", "")]
    verdict = " and ".join(said) if said else "neither difference is distinguishable from zero"
    return (f"{ARM_NAMES[name]} changed the last round's offload rate by {points(d['offload_rate'])} and its task "
            f"success by {points(d['task_success'])}, on the same {d['offload_rate']['n']} requests (one seed "
            f"each): {verdict}")


def scorer_choices(e4: dict, trace: str = "reachable") -> str:
    """How the rounds chose their scorer on one trace, seeds together: how often a refitted learned scorer
    replaced the one in use, and the calibration AUROCs behind the choices (round metric ``scorer_choice``)."""
    t = e4["traces"][trace]
    choices = [r["scorer_choice"] for s in t["seeds"] for r in t["runs"][str(s)]["rounds"] if r.get("scorer_choice")]
    ranked = [c for c in choices if None not in c["auroc"]]
    if not ranked:
        return f"on the {trace} trace no round had a refitted scorer to rank"
    refit = [c["auroc"][-1] for c in ranked]  # the refitted scorer is the last candidate, the one in use first
    in_use = [c["auroc"][0] for c in ranked]
    replaced = sum(c["kept"] == len(c["candidates"]) - 1 for c in ranked)
    n_req = sorted({c["n_requests"] for c in ranked})
    return (f"on the {trace} trace a refitted learned scorer replaced the scorer in use in {replaced} of {len(ranked)} "
            f"rounds (seeds together): on the calibration set ({'/'.join(map(str, n_req))} requests) the refitted "
            f"scorer's AUROC was {min(refit):.2f} to {max(refit):.2f}, the scorer in use's {min(in_use):.2f} to "
            f"{max(in_use):.2f}")


def headline(e4: dict) -> str:
    """What a shipped E4 run shows, for the README's first paragraph: its size and the reachable trace's last
    round against AlwaysCloud; how offload, success and utility moved over the rounds on each trace; which half
    of the loop (edge or routing) moved the offload rate; and the arms (RL off, scorer refresh off).

    Example:
        >>> iv = {"mean": 0.0, "ci_low": -0.01, "ci_high": 0.01, "n": 300}
        >>> trace = {"seeds": [0], "offload_falls_every_round": [False], "round_over_round": [{"offload_rate": iv}],
        ...          "last_round_intervals": {"cloud_calls_saved_vs_always_cloud": iv, "n": 300, "n_seeds": 1,
        ...                                   "success_gap_vs_always_cloud": iv, "schema_valid_rate": iv},
        ...          "last_vs_round_0": {"offload_rate": iv, "task_success": iv, "n": 300}}
        >>> e4 = {"config": {"edge": "smollm2", "rounds": 1, "requests_per_round": 384, "eval_requests": 300},
        ...       "traces": {"reachable": trace}, "arms": {}}
        >>> headline(e4)[:80]
        'In the shipped run (SmolLM2-135M with its LoRA adapter, 1 round of 384 requests,'
    """
    said = [f"In the shipped run ({run_size(e4)}), {last_round(e4, 'reachable')}",
            "; ".join(over_rounds(e4, trace) for trace in e4["traces"])]
    runs = e4["traces"]["reachable"].get("runs") or {}
    if runs and all(r.get("decomposition") for r in runs.values()):
        said.append(edge_and_routing(e4, "reachable"))
    said += [arm(e4, name) for name in ARM_NAMES if (e4.get("arms", {}).get(name) or {}).get("vs_rl_on")]
    return " ".join(sentence(clause) for clause in said)


def front_page(e4: dict) -> str:
    """The front page's sentence on the shipped run: how task success moved from round 0 to the last round on
    each trace, and in how many runs the offload rate fell round after round.

    Example:
        >>> iv = {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05, "n": 600}
        >>> t = {"offload_falls_every_round": [False, False], "last_vs_round_0": {"task_success": iv}}
        >>> said = front_page({"traces": {"reachable": t}})
        >>> said[:80]
        'In the shipped run on the real edge, from round 0 to the last round task success'
        >>> said[80:150]
        ' rose on the reachable trace (+3.0 points; 95% interval +1.0 to +5.0),'
        >>> said[150:]
        ' but the offload rate fell round after round in 0 of 2 runs.'
    """
    moved = []
    for name, t in e4["traces"].items():
        d = t["last_vs_round_0"]["task_success"]
        verb = direction(d, "fell", "rose", "did not change distinguishably")
        moved.append(f"{verb} on the {name} trace ({points(d).replace(' (95%', '; 95%')}")
    falls = [f for t in e4["traces"].values() for f in t["offload_falls_every_round"]]
    return (f"In the shipped run on the real edge, from round 0 to the last round task success "
            f"{' and '.join(moved)}, "
            f"{'and' if all(falls) else 'but'} the offload rate fell round after round in {sum(falls)} of "
            f"{len(falls)} runs.")


def written(e4: dict, trace: str = "reachable") -> list[str]:
    """The last round's edge against round 0's on each suite of requests written apart from the generator."""
    out = []
    for suite, d in (e4["traces"][trace].get("written") or {}).items():
        label = {"handwritten": "hand-written", "independent": "independently written"}.get(suite, suite)
        verb = direction({"mean": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]},
                         "was worse", "was better", "was not distinguishable from round 0's")
        out.append(f"on {d['n']} {label} requests the last round's edge {verb}: "
                   f"{100 * d['difference']:+.1f} points of exact match (95% interval {100 * d['ci_low']:+.1f} to "
                   f"{100 * d['ci_high']:+.1f})")
    return out


def decomposition_effects(e4: dict, trace: str = "reachable", n_bootstrap: int = 10_000) -> dict:
    """The 2 x 2 decomposition of one trace's runs, seeds pooled: the change from round 0 (edge and routing of
    round 0) made by the last round's edge alone (round-0 routing), by the last round's routing alone
    (round-0 edge), and by both; and what refitting the routing to the last round's edge did, against
    keeping round 0's routing for it.  Each a paired difference on the same held-out requests with 95%
    intervals (:func:`~netgpt_lite.routing.metrics.summarize_intervals`).

    Returns:
        ``{"better edge": ..., "moved routing": ..., "both": ..., "refit routing": ...}``, each keyed by metric.
    """
    from netgpt_lite.routing.metrics import summarize_intervals
    from netgpt_lite.synergy.summary import pooled_values

    t = e4["traces"][trace]
    tables = [{(r["edge_round"], r["routing_round"]): r for r in t["runs"][str(s)]["decomposition"]}
              for s in t["seeds"]]
    last = max(k[0] for k in tables[0])

    def pooled(key):
        return pooled_values([tb[key] for tb in tables], "per_request")

    start = pooled((0, 0))
    out = {name: summarize_intervals(pooled(key), baseline=start, n_bootstrap=n_bootstrap)
           for name, key in (("better edge", (last, 0)), ("moved routing", (0, last)), ("both", (last, last)))}
    out["refit routing"] = summarize_intervals(pooled((last, last)), baseline=pooled((last, 0)),
                                               n_bootstrap=n_bootstrap)
    return out


def decomposition(e4: dict, trace: str = "reachable") -> list[str]:
    """:func:`decomposition_effects` in sentences: offload, success and utility changed by each half of the
    loop, and by refitting the routing to the last round's edge."""
    effects = decomposition_effects(e4, trace)
    said = {"better edge": "the last round's edge with round 0's routing",
            "moved routing": "round 0's edge with the last round's routing",
            "both": "the last round's edge and routing together",
            "refit routing": "refitting the routing to the last round's edge, rather than keeping round 0's for it,"}
    return [f"{said[name]} changed the offload rate by {points(d['offload_rate'])}, task success by "
            f"{points(d['task_success'])} and the mean utility per request by {amount(d['mean_utility'])}"
            for name, d in effects.items()]


def with_interval(value: float, d: dict | None = None, digits: int = 3) -> str:
    """A value and its 95% interval as ``"v [lo, hi]"``; the value alone when the run kept no interval.

    Example:
        >>> with_interval(0.5, {"mean": 0.5, "ci_low": 0.41, "ci_high": 0.6}), with_interval(0.5)
        ('0.500 [0.410, 0.600]', '0.500')
    """
    if not d:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{d['ci_low']:.{digits}f}, {d['ci_high']:.{digits}f}]"


def scorer_cell(m: dict) -> str:
    """The round's scorer, and the calibration AUROC of each candidate when the round chose between two.

    Example:
        >>> scorer_cell({"scorer": "learned", "scorer_choice": {"candidates": ["self", "learned"],
        ...              "auroc": [0.71, 0.83], "kept": 1, "n_requests": 128}})
        'learned (self 0.71, learned 0.83)'
        >>> scorer_cell({"scorer": "self"})
        'self'
    """
    choice = m.get("scorer_choice") or {}
    if None in choice.get("auroc", [None]):
        return m["scorer"]
    ranked = ", ".join(f"{c} {a:.2f}" for c, a in zip(choice["candidates"], choice["auroc"]))
    return f"{m['scorer']} ({ranked})"


def calibration_cell(m: dict) -> str:
    """The round's calibration map, and each map's cross-validated log-loss when the round chose between them
    (round metric ``calibration_choice``); ``-`` for rounds that kept no record (runs before the choice).

    Example:
        >>> calibration_cell({"calibration_choice": {"chosen": "platt",
        ...                   "cv_log_loss": {"platt": 0.2516, "isotonic": 0.2651}}})
        'platt (log-loss platt 0.252, isotonic 0.265)'
        >>> calibration_cell({"calibration_choice": {"chosen": "isotonic", "cv_log_loss": {}}}), calibration_cell({})
        ('isotonic', '-')
    """
    choice = m.get("calibration_choice") or {}
    if not choice:
        return "-"
    losses = ", ".join(f"{k} {v:.3f}" for k, v in (choice.get("cv_log_loss") or {}).items())
    return f"{choice['chosen']} (log-loss {losses})" if losses else choice["chosen"]


def round_table(rounds: list[dict]):
    """One column per round of a synergy run (``state["rounds"]`` or a summary's ``rounds``), for reading:
    offload and task success with their 95% intervals over the held-out requests, success minus
    AlwaysCloud's on the same requests with its paired interval, schema-valid rate, cost per 1,000 requests
    (USD), the mean utility per request (the router's objective, with its interval), 95th-percentile latency
    (s), the edge's exact match, KL to the round's SFT model, the scorer (with the calibration AUROC of each
    candidate it was chosen between), the calibration map (with the log-loss it was chosen by), the offload
    rate the same edge would have had with the other map, the answers logged so far and the held-out requests.  Intervals are
    left out for runs that kept none.

    Returns:
        A ``pandas.DataFrame`` of strings, a row per quantity and a column per round.

    Example:
        >>> m = {"round": 0, "n_logged": 0, "offload_rate": 0.5, "task_success": 0.75,
        ...      "always_cloud_task_success": 0.8, "schema_valid_rate": 1.0, "edge_exact_match": 0.7, "n_requests": 4,
        ...      "kl_to_sft": 0.0, "scorer": "self", "cost_per_1k_requests_usd": 0.4, "latency_p95_ms": 900.0}
        >>> round_table([m]).loc["success - AlwaysCloud", 0]
        '-0.050'
    """
    import pandas as pd

    columns = {}
    for m in rounds:
        ci, vs = m.get("intervals") or {}, m.get("vs_always_cloud") or {}
        columns[m["round"]] = {
            "offload": with_interval(m["offload_rate"], ci.get("offload_rate")),
            "success": with_interval(m["task_success"], ci.get("task_success")),
            "success - AlwaysCloud": with_interval(m["task_success"] - m["always_cloud_task_success"],
                                                   vs.get("task_success")),
            "schema-valid": f"{m['schema_valid_rate']:.3f}", "edge exact match": f"{m['edge_exact_match']:.3f}",
            "USD per 1k requests": f"{m['cost_per_1k_requests_usd']:.3f}",
            "utility per request": (with_interval(m["mean_utility"], ci.get("mean_utility"))
                                    if "mean_utility" in m else "-"),
            "p95 latency (s)": f"{m['latency_p95_ms'] / 1000:.2f}", "KL to SFT": f"{m['kl_to_sft']:.4f}",
            "scorer (calibration AUROC)": scorer_cell(m), "calibration map": calibration_cell(m),
            "offload with the other map": (f"{m['other_calibration']['offload_rate']:.3f} "
                                           f"({m['other_calibration']['calibration']})"
                                           if m.get("other_calibration") else "-"),
            "answers logged": str(int(m["n_logged"])),
            "held-out requests": str(int(m["n_requests"]))}
    table = pd.DataFrame(columns)
    table.columns.name = "round"
    return table
