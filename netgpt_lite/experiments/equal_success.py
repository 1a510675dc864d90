"""Cloud calls at equal success: how many requests an edge must send to the cloud to keep task success within
a fixed gap of AlwaysCloud's, read off its quality-cost frontier on the held-out requests (chapters 7 and 8).

The router of chapter 2 maximises utility, so when a better edge makes success worth more it may send *more*
requests to the cloud, not fewer: its offload rate mixes how good the edge is with how the router prices
success.  Holding success fixed separates the two.  Every round keeps, per held-out request, the edge's answer
(``per_request_edge_only``: its success and the score routing ranks it by) and the cloud's
(``per_request_always_cloud``).  Sending the ``k`` lowest-scored requests to the cloud gives success

.. math:: S(k) = \\frac{1}{n}\\Big(\\sum_{i \\le k} c_{(i)} + \\sum_{i > k} e_{(i)}\\Big),

and the cloud calls needed are the smallest ``k / n`` with ``S(k) >= mean(c) - gap``.  The threshold is read
off the very requests it is scored on (in hindsight), so it measures the edge and its score, not a deployable
router; two rounds or two arms are compared on the same requests, resampled together.

Example:
    >>> score = [0.1, 0.2, 0.8, 0.9]          # the edge is wrong on its two lowest-scored answers
    >>> cloud_calls_needed(score, edge_success=[0, 0, 1, 1], cloud_success=[1, 1, 1, 1], gap=0.0)
    0.5
    >>> cloud_calls_needed(score, edge_success=[0, 0, 1, 1], cloud_success=[1, 1, 1, 1], gap=0.25)
    0.25
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.experiments.synergy_findings import direction, points, share

GAP = 0.02  # how far below AlwaysCloud's success a round may stay: "success within 2 points"
EDGE_ONLY, ALWAYS = "per_request_edge_only", "per_request_always_cloud"
ARMS = {"rl_off": "RL off (SFT only)", "refresh_off": "the learned scorer fitted once"}  # E4's forked arms


def _success(score: np.ndarray, edge: np.ndarray, cloud: np.ndarray) -> np.ndarray:
    """Rows of requests ``[B, n]`` in, ``S(k)`` for k = 0..n out ``[B, n+1]`` (lowest scores go first)."""
    order = np.argsort(score, axis=1, kind="stable")
    return success_in_order(np.take_along_axis(edge, order, 1), np.take_along_axis(cloud, order, 1))


def success_in_order(edge: np.ndarray, cloud: np.ndarray) -> np.ndarray:
    """:func:`_success` of rows already in score order ``[B, n]``: ``S(k)`` ``[B, n+1]``."""
    zero = np.zeros((len(edge), 1))
    sent = np.concatenate([zero, np.cumsum(cloud, 1)], 1)  # [B, n+1]: cloud successes of the k sent
    kept = np.concatenate([zero, np.cumsum(edge, 1)], 1)
    return (sent + kept[:, -1:] - kept) / edge.shape[1]


def _first_qualifying(success: np.ndarray, cloud: np.ndarray, gap: float) -> np.ndarray:
    """The smallest share ``k / n`` whose ``S(k)`` ``[B, n+1]`` reaches AlwaysCloud's success minus ``gap``."""
    target = cloud.mean(1, keepdims=True) - gap
    # S(n) = mean(cloud) always qualifies, so argmax finds a True in every row
    return (success >= target - 1e-12).argmax(1) / cloud.shape[1]


def _needed(score: np.ndarray, edge: np.ndarray, cloud: np.ndarray, gap: float) -> np.ndarray:
    """Rows of requests ``[B, n]`` in, the cloud share each row needs ``[B]`` out."""
    return _first_qualifying(_success(score, edge, cloud), cloud, gap)


def _needed_resampled(values: tuple[np.ndarray, ...], idx: np.ndarray, gap: float) -> np.ndarray:
    """:func:`_needed` of the resamples ``values[i][idx]`` (``idx`` ``[B, n]``), without sorting floats again:
    the requests are put in score order once, and a resample in score order is its sorted ranks (requests of
    equal score keep their order in the round, not in the resample: the same ``S(k)`` when they agree)."""
    score, edge, cloud = values
    order = np.argsort(score, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    at = np.sort(rank[idx], axis=1)  # [B, n]: each resample's requests, lowest score first
    edge_in, cloud_in = edge[order][at], cloud[order][at]
    return _first_qualifying(success_in_order(edge_in, cloud_in), cloud_in, gap)


def cloud_calls_needed(score, edge_success, cloud_success, gap: float = GAP) -> float:
    """The smallest share of requests that, sent to the cloud lowest score first, keeps success at least
    AlwaysCloud's minus ``gap`` (see the module docstring)."""
    rows = [np.asarray(v, dtype=float)[None, :] for v in (score, edge_success, cloud_success)]
    return float(_needed(*rows, gap)[0])


def curve(rnd: dict, gap: float = GAP) -> dict | None:
    """A round's quality-cost frontier on its held-out requests: task success after sending each share of them
    to the cloud, lowest scores first, with AlwaysCloud's success, the target and the share it needs (for
    :func:`~netgpt_lite.viz.frontier_cut.equal_success_figure`); None for a round without edge-only values.

    Example:
        >>> r = {EDGE_ONLY: {"score": [0.1, 0.9], "success": [0, 1]}, ALWAYS: {"success": [1, 1]}}
        >>> c = curve(r, gap=0.0)
        >>> c["cloud_share"], c["task_success"], c["needed"]
        ([0.0, 0.5, 1.0], [0.5, 1.0, 1.0], 0.5)
    """
    values = _values(rnd)
    if values is None:
        return None
    score, edge, cloud = (v[None, :] for v in values)
    n = score.shape[1]
    return {"cloud_share": (np.arange(n + 1) / n).tolist(), "task_success": _success(score, edge, cloud)[0].tolist(),
            "always_cloud_success": float(cloud.mean()), "target": float(cloud.mean() - gap),
            "needed": cloud_calls_needed(*values, gap=gap), "n": n}


def _values(rnd: dict) -> tuple[np.ndarray, ...] | None:
    """A round's per-request score, edge success and cloud success; None for a round that kept no edge-only
    values (a run made before rounds recorded them)."""
    if EDGE_ONLY not in rnd or ALWAYS not in rnd:
        return None
    return tuple(np.asarray(v, dtype=float) for v in (rnd[EDGE_ONLY]["score"], rnd[EDGE_ONLY]["success"],
                                                      rnd[ALWAYS]["success"]))


def _per_seed(rounds: list[dict], gap: float, n_bootstrap: int, seed: int) -> list[tuple] | None:
    """Per round (one per seed): ``(cloud calls needed, its bootstrap draws [n_bootstrap], n requests)``; None
    when a round kept no values.  The resamples depend only on ``seed`` and the rounds' sizes, so two calls on
    rounds of the same requests draw the same ones: that is what pairs them."""
    values = [_values(r) for r in rounds]
    if not values or any(v is None for v in values):
        return None
    rng, out = np.random.default_rng(seed), []
    for v in values:
        size = len(v[0])
        idx = rng.integers(0, size, (n_bootstrap, size))  # [B, n]: one resample of the requests per draw
        out.append((cloud_calls_needed(*v, gap=gap), _needed_resampled(v, idx, gap), size))
    return out


def difference(now: list[tuple], before: list[tuple] | None = None) -> dict:
    """The mean over seeds of ``now`` (minus ``before``, seed by seed), with its 95% percentile interval."""
    if before is not None:
        for (_, _, a), (_, _, b) in zip(now, before, strict=True):
            if a != b:
                raise ValueError(f"paired rounds must hold the same requests; got {a} and {b}")
    k = len(now)
    point = sum(p for p, _, _ in now) - sum(p for p, _, _ in before or [])
    boots = sum(d for _, d, _ in now) - sum((d for _, d, _ in before or []), np.zeros(1))
    low, high = np.percentile(boots / k, [2.5, 97.5])
    return {"mean": point / k, "ci_low": float(low), "ci_high": float(high), "n": sum(n for _, _, n in now),
            "n_seeds": k}


def needed(rounds: list[dict], baseline: list[dict] | None = None, gap: float = GAP, n_bootstrap: int = 10_000,
           seed: int = 0) -> dict | None:
    """Cloud calls needed at equal success, averaged over ``rounds`` (one per seed), or, with ``baseline`` (the
    same seeds' other rounds or arms, on the same requests), the difference ``rounds - baseline``; 95% percentile
    bootstrap interval, each seed's requests resampled together in both.  None when a round kept no values.

    Example:
        >>> edge = {"score": [0.1, 0.2, 0.8, 0.9], "success": [0, 0, 1, 1]}
        >>> r = {EDGE_ONLY: edge, ALWAYS: {"success": [1, 1, 1, 1]}}
        >>> better = {EDGE_ONLY: {**edge, "success": [0, 1, 1, 1]}, ALWAYS: r[ALWAYS]}
        >>> d = needed([better], [r], gap=0.0, n_bootstrap=200)
        >>> d["mean"], d["n"], d["n_seeds"]
        (-0.25, 4, 1)
    """
    if baseline is not None and len(baseline) != len(rounds):
        raise ValueError(f"baseline must hold one round per seed of rounds; got {len(baseline)} and {len(rounds)}")
    now = _per_seed(rounds, gap, n_bootstrap, seed)
    before = None if baseline is None else _per_seed(baseline, gap, n_bootstrap, seed)
    if now is None or (baseline is not None and before is None):
        return None
    return difference(now, before)


def trace_runs(e4: dict, trace: str) -> list[dict]:
    """The trace's runs, one per seed; empty for a results file that kept only their summaries."""
    t = e4["traces"][trace]
    runs = [(t.get("runs") or {}).get(str(s)) for s in t["seeds"]]
    return runs if runs and all(r and r.get("rounds") for r in runs) else []


def kept_values(e4: dict, trace: str = "reachable") -> bool:
    """Whether every round of the trace's runs kept the values equal success is read from."""
    runs = trace_runs(e4, trace)
    return bool(runs) and all(_values(r) is not None for run in runs for r in run["rounds"])


def frontier(e4: dict, trace: str = "reachable", gap: float = GAP, n_bootstrap: int = 10_000) -> dict | None:
    """One trace's rounds at equal success: ``rows`` (:func:`by_round`) and ``total``, the last round minus
    round 0 (paired, with its interval), every round's resamples drawn once; None when the run kept no
    edge-only values."""
    if not kept_values(e4, trace):
        return None
    runs = trace_runs(e4, trace)
    per_round = [_per_seed([run["rounds"][r] for run in runs], gap, n_bootstrap, 0)
                 for r in range(min(len(run["rounds"]) for run in runs))]
    rows = [{"round": r, "needed": difference(now), "change": difference(now, per_round[r - 1]) if r else None,
             "per_seed": [p for p, _, _ in now]} for r, now in enumerate(per_round)]
    return {"rows": rows, "total": difference(per_round[-1], per_round[0])}


def by_round(e4: dict, trace: str = "reachable", gap: float = GAP, n_bootstrap: int = 10_000) -> list[dict] | None:
    """Per round, seeds averaged: the cloud calls needed at equal success, and the change from the round before
    (paired, with intervals); None when the run kept no edge-only values."""
    found = frontier(e4, trace, gap, n_bootstrap)
    return None if found is None else found["rows"]


def falls_every_round(rows: list[dict]) -> list[bool]:
    """Per seed: whether the cloud calls needed at equal success fell from every round to the next."""
    seeds = zip(*(row["per_seed"] for row in rows), strict=True)
    return [all(b < a for a, b in zip(v, v[1:], strict=False)) for v in seeds]


def sentence_by_round(e4: dict, trace: str = "reachable", gap: float = GAP) -> str:
    """What :func:`by_round` shows on one trace, in words generated from its intervals."""
    found = frontier(e4, trace, gap)
    if found is None:
        return f"on the {trace} trace the run kept no edge-only values, so its frontier cannot be read"
    rows, total = found["rows"], found["total"]
    first, last = rows[0]["needed"], rows[-1]["needed"]
    falls = falls_every_round(rows)
    return (f"on the {trace} trace, holding task success within {100 * gap:.0f} points of AlwaysCloud's, the edge "
            f"needed the cloud for {share(first)} of the held-out requests in round 0 and {share(last)} in the "
            f"last round: {direction(total, 'fewer', 'more', 'not distinguishably more or fewer')}, "
            f"{points(total)}; it needed fewer in every round in {sum(falls)} of {len(falls)} seeds")


def arm_at_equal_success(e4: dict, name: str, gap: float = GAP) -> dict | None:
    """An arm's last round minus the run it was forked from, in cloud calls needed at equal success, on the same
    held-out requests; None when the arm or its run kept no edge-only values."""
    arm = (e4.get("arms") or {}).get(name)
    if not arm or not arm.get("rounds"):
        return None
    head = arm["run"].rsplit("-", 1)[0]  # "reachable-seed0-rl_off" -> "reachable-seed0"
    trace, seed = head.split("-seed")
    main = e4["traces"][trace]["runs"][seed]["rounds"][-1]
    return needed([arm["rounds"][-1]], [main], gap=gap)


def arm_sentence(e4: dict, name: str, gap: float = GAP) -> str | None:
    """:func:`arm_at_equal_success` in words; None when it cannot be read."""
    d = arm_at_equal_success(e4, name, gap)
    if d is None:
        return None
    verb = direction(d, "fewer", "more", "not distinguishably more or fewer")
    return (f"holding task success within {100 * gap:.0f} points of AlwaysCloud's, the last round's edge with "
            f"{ARMS[name]} needed {verb} cloud calls than the run it was forked from, {points(d)}, on the same "
            f"{d['n']} requests")


def finding_rows(e4: dict, gap: float = GAP) -> list[tuple[str, str, str, str]]:
    """Rows of chapter 8's findings table (claim, measured as, result, verdict): whether the cloud calls needed
    at equal success fell round after round, and whether RL lowered them; none for a run without the values.

    Example:
        >>> finding_rows({"traces": {"reachable": {"seeds": [0], "runs": {"0": {"rounds": [{}]}}}}})
        []
    """
    rows = []
    per_trace = {t: frontier(e4, t, gap) for t in e4["traces"]}
    if all(per_trace.values()):
        falls = [f for found in per_trace.values() for f in falls_every_round(found["rows"])]
        total = {t: found["total"] for t, found in per_trace.items()}
        rows.append((
            "at equal success the edge needs the cloud less round after round",
            f"E4: cloud calls needed to keep success within {100 * gap:.0f} points of AlwaysCloud; runs where they "
            "fell every round; last round - round 0",
            f"{sum(falls)} of {len(falls)} runs; " + "; ".join(f"{t} {points(d)}" for t, d in total.items()),
            "holds" if all(falls) else
            "fewer by the last round, not every round" if all(d["ci_high"] < 0 for d in total.values()) else
            "does not hold in this run"))
    d = arm_at_equal_success(e4, "rl_off", gap)
    if d is not None:
        rows.append((
            "RL saves cloud calls at equal success, read off the frontier",
            f"E4: rl-off arm - the run it forked from, cloud calls needed at equal success, last round, "
            f"{d['n']} requests, 1 seed",
            points(d),
            "holds" if d["ci_low"] > 0 else "does not hold: RL off needs fewer" if d["ci_high"] < 0 else
            "not distinguishable"))
    return rows


def summary(e4: dict, gap: float = GAP) -> dict | None:
    """``reproduce --summary``'s figures at equal success: per trace the cloud calls needed by round (with the
    change from the round before) and whether they fell every round per seed, and each arm against its run;
    None for a run without edge-only values."""
    per_trace = {t: by_round(e4, t, gap) for t in e4["traces"]}
    if not all(per_trace.values()):
        return None
    out = {t: {"by_round": [{k: row[k] for k in ("round", "needed", "change")} for row in rows],
               "falls_every_round": falls_every_round(rows)} for t, rows in per_trace.items()}
    arms = {name: arm_at_equal_success(e4, name, gap) for name in ARMS}
    return {"success_gap_allowed": gap, **out, "arms_vs_their_run": {k: v for k, v in arms.items() if v}}
