"""Experiments E4 and E6 of ``netgpt-lite reproduce``: the synergy runs, their arms and their worker processes.

* **E4** the synergy loop on the SmolLM2 edge (``synergy_edge``), per trace (``reachable``: the cloud always
  reachable; ``mixed``: outages and satellite periods too) and seed: offload, success, schema-valid rate and
  KL-to-SFT over rounds next to AlwaysCloud on the same held-out stream, the gain decomposition, and two arms
  on the first trace and seed: RL off (``rl_steps=0``, forked at round 0) and scorer refresh off (E6)
  (:func:`netgpt_lite.synergy.loop.run_synergy`, :func:`~netgpt_lite.synergy.summary.write_summary`).
* **E6** scorer refresh on vs off: E4's first run and its fork with ``scorer_refresh_every=0`` at round 1.

How long each edge trains per round is its recipe's (:data:`netgpt_lite.synergy.edge_models.RECIPES`).  The
runs go to ``out/E4/<trace>-seed<k>`` (resumable) and run ``workers`` at a time in separate processes;
:func:`run_scheduled` submits a forked arm only once its source run has committed the fork round (or
finished), and fails it with the source's error if the source fails, so no worker ever waits on another.

Example:
    >>> from netgpt_lite.experiments.reproduce_config import ReproduceConfig
    >>> runs = synergy_runs(ReproduceConfig.preset(fast=True))
    >>> runs["reachable-seed0-rl_off"][1], runs["reachable-seed0-refresh_off"][1]
    (('reachable-seed0', 0), ('reachable-seed0', 1))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

import numpy as np

from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.synergy.edge_models import RECIPES
from netgpt_lite.synergy.loop import fork_run, read_state, run_synergy
from netgpt_lite.synergy.stages import default_stages, synergy_config
from netgpt_lite.synergy.summary import (
    arm_contrast,
    pooled_last_round,
    pooled_last_vs_first,
    pooled_round_over_round,
    write_summary,
)

POLL_S = 5.0  # how often the scheduler reads a running source's state.json for the round a fork waits on


def synergy_runs(cfg: ReproduceConfig) -> dict:
    """Run name -> ``(SynergyConfig, fork)`` of E4/E6: one run per trace and seed, then on the first trace and
    seed the RL-off arm (forked at round 0: round 0 trains nothing) and the refresh-off arm (forked at round 1:
    both settings fit the scorer there).  ``fork`` is ``(source run, round)`` or None.  The SFT epochs per
    round are the edge recipe's (:class:`~netgpt_lite.synergy.edge_models.EdgeRecipe`), else the preset's.

    Example:
        >>> sorted(synergy_runs(ReproduceConfig.preset(fast=True)))
        ['mixed-seed0', 'reachable-seed0', 'reachable-seed0-refresh_off', 'reachable-seed0-rl_off']
    """
    recipe = RECIPES[cfg.synergy_edge]
    epochs = {} if recipe.sft_epochs is None else {"sft_epochs": recipe.sft_epochs}
    base = synergy_config(fast=cfg.fast, rounds=cfg.synergy_rounds, requests_per_round=cfg.synergy_requests,
                          eval_requests=cfg.synergy_eval, calibration_tasks=cfg.synergy_calibration,
                          edge=cfg.synergy_edge, rl_steps=cfg.synergy_rl_steps,
                          edge_decoding=cfg.synergy_decoding, **epochs)
    runs = {f"{t}-seed{s}": (dataclasses.replace(base, trace=t, seed=s), None)
            for t in cfg.synergy_traces for s in cfg.synergy_seeds}
    head = f"{cfg.synergy_traces[0]}-seed{cfg.synergy_seeds[0]}"
    runs[f"{head}-rl_off"] = (dataclasses.replace(runs[head][0], rl_steps=0), (head, 0))
    runs[f"{head}-refresh_off"] = (dataclasses.replace(runs[head][0], scorer_refresh_every=0), (head, 1))
    return runs


def synergy_job(name: str, config, fork, out_dir: str, threads: int, cloud=None, written=None,
                round_processes: bool = False) -> dict:
    """One synergy run to its last round and its summary (a worker process's whole job).  A forked arm is
    first copied from its source (:func:`~netgpt_lite.synergy.loop.fork_run`), which :func:`run_scheduled`
    has seen commit the fork round.  ``written``: suite name -> tasks the first and last edge are evaluated on
    (:func:`~netgpt_lite.synergy.summary.written_requests`).  ``round_processes``: each round runs in a
    process of its own (:func:`round_job`), which ends when the round is committed.

    Why a process per round: the heap of a process that trained and evaluated SmolLM2 keeps what it freed,
    and it grows round over round.  In one process per run, with oneDNN's kernels bounded, a worker's
    resident memory began round 1 at 1.4 GB and round 3 at 2.5 GB, and peaked at 3.56 GB in round 2's RL
    (E4 at the full preset, two workers, 2 cores).  A round in a fresh process starts from the checkpoint on
    disk, as a resumed round does, so the run computes the same (to float rounding: each process compiles its
    own kernels; the scores of a tiny run agreed to 1e-7); each round records its own peak
    (``peak_rss_mb`` in ``state.json``).
    """
    import torch

    torch.set_num_threads(threads)
    out, stages = Path(out_dir), default_stages(cloud)
    if fork is not None and read_state(out / name) is None:
        fork_run(out / fork[0], out / name, at_round=fork[1], config=config)
    while round_processes and (done := _committed(out / name)) < config.rounds:
        with worker_pool(1) as pool:
            pool.submit(round_job, config, str(out / name), threads, cloud, done + 1).result()
        if _committed(out / name) <= done:  # never loop on a round that does not commit
            raise RuntimeError(f"E4 {name}: round {done + 1} ended without committing")
    result = run_synergy(config, out / name, stages=stages, resume=read_state(out / name) is not None)
    summary = write_summary(result, stages=stages, written=written)
    print(f"E4 {name}: done, offload by round {[round(r['offload_rate'], 3) for r in result.rounds]}", flush=True)
    return summary


def _committed(run_dir: Path) -> int:
    """The last round ``run_dir`` has committed (-1: none yet)."""
    return (read_state(run_dir) or {}).get("last_completed_round", -1)


def round_job(config, run_dir: str, threads: int, cloud, r: int) -> None:
    """Compute and commit round ``r`` of the run in ``run_dir`` (rounds before it committed), and nothing
    more: one round in a process of its own (:func:`synergy_job`)."""
    import torch

    torch.set_num_threads(threads)
    run_synergy(config, Path(run_dir), stages=default_stages(cloud), resume=read_state(Path(run_dir)) is not None,
                until_round=r)


def _run_here(job: Callable, *args) -> Future:
    """Run ``job(*args)`` now, in this process: a finished future holding its result or its error."""
    future = Future()
    try:
        future.set_result(job(*args))
    except Exception as err:  # reported with the run's name by run_scheduled
        future.set_exception(err)
    return future


def _fork_status(name: str, fork, folder: Path, futures: dict, failures: dict):
    """``"ready"``, ``"wait"``, or the error to fail a forked arm with (its source failed)."""
    if fork is None or read_state(folder / name) is not None:  # a resumed fork no longer needs its source
        return "ready"
    source, at_round = fork
    error = failures.get(source)
    if source in futures and futures[source].done():
        error = futures[source].exception()
    if error is not None:
        failure = RuntimeError(f"not run: its source run {source} failed ({type(error).__name__}: {error})")
        failure.__cause__ = error
        return failure
    if source in futures and (futures[source].done()
                              or (read_state(folder / source) or {}).get("last_completed_round", -1) >= at_round):
        return "ready"
    return "wait"


def run_scheduled(runs: dict, submit: Callable[[str, object, object], Future], folder: Path,
                  poll_s: float | None = None) -> dict:
    """Run name -> summary of every run in ``runs`` (:func:`synergy_runs`), each computed by the future that
    ``submit(name, config, fork)`` returns (a worker process's, or one run in this process).

    A run without a fork is submitted at once.  A forked arm is submitted only once it can start: its folder
    already holds a run (resumed), or its source has committed the fork round or finished; if the source
    fails, the arm fails with the source's error, named.  Every run that can finish does (each resumes if
    repeated); then one ``RuntimeError`` names every failed run and why.

    Args:
        runs: run name -> ``(SynergyConfig, fork)``, ``fork`` being ``(source run, round)`` or None.
        submit: starts one run; ``folder / name`` is where it commits its rounds (``state.json``).
        folder: the runs' parent folder (``out/E4``).
        poll_s: seconds between reads of a running source's state (default :data:`POLL_S`).
    """
    poll_s = POLL_S if poll_s is None else poll_s
    futures, failures, waiting = {}, {}, dict(runs)
    while waiting or not all(f.done() for f in futures.values()):
        progressed = False
        for name, (config, fork) in list(waiting.items()):
            status = _fork_status(name, fork, folder, futures, failures)
            if isinstance(status, BaseException):
                failures[name] = status
            elif status == "ready":
                futures[name] = submit(name, config, fork)
            else:
                continue
            del waiting[name]
            progressed = True
        running = [f for f in futures.values() if not f.done()]
        if running:
            wait(running, timeout=poll_s, return_when=FIRST_COMPLETED)
        elif waiting and not progressed:  # every source is done or absent: these forks can never start
            for name, (_, fork) in waiting.items():
                failures[name] = RuntimeError(f"not run: its source run {fork[0]} never ran")
            waiting = {}
    errors = {n: failures[n] if n in failures else futures[n].exception() for n in runs}
    errors = {n: e for n, e in errors.items() if e is not None}
    if errors:
        why = "; ".join(f"{n} ({type(e).__name__}: {e})" for n, e in errors.items())
        raise RuntimeError(f"{len(errors)} of {len(runs)} synergy runs failed: {why}; the finished ones "
                           f"are kept in {folder} and resume") from next(iter(errors.values()))
    return {n: futures[n].result() for n in runs}


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


def pooled_written(summaries: list[dict]) -> dict:
    """Per written suite, the last round's edge against the round-0 edge over the seeds: each request's
    verdict averaged over seeds, paired (:func:`~netgpt_lite.stats.paired_mean_difference`); empty when the
    runs were not evaluated on written requests.

    Example:
        >>> run = {"written": {"hand": {"correct": {"round_0": [True, False], "last": [True, True]}}}}
        >>> pooled_written([run, run])["hand"]["difference"]
        0.5
    """
    from netgpt_lite.stats import paired_mean_difference

    suites = set.intersection(*(set(s.get("written") or {}) for s in summaries)) if summaries else set()
    return {name: paired_mean_difference([s["written"][name]["correct"]["last"] for s in summaries],
                                         [s["written"][name]["correct"]["round_0"] for s in summaries])
            for name in sorted(suites)}


ONEDNN_CACHE_ENV_VAR = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 128
"""How many compiled bf16 kernels oneDNN keeps in E4's processes (its default is 1024)."""


def bound_onednn_cache(capacity: int = ONEDNN_CACHE_CAPACITY) -> bool:
    """Keep at most ``capacity`` of oneDNN's compiled kernels in this process and the ones it spawns, unless
    the environment already says how many.

    On a CPU, bf16 matrix products run through oneDNN, which compiles a kernel for every shape it meets and
    keeps up to 1024 of them.  A synergy round's LoRA SFT on requests of many lengths meets hundreds of shapes,
    and the kept kernels stay in the heap: a small SmolLM2 run (64 requests a round) held 185, 432 and 585 MB of
    heap in use as rounds 0, 1 and 2 began their evaluation, its live tensors constant from round 1 on, and
    the growth came in SFT.  Measured
    (``train_lora`` on 64 requests, twice, one thread, an AMX CPU): at 128 the heap in use was 0.48 and 0.52 GB
    against 0.73 and 0.81 GB, the RSS 1.44 and 1.49 GB against 1.79 and 1.90 GB, for 135 and 135 CPU-s against
    132 and 142; at 8 it cost 45% more CPU time.  The trained adapter is bit-identical whatever the capacity.

    oneDNN reads the setting when it first compiles a kernel, so this runs before any bf16 work, and spawned
    workers inherit it.  (Set here, not in :mod:`netgpt_lite.runtime`: every artifact's code depends on that
    module, and this is a setting of E4's long processes.)

    Returns:
        True when it set the capacity; False when ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` was set already.

    Example:
        >>> bound_onednn_cache() in (True, False)
        True
    """
    import os

    if ONEDNN_CACHE_ENV_VAR in os.environ:
        return False
    os.environ[ONEDNN_CACHE_ENV_VAR] = str(capacity)
    return True


def worker_pool(workers: int):
    """The process pool E4's runs go to: ``workers`` spawned processes, each run in a fresh one.

    A worker that ran one run and then starts the next holds the heap the first left behind: a reused worker
    peaked at 4.15 GB in its second run.  From Python 3.11 on every process ends after its one run
    (``max_tasks_per_child=1``; a new process costs seconds against a run's hours); on 3.10 workers are
    reused.  Within one run the heap grew round over round (a fresh worker: 3.3 GB in round 3's improvement,
    3.7 GB in round 4's, the issue's sizes) by the kernels oneDNN kept: :func:`run_e4_e6` bounds them
    (:func:`bound_onednn_cache`) before the pool starts.

    Example:
        >>> import os
        >>> with worker_pool(1) as pool:  # doctest: +SKIP
        ...     len({pool.submit(os.getpid).result() for _ in range(2)})
        2
    """
    import sys
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), **fresh)


def run_e4_e6(cfg: ReproduceConfig, out_dir: Path, cloud=None, written=None) -> tuple[dict, dict]:
    """E4 and E6 from :func:`synergy_runs`, ``cfg.workers`` runs at a time (each resumable in ``out_dir/E4``).
    ``cloud``: a real cloud agent answering instead of the simulated one (``default_stages(cloud)``);
    ``written``: suite name -> tasks that every run's first and last edge are evaluated on."""
    import os

    bound_onednn_cache()  # before any bf16 product here or in the workers, who inherit it
    runs, folder = synergy_runs(cfg), Path(out_dir) / "E4"
    folder.mkdir(parents=True, exist_ok=True)
    import torch

    # a share of the cores per worker, never more threads than the caller allows (OMP_NUM_THREADS,
    # torch.set_num_threads): oversubscribed threads on a busy machine spend their time waiting
    threads = max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // cfg.workers))
    if cfg.workers == 1:
        summaries = run_scheduled(runs, lambda n, c, f: _run_here(synergy_job, n, c, f, str(folder), threads, cloud, written,
                                                                  cfg.round_processes), folder)
    else:
        with worker_pool(cfg.workers) as pool:
            summaries = run_scheduled(runs, lambda n, c, f: pool.submit(synergy_job, n, c, f, str(folder), threads, cloud,
                                                                        written, cfg.round_processes), folder)
    head = f"{cfg.synergy_traces[0]}-seed{cfg.synergy_seeds[0]}"
    traces = {}
    for t in cfg.synergy_traces:
        mains = [summaries[f"{t}-seed{s}"] for s in cfg.synergy_seeds]
        traces[t] = {"seeds": list(cfg.synergy_seeds), "last_round": _last_round(mains), **_trends(mains),
                     # seeds pooled, with 95% intervals (None for runs made before per-request values were kept)
                     "last_round_intervals": pooled_last_round(mains),
                     "round_over_round": pooled_round_over_round(mains),
                     "last_vs_round_0": pooled_last_vs_first(mains),  # did success hold over the rounds?
                     "written": pooled_written(mains),  # last edge vs round 0 on requests written apart
                     "runs": {str(s): m for s, m in zip(cfg.synergy_seeds, mains)}}
    arms = {"rl_on": head, "rl_off": f"{head}-rl_off", "refresh_off": f"{head}-refresh_off"}
    e4 = {"traces": traces, "arms": {k: {"run": v, "last_round": _last_round([summaries[v]]),
                                         "vs_rl_on": None if k == "rl_on" else arm_contrast(summaries[v], summaries[head]),
                                         "rounds": summaries[v]["rounds"], "written": pooled_written([summaries[v]])}
                     for k, v in arms.items()},
          "config": dataclasses.asdict(runs[head][0]), "written_suites": {k: len(v) for k, v in (written or {}).items()},
          "rounds_wall_s": round(sum(sum(s["seconds_per_round"]) for s in summaries.values()), 1),
          # the largest resident memory of any round (MiB; None for runs made before rounds kept it)
          "round_peak_rss_mb": max((m for s in summaries.values() for m in s.get("peak_rss_mb") or [] if m is not None),
                                   default=None)}
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
    for t, v in e4["traces"].items():  # intervals and trends, where the run kept per-request values
        out[t].update(intervals=v.get("last_round_intervals"), round_over_round=v.get("round_over_round"),
                      last_vs_round_0=v.get("last_vs_round_0"),
                      offload_falls_every_round=v.get("offload_falls_every_round"),
                      success_never_falls=v.get("success_never_falls"), written=v.get("written"))
    arms = {a: {k: v["last_round"][k] for k in keys} | {"run": v["run"], "vs_rl_on": v.get("vs_rl_on")}
            for a, v in e4.get("arms", {}).items()}
    return {"E4": out, "E4_arms": arms, "E4_round_peak_rss_mb": e4.get("round_peak_rss_mb"),
            "manifest": results["manifest"]}
