"""Equal success with the score cut chosen as a deployed router must choose it: on the round's labelled
calibration set, never on the held-out requests it is then judged on (chapters 7 and 8).

:mod:`~netgpt_lite.experiments.equal_success` reads the cloud calls needed off the held-out requests
themselves, in hindsight: it measures the edge and its score, not a router.  A router in service has only
the labels it was calibrated on.  So here each round picks its cut on its calibration set (the fewest cloud
calls, lowest scores first, whose success *on that set* reaches AlwaysCloud's minus the gap,
:func:`score_cut`) and the held-out requests say what that cut gives: the share of them sent to the cloud
and their success against AlwaysCloud's on the same requests.  A cut fitted on a hundred-odd labels may land
too low (success falls short of the target) or too high (more cloud calls than needed); the bootstrap
resamples both sets, so each interval carries the cut's own noise as well as the held-out requests'.

Example:
    >>> score_cut([0.1, 0.2, 0.8, 0.9], edge_success=[0, 0, 1, 1], cloud_success=[1, 1, 1, 1], gap=0.0)
    0.5
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.experiments.equal_success import (
    ALWAYS,
    EDGE_ONLY,
    GAP,
    difference,
    success_in_order,
    trace_runs,
)
from netgpt_lite.experiments.synergy_findings import direction, points, share

LABELS = "calibration_set"  # in a round's calibration_choice: each calibration request's score and verdicts
FIGURES = ("cloud_share", "success_vs_always_cloud")


def _cuts(score: np.ndarray, edge: np.ndarray, cloud: np.ndarray, gap: float) -> np.ndarray:
    """Rows of calibration requests ``[B, n]`` in, each row's score cut ``[B]`` out: midway between the
    ``k``-th and ``k+1``-th lowest scores, ``k`` the fewest cloud calls that reach the target on that row
    (``-inf``: none is needed; ``+inf``: every request goes)."""
    order = np.argsort(score, axis=1, kind="stable")
    s, e, c = (np.take_along_axis(v, order, 1) for v in (score, edge, cloud))
    target = c.mean(1, keepdims=True) - gap
    k = (success_in_order(e, c) >= target - 1e-12).argmax(1)  # [B]; k = n always qualifies
    padded = np.concatenate([np.full((len(s), 1), -np.inf), s, np.full((len(s), 1), np.inf)], 1)
    rows = np.arange(len(s))
    low, high = padded[rows, k], padded[rows, k + 1]  # the k-th lowest score and the next one
    return np.where(np.isinf(low) | np.isinf(high), np.where(k == 0, -np.inf, np.inf), (low + high) / 2)


def score_cut(score, edge_success, cloud_success, gap: float = GAP) -> float:
    """The score below which a request goes to the cloud, chosen on labelled requests: the fewest cloud calls,
    lowest scores first, whose success reaches AlwaysCloud's minus ``gap`` on those requests."""
    rows = [np.asarray(v, dtype=float)[None, :] for v in (score, edge_success, cloud_success)]
    return float(_cuts(*rows, gap)[0])


def _sets(rnd: dict) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None:
    """A round's calibration set and held-out requests, each as (score, edge success, cloud success); None for a
    round that kept no calibration set (runs made before rounds kept it) or no edge-only values."""
    labels = (rnd.get("calibration_choice") or {}).get(LABELS)
    if not labels or EDGE_ONLY not in rnd or ALWAYS not in rnd:
        return None
    calibration = tuple(np.asarray(labels[k], dtype=float) for k in ("score", "edge_correct", "cloud_correct"))
    held_out = tuple(np.asarray(v, dtype=float) for v in (rnd[EDGE_ONLY]["score"], rnd[EDGE_ONLY]["success"],
                                                           rnd[ALWAYS]["success"]))
    return calibration, held_out


def _judged(cut: np.ndarray, held_out: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    """Cuts ``[B]`` applied to held-out rows ``[B, n]``: their cloud share and success minus AlwaysCloud's."""
    score, edge, cloud = held_out
    sent = score < cut[:, None]  # [B, n]
    return {"cloud_share": sent.mean(1), "success_vs_always_cloud": np.where(sent, cloud, edge).mean(1) - cloud.mean(1)}


def _per_seed(rounds: list[dict], gap: float, n_bootstrap: int, seed: int) -> dict[str, list[tuple]] | None:
    """Per figure, per round (one per seed): ``(value, its bootstrap draws [n_bootstrap], n held-out)``.  The
    resamples depend only on ``seed`` and the sets' sizes, so rounds of the same requests draw the same ones."""
    sets = [_sets(r) for r in rounds]
    if not sets or any(s is None for s in sets):
        return None
    rng, out = np.random.default_rng(seed), {f: [] for f in FIGURES}
    for calibration, held_out in sets:
        n_cal, n = len(calibration[0]), len(held_out[0])
        cal_idx = rng.integers(0, n_cal, (n_bootstrap, n_cal))  # [B, n_cal]: the labels the cut is fitted on
        idx = rng.integers(0, n, (n_bootstrap, n))  # [B, n]: the requests it is judged on
        point = _judged(_cuts(*(v[None, :] for v in calibration), gap), tuple(v[None, :] for v in held_out))
        draws = _judged(_cuts(*(v[cal_idx] for v in calibration), gap), tuple(v[idx] for v in held_out))
        for f in FIGURES:
            out[f].append((float(point[f][0]), draws[f], n))
    return out


def measured(rounds: list[dict], baseline: list[dict] | None = None, gap: float = GAP, n_bootstrap: int = 10_000,
             seed: int = 0) -> dict | None:
    """Per figure (:data:`FIGURES`), ``rounds`` (one per seed) averaged over seeds, or with ``baseline`` (the same
    seeds' other rounds, on the same requests) the paired difference; 95% intervals.  None when a round kept no
    calibration set.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.random(50).tolist(); e = (rng.random(50) < 0.9).tolist(); c = [True] * 50
        >>> r = {"calibration_choice": {LABELS: {"score": s, "edge_correct": e, "cloud_correct": c}},
        ...      EDGE_ONLY: {"score": s, "success": e}, ALWAYS: {"success": c}}
        >>> measured([r], [r], n_bootstrap=100)["cloud_share"]["mean"]
        0.0
    """
    now = _per_seed(rounds, gap, n_bootstrap, seed)
    before = None if baseline is None else _per_seed(baseline, gap, n_bootstrap, seed)
    if now is None or (baseline is not None and before is None):
        return None
    return {f: difference(now[f], None if before is None else before[f]) for f in FIGURES}


def kept_sets(e4: dict, trace: str = "reachable") -> bool:
    """Whether every round of the trace's runs kept its calibration set and its edge-only values."""
    runs = trace_runs(e4, trace)
    return bool(runs) and all(_sets(r) is not None for run in runs for r in run["rounds"])


def by_round(e4: dict, trace: str = "reachable", gap: float = GAP, n_bootstrap: int = 10_000) -> dict | None:
    """One trace's rounds with the cut chosen on each round's calibration set: ``rows`` (per round, seeds
    averaged: ``cloud_share`` and ``success_vs_always_cloud`` on the held-out requests, with intervals, and
    each seed's cut) and ``total`` (last round minus round 0, paired); None for a run that kept no
    calibration sets."""
    if not kept_sets(e4, trace):
        return None
    runs = trace_runs(e4, trace)
    per_round = [_per_seed([run["rounds"][r] for run in runs], gap, n_bootstrap, 0)
                 for r in range(min(len(run["rounds"]) for run in runs))]
    rows = [{"round": r, **{f: difference(now[f]) for f in FIGURES}} for r, now in enumerate(per_round)]
    total = {f: difference(per_round[-1][f], per_round[0][f]) for f in FIGURES}
    return {"rows": rows, "total": total}


def summary(e4: dict, gap: float = GAP) -> dict | None:
    """``reproduce --summary``'s figures for a cut chosen on the calibration set, per trace; None for a run that
    kept no calibration sets."""
    found = {t: by_round(e4, t, gap) for t in e4["traces"]}
    return None if not all(found.values()) else {"success_gap_allowed": gap, **found}


def sentence(e4: dict, trace: str = "reachable", gap: float = GAP) -> str:
    """:func:`by_round` on one trace in words generated from its intervals."""
    found = by_round(e4, trace, gap)
    if found is None:
        return f"on the {trace} trace the rounds kept no calibration sets, so no cut can be chosen on them"
    first, last, total = found["rows"][0], found["rows"][-1], found["total"]
    return (f"on the {trace} trace, with the cut chosen on each round's calibration set to keep success within "
            f"{100 * gap:.0f} points of AlwaysCloud's, {share(first['cloud_share'])} of the held-out requests went "
            f"to the cloud in round 0 and {share(last['cloud_share'])} in the last round: "
            f"{direction(total['cloud_share'], 'fewer', 'more', 'not distinguishably more or fewer')}, "
            f"{points(total['cloud_share'])}; their success against AlwaysCloud's was "
            f"{points(first['success_vs_always_cloud'])} in round 0 and {points(last['success_vs_always_cloud'])} in "
            f"the last round")


def finding_rows(e4: dict, gap: float = GAP) -> list[tuple[str, str, str, str]]:
    """Chapter 8's findings-table row (claim, measured as, result, verdict): whether a cut chosen on each round's
    calibration set sent fewer held-out requests to the cloud by the last round while their success stayed within
    ``gap`` of AlwaysCloud's; none for a run that kept no calibration sets.

    Example:
        >>> finding_rows({"traces": {"reachable": {"seeds": [0], "runs": {"0": {"rounds": [{}]}}}}})
        []
    """
    found = {t: by_round(e4, t, gap) for t in e4["traces"]}
    if not all(found.values()):
        return []
    totals = {t: f["total"]["cloud_share"] for t, f in found.items()}
    last = {t: f["rows"][-1]["success_vs_always_cloud"] for t, f in found.items()}
    fell = all(d["ci_high"] < 0 for d in totals.values())
    kept = all(d["mean"] >= -gap for d in last.values())
    return [("a router calibrated on its own labels sends fewer requests to the cloud round after round",
             f"E4: cut chosen on each round's calibration set to keep success within {100 * gap:.0f} points; "
             "held-out cloud share, last round - round 0; last round's success - AlwaysCloud's",
             "; ".join(f"{t} {points(totals[t])}, success {points(last[t])}" for t in found),
             "holds" if fell and kept else "fewer cloud calls, success below the target" if fell else
             "does not hold in this run")]
