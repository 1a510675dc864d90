"""Tests of the synergy loop: persistence, resume after SIGKILL, determinism, the decomposition.

The loop is exercised with cheap fake stages (a one-number "edge skill" and a threshold) so the
machinery is tested in seconds; the real stages are tested in ``tests/test_synergy_stages.py``.
Run as a script (``python tests/test_synergy.py OUT [--resume]``) this file runs the fake loop in a
subprocess, which the SIGKILL tests kill at a known point (``NETGPT_LITE_SYNERGY_HOOK``) or at a
random time.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from netgpt_lite.synergy.loop import (
    HOOK_ENV_VAR,
    SynergyConfig,
    SynergyStages,
    atomic_write_dir,
    atomic_write_json,
    decompose_gain,
    fork_run,
    load_log,
    read_state,
    run_synergy,
)

FAKE_CFG = SynergyConfig(rounds=4, requests_per_round=40, eval_requests=50, seed=3, warmup_tasks=16)
SLEEP_ENV = "FAKE_SYNERGY_SLEEP_S"


# --- fake stages: a scalar edge skill and a threshold ----------------------------------------------
def _stream(seed: int, r: int, n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng([seed, r])
    return [f"r{r:03d}-{i:04d}" for i in range(n)], rng.random(n)


def _score(system: dict, difficulty: np.ndarray) -> np.ndarray:
    return np.clip(system["skill"] - 0.5 * difficulty + 0.3, 0.0, 1.0)


def _route(system: dict, cfg: SynergyConfig, r: int) -> list[dict]:
    time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
    ids, difficulty = _stream(cfg.seed, r, cfg.requests_per_round)
    scores = _score(system, difficulty)
    return [{"request_id": i, "round": r, "difficulty": float(d), "score": float(s)}
            for i, d, s in zip(ids, difficulty, scores) if s < system["threshold"]]


def _improve(system: dict, log, cfg: SynergyConfig, r: int) -> dict:
    time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
    skill = 0.2 + 0.002 * len(log) + 0.01 * float(np.sum(log["difficulty"]) if len(log) else 0.0)
    return {"skill": min(skill, 1.0), "threshold": max(0.3, system["threshold"] - 0.05)}


def _evaluate(system: dict, cfg: SynergyConfig) -> dict:
    _, difficulty = _stream(cfg.seed, 10_000, cfg.eval_requests)
    cloud = _score(system, difficulty) < system["threshold"]
    return {"offload_rate": float(cloud.mean()), "skill": system["skill"]}


def _save(system: dict, folder: Path) -> None:
    (folder / "system.json").write_text(json.dumps(system))


def _load(folder: Path, cfg: SynergyConfig) -> dict:
    return json.loads((folder / "system.json").read_text())


FAKE = SynergyStages(init=lambda cfg: {"skill": 0.2, "threshold": 0.6}, route=_route, improve=_improve,
                     evaluate=_evaluate, save=_save, load=_load,
                     mix=lambda edge, routing: {"skill": edge["skill"], "threshold": routing["threshold"]})


class _System(dict):
    """A fake system that a weak reference can follow (a plain dict cannot)."""


def test_a_round_holds_one_system_at_a_time(tmp_path):
    """Each checkpoint is read back only once the system before it is gone (a SmolLM2 system is 0.5 GB)."""
    refs = []  # a weak reference to every system made

    def track(system: dict) -> _System:
        refs.append(weakref.ref(tracked := _System(system)))
        return tracked

    def load(folder: Path, cfg: SynergyConfig) -> _System:
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        assert alive == 0, f"{alive} system(s) still in memory while {folder.name} is read"
        return track(_load(folder, cfg))

    stages = dataclasses.replace(FAKE, init=lambda cfg: track(FAKE.init(cfg)), load=load,
                                 improve=lambda *args: track(_improve(*args)))
    result = run_synergy(FAKE_CFG, tmp_path / "run", stages=stages)
    assert len(result.rounds) == FAKE_CFG.rounds + 1


def _expected_ids(cfg: SynergyConfig, tmp: Path) -> list[str]:
    ref = run_synergy(cfg, tmp / "reference", stages=FAKE)
    return list(load_log(ref.out_dir)["request_id"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    result = run_synergy(FAKE_CFG, out, stages=FAKE)
    return result, load_log(out).to_list()


# --- atomic writes ----------------------------------------------------------------------------------
def test_atomic_write_json_replaces_whole_file(tmp_path):
    path = atomic_write_json(tmp_path / "s.json", {"a": 1})
    atomic_write_json(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary left behind


def test_atomic_write_dir_never_overwrites_and_leaves_nothing_on_failure(tmp_path):
    atomic_write_dir(tmp_path / "a", lambda d: (d / "x").write_text("1"))
    with pytest.raises(FileExistsError):
        atomic_write_dir(tmp_path / "a", lambda d: None)

    def broken(folder: Path) -> None:
        (folder / "half").write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_dir(tmp_path / "b", broken)
    assert not (tmp_path / "b").exists()  # a reader never sees a half-written folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # and the temporary is gone


# --- the loop -----------------------------------------------------------------------------------------
def test_run_logs_every_cloud_answer_once_and_commits_each_round(reference):
    result, rows = reference
    ids = [row["request_id"] for row in rows]
    assert len(ids) == len(set(ids)) == result.n_logged > 0
    assert [m["round"] for m in result.rounds] == list(range(FAKE_CFG.rounds + 1))
    assert len(result.checkpoints) == FAKE_CFG.rounds + 1
    assert [m["n_logged"] for m in result.rounds] == sorted(m["n_logged"] for m in result.rounds)
    # the loop really feeds the log back: the edge improved and offloads less than at round 0
    assert result.rounds[-1]["skill"] > result.rounds[0]["skill"]
    assert result.rounds[-1]["offload_rate"] < result.rounds[0]["offload_rate"]


def test_same_seed_same_run_and_other_seed_differs(reference, tmp_path):
    result, rows = reference
    again = run_synergy(FAKE_CFG, tmp_path / "a", stages=FAKE)
    assert again.rounds == result.rounds and load_log(again.out_dir).to_list() == rows
    other = run_synergy(dataclasses.replace(FAKE_CFG, seed=4), tmp_path / "b", stages=FAKE)
    assert load_log(other.out_dir)["request_id"] != [r["request_id"] for r in rows] or other.rounds != result.rounds


def test_refuses_to_overwrite_a_run_and_resume_checks_settings(reference, tmp_path):
    result, _ = reference
    with pytest.raises(ValueError, match="resume"):
        run_synergy(FAKE_CFG, result.out_dir, stages=FAKE)
    with pytest.raises(ValueError, match="seed"):
        run_synergy(dataclasses.replace(FAKE_CFG, seed=9), result.out_dir, stages=FAKE, resume=True)


def test_resume_extends_a_finished_run_to_more_rounds(reference, tmp_path):
    result, rows = reference
    short = run_synergy(dataclasses.replace(FAKE_CFG, rounds=2), tmp_path / "s", stages=FAKE)
    assert short.rounds == result.rounds[:3]
    longer = run_synergy(FAKE_CFG, tmp_path / "s", stages=FAKE, resume=True)
    assert longer.rounds == result.rounds and load_log(longer.out_dir).to_list() == rows


def test_until_round_stops_after_it_and_a_resume_goes_on_to_the_straight_run(reference, tmp_path):
    """E4 runs each round in a process of its own: ``until_round=r`` commits round r and stops; call after call
    the run is the uninterrupted one.  Each round keeps a peak resident memory (MiB), and a fork keeps its
    rounds' ones."""
    result, rows = reference
    for r in range(FAKE_CFG.rounds + 1):
        part = run_synergy(FAKE_CFG, tmp_path / "p", stages=FAKE, resume=r > 0, until_round=r)
        assert len(part.rounds) == r + 1 == len(part.peak_rss_mb)
    assert part.rounds == result.rounds and load_log(tmp_path / "p").to_list() == rows
    assert all(m > 0 for m in part.peak_rss_mb)
    fork_run(tmp_path / "p", tmp_path / "f", at_round=2, config=FAKE_CFG)
    assert read_state(tmp_path / "f")["peak_rss_mb"] == part.peak_rss_mb[:3]
    # a run made before rounds kept their peak reads None for those rounds
    state_path = tmp_path / "f" / "state.json"
    state_path.write_text(json.dumps({k: v for k, v in json.loads(state_path.read_text()).items()
                                      if k != "peak_rss_mb"}))
    resumed = run_synergy(FAKE_CFG, tmp_path / "f", stages=FAKE, resume=True, until_round=3)
    assert resumed.peak_rss_mb[:3] == [None] * 3 and resumed.peak_rss_mb[3] > 0


def test_a_run_saved_before_a_setting_existed_resumes_with_the_value_it_ran_with(tmp_path):
    """Runs saved before ``calibration`` was a setting fitted isotonic maps: their state.json has no such key,
    and a resume compares against "isotonic", so it refuses the new default instead of mixing two maps."""
    run_synergy(dataclasses.replace(FAKE_CFG, rounds=1), tmp_path / "old", stages=FAKE)
    state_path = tmp_path / "old" / "state.json"
    state = json.loads(state_path.read_text())
    del state["config"]["calibration"]
    state_path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"calibration='auto' differs from the run being resumed \('isotonic'\)"):
        run_synergy(FAKE_CFG, tmp_path / "old", stages=FAKE, resume=True)
    resumed = run_synergy(dataclasses.replace(FAKE_CFG, rounds=2, calibration="isotonic"), tmp_path / "old",
                          stages=FAKE, resume=True)
    assert len(resumed.rounds) == 3


def test_fork_then_resume_equals_the_straight_run(reference, tmp_path):
    result, rows = reference
    fork_run(result.out_dir, tmp_path / "fork", at_round=2, config=FAKE_CFG)
    assert read_state(tmp_path / "fork")["last_completed_round"] == 2
    resumed = run_synergy(FAKE_CFG, tmp_path / "fork", stages=FAKE, resume=True)
    assert resumed.rounds == result.rounds and load_log(tmp_path / "fork").to_list() == rows
    with pytest.raises(ValueError, match="at_round"):
        fork_run(result.out_dir, tmp_path / "bad", at_round=FAKE_CFG.rounds + 1, config=FAKE_CFG)


def test_a_finished_runs_summary_is_reused_until_its_state_or_requests_change(reference, monkeypatch):
    from netgpt_lite.synergy import summary as summaries

    result, _ = reference
    first = summaries.write_summary(result, stages=FAKE)
    calls = []
    monkeypatch.setattr(summaries, "decompose_gain", lambda *a, **k: calls.append(1) or [])
    monkeypatch.setattr(summaries, "written_requests", lambda *a, **k: {})
    assert summaries.write_summary(result, stages=FAKE) == first and calls == []  # nothing recomputed
    summaries.write_summary(result, stages=FAKE, written={"hand": []})  # other requests: computed again
    assert calls == [1]


def test_decomposition_table_mixes_edge_and_routing(reference):
    result, _ = reference
    rows = decompose_gain(result.out_dir, FAKE_CFG, stages=FAKE)
    table = {(r["edge_round"], r["routing_round"]): r for r in rows}
    last = FAKE_CFG.rounds
    assert table[(0, 0)]["offload_rate"] == result.rounds[0]["offload_rate"]
    assert table[(last, last)]["offload_rate"] == result.rounds[-1]["offload_rate"]
    assert table[(last, 0)]["skill"] == result.rounds[-1]["skill"]  # better edge, old thresholds
    assert table[(0, last)]["skill"] == result.rounds[0]["skill"]


@pytest.mark.parametrize("bad", [{"rounds": 0}, {"requests_per_round": 2}, {"policy": "magic"},
                                 {"trace": "moon"}, {"seed": -1}, {"scorer_refresh_every": 1.5},
                                 {"edge_decoding": "beam"}, {"calibration": "beta"}])
def test_config_rejects_invalid_settings_naming_the_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SynergyConfig(**bad)


def test_presets_and_always_cloud_comparison():
    from netgpt_lite.synergy.stages import synergy_config
    from netgpt_lite.synergy.summary import compare_with_always_cloud

    fast, full = synergy_config(fast=True), synergy_config(fast=False, rounds=3)
    assert fast.requests_per_round < full.requests_per_round and full.rounds == 3
    metrics = {"offload_rate": 0.3, "always_cloud_offload_rate": 1.0, "task_success": 0.9,
               "always_cloud_task_success": 0.95}
    out = compare_with_always_cloud(metrics)
    assert out["cloud_calls_saved_vs_always_cloud"] == pytest.approx(0.7)
    assert out["success_gap_vs_always_cloud"] == pytest.approx(-0.05)


def test_retry_decoding_keeps_no_invalid_call_in_an_outage():
    """The invalid-call rule: with ``edge_decoding="retry"`` the tiny edge's schema-invalid greedy calls are
    generated again under the schema mask, so on the mixed trace (outages included) every kept call is valid;
    greedy keeps some invalid ones.  Same requests, same network draws."""
    from netgpt_lite.synergy.stages import default_stages, synergy_config

    stages, rates = default_stages(), {}
    for decoding in ("greedy", "retry"):
        config = synergy_config(fast=True, edge="tiny", trace="mixed", calibration_tasks=32,
                                edge_decoding=decoding)
        metrics = stages.evaluate(stages.init(config), config)
        rates[decoding] = metrics
    assert rates["greedy"]["edge_retry_rate"] == 0.0 and rates["retry"]["edge_retry_rate"] > 0
    assert rates["greedy"]["edge_schema_valid_rate"] < 1.0 == rates["retry"]["edge_schema_valid_rate"]
    assert rates["retry"]["schema_valid_rate"] == 1.0 > rates["greedy"]["schema_valid_rate"]
    # the pooled last-round figures of a one-seed, one-round run are that evaluation's own, with intervals
    from netgpt_lite.synergy.summary import compare_with_always_cloud, pooled_last_round

    metrics = rates["greedy"]
    pooled, scalar = pooled_last_round([{"rounds": [metrics]}], n_bootstrap=500), compare_with_always_cloud(metrics)
    for key in ("cloud_calls_saved_vs_always_cloud", "success_gap_vs_always_cloud"):
        row = pooled[key]
        assert row["mean"] == pytest.approx(scalar[key]) and row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert pooled["n"] == config.eval_requests and pooled["schema_valid_rate"]["mean"] == pytest.approx(
        metrics["schema_valid_rate"])


# --- SIGKILL in the middle of a round, then --resume ------------------------------------------------
def _spawn(out: Path, hook: str | None, sleep_s: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, SLEEP_ENV: str(sleep_s), "OMP_NUM_THREADS": "1"}
    env.pop(HOOK_ENV_VAR, None)
    if hook:
        env[HOOK_ENV_VAR] = hook
    return subprocess.Popen([sys.executable, __file__, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def _check_resumed(out: Path, reference) -> None:
    result, rows = reference
    resumed = run_synergy(FAKE_CFG, out, stages=FAKE, resume=True)
    got = load_log(out).to_list()
    ids = [row["request_id"] for row in got]
    assert len(ids) == len(set(ids)), "a request was logged twice"
    assert ids == [row["request_id"] for row in rows], "a request was dropped or reordered"
    assert got == rows and resumed.rounds == result.rounds
    assert not [p for p in out.rglob(".tmp-*")], "temporary files survived the resume"


@pytest.mark.parametrize("hook", ["mid_write:round_002", "checkpointed:3", "committed:1"])
def test_sigkill_mid_round_then_resume_logs_each_request_once(hook, reference, tmp_path):
    out = tmp_path / "run"
    proc = _spawn(out, hook)
    line = proc.stdout.readline()  # the child blocks at the hook after printing this line
    assert line.strip() == f"HOOK {hook}"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    committed = read_state(out)["last_completed_round"]
    assert committed < FAKE_CFG.rounds  # the kill really interrupted the run
    _check_resumed(out, reference)


def test_sigkill_at_a_random_time_then_resume(reference, tmp_path):
    out = tmp_path / "run"
    proc = _spawn(out, None, sleep_s=0.15)
    rng = np.random.default_rng(0)
    deadline = time.monotonic() + 20
    while read_state(out) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(float(rng.uniform(0.1, 0.6)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    _check_resumed(out, reference)


if __name__ == "__main__":  # the child process of the SIGKILL tests
    run_synergy(FAKE_CFG, sys.argv[1], stages=FAKE, resume="--resume" in sys.argv)

