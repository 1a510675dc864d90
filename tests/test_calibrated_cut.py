"""Equal success with the cut chosen on the calibration set (``experiments.calibrated_cut``)."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.experiments import calibrated_cut as cc
from netgpt_lite.experiments import equal_success as es
from netgpt_lite.experiments.synergy_findings import points


def _labels(rng, n, acc):
    score = rng.random(n)
    edge = rng.random(n) < np.clip(acc + 0.4 * (score - 0.5), 0, 1)  # higher scores are right more often
    cloud = rng.random(n) < 0.97
    return score, edge, cloud


def _round(calibration, held_out):
    def floats(values):  # as a results file holds them
        return [float(v) for v in values]

    (cs, ce, cc_), (s, e, c) = calibration, held_out
    return {"calibration_choice": {"chosen": "platt", cc.LABELS: {"score": floats(cs), "edge_correct": floats(ce),
                                                                  "cloud_correct": floats(cc_)}},
            es.EDGE_ONLY: {"score": floats(s), "success": floats(e)}, es.ALWAYS: {"success": floats(c)}}


def _e4(rounds_per_seed):
    return {"traces": {"reachable": {"seeds": list(range(len(rounds_per_seed))),
                                     "runs": {str(k): {"rounds": r} for k, r in enumerate(rounds_per_seed)}}}}


@pytest.mark.parametrize("seed", range(5))
def test_the_cut_sends_what_equal_success_needs_on_its_own_set(seed):
    score, edge, cloud = _labels(np.random.default_rng(seed), 60, 0.8)
    for gap in (0.0, 0.02, 0.1):
        cut = cc.score_cut(score, edge, cloud, gap)
        # distinct scores: the cut sends exactly the lowest-scored requests equal success needs
        assert np.mean(score < cut) == es.cloud_calls_needed(score, edge, cloud, gap)


def test_the_cut_is_open_at_both_ends():
    assert cc.score_cut([0.1, 0.9], [1, 1], [1, 1], gap=0.0) == -np.inf  # the edge is never worse: send none
    assert cc.score_cut([0.1, 0.9], [0, 0], [1, 1], gap=0.0) == np.inf  # the edge is never right: send all


def test_judged_on_its_own_calibration_set_it_reads_as_equal_success():
    rng = np.random.default_rng(0)
    labels = _labels(rng, 200, 0.85)
    rnd = _round(labels, labels)
    found = cc.by_round(_e4([[rnd]]), n_bootstrap=300)
    assert found["rows"][0]["cloud_share"]["mean"] == es.cloud_calls_needed(*labels)
    assert found["rows"][0]["success_vs_always_cloud"]["mean"] >= -es.GAP - 1e-12


def test_a_better_edge_is_sent_to_the_cloud_less_and_rounds_pair():
    rng = np.random.default_rng(1)
    seeds = []
    for _ in range(2):
        cal_cloud, eval_cloud = rng.random(150) < 0.97, rng.random(300) < 0.97
        rounds = []
        for acc in (0.6, 0.95):
            (cs, ce, _), (s, e, _) = _labels(rng, 150, acc), _labels(rng, 300, acc)
            rounds.append(_round((cs, ce, cal_cloud), (s, e, eval_cloud)))
        seeds.append(rounds)
    found = cc.by_round(_e4(seeds), n_bootstrap=1000)
    share = found["total"]["cloud_share"]
    assert share["ci_high"] < 0 and share["n"] == 600 and share["n_seeds"] == 2
    for row in found["rows"]:
        for f in cc.FIGURES:
            assert row[f]["ci_low"] <= row[f]["mean"] <= row[f]["ci_high"]
    same = cc.by_round(_e4([[r[0], r[0]] for r in seeds]), n_bootstrap=200)["total"]
    assert all(same[f]["mean"] == same[f]["ci_low"] == same[f]["ci_high"] == 0.0 for f in cc.FIGURES)
    text = cc.sentence(_e4(seeds))
    assert "fewer" in text and f"{100 * share['mean']:+.1f} points" in text


def test_rounds_without_a_calibration_set_say_so():
    rng = np.random.default_rng(2)
    labels = _labels(rng, 40, 0.8)
    rnd = _round(labels, labels)
    del rnd["calibration_choice"][cc.LABELS]
    e4 = _e4([[rnd]])
    assert cc.by_round(e4) is None and cc.summary(e4) is None
    assert "kept no calibration sets" in cc.sentence(e4)


def test_reproduce_summary_prints_the_calibrated_cut_beside_equal_success(tmp_path, capsys):
    import json

    from netgpt_lite.cli.main import main

    rng = np.random.default_rng(3)
    rounds = [_round(_labels(rng, 80, acc), _labels(rng, 120, acc)) for acc in (0.7, 0.9)]
    last = {"cloud_calls_saved_vs_always_cloud": 0.6, "success_gap_vs_always_cloud": -0.02, "schema_valid_rate": 1.0,
            "edge_exact_match": 0.55}
    e4 = _e4([rounds])
    e4["traces"]["reachable"]["last_round"] = last
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"E4": e4, "manifest": {"git_commit": "abc", "split": "test"}}))
    assert main(["reproduce", "--summary", "--json", "--results", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    cut = out["E4_calibrated_cut"]["reachable"]
    assert [row["round"] for row in cut["rows"]] == [0, 1] and set(cut["total"]) == set(cc.FIGURES)
    assert out["E4_calibrated_cut"]["success_gap_allowed"] == es.GAP and "E4_equal_success" in out


def test_the_findings_row_reads_both_figures():
    rng = np.random.default_rng(4)
    cal_cloud, eval_cloud = rng.random(150) < 0.97, rng.random(300) < 0.97
    rounds = []
    for acc in (0.6, 0.95):
        (cs, ce, _), (s, e, _) = _labels(rng, 150, acc), _labels(rng, 300, acc)
        rounds.append(_round((cs, ce, cal_cloud), (s, e, eval_cloud)))
    e4 = _e4([rounds])
    ((claim, measured, result, verdict),) = cc.finding_rows(e4)
    found = cc.by_round(e4)
    assert result.startswith("reachable " + points(found["total"]["cloud_share"]))
    fell = found["total"]["cloud_share"]["ci_high"] < 0
    kept = found["rows"][-1]["success_vs_always_cloud"]["mean"] >= -es.GAP
    assert fell and verdict == ("holds" if kept else "fewer cloud calls, success below the target")
