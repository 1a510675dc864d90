"""``netgpt-lite reproduce``: run experiments E1-E6 and write ``results.json`` plus a static HTML report.

Each experiment calls the library function that owns it (nothing is re-implemented here):

* **E1** quality-cost frontiers per regime: :func:`netgpt_lite.routing.simulator.frontier_grid` (the
  fixed-threshold sweep) and :func:`netgpt_lite.frontier.operating_points` (every policy) at each
  regime's nominal network state, plus the anchors' sweep metrics (APGR, CPT, AIQ) from E3.
* **E2** tau* and offload rate against bandwidth, RTT and price for FuncDyn and PolicyNet
  (:func:`netgpt_lite.theory.sweep.cloud_fraction`), and utility against tau at one state (its local maxima counted:
  the theory's single maximum holds for a smooth calibration map, an empirical table is jagged).
* **E3** the main table, policies x traces (time-varying: Markov mixed, commute, the Mahimahi LTE drive;
  then the static regimes as a sanity check) x pricing, mean +- std over seeds
  (:func:`netgpt_lite.experiments.frontier.main_table`).
* **E4** the synergy loop on the SmolLM2 edge (``synergy_edge``), per trace (``reachable``: the cloud always
  reachable; ``mixed``: outages and satellite periods too) and seed: offload, success, schema-valid rate and
  KL-to-SFT over rounds next to AlwaysCloud on the same held-out stream, the gain decomposition, and two arms
  on the first trace and seed: RL off (``rl_steps=0``, forked at round 0) and scorer refresh off (E6)
  (:func:`netgpt_lite.synergy.loop.run_synergy`, :func:`~netgpt_lite.synergy.stages.write_summary`).  The
  runs go to ``out/E4/<trace>-seed<k>`` (resumable) and run ``workers`` at a time in separate processes.
* **E5** SFT vs more SFT vs SFT-anchored RL, and the anchors' ablation
  (:func:`netgpt_lite.experiments.rl_comparison.run_e5`).
* **E6** scorer refresh on vs off: E4's first run and its fork with ``scorer_refresh_every=0`` at round 1.

``results.json`` carries a manifest written by :class:`netgpt_lite.provenance.Recorder` (command, seed, split,
sizes, config, git commit, source hash, versions, start/end time, wall and CPU seconds) plus the mode (fast or
full), the peak memory and the wall and CPU seconds of each step.  The report is one HTML file with plotly.js
inlined once, so it opens offline.

Example:
    $ netgpt-lite reproduce --out runs/repro --fast
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netgpt_lite.experiments.frontier import (
    LTE_DRIVE,
    exploration_logs,
    fit_policies,
    main_table,
    named_source,
    table_rows,
)
from netgpt_lite.experiments.rl_comparison import E5Config
from netgpt_lite.experiments.rl_comparison import run_e5 as run_e5_experiment
from netgpt_lite.network.pricing import Price
from netgpt_lite.network.state import REGIMES
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, peak_rss_mb
from netgpt_lite.routing.edge_outputs import load_edge_tables
from netgpt_lite.routing.explorer import operating_points
from netgpt_lite.routing.limits import REFERENCE_BINS
from netgpt_lite.routing.policies import RoutingContext
from netgpt_lite.routing.simulator import SimulationConfig, frontier_grid
from netgpt_lite.routing.tables import default_tables
from netgpt_lite.synergy.loop import fork_run, read_state, run_synergy
from netgpt_lite.synergy.stages import default_stages, synergy_config, write_summary
from netgpt_lite.theory.sweep import cloud_fraction
from netgpt_lite.viz.rl import e5_figure
from netgpt_lite.viz.routing import frontier_figure, threshold_curves_figure
from netgpt_lite.viz.synergy import decomposition_figure, refresh_figure, rounds_figure
from netgpt_lite.viz.threshold import utility_vs_threshold_figure

EXPERIMENTS = ("E1", "E2", "E3", "E4", "E5", "E6")
EDGES = ("smollm2", "tiny")


@dataclass(frozen=True)
class ReproduceConfig:
    """Sizes of the experiments (``fast`` shrinks data and steps, never the experiments themselves).

    Attributes:
        fast: the fast preset (CI, the book's fast mode) instead of the full one.
        seeds: evaluation seeds of E3 (>= 1; the book reports >= 3) and E5.
        n_test, n_logs: tasks in the test / log proposal tables (chapter 5).
        n_requests: requests per evaluation stream (E3).
        policynet_epochs: PolicyNet training epochs.
        rl_steps, rl_eval: RL steps and evaluation tasks per E5 run.
        synergy_rounds, synergy_requests: rounds and requests per round of E4/E6.
        synergy_eval: held-out evaluation requests of E4/E6.
        synergy_calibration: labelled calibration tasks the policy is refitted on each round.
        synergy_edge: the edge E4/E6 improve (``smollm2``, or ``tiny`` in the fast preset).
        synergy_traces: E4's traces (the first one carries the arms and E6).
        synergy_seeds: E4's seeds (the first one carries the arms and E6).
        synergy_rl_steps: SFT-anchored RL steps per round.
        workers: synergy runs computed at once, each in its own process (torch threads split between them).
        seed: the run's base seed.
        regimes: static regimes: E1's nominal states and E3's sanity-check cells.
        traces: E3's time-varying trace sources (``mixed``, ``commute``, ``lte_drive``: the shipped
            self-made Mahimahi drive).
        pricings: E3's pricing schedules.
        edge: whose proposal tables E1-E3 route: ``smollm2`` (the shipped SmolLM2 edge outputs) or
            ``tiny`` (the from-scratch model, run now).
        only: the experiments to run (``--only``); the others are left out of ``results.json``.
    """

    fast: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    n_test: int = 300
    n_logs: int = 300
    n_requests: int = 2000
    policynet_epochs: int = 400
    rl_steps: int = 4
    rl_eval: int = 60
    synergy_rounds: int = 2
    synergy_requests: int = 24
    synergy_eval: int = 24
    synergy_calibration: int = 16
    synergy_edge: str = "smollm2"
    synergy_traces: tuple[str, ...] = ("reachable", "mixed")
    synergy_seeds: tuple[int, ...] = (0, 1)
    synergy_rl_steps: int = 1
    workers: int = 2
    seed: int = 0
    regimes: tuple[str, ...] = ("5g_good", "4g", "congested", "satellite", "near_outage")
    traces: tuple[str, ...] = ("mixed", "commute", LTE_DRIVE)
    pricings: tuple[str, ...] = ("flat", "peak_offpeak", "surge")
    edge: str = "smollm2"
    only: tuple[str, ...] = EXPERIMENTS
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be a non-empty tuple of integers >= 0; got {self.seeds}")
        if self.edge not in EDGES:
            raise ValueError(f"edge must be one of {list(EDGES)}; got {self.edge!r}")
        bad = [e for e in self.only if e not in EXPERIMENTS]
        if bad or not self.only:
            raise ValueError(f"only must name experiments among {list(EXPERIMENTS)}; got {list(self.only)}")
        for name in self.traces:
            named_source(name)  # raises for an unknown trace
        for name in self.regimes:
            if name not in REGIMES:
                raise ValueError(f"regimes must be names from {list(REGIMES)}; got {name!r}")
        if not self.synergy_traces or not self.synergy_seeds or any(s < 0 for s in self.synergy_seeds):
            raise ValueError("synergy_traces and synergy_seeds must be non-empty (seeds >= 0); got "
                             f"{self.synergy_traces}, {self.synergy_seeds}")
        for name in ("n_test", "n_logs", "n_requests", "policynet_epochs", "rl_steps", "rl_eval",
                     "synergy_rounds", "synergy_requests", "synergy_eval", "synergy_calibration", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")

    @classmethod
    def preset(cls, fast: bool, seed: int = 0, only=EXPERIMENTS) -> ReproduceConfig:
        """The documented fast or full preset (``only``: a subset of :data:`EXPERIMENTS`)."""
        if not fast:
            return cls(seed=seed, synergy_seeds=(seed, seed + 1), only=tuple(only))
        return cls(fast=True, seed=seed, n_test=200, n_logs=200, n_requests=400, policynet_epochs=100,
                   rl_steps=3, rl_eval=32, synergy_rounds=2, synergy_requests=96, synergy_eval=96,
                   synergy_calibration=96, synergy_edge="tiny", synergy_seeds=(seed,), workers=1,
                   traces=("mixed", LTE_DRIVE), regimes=("4g", "near_outage"), only=tuple(only))


# --- E1 + E2: frontiers and thresholds --------------------------------------------------------------
def _tables(cfg: ReproduceConfig):
    """``(log_table, test_table)``: E1-E3 evaluate on the *test* split's unseen phrasings, with policies
    fitted on validation logs.  ``smollm2``: the shipped edge outputs (:func:`load_edge_tables`, 300 + 300
    tasks whatever ``n_test``); ``tiny``: the from-scratch model run now on ``n_test`` / ``n_logs`` tasks."""

    if cfg.edge == "smollm2":
        return load_edge_tables()
    return default_tables(n_test=cfg.n_test, n_logs=cfg.n_logs, seed=cfg.seed, eval_split="test")


def exploration_policies(cfg: ReproduceConfig, log_table) -> dict:
    """Policies fitted on log-uniform exploration logs (bandwidth, RTT and price drawn independently):
    what E1 and E2 draw, since they ask how a rule moves over the whole range of states."""
    logs = exploration_logs(log_table, SimulationConfig(), 4 * cfg.n_requests, cfg.seed)
    return fit_policies(log_table, logs, seed=cfg.seed, policynet_epochs=cfg.policynet_epochs)


def run_e1(cfg: ReproduceConfig, test_table, policies: dict, e3: dict) -> dict:
    """E1: fixed-threshold sweep and policy operating points at each regime's nominal state."""

    taus = np.linspace(0.0, 1.0, 41)
    out = {}
    for regime in cfg.regimes:
        z = REGIMES[regime]
        grid = frontier_grid(test_table, z.bandwidth_mbps, z.rtt_ms, taus)
        out[regime] = {
            "sweep": {k: grid[k].reshape(-1).tolist() for k in ("success", "cost_usd", "offload", "utility")},
            "points": operating_points(test_table, policies, z.bandwidth_mbps, z.rtt_ms),
            "sweep_metrics": e3.get(f"{regime}/flat", {}).get("sweep", {}),
        }
    return out


def run_e2(cfg: ReproduceConfig, test_table, policies: dict) -> dict:
    """E2: FuncDyn's and PolicyNet's thresholds and offload rates against bandwidth, RTT and price."""

    n_in, req = float(np.median(test_table.cloud_input_tokens)), float(np.median(test_table.request_bytes))
    axes = {"bandwidth_mbps": np.geomspace(0.05, 500, 40), "rtt_ms": np.geomspace(10, 3000, 40),
            "price_multiplier": np.geomspace(0.25, 8, 40)}
    base = {"bandwidth_mbps": 30.0, "rtt_ms": 60.0, "price_multiplier": 1.0}
    out = {}
    for axis, values in axes.items():
        state = {k: np.full(values.size, v) for k, v in base.items()}
        state[axis] = values
        price = Price()  # the default price, times the price-multiplier axis
        ctx = RoutingContext(np.zeros(values.size), state["bandwidth_mbps"], state["rtt_ms"],
                             price.usd_per_1k_input * state["price_multiplier"],
                             price.usd_per_1k_output * state["price_multiplier"], n_in, req, 0.0)
        curves = {}
        for name in ("funcdyn", "policynet"):
            tau = np.clip(policies[name].thresholds(ctx), 0.0, 1.0)
            curves[name] = {"threshold": tau.tolist(), "offload": cloud_fraction(test_table.edge_score, tau).tolist()}
        out[axis] = {"x": values.tolist(), "curves": curves,
                     "funcdyn_monotone": bool(_monotone(curves["funcdyn"]["threshold"], axis))}
    taus = np.linspace(0.0, 1.0, 101)
    utility = frontier_grid(test_table, base["bandwidth_mbps"], base["rtt_ms"], taus)["utility"].reshape(-1)
    peaks = int(np.sum((utility[1:-1] > utility[:-2]) & (utility[1:-1] >= utility[2:])))
    out["utility_vs_threshold"] = {"threshold": taus.tolist(), "utility": utility.tolist(), "n_local_maxima": peaks,
                                   "best_threshold": float(taus[int(np.argmax(utility))])}
    return out


def _monotone(tau, axis: str) -> bool:
    d = np.diff(np.asarray(tau))
    return bool((d >= -1e-9).all() if axis == "bandwidth_mbps" else (d <= 1e-9).all())


# --- E3, E5, E4 + E6 ----------------------------------------------------------------------------------
def run_e3(cfg: ReproduceConfig, test_table, log_table) -> dict:
    """E3: policies x (time-varying traces, then the static regimes as a sanity check) x pricing schedules,
    fitted per cell and seed on another day's logs of the same trace (:func:`main_table`)."""
    sources = [named_source(t) for t in cfg.traces] + [named_source(r) for r in cfg.regimes]
    results = main_table(test_table, log_table, sources, cfg.pricings, seeds=cfg.seeds, n_requests=cfg.n_requests,
                         n_logs=4 * cfg.n_requests, policynet_epochs=cfg.policynet_epochs)
    return {"cells": results, "rows": table_rows(results),
            "config": {"traces": list(cfg.traces), "static_regimes": list(cfg.regimes), "pricings": list(cfg.pricings),
                       "seeds": list(cfg.seeds), "n_requests": cfg.n_requests, "n_logs": 4 * cfg.n_requests,
                       "threshold_oracle_bins": REFERENCE_BINS, "edge": cfg.edge}}


def run_e5(cfg: ReproduceConfig, out_dir: Path) -> dict:
    """E5 (:func:`~netgpt_lite.experiments.rl_comparison.run_e5`) in ``out_dir/E5`` (resumable run by run):
    the shipped preset in full mode; in fast mode the tiny edge, 2 steps, one seed."""
    if cfg.fast:
        config = E5Config(edge="tiny", n_pool=16, n_replay=16, n_eval=16, seeds=(cfg.seed,), ablation_seeds=(cfg.seed,),
                          rl=E5Config().rl.replace(steps=min(cfg.rl_steps, 2)))  # fmt: skip
    else:
        config = E5Config(n_eval=cfg.rl_eval, rl=E5Config().rl.replace(steps=cfg.rl_steps))
    return run_e5_experiment(config, out_dir / "E5", progress=False)


def synergy_runs(cfg: ReproduceConfig) -> dict:
    """Run name -> ``(SynergyConfig, fork)`` of E4/E6: one run per trace and seed, then on the first trace and
    seed the RL-off arm (forked at round 0: round 0 trains nothing) and the refresh-off arm (forked at round 1:
    both settings fit the scorer there).  ``fork`` is ``(source run, round)`` or None.

    Example:
        >>> sorted(synergy_runs(ReproduceConfig.preset(fast=True)))
        ['mixed-seed0', 'reachable-seed0', 'reachable-seed0-refresh_off', 'reachable-seed0-rl_off']
    """
    base = synergy_config(fast=cfg.fast, rounds=cfg.synergy_rounds, requests_per_round=cfg.synergy_requests,
                          eval_requests=cfg.synergy_eval, calibration_tasks=cfg.synergy_calibration,
                          edge=cfg.synergy_edge, rl_steps=cfg.synergy_rl_steps,
                          sft_epochs=1 if cfg.synergy_edge == "smollm2" else synergy_config(fast=cfg.fast).sft_epochs)
    runs = {f"{t}-seed{s}": (dataclasses.replace(base, trace=t, seed=s), None)
            for t in cfg.synergy_traces for s in cfg.synergy_seeds}
    head = f"{cfg.synergy_traces[0]}-seed{cfg.synergy_seeds[0]}"
    runs[f"{head}-rl_off"] = (dataclasses.replace(runs[head][0], rl_steps=0), (head, 0))
    runs[f"{head}-refresh_off"] = (dataclasses.replace(runs[head][0], scorer_refresh_every=0), (head, 1))
    return runs


def _synergy_job(name: str, config, fork, out_dir: str, threads: int, cloud=None) -> dict:
    """One synergy run to its last round and its summary (a worker process's whole job)."""
    import torch

    torch.set_num_threads(threads)
    out, stages = Path(out_dir), default_stages(cloud)
    if fork is not None and read_state(out / name) is None:
        while (read_state(out / fork[0]) or {}).get("last_completed_round", -1) < fork[1]:
            time.sleep(5)  # the source run commits its round (in the other worker) before this fork is taken
        fork_run(out / fork[0], out / name, at_round=fork[1], config=config)
    result = run_synergy(config, out / name, stages=stages, resume=True)
    summary = write_summary(result, stages=stages)
    print(f"E4 {name}: done, offload by round {[round(r['offload_rate'], 3) for r in result.rounds]}", flush=True)
    return summary


def _last_round(summaries: list[dict]) -> dict:
    """The issue's headline figures at the last round, mean over the runs (seeds), and per seed."""
    keys = ("cloud_calls_saved_vs_always_cloud", "success_gap_vs_always_cloud")
    rows = [{**{k: s["last_vs_always_cloud"][k] for k in keys},
             "schema_valid_rate": s["rounds"][-1]["schema_valid_rate"],
             "edge_exact_match": s["rounds"][-1]["edge_exact_match"],
             "offload_rate": s["rounds"][-1]["offload_rate"], "task_success": s["rounds"][-1]["task_success"],
             "always_cloud_task_success": s["rounds"][-1]["always_cloud_task_success"]} for s in summaries]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return {**mean, "per_seed": rows}


def _trends(summaries: list[dict]) -> dict:
    """Per seed: whether offload fell in every round and success never fell (round r vs r - 1)."""
    out = {"offload_falls_every_round": [], "success_never_falls": []}
    for s in summaries:
        off = np.array([r["offload_rate"] for r in s["rounds"]])
        suc = np.array([r["task_success"] for r in s["rounds"]])
        out["offload_falls_every_round"].append(bool((np.diff(off) < 0).all()))
        out["success_never_falls"].append(bool((np.diff(suc) >= -1e-12).all()))
    return out


def run_e4_e6(cfg: ReproduceConfig, out_dir: Path, cloud=None) -> tuple[dict, dict]:
    """E4 and E6 from :func:`synergy_runs`, ``cfg.workers`` runs at a time (each resumable in ``out_dir/E4``).
    ``cloud``: a real cloud agent answering instead of the simulated one (``default_stages(cloud)``)."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    runs, folder = synergy_runs(cfg), out_dir / "E4"
    folder.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // cfg.workers)
    if cfg.workers == 1:
        summaries = {n: _synergy_job(n, c, f, str(folder), threads, cloud) for n, (c, f) in runs.items()}
    else:
        with ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn")) as pool:
            futures = {n: pool.submit(_synergy_job, n, c, f, str(folder), threads, cloud) for n, (c, f) in runs.items()}
            summaries = {n: f.result() for n, f in futures.items()}
    head = f"{cfg.synergy_traces[0]}-seed{cfg.synergy_seeds[0]}"
    traces = {}
    for t in cfg.synergy_traces:
        mains = [summaries[f"{t}-seed{s}"] for s in cfg.synergy_seeds]
        traces[t] = {"seeds": list(cfg.synergy_seeds), "last_round": _last_round(mains), **_trends(mains),
                     "runs": {str(s): m for s, m in zip(cfg.synergy_seeds, mains)}}
    arms = {"rl_on": head, "rl_off": f"{head}-rl_off", "refresh_off": f"{head}-refresh_off"}
    e4 = {"traces": traces, "arms": {k: {"run": v, "last_round": _last_round([summaries[v]]),
                                         "rounds": summaries[v]["rounds"]} for k, v in arms.items()},
          "config": dataclasses.asdict(runs[head][0]),
          "rounds_wall_s": round(sum(sum(s["seconds_per_round"]) for s in summaries.values()), 1)}
    e6 = {"refresh_on": summaries[head]["rounds"], "refresh_off": summaries[f"{head}-refresh_off"]["rounds"]}
    return e4, e6


def e4_summary(results: dict) -> dict:
    """``reproduce --summary``: the headline E4 figures per trace from a results file, nothing recomputed.

    Example:
        >>> e4_summary({"E4": {"traces": {"reachable": {"seeds": [0, 1], "last_round": {
        ...     "cloud_calls_saved_vs_always_cloud": 0.6, "success_gap_vs_always_cloud": -0.01,
        ...     "schema_valid_rate": 1.0, "edge_exact_match": 0.6}}}},
        ...     "manifest": {"git_commit": "abc"}})["E4"]["reachable"]["cloud_calls_saved_vs_always_cloud"]
        0.6
    """
    keys = ("cloud_calls_saved_vs_always_cloud", "success_gap_vs_always_cloud", "schema_valid_rate", "edge_exact_match")
    if "traces" not in results.get("E4", {}):
        raise ValueError("the results file has no per-trace E4 (made before the SmolLM2 synergy runs); rerun reproduce")
    e4 = results["E4"]
    out = {t: {k: v["last_round"][k] for k in keys} | {"n_seeds": len(v["seeds"])} for t, v in e4["traces"].items()}
    arms = {a: {k: v["last_round"][k] for k in keys} | {"run": v["run"]} for a, v in e4.get("arms", {}).items()}
    return {"E4": out, "E4_arms": arms, "manifest": results["manifest"]}


# --- the whole thing -----------------------------------------------------------------------------------
def manifest(cfg: ReproduceConfig, recorder: Recorder, seconds_per_step: dict) -> dict:
    """The run's manifest: :meth:`Recorder.finish` plus the mode, the peak memory and each step's seconds.

    Args:
        cfg: the run's configuration (its ``fast`` flag is the mode).
        recorder: the recorder started with the run (:func:`run_recorder`).
        seconds_per_step: step name -> ``{"wall_s", "cpu_s", ...}``.

    Example:
        >>> m = manifest(ReproduceConfig.preset(fast=True), run_recorder(ReproduceConfig.preset(fast=True)), {})
        >>> m["mode"], m["split"], m["sizes"]["n_seeds"], m["peak_rss_mb"] > 0
        ('fast', 'test', 3, True)
    """
    return recorder.finish(mode="fast" if cfg.fast else "full", peak_rss_mb=peak_rss_mb(),
                           seconds_per_step=seconds_per_step)


def run_recorder(cfg: ReproduceConfig) -> Recorder:
    """A :class:`~netgpt_lite.provenance.Recorder` for a run with ``cfg``: its seed, the split E1-E3 evaluate
    on (``test``), its sizes and the whole configuration.

    Example:
        >>> run_recorder(ReproduceConfig.preset(fast=True)).sizes["n_requests"]
        400
    """
    sizes = {"n_seeds": len(cfg.seeds), "n_regimes": len(cfg.regimes), "n_traces": len(cfg.traces),
             "n_pricings": len(cfg.pricings), "experiments": list(cfg.only), "n_synergy_seeds": len(cfg.synergy_seeds),
             **{k: getattr(cfg, k) for k in ("n_test", "n_logs", "n_requests", "policynet_epochs", "rl_steps",
                                             "rl_eval", "synergy_rounds", "synergy_requests", "synergy_eval",
                                             "synergy_calibration")}}
    return Recorder(seed=cfg.seed, split="test", sizes=sizes, config=cfg)


def run_experiments(cfg: ReproduceConfig, out_dir: str | Path, progress: bool = True, cloud=None) -> dict:
    """Run E1-E6 with ``cfg`` (synergy runs go to ``out_dir/synergy_*`` and resume if rerun); JSON-able results.

    ``cloud``: a real cloud agent (e.g. :class:`~netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud`) that
    answers in the synergy runs (E4, E6) instead of the simulated cloud; E1-E3 and E5 keep the simulated one.

    E5, the longest step, keeps every finished run in ``out_dir/E5/runs`` and reuses them when repeated.
    """
    from tqdm.auto import tqdm

    recorder, out, results, timings = run_recorder(cfg), Path(out_dir), {}, {}
    out.mkdir(parents=True, exist_ok=True)
    steps = ["tables"] + (["policies"] if {"E1", "E2"} & set(cfg.only) else [])
    steps += [s for s in ("E3", "E1", "E2") if s in cfg.only]
    steps += (["E4+E6"] if {"E4", "E6"} & set(cfg.only) else []) + (["E5"] if "E5" in cfg.only else [])
    bar = tqdm(steps, desc="reproduce", disable=not progress)
    for step in bar:
        bar.set_postfix_str(step)
        wall0, cpu0, extra = time.perf_counter(), cpu_seconds(), {}
        if step == "tables":
            log_table, test_table = _tables(cfg)
            results["tables"] = {"test_source": test_table.source, "log_source": log_table.source,
                                 "n_test": len(test_table), "n_logs": len(log_table), "edge": cfg.edge}
        elif step == "policies":
            policies = exploration_policies(cfg, log_table)
        elif step == "E3":
            results["E3"] = run_e3(cfg, test_table, log_table)
        elif step == "E1":
            results["E1"] = run_e1(cfg, test_table, policies, results.get("E3", {}).get("cells", {}))
        elif step == "E2":
            results["E2"] = run_e2(cfg, test_table, policies)
        elif step == "E5":
            results["E5"] = run_e5(cfg, out)  # finished runs under out/E5/runs are reused
        else:
            results["E4"], results["E6"] = run_e4_e6(cfg, out, cloud)
            # a resumed run computes only its missing rounds: the rounds' own seconds say what all of them took
            extra = {"rounds_wall_s": results["E4"]["rounds_wall_s"], "workers": cfg.workers}
        timings[step] = {"wall_s": round(time.perf_counter() - wall0, 2),
                         "cpu_s": round(cpu_seconds() - cpu0, 2), **extra}
    results["manifest"] = manifest(cfg, recorder, timings)
    return json.loads(json.dumps(results, default=_jsonable))


def reproduce(out_dir: str | Path, fast: bool = False, seed: int = 0, progress: bool = True,
              only=EXPERIMENTS, cloud=None) -> dict:
    """Run E1-E6 or the ``only`` subset (:func:`run_experiments` with the fast or full preset); write
    ``results.json`` and ``report.html`` into ``out_dir``; return the results.  ``cloud``: see
    :func:`run_experiments` (None: the simulated cloud everywhere)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = run_experiments(ReproduceConfig.preset(fast, seed, only), out, progress, cloud=cloud)
    atomic_write_json(out / "results.json", results)
    write_report(results, out / "report.html")
    return results


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# --- the static HTML report ------------------------------------------------------------------------------
def report_figures(results: dict) -> dict:
    """Title -> Plotly figure for every experiment in ``results`` (pure: reads numbers, draws)."""

    figs = {}
    if "E1" in results:
        e1 = results["E1"]
        figs["E1 quality-cost frontiers"] = frontier_figure({r: v["sweep"] for r, v in e1.items()},
                                                            {r: v["points"] for r, v in e1.items()})
    for axis, label in (("bandwidth_mbps", "bandwidth (Mbps)"), ("rtt_ms", "RTT (ms)"), ("price_multiplier", "price x")):
        if "E2" not in results:
            break
        curves = results["E2"][axis]["curves"]
        figs[f"E2 threshold vs {label}"] = threshold_curves_figure(
            results["E2"][axis]["x"], {n: c["threshold"] for n, c in curves.items()}, label)
        figs[f"E2 offload vs {label}"] = threshold_curves_figure(
            results["E2"][axis]["x"], {n: c["offload"] for n, c in curves.items()}, label, y_title="offload rate")
    if "E2" in results:
        u = results["E2"]["utility_vs_threshold"]
        figs["E2 utility vs threshold"] = utility_vs_threshold_figure(
            np.array(u["threshold"]), {"4G-like state": np.array(u["utility"])}, {"4G-like state": u["best_threshold"]})
    for trace, e4 in results.get("E4", {}).get("traces", {}).items():
        first = e4["runs"][str(e4["seeds"][0])]
        figs[f"E4 synergy rounds, {trace} trace (seed {e4['seeds'][0]})"] = rounds_figure(first["rounds"])
        figs[f"E4 gain decomposition, {trace} trace (seed {e4['seeds'][0]})"] = decomposition_figure(first["decomposition"])
    if "E5" in results:
        figs["E5 SFT vs more SFT vs anchored RL"] = e5_figure(results["E5"])
    if "E6" in results:
        figs["E6 scorer refresh"] = refresh_figure(results["E6"])
    return figs


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(results: dict, path: str | Path) -> Path:
    """One self-contained HTML page (plotly.js inlined once) with every figure and the E3 table."""
    from plotly.offline import get_plotlyjs

    m = results["manifest"]
    parts = [f"<h1>netgpt-lite: experiments E1-E6 ({m['mode']} mode)</h1>",
             f"<p>Computed {html.escape(str(m['finished_utc']))} in {m['wall_s']} s (CPU {m.get('cpu_s')} s), "
             f"peak memory {m['peak_rss_mb']} MB, library source {html.escape(str(m.get('source_hash')))}; "
             f"tables: {html.escape(str(results['tables']))}.</p>"]
    for title, fig in report_figures(results).items():
        parts.append(f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False))
    if "E3" in results:
        parts.append("<h2>E3 main table (mean ± std over seeds)</h2>" + _table_html(results["E3"]["rows"]))
    parts.append("<h2>Manifest</h2><pre>" + html.escape(json.dumps(m, indent=1)) + "</pre>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>netgpt-lite results</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
