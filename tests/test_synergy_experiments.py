"""Tests of E4/E6's scheduling (``experiments.synergy_experiments``): forked arms never wait on a failed run.

The end-to-end test runs ``run_e4_e6`` in a subprocess with a timeout (a hang fails the test instead of
hanging the suite), its synergy runs replaced by one that raises and its worker processes by threads (which
see the replacement).  The others drive :func:`run_scheduled` directly with fake jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netgpt_lite.experiments.synergy_experiments import run_scheduled
from netgpt_lite.provenance import atomic_write_json
from netgpt_lite.synergy.loop import STATE_FILE, read_state

FAILING_RUNS = textwrap.dedent("""
    import concurrent.futures, dataclasses, sys
    from pathlib import Path

    from netgpt_lite.experiments import synergy_experiments as sx
    from netgpt_lite.experiments.reproduce_config import ReproduceConfig

    class Threads(concurrent.futures.ThreadPoolExecutor):  # unlike spawned processes, threads see failing_run
        def __init__(self, workers, mp_context=None, **fresh):
            super().__init__(workers)

    def failing_run(config, out_dir, **kwargs):
        raise ValueError(f"boom in {Path(out_dir).name}")

    concurrent.futures.ProcessPoolExecutor = Threads
    sx.run_synergy = failing_run
    cfg = dataclasses.replace(ReproduceConfig.preset(fast=True), synergy_traces=("reachable",),
                              workers=int(sys.argv[2]))
    try:
        sx.run_e4_e6(cfg, Path(sys.argv[1]))
    except RuntimeError as err:
        print("FAILED:", err, flush=True)
""")


@pytest.mark.parametrize("workers", [2, 1])
def test_a_failed_source_run_fails_its_forked_arms_instead_of_hanging(tmp_path, workers):
    script = tmp_path / "failing_runs.py"
    script.write_text(FAILING_RUNS)
    try:
        done = subprocess.run([sys.executable, str(script), str(tmp_path / "out"), str(workers)],
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("run_e4_e6 hung: a forked arm waited for a round its failed source run never commits")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "FAILED: 3 of 3 synergy runs failed: reachable-seed0 (ValueError: boom in reachable-seed0)" in out
    for arm in ("rl_off", "refresh_off"):  # each arm fails with its source's error, named
        assert (f"reachable-seed0-{arm} (RuntimeError: not run: its source run reachable-seed0 failed "
                "(ValueError: boom in reachable-seed0))") in out


def _commit(folder: Path, name: str, last_round: int) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / name / STATE_FILE, {"last_completed_round": last_round})


def test_a_fork_is_submitted_once_its_source_commits_the_fork_round(tmp_path):
    seen = {}

    def job(name, fork):
        if fork is None:
            for r in range(3):  # the source commits rounds 0, 1, 2 one after the other
                time.sleep(0.05)
                _commit(tmp_path, name, r)
        return {"run": name}

    with ThreadPoolExecutor(3) as pool:
        def submit(name, config, fork):
            if fork is not None:  # the round the source had committed when the fork was submitted
                seen[name] = read_state(tmp_path / fork[0])["last_completed_round"]
            return pool.submit(job, name, fork)

        runs = {"a": (None, None), "a-r1": (None, ("a", 1)), "a-r0": (None, ("a", 0))}
        summaries = run_scheduled(runs, submit, tmp_path, poll_s=0.01)
    assert summaries == {n: {"run": n} for n in runs}
    assert seen["a-r0"] >= 0 and seen["a-r1"] >= 1


def test_a_resumed_fork_runs_without_its_source_and_an_absent_source_fails(tmp_path):
    def submit(name, config, fork):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(lambda: 1 / 0 if name == "a" else {"run": name})

    _commit(tmp_path, "a-resumed", 1)  # this arm's folder holds a run already: it needs no source
    runs = {"a": (None, None), "a-resumed": (None, ("a", 1)), "a-fork": (None, ("a", 1)), "b-fork": (None, ("b", 0))}
    with pytest.raises(RuntimeError, match="3 of 4 synergy runs failed") as err:
        run_scheduled(runs, submit, tmp_path, poll_s=0.01)
    message = str(err.value)
    assert "a (ZeroDivisionError" in message and "a-resumed" not in message
    assert "a-fork (RuntimeError: not run: its source run a failed (ZeroDivisionError" in message
    assert "b-fork (RuntimeError: not run: its source run b never ran)" in message
    assert isinstance(err.value.__cause__, ZeroDivisionError)
    assert json.loads((tmp_path / "a-resumed" / STATE_FILE).read_text())["last_completed_round"] == 1


def test_findings_say_what_the_intervals_allow():
    from netgpt_lite.experiments import synergy_findings as f

    def iv(mean, low, high, n=600):
        return {"mean": mean, "ci_low": low, "ci_high": high, "n": n}

    contrast = {"offload_rate": iv(-0.05, -0.08, -0.02), "task_success": iv(0.004, -0.01, 0.02)}
    trace = {"seeds": [0, 1], "offload_falls_every_round": [True, False],
             "last_round_intervals": {"cloud_calls_saved_vs_always_cloud": iv(0.78, 0.74, 0.81),
                                      "success_gap_vs_always_cloud": iv(-0.021, -0.035, -0.008),
                                      "schema_valid_rate": iv(1.0, 1.0, 1.0), "n": 600, "n_seeds": 2},
             "last_vs_round_0": {**contrast, "n": 600},
             "round_over_round": [{"offload_rate": iv(-0.03, -0.05, -0.01)}, {"offload_rate": iv(0.01, 0, 0.02)}],
             "written": {"independent": {"n": 240, "difference": -0.01, "ci_low": -0.04, "ci_high": 0.02}}}
    e4 = {"config": {"edge": "smollm2", "rounds": 4, "requests_per_round": 384, "eval_requests": 300},
          "traces": {"reachable": trace}, "arms": {"rl_off": {"vs_rl_on": contrast}}}
    assert f.run_size(e4) == ("SmolLM2-135M with its LoRA adapter, 4 rounds of 384 requests, 300 held-out requests "
                              "per round, 2 seeds per trace")
    assert "sent 78% (95% interval 74% to 81%) fewer requests" in f.last_round(e4)
    assert "-2.1 points (95% interval -3.5 to -0.8)" in f.last_round(e4)
    said = f.over_rounds(e4, "reachable")
    assert "offload rate fell from round 0" in said and "task success did not change distinguishably" in said
    assert "in 1 of 2 seeds" in said and "-3.0, +1.0 points" in said and "utility" not in said  # none kept
    trace["last_vs_round_0"]["mean_utility"] = iv(0.033, 0.015, 0.052)
    assert ", and the mean utility per request (the router's objective) rose, +0.033 (95% interval +0.015 to " \
           "+0.052) (600 requests)" in f.over_rounds(e4, "reachable")
    assert f.arm(e4, "rl_off").endswith("(one seed each): its offload rate is lower")
    said = f.headline(e4)  # the README's first paragraph: size, last round, each trace's rounds, the RL-off arm
    assert said.startswith(f"In the shipped run ({f.run_size(e4)}), on the reachable trace the last round sent 78%")
    assert ". On the reachable trace the offload rate fell" in said and ". Turning RL off (SFT only) changed" in said
    assert "Fitting the learned scorer once" not in said and "routing alone" not in said  # no such arm, no 2 x 2
    assert f.front_page(e4) == (
        "In the shipped run on the real edge, from round 0 to the last round task success did not change "
        "distinguishably on the reachable trace (+0.4 points; 95% interval -1.0 to +2.0), but the offload rate fell "
        "round after round in 1 of 2 runs.")
    assert f.written(e4) == ["on 240 independently written requests the last round's edge was not distinguishable "
                             "from round 0's: -1.0 points of exact match (95% interval -4.0 to +2.0)"]


def test_scorer_choices_count_the_rounds_whose_refitted_scorer_ranked_better():
    from netgpt_lite.experiments import synergy_findings as f

    def choice(self_auroc, learned_auroc, kept):
        return {"candidates": ["self", "learned"], "auroc": [self_auroc, learned_auroc], "kept": kept,
                "n_requests": 128}

    rounds = [{}, {"scorer_choice": choice(0.91, 0.58, 0)}, {"scorer_choice": choice(0.90, 0.93, 1)}]
    unranked = {"candidates": ["self", "learned"], "auroc": [None, None], "kept": 0, "n_requests": 128}
    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": {
        "0": {"rounds": rounds}, "1": {"rounds": [{}, {"scorer_choice": unranked}]}}}}}
    assert f.scorer_choices(e4) == (
        "on the reachable trace a refitted learned scorer replaced the scorer in use in 1 of 2 rounds (seeds "
        "together): on the calibration set (128 requests) the refitted scorer's AUROC was 0.58 to 0.93, the "
        "scorer in use's 0.90 to 0.91")
    e4["traces"]["reachable"]["runs"]["0"]["rounds"] = [{}]
    assert f.scorer_choices(e4) == "on the reachable trace no round had a refitted scorer to rank"


def test_calibration_choices_count_the_maps_the_rounds_chose():
    from netgpt_lite.experiments import calibration_findings as f

    def choice(chosen, platt, iso):
        return {"chosen": chosen, "cv_log_loss": {"platt": platt, "isotonic": iso}, "n": 128}

    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": {
        "0": {"rounds": [{"calibration_choice": choice("platt", 0.25, 0.27)},
                         {"calibration_choice": choice("isotonic", 0.31, 0.30)}]},
        "1": {"rounds": [{"calibration_choice": {"chosen": "platt", "cv_log_loss": {}, "n": 128}}, {}]}}}}}
    assert f.calibration_choices(e4) == (
        "on the reachable trace the calibration map was isotonic in 1 of 3 rounds and platt in 2 of 3 rounds "
        "(seeds together); cross-validated log-loss on the calibration set (128 requests): isotonic 0.270 to "
        "0.300, platt 0.250 to 0.310")
    for run in e4["traces"]["reachable"]["runs"].values():
        run["rounds"] = [{}]
    assert f.calibration_choices(e4) == "on the reachable trace the rounds kept no record of their calibration map"


def test_the_two_calibration_maps_are_compared_on_the_same_requests_whichever_each_run_chose():
    from netgpt_lite.experiments import calibration_findings as f

    def values(fallback, utility):
        return {"fallback": fallback, "success": [1, 1], "schema_valid": [1, 1], "cost_usd": [0, 0],
                "utility": utility}

    platt, iso = values([0, 0], [0.9, 0.9]), values([1, 0], [0.5, 0.9])
    # seed 0 chose Platt (its own routing is Platt's), seed 1 isotonic (its counterfactual is Platt's)
    r0 = {"calibration_choice": {"chosen": "platt"}, "per_request": platt, "per_request_other_calibration": iso}
    r1 = {"calibration_choice": {"chosen": "isotonic"}, "per_request": iso, "per_request_other_calibration": platt}
    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": {"0": {"rounds": [r0, r0]}, "1": {"rounds": [r1, r1]}}}}}
    rows = f.calibration_by_round(e4, n_bootstrap=200)
    assert [r["round"] for r in rows] == [0, 1] and rows[0]["n"] == 4
    assert rows[0]["offload"] == {"platt": 0.0, "isotonic": 0.5} and rows[0]["chosen"] == {"platt": 1, "isotonic": 1}
    d = rows[-1]["platt_minus_isotonic"]
    assert d["offload_rate"]["mean"] == -0.5 and d["mean_utility"]["mean"] == pytest.approx(0.2)
    text = f.calibration_contrast(e4)
    assert text.startswith("on the reachable trace, with the same edges and requests, the offload rate by round was "
                           "0.000, 0.000 with Platt's map and 0.500, 0.500 with the isotonic map")
    # each run's own routing minus its counterfactual: seed 0 (Platt) saved 0.5 offload, seed 1 (isotonic) lost it
    chosen = f.chosen_vs_other(e4, n_bootstrap=200)
    assert chosen["n"] == 4 and chosen["offload_rate"]["mean"] == 0.0 and chosen["mean_utility"]["mean"] == 0.0
    del r1["per_request_other_calibration"]  # a run made before rounds routed with both maps
    assert f.calibration_by_round(e4) is None and f.calibration_contrast(e4) is None
    assert f.chosen_vs_other(e4) is None


def test_the_round_table_names_each_rounds_map_and_the_other_maps_offload():
    from netgpt_lite.experiments.synergy_findings import round_table

    m = {"round": 0, "n_logged": 0, "offload_rate": 0.2, "task_success": 0.9, "always_cloud_task_success": 0.92,
         "schema_valid_rate": 1.0, "edge_exact_match": 0.8, "n_requests": 300, "kl_to_sft": 0.0, "scorer": "self",
         "cost_per_1k_requests_usd": 0.5, "latency_p95_ms": 1900.0,
         "calibration_choice": {"chosen": "platt", "cv_log_loss": {"platt": 0.25, "isotonic": 0.27}},
         "other_calibration": {"calibration": "isotonic", "offload_rate": 0.25}}
    old = {k: v for k, v in m.items() if k not in ("calibration_choice", "other_calibration")}
    table = round_table([m, {**old, "round": 1}])
    assert table.loc["calibration map", 0] == "platt (log-loss platt 0.250, isotonic 0.270)"
    assert table.loc["offload with the other map", 0] == "0.250 (isotonic)"
    assert table.loc["calibration map", 1] == table.loc["offload with the other map", 1] == "-"  # an older run


def test_decomposition_pools_seeds_and_pairs_each_half_with_round_0():
    from netgpt_lite.experiments import synergy_findings as f

    def cell(e, r, fallback, success):
        n = len(fallback)
        return {"edge_round": e, "routing_round": r, "per_request": {
            "fallback": fallback, "success": success, "schema_valid": [1] * n, "cost_usd": [0.0] * n,
            "utility": [0.0] * n}}

    run = {"decomposition": [cell(0, 0, [1, 1, 0, 0], [1, 1, 1, 0]), cell(0, 2, [1, 1, 1, 0], [1, 1, 1, 0]),
                             cell(2, 0, [1, 0, 0, 0], [1, 1, 1, 1]), cell(2, 2, [0, 0, 0, 0], [1, 1, 1, 1])]}
    e4 = {"traces": {"reachable": {"seeds": [0, 1], "runs": {"0": run, "1": run}}}}
    d = f.decomposition_effects(e4, n_bootstrap=200)
    assert d["better edge"]["offload_rate"]["mean"] == -0.25 and d["both"]["offload_rate"]["mean"] == -0.5
    assert d["moved routing"]["offload_rate"]["mean"] == 0.25 and d["better edge"]["offload_rate"]["n"] == 8
    assert f.decomposition(e4)[0].startswith("the last round's edge with round 0's routing changed the offload")
    said = f.edge_and_routing(e4)  # the headline's clause: each half's offload change, its verb from the interval
    assert said.startswith("on the reachable trace the last round's edge alone (with round 0's routing) ")
    assert "-25.0 points" in said and ", and the last round's routing alone (with round 0's edge) " in said
    assert d["refit routing"]["offload_rate"]["mean"] == -0.25  # (2, 2) against (2, 0), not against (0, 0)
    assert said.endswith("; refitting the routing to the last round's edge, rather than keeping round 0's, did not "
                         "distinguishably change the mean utility per request, +0.000 (95% interval +0.000 to +0.000)")
    assert len(f.decomposition(e4)) == 4 and "mean utility per request by +0.000" in f.decomposition(e4)[3]


def test_e4_progress_pairs_each_committed_round_with_round_0_and_estimates_what_is_left(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("e4_progress", Path(__file__).parents[1] / "scripts" / "e4_progress.py")
    progress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(progress)

    def rnd(r, fallback, success):
        n = len(fallback)
        per = {"fallback": fallback, "success": success, "schema_valid": [1] * n, "cost_usd": [0.001 * f for f in fallback],
               "utility": [0.0] * n}
        return {"round": r, "n_logged": 3 * r, "offload_rate": sum(fallback) / n, "task_success": sum(success) / n,
                "always_cloud_task_success": 1.0, "schema_valid_rate": 1.0, "edge_exact_match": 0.5, "n_requests": n,
                "kl_to_sft": 0.0, "scorer": "self", "cost_per_1k_requests_usd": 0.5, "latency_p95_ms": 900.0,
                "per_request": per}

    state = {"last_completed_round": 1, "seconds_per_round": [1800.0],
             "rounds": [rnd(0, [1, 1, 0, 0], [1, 1, 1, 0]), rnd(1, [1, 0, 0, 0], [1, 1, 1, 1])]}
    (tmp_path / "E4" / "reachable-seed0").mkdir(parents=True)
    (tmp_path / "E4" / "reachable-seed0" / "state.json").write_text(json.dumps(state))
    progress.main([str(tmp_path), "--workers", "2"])
    out = capsys.readouterr().out
    assert "round 1 - round 0 (n=4): offload -25.0 points" in out and "success +25.0 points" in out
    assert "improvement rounds: 30 min wall" in out and "== mixed-seed0: not started" in out
    assert "round 2 not committed, 0 min since the last commit: routing" in out
    run = tmp_path / "E4" / "reachable-seed0"
    (run / "log" / "round_002").mkdir(parents=True)
    assert progress.in_progress(run, state).endswith("improving the edge (SFT, RL, scorer)")
    (run / "checkpoints" / "round_002").mkdir(parents=True)
    later = (run / "state.json").stat().st_mtime + 600
    assert progress.in_progress(run, state, now=later) == ("round 2 not committed, 10 min since the last commit: "
                                                           "checkpointed, evaluating on the held-out requests")
    # 3 rounds left of this run, 4 + 4 + 4 + 4 + 3 of the others, 30 min each, two at a time
    assert "about 22 run-rounds left at 30 min each with 2 sharing the machine: about 5.5 h wall" in out
    with pytest.raises(SystemExit, match="no E4 runs there yet"):
        progress.main([str(tmp_path / "nowhere")])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="max_tasks_per_child needs Python 3.11")
def test_each_run_goes_to_a_fresh_worker_process():
    from netgpt_lite.experiments.synergy_experiments import worker_pool

    with worker_pool(1) as pool:  # one worker: a reused process would answer with the same pid twice
        pids = [pool.submit(os.getpid).result(timeout=120) for _ in range(2)]
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_a_run_with_a_process_per_round_computes_the_run_of_one_process(tmp_path):
    """``round_processes``: every round in a fresh process (its memory its own), the same rounds as one
    process computes (scores to float rounding: each process compiles its own kernels), each round's peak
    kept."""
    from netgpt_lite.experiments.synergy_experiments import synergy_job
    from netgpt_lite.synergy.stages import synergy_config

    config = synergy_config(fast=True, edge="tiny", rounds=1, calibration_tasks=32, requests_per_round=32,
                            eval_requests=24)
    apart, together = (synergy_job("r", config, None, str(tmp_path / str(fresh)), 1, round_processes=fresh)
                       for fresh in (True, False))
    assert len(apart["peak_rss_mb"]) == 2 and all(m > 0 for m in apart["peak_rss_mb"])
    for a, b in zip(apart["rounds"], together["rounds"], strict=True):
        for key in ("offload_rate", "task_success", "schema_valid_rate", "edge_exact_match", "n_logged"):
            assert a[key] == b[key], key
        assert a["per_request_edge_only"]["score"] == pytest.approx(b["per_request_edge_only"]["score"], abs=1e-6)


def test_bound_onednn_cache_sets_the_capacity_once_and_respects_the_environment(monkeypatch):
    from netgpt_lite.experiments import synergy_experiments as se

    monkeypatch.delenv(se.ONEDNN_CACHE_ENV_VAR, raising=False)
    assert se.bound_onednn_cache() is True
    assert os.environ[se.ONEDNN_CACHE_ENV_VAR] == str(se.ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv(se.ONEDNN_CACHE_ENV_VAR, "1024")  # the reader's own setting wins
    assert se.bound_onednn_cache() is False and os.environ[se.ONEDNN_CACHE_ENV_VAR] == "1024"


_ONEDNN_PROBE = """
import ctypes, torch
from netgpt_lite.experiments.synergy_experiments import bound_onednn_cache
bound_onednn_cache()
w = torch.randn(256, 128)
for n in range(1, 301):  # 300 shapes: 300 compiled kernels, all kept at oneDNN's default
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.nn.functional.linear(torch.randn(n, 128), w)
class Info(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
print(libc.mallinfo2().uordblks)
"""


def test_the_onednn_bound_takes_effect_after_torch_is_loaded():
    """oneDNN reads the capacity when it compiles its first kernel, not when torch loads: set from Python
    before any bf16 product, it keeps the heap smaller than the default does on the same 300 shapes."""
    import ctypes

    from netgpt_lite.experiments.synergy_experiments import ONEDNN_CACHE_ENV_VAR

    if sys.platform != "linux" or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("needs glibc 2.33+ (mallinfo2)")

    def heap_in_use(**setting: str) -> int:
        env = {k: v for k, v in os.environ.items() if k != ONEDNN_CACHE_ENV_VAR}
        out = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True, check=True,
                             env={**env, "OMP_NUM_THREADS": "1", **setting}, timeout=120)
        return int(out.stdout.split()[-1])

    default = heap_in_use(**{ONEDNN_CACHE_ENV_VAR: "1024"})
    assert default - heap_in_use() > 20 * 2**20  # measured: 47 MB less
