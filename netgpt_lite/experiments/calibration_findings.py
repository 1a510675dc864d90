"""What the calibration map did in a shipped E4 run, in sentences and tables generated from its numbers (chapter 7).

Each round chooses FuncDyn's calibration map on its labelled calibration set
(:func:`~netgpt_lite.synergy.calibration.choose_calibration`) and also routes the same held-out requests with the
map it did not choose (:func:`~netgpt_lite.synergy.stages.other_calibration`).  So each round holds both maps'
routing of the same edge on the same requests, and Platt minus isotonic is a paired difference, request by request,
seeds pooled.

Example:
    >>> a = {"fallback": [1, 0, 0, 0], "success": [1, 1, 1, 0], "schema_valid": [1, 1, 1, 1],
    ...      "cost_usd": [1e-3, 0, 0, 0], "utility": [0.5, 0.9, 0.9, -0.1]}
    >>> b = {**a, "fallback": [1, 1, 0, 0], "utility": [0.5, 0.5, 0.9, -0.1]}
    >>> r = {"calibration_choice": {"chosen": "platt"}, "per_request": a, "per_request_other_calibration": b}
    >>> e4 = {"traces": {"reachable": {"seeds": [0], "runs": {"0": {"rounds": [r]}}}}}
    >>> row = calibration_by_round(e4)[0]
    >>> row["offload"], row["platt_minus_isotonic"]["offload_rate"]["mean"], row["chosen"]
    ({'platt': 0.25, 'isotonic': 0.5}, -0.25, {'platt': 1})
"""

from __future__ import annotations

from netgpt_lite.experiments.synergy_findings import amount, direction, points
from netgpt_lite.routing.metrics import summarize_intervals
from netgpt_lite.synergy.summary import pooled_values

MAPS = ("platt", "isotonic")


def calibration_choices(e4: dict, trace: str = "reachable") -> str:
    """Which calibration map the rounds of one trace chose, seeds together, and the cross-validated log-loss
    behind the choices (round metric ``calibration_choice``)."""
    t = e4["traces"][trace]
    choices = [r["calibration_choice"] for s in t["seeds"] for r in t["runs"][str(s)]["rounds"]
               if r.get("calibration_choice")]
    if not choices:
        return f"on the {trace} trace the rounds kept no record of their calibration map"
    counts = {m: sum(c["chosen"] == m for c in choices) for m in sorted({c["chosen"] for c in choices})}
    said = " and ".join(f"{m} in {k} of {len(choices)} rounds" for m, k in counts.items())
    cv = [c["cv_log_loss"] for c in choices if c.get("cv_log_loss")]
    ranges = ", ".join(f"{m} {min(c[m] for c in cv):.3f} to {max(c[m] for c in cv):.3f}" for m in sorted(cv[0])) if cv else ""
    n_req = sorted({c["n"] for c in choices if "n" in c})
    return (f"on the {trace} trace the calibration map was {said} (seeds together)"
            + (f"; cross-validated log-loss on the calibration set ({'/'.join(map(str, n_req))} requests): {ranges}"
               if cv else ""))


def _by_map(rnd: dict) -> dict | None:
    """A round's per-request values under each map: its own routing under the map it chose, the other's under
    the one it did not; None for a round that kept no counterfactual."""
    chosen = (rnd.get("calibration_choice") or {}).get("chosen")
    if chosen not in MAPS or "per_request_other_calibration" not in rnd:
        return None
    other = next(m for m in MAPS if m != chosen)
    return {chosen: rnd["per_request"], other: rnd["per_request_other_calibration"]}


def calibration_by_round(e4: dict, trace: str = "reachable", n_bootstrap: int = 10_000) -> list[dict] | None:
    """Per round, seeds pooled: each map's offload rate on the same edges and requests, Platt minus isotonic
    (paired differences of offload, success, utility, ... with 95% intervals), and how many runs chose each map;
    None when a round kept no counterfactual (runs made before rounds routed with both maps)."""
    t = e4["traces"][trace]
    runs = [t["runs"][str(s)]["rounds"] for s in t["seeds"]]
    if not runs or len({len(r) for r in runs}) != 1:
        return None
    out = []
    for k in range(len(runs[0])):
        both = [_by_map(r[k]) for r in runs]
        if any(b is None for b in both):
            return None
        pooled = {m: pooled_values(both, m) for m in MAPS}
        chosen = [r[k]["calibration_choice"]["chosen"] for r in runs]
        out.append({"round": k, "n": int(pooled["platt"]["fallback"].size),
                    "offload": {m: float(pooled[m]["fallback"].mean()) for m in MAPS},
                    "platt_minus_isotonic": summarize_intervals(pooled["platt"], baseline=pooled["isotonic"],
                                                                n_bootstrap=n_bootstrap),
                    "chosen": {m: chosen.count(m) for m in MAPS if m in chosen}})
    return out


def calibration_contrast(e4: dict, trace: str = "reachable") -> str | None:
    """The two maps on one trace in a sentence: each map's offload rate round by round (same edges, same
    requests, seeds pooled), and at the last round Platt minus isotonic in offload and in utility per request
    with 95% intervals; None without the counterfactual."""
    rows = calibration_by_round(e4, trace)
    if not rows:
        return None
    last = rows[-1]["platt_minus_isotonic"]
    path = {m: ", ".join(f"{r['offload'][m]:.3f}" for r in rows) for m in MAPS}
    said = direction(last["offload_rate"], "sent fewer requests to the cloud", "sent more requests to the cloud",
                     "did not send distinguishably more or fewer requests to the cloud")
    return (f"on the {trace} trace, with the same edges and requests, the offload rate by round was {path['platt']} "
            f"with Platt's map and {path['isotonic']} with the isotonic map; in the last round Platt's map {said}, "
            f"{points(last['offload_rate'])}, with the mean utility per request {amount(last['mean_utility'])} "
            f"against the isotonic map's ({rows[-1]['n']} requests)")


def chosen_vs_other(e4: dict, trace: str = "reachable", n_bootstrap: int = 10_000) -> dict | None:
    """The last round's routing with the map each run chose minus the same edge with the map it did not choose
    (paired, seeds pooled: offload, success, utility, ... with 95% intervals); None without the counterfactual.
    Did choosing on the calibration set pay on the held-out requests?"""
    t = e4["traces"][trace]
    lasts = [t["runs"][str(s)]["rounds"][-1] for s in t["seeds"]]
    if not lasts or any(_by_map(r) is None for r in lasts):
        return None
    pooled = {key: pooled_values(lasts, key) for key in ("per_request", "per_request_other_calibration")}
    d = summarize_intervals(pooled["per_request"], baseline=pooled["per_request_other_calibration"],
                            n_bootstrap=n_bootstrap)
    return {**d, "n": int(pooled["per_request"]["fallback"].size)}

