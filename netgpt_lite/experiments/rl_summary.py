"""E5's summaries: each arm's accuracy change from the start, its paired comparison with the start, and the
contrasts between arms that the experiment exists for (RL against its rivals, each ablation against RL).

Example:
    >>> runs = [{"arm": "sft", "seed": None, "eval": {"test": {"exact_match": 0.5, "schema_valid": 1.0}}},
    ...         {"arm": "rl", "seed": 0, "eval": {"test": {"exact_match": 0.75, "schema_valid": 1.0}}}]
    >>> summarise(runs)["rl"]["test_exact_match_change_mean"]
    0.25
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.edge.evaluation import compare_records
from netgpt_lite.stats import paired_mean_difference, verdict

# (A, B) pairs compared on the same requests, A minus B: RL against the start and its two rivals at equal
# labelled data, the rivals against the start, and each ablation against the full recipe
CONTRASTS = (("rl", "sft"), ("more_sft", "sft"), ("raft", "sft"), ("rl", "more_sft"), ("rl", "raft"),
             ("more_sft_rl", "sft"), ("more_sft_rl", "more_sft"), ("more_sft_rl", "raft"), ("more_sft_rl", "rl"),
             ("plain_pg", "rl"), ("no_reverse_kl", "rl"), ("no_forward_kl", "rl"))


def _last(history: list[dict], key: str, k: int = 3) -> float | None:
    values = [r[key] for r in history if r.get(key) is not None]
    return float(np.mean(values[-k:])) if values else None


def summarise(runs: list[dict]) -> dict:
    """Per arm: mean and std over seeds of test / hand-written exact match and schema-valid, their change
    from the SFT start (paired: same tasks), and for RL arms the last steps' KL to SFT, reward, and the
    reward model's score beside the checker's on the same unlabelled samples (first and last steps)."""
    start = next(r for r in runs if r["arm"] == "sft")["eval"]
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in runs):
        rows = [r for r in runs if r["arm"] == arm]
        row = {"n_seeds": len(rows)}
        for suite in [k for k in start if all(k in r["eval"] for r in rows)]:
            for metric in ("exact_match", "schema_valid"):
                values = np.array([r["eval"][suite][metric] for r in rows])
                change = values - start[suite][metric]
                row[f"{suite}_{metric}_mean"] = float(values.mean())
                row[f"{suite}_{metric}_change_mean"] = float(change.mean())
                row[f"{suite}_{metric}_change_std"] = float(change.std(ddof=1)) if len(rows) > 1 else None
        histories = [r["history"] for r in rows if isinstance(r.get("history"), list)]
        if histories:
            for key in ("kl_k3_to_sft", "reward", "rm_reward_unlabelled", "checker_reward_unlabelled"):
                last = [_last(h, key) for h in histories]
                first = [_last(h[:3], key) for h in histories]
                row[f"{key}_last_mean"] = float(np.mean(last)) if None not in last else None
                row[f"{key}_first_mean"] = float(np.mean(first)) if None not in first else None
        out[arm] = row
    return out


def paired_summary(runs: list[dict], n_bootstrap: int = 10_000) -> dict:
    """Each arm against the SFT start on the same requests, per suite: ``{arm: {suite: {...}}}``.

    ``per_seed`` holds one :func:`~netgpt_lite.edge.evaluation.compare_records` result per seed (difference,
    95% interval, McNemar p, flips); ``mean_over_seeds`` is :func:`~netgpt_lite.stats.paired_mean_difference`
    of the arm's per-request accuracy averaged over its seeds against the start's: the headline number, with
    its 95% interval over requests.  Runs without per-request records (older artifacts) are skipped.
    """
    start = next(r for r in runs if r["arm"] == "sft")["eval"]
    out: dict = {}
    for arm in dict.fromkeys(r["arm"] for r in runs if r["arm"] != "sft"):
        rows = [r for r in runs if r["arm"] == arm]
        for suite, base in start.items():
            if "records" not in base or not all("records" in r["eval"].get(suite, {}) for r in rows):
                continue
            keys = sorted(x["request"] for x in base["records"])
            per_seed = [compare_records(r["eval"][suite]["records"], base["records"], n_bootstrap=n_bootstrap)
                        for r in rows]  # fmt: skip
            verdicts = [{x["request"]: x["correct"] for x in r["eval"][suite]["records"]} for r in rows]
            right = {x["request"]: x["correct"] for x in base["records"]}
            out.setdefault(arm, {})[suite] = {
                "seeds": [r["seed"] for r in rows], "per_seed": per_seed,
                "mean_over_seeds": paired_mean_difference([[v[k] for k in keys] for v in verdicts],
                                                          [right[k] for k in keys], n_bootstrap=n_bootstrap)}
    return out


def contrasts(runs: list[dict], pairs=CONTRASTS, n_bootstrap: int = 10_000) -> list[dict]:
    """Every pair of ``pairs`` whose two arms both ran, on every suite both were evaluated on, paired by
    request: :func:`~netgpt_lite.stats.paired_mean_difference` of the seed-averaged verdicts (A minus B),
    with ``a``, ``b`` and ``suite`` added.  One list, in the order of ``pairs``, then ``test`` and the
    other suites by name.

    Example:
        >>> rec = lambda *v: {"records": [{"request": str(i), "correct": bool(x)} for i, x in enumerate(v)]}
        >>> runs = [{"arm": "sft", "seed": None, "eval": {"test": rec(1, 0, 0, 1)}},
        ...         {"arm": "rl", "seed": 0, "eval": {"test": rec(1, 1, 0, 1)}}]
        >>> [(c["a"], c["b"], c["suite"], c["difference"]) for c in contrasts(runs, n_bootstrap=200)]
        [('rl', 'sft', 'test', 0.25)]
    """
    by_arm: dict = {}
    for r in runs:
        by_arm.setdefault(r["arm"], []).append(r)
    out = []
    for a, b in pairs:
        if a not in by_arm or b not in by_arm:
            continue
        suites = sorted((k for k in by_arm[b][0]["eval"]
                         if all("records" in r["eval"].get(k, {}) for r in by_arm[a] + by_arm[b])),
                        key=lambda k: (k != "test", k))  # test first, then by name: key order is not kept by JSON
        for suite in suites:
            keys = sorted(x["request"] for x in by_arm[b][0]["eval"][suite]["records"])
            verdicts = {}
            for arm in (a, b):  # one lookup table per run, then its verdicts in the order of keys
                tables = [{x["request"]: x["correct"] for x in r["eval"][suite]["records"]} for r in by_arm[arm]]
                verdicts[arm] = [[table[k] for k in keys] for table in tables]
            out.append({"a": a, "b": b, "suite": suite,
                        **paired_mean_difference(verdicts[a], verdicts[b], n_bootstrap=n_bootstrap)})  # fmt: skip
    return out


def contrast(table: list[dict], a: str, b: str, suite: str = "test") -> dict | None:
    """The row of :func:`contrasts` for ``a`` minus ``b`` on ``suite``, or ``None`` when it did not run."""
    return next((c for c in table if (c["a"], c["b"], c["suite"]) == (a, b, suite)), None)


PHASES = ("sampling", "rewards", "reference", "update")
"""The phases of an RL step whose CPU seconds the from-scratch loop logs (``cpu_s_<phase>``)."""


def cost_per_rollout(histories: list[list[dict]], rollouts_per_step: int) -> dict | None:
    """CPU seconds per rollout of each phase of an RL step, the median over the steps of ``histories``
    (one list of step rows per run; the first step of each run dropped as warm-up when it has more than
    two), and their sum ``all``; ``None`` when no step logged its CPU seconds.

    Example:
        >>> rows = [{"step": i, "cpu_s_sampling": 64.0, "cpu_s_rewards": 1.0, "cpu_s_reference": 16.0,
        ...          "cpu_s_update": 128.0} for i in range(3)]
        >>> cost_per_rollout([rows], rollouts_per_step=64)["all"]
        3.266
    """
    if rollouts_per_step < 1:
        raise ValueError(f"rollouts_per_step must be >= 1, got {rollouts_per_step}")
    timed = []
    for history in histories:
        rows = [h for h in history if all(f"cpu_s_{p}" in h for p in ("sampling", "rewards", "update"))]
        timed += rows[1:] if len(rows) > 2 else rows
    if not timed:
        return None
    per = {p: float(np.median([h.get(f"cpu_s_{p}", 0.0) / rollouts_per_step for h in timed])) for p in PHASES}
    return {**{p: round(v, 3) for p, v in per.items()}, "all": round(sum(per.values()), 3), "n_steps": len(timed)}


def sentence(row: dict, labels: dict | None = None) -> str:
    """One contrast of :func:`contrasts` in words: the verdict its 95% interval allows
    (:func:`~netgpt_lite.stats.verdict`), the difference in points, the interval, the number of requests
    and the seeds behind each side.  ``labels`` maps arm names to display names.

    Example:
        >>> sentence({"a": "rl", "b": "sft", "suite": "test", "n": 500, "n_seeds": 3, "n_seeds_b": 1,
        ...           "difference": 0.012, "ci_low": -0.004, "ci_high": 0.028})
        'rl is not distinguishable from sft on 500 test requests: +1.2 points (95% interval -0.4 to +2.8; 3 seeds against 1)'
    """
    name = (labels or {}).get

    def points(x: float) -> str:  # + 0.0 turns a rounded -0.0 (a bound at -1e-18) into +0.0
        return f"{round(100 * x, 1) + 0.0:+.1f}"

    return (f"{name(row['a'], row['a'])} is {verdict(row)} {name(row['b'], row['b'])} on {row['n']} {row['suite']} "
            f"requests: {points(row['difference'])} points (95% interval {points(row['ci_low'])} to "
            f"{points(row['ci_high'])}; {row['n_seeds']} seed{'s' * (row['n_seeds'] > 1)} against "
            f"{row['n_seeds_b']})")
