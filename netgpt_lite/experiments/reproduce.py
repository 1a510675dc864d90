"""``netgpt-lite reproduce``: run experiments E1-E6 and write ``results.json`` plus a static HTML report.

Each experiment calls the library function that owns it (nothing is re-implemented here); this module runs
them in order, times each step and writes the results:

* **E1-E3** (routing one edge's proposal tables: frontiers, thresholds, the main table):
  :mod:`netgpt_lite.experiments.routing_experiments`.
* **E4 + E6** (the synergy runs, their RL-off and refresh-off arms, in worker processes):
  :mod:`netgpt_lite.experiments.synergy_experiments`.
* **E5** SFT vs more SFT vs SFT-anchored RL, and the anchors' ablation
  (:func:`netgpt_lite.experiments.rl_comparison.run_e5`, sized by :func:`run_e5`).
* the sizes of all of them: :class:`~netgpt_lite.experiments.reproduce_config.ReproduceConfig` (fast or
  full preset); the HTML page: :mod:`netgpt_lite.experiments.report`.

``results.json`` carries a manifest written by :class:`netgpt_lite.provenance.Recorder` (command, seed, split,
sizes, config, git commit, source hash, versions, start/end time, wall and CPU seconds) plus the mode (fast or
full), the peak memory and the wall and CPU seconds of each step.  The report is one HTML file with plotly.js
inlined once, so it opens offline.

Example:
    $ netgpt-lite reproduce --out runs/repro --fast
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from netgpt_lite.experiments.report import write_report
from netgpt_lite.experiments.reproduce_config import EXPERIMENTS, ReproduceConfig
from netgpt_lite.experiments.rl_comparison import E5Config
from netgpt_lite.experiments.rl_comparison import run_e5 as run_e5_experiment
from netgpt_lite.experiments.routing_experiments import (
    exploration_policies,
    routing_tables,
    run_e1,
    run_e2,
    run_e3,
)
from netgpt_lite.experiments.synergy_experiments import run_e4_e6
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, peak_rss_mb


def run_e5(cfg: ReproduceConfig, out_dir: Path) -> dict:
    """E5 (:func:`~netgpt_lite.experiments.rl_comparison.run_e5`) in ``out_dir/E5`` (resumable run by run):
    the shipped preset in full mode; in fast mode the tiny edge, 2 steps, one seed."""
    if cfg.fast:
        config = E5Config(edge="tiny", n_pool=16, n_replay=16, n_eval=16, n_curve=8, seeds=(cfg.seed,),
                          rl_seeds=(cfg.seed,), ablation_seeds=(cfg.seed,), raft_samples=2,
                          rl=E5Config().rl.replace(steps=min(cfg.rl_steps, 2)))  # fmt: skip
    else:
        config = E5Config(n_eval=cfg.rl_eval, rl=E5Config().rl.replace(steps=cfg.rl_steps))
    return run_e5_experiment(config, out_dir / "E5", progress=False)


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
    return Recorder(seed=cfg.seed, split="test", sizes=sizes, config=cfg, entry=[__name__])


def run_experiments(cfg: ReproduceConfig, out_dir: str | Path, progress: bool = True, cloud=None,
                    written=None) -> dict:
    """Run E1-E6 with ``cfg`` (synergy runs go to ``out_dir/E4`` and resume if rerun); JSON-able results.

    ``cloud``: a real cloud agent (e.g. :class:`~netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud`) that
    answers in the synergy runs (E4, E6) instead of the simulated cloud; E1-E3 and E5 keep the simulated one.
    ``written``: suite name -> tasks written apart from the generator (``--handwritten``), on which each
    synergy run's first and last edge are evaluated.

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
            log_table, test_table = routing_tables(cfg)
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
            results["E4"], results["E6"] = run_e4_e6(cfg, out, cloud, written)
            # a resumed run computes only its missing rounds: the rounds' own seconds say what all of them took
            extra = {"rounds_wall_s": results["E4"]["rounds_wall_s"], "workers": cfg.workers}
        timings[step] = {"wall_s": round(time.perf_counter() - wall0, 2),
                         "cpu_s": round(cpu_seconds() - cpu0, 2), **extra}
    results["manifest"] = manifest(cfg, recorder, timings)
    return json.loads(json.dumps(results, default=_jsonable))


def reproduce(out_dir: str | Path, fast: bool = False, seed: int = 0, progress: bool = True,
              only=EXPERIMENTS, cloud=None, written=None, workers: int | None = None) -> dict:
    """Run E1-E6 or the ``only`` subset (:func:`run_experiments` with the fast or full preset); write
    ``results.json`` and ``report.html`` into ``out_dir``; return the results.  ``cloud``, ``written``: see
    :func:`run_experiments` (None: the simulated cloud everywhere; no written requests); ``workers``: synergy
    runs at once (None: the preset's)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = run_experiments(ReproduceConfig.preset(fast, seed, only, workers), out, progress, cloud=cloud,
                              written=written)
    atomic_write_json(out / "results.json", results)
    write_report(results, out / "report.html")
    return results


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
