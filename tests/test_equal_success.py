"""Cloud calls at equal success (``experiments.equal_success``): the frontier read at a fixed success gap."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.experiments import equal_success as es


def _brute_force(score, edge, cloud, gap):
    """Every cut of the score order, one at a time: the smallest cloud share whose success is high enough."""
    order = np.argsort(score, kind="stable")
    e, c = np.asarray(edge, float)[order], np.asarray(cloud, float)[order]
    for k in range(len(e) + 1):
        if (c[:k].sum() + e[k:].sum()) / len(e) >= c.mean() - gap - 1e-12:
            return k / len(e)
    raise AssertionError("sending everything always qualifies")


@pytest.mark.parametrize("seed", range(5))
def test_cloud_calls_needed_is_the_smallest_qualifying_cut(seed):
    rng = np.random.default_rng(seed)
    n = 40
    score = rng.random(n)
    edge = rng.random(n) < score  # higher scores are right more often
    cloud = rng.random(n) < 0.95
    for gap in (0.0, 0.02, 0.1):
        assert es.cloud_calls_needed(score, edge, cloud, gap) == _brute_force(score, edge, cloud, gap)


def _round(score, edge, cloud):
    def floats(values):  # as a results file holds them
        return [float(v) for v in values]

    return {es.EDGE_ONLY: {"score": floats(score), "success": floats(edge)}, es.ALWAYS: {"success": floats(cloud)}}


def _run(rng, accuracies, n=200):
    """One seed's rounds on the same requests: each round's edge right with the given probability, more often
    on higher scores; the cloud right on 97% of them."""
    cloud = rng.random(n) < 0.97
    rounds = []
    for acc in accuracies:
        score = rng.random(n)
        edge = rng.random(n) < np.clip(acc + 0.4 * (score - 0.5), 0, 1)
        rounds.append(_round(score, edge, cloud))
    return {"rounds": rounds}


def test_a_better_edge_needs_fewer_cloud_calls_and_the_difference_is_paired():
    rng = np.random.default_rng(0)
    run = _run(rng, [0.6, 0.95])
    d = es.needed([run["rounds"][1]], [run["rounds"][0]], n_bootstrap=2000)
    assert d["ci_high"] < 0 and d["ci_low"] <= d["mean"] <= d["ci_high"] and d["n"] == 200
    same = es.needed([run["rounds"][0]], [run["rounds"][0]], n_bootstrap=200)
    assert same["mean"] == same["ci_low"] == same["ci_high"] == 0.0  # a round against itself: exactly nothing
    level = es.needed([run["rounds"][0]], n_bootstrap=500)
    assert 0 < level["ci_low"] <= level["mean"] <= level["ci_high"] <= 1


def test_rounds_are_read_per_seed_and_falls_every_round_is_per_seed():
    rng = np.random.default_rng(1)
    improving = [_run(rng, [0.5, 0.7, 0.9]), _run(rng, [0.5, 0.7, 0.9])]
    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": {str(i): r for i, r in enumerate(improving)}}}}
    rows = es.by_round(e4, n_bootstrap=500)
    assert [r["round"] for r in rows] == [0, 1, 2] and rows[0]["change"] is None
    assert rows[2]["change"]["ci_high"] < 0 and len(rows[1]["per_seed"]) == 2
    assert es.falls_every_round(rows) == [True, True]
    said = es.sentence_by_round(e4)
    assert said.startswith("on the reachable trace, holding task success within 2 points") and "2 of 2 seeds" in said
    stalled = {**rows[2], "per_seed": rows[1]["per_seed"]}  # seeds whose last round needed as many as the one before
    assert es.falls_every_round([rows[0], rows[1], stalled]) == [False, False]


def test_an_arm_is_compared_with_the_run_it_was_forked_from_on_the_same_requests():
    rng = np.random.default_rng(2)
    main = _run(rng, [0.5, 0.9])
    weaker = {"run": "reachable-seed0-rl_off", "rounds": [main["rounds"][0], _run(rng, [0.6])["rounds"][0]]}
    weaker["rounds"][1][es.ALWAYS] = main["rounds"][1][es.ALWAYS]  # the same requests, the same cloud answers
    e4 = {"traces": {"reachable": {"seeds": [0], "runs": {"0": main}}}, "arms": {"rl_off": weaker}}
    d = es.arm_at_equal_success(e4, "rl_off")
    assert d["ci_low"] > 0 and d["n"] == 200  # the weaker arm needs more cloud calls
    assert es.arm_at_equal_success(e4, "refresh_off") is None


def test_a_run_without_edge_only_values_reads_as_none_and_unpaired_rounds_are_refused():
    old = {"per_request": {}, es.ALWAYS: {"success": [1, 1]}}
    e4 = {"traces": {"reachable": {"seeds": [0], "runs": {"0": {"rounds": [old, old]}}}}}
    assert es.by_round(e4) is None and "kept no edge-only values" in es.sentence_by_round(e4)
    short = _round([0.1, 0.9], [0, 1], [1, 1])
    with pytest.raises(ValueError, match="same requests; got 2 and 3"):
        es.needed([short], [_round([0.1, 0.5, 0.9], [0, 1, 1], [1, 1, 1])])


def test_findings_rows_and_the_arm_sentence_follow_the_intervals():
    rng = np.random.default_rng(3)
    runs = {str(i): _run(rng, [0.5, 0.7, 0.9]) for i in range(2)}
    weaker = {"run": "reachable-seed0-rl_off", "rounds": [runs["0"]["rounds"][0], _run(rng, [0.55])["rounds"][0]]}
    weaker["rounds"][1][es.ALWAYS] = runs["0"]["rounds"][-1][es.ALWAYS]
    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": runs}}, "arms": {"rl_off": weaker}}
    (frontier, rl) = es.finding_rows(e4)
    assert frontier[0].startswith("at equal success") and frontier[2].startswith("2 of 2 runs") and frontier[3] == "holds"
    assert rl[3] == "holds" and "200 requests" in rl[1]  # RL off needs more cloud calls: RL saved them
    said = es.arm_sentence(e4, "rl_off")
    assert "with RL off (SFT only) needed more cloud calls" in said and es.arm_sentence(e4, "refresh_off") is None


def test_reproduce_summary_adds_the_equal_success_figures_when_the_run_kept_them(tmp_path):
    import json

    from netgpt_lite.cli import main

    rng = np.random.default_rng(4)
    last = dict.fromkeys(("cloud_calls_saved_vs_always_cloud", "success_gap_vs_always_cloud", "schema_valid_rate",
                          "edge_exact_match"), 0.5)
    runs = {str(i): _run(rng, [0.5, 0.9], n=60) for i in range(2)}
    results = {"E4": {"traces": {"reachable": {"seeds": [0, 1], "last_round": last, "runs": runs}}, "arms": {}},
               "manifest": {"git_commit": "abc"}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    assert main(["reproduce", "--summary", "--json", "--results", str(path)]) == 0
    table = es.summary(results["E4"])
    assert table["reachable"]["falls_every_round"] == [True, True] and table["arms_vs_their_run"] == {}
    assert [r["round"] for r in table["reachable"]["by_round"]] == [0, 1]
    for rnd in (r for run in runs.values() for r in run["rounds"]):
        del rnd[es.EDGE_ONLY]  # a run made before rounds kept the edge-only values
    assert es.summary(results["E4"]) is None


def test_the_curve_runs_from_the_edge_alone_to_alwayscloud_and_meets_the_target_at_the_cut():
    rng = np.random.default_rng(5)
    rnd = _run(rng, [0.7], n=120)["rounds"][0]
    c = es.curve(rnd)
    edge, cloud = (np.asarray(rnd[k]["success"]) for k in (es.EDGE_ONLY, es.ALWAYS))
    assert c["task_success"][0] == pytest.approx(edge.mean()) and c["task_success"][-1] == pytest.approx(cloud.mean())
    k = round(c["needed"] * c["n"])
    assert c["task_success"][k] >= c["target"] - 1e-12 and all(s < c["target"] for s in c["task_success"][:k])
    assert c["needed"] == es.cloud_calls_needed(*es._values(rnd)) and es.curve({}) is None
