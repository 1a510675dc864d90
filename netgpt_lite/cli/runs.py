"""Subcommands that run experiments: ``frontier`` (chapter 5), ``synergy`` (chapter 7), ``reproduce``.

Each subcommand has an ``add_*`` function that declares its flags, a check function that validates
them and builds its configs (and, for ``synergy``, compares them with a run already in ``--out``)
before any work; then a run function does the work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from netgpt_lite.cli.arguments import (
    COUNT,
    POSITIVE_INT,
    SEED,
    TRACE_HELP,
    UsageError,
    add_fast,
    flag_errors,
    int_range,
    is_fast,
    one_of,
    output_dir,
    output_file,
    print_json,
    trace_source,
)
from netgpt_lite.experiments.frontier import run_frontier
from netgpt_lite.experiments.reproduce import ReproduceConfig, reproduce
from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.routing.explorer import explorer_grid
from netgpt_lite.routing.simulator import SimulationConfig, synthetic_table
from netgpt_lite.routing.tables import default_tables
from netgpt_lite.synergy.loop import STATE_FILE, run_synergy
from netgpt_lite.synergy.stages import default_stages, synergy_config, write_summary
from netgpt_lite.viz.routing import frontier_explorer_figure


# --- chapter 05: frontier ------------------------------------------------------------------
def add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontier", help="quality-cost frontier and metrics of every policy (ch. 5)")
    p.add_argument("--regime", default="mixed", help="'mixed' (Markov chain over all regimes) or a regime name")
    p.add_argument("--pricing", type=one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--n-seeds", type=POSITIVE_INT, default=3, help="number of seeds (0..K-1), >= 1; mean and std over them")
    p.add_argument("--n-requests", type=POSITIVE_INT, default=2000, help="requests per evaluation stream")
    p.add_argument("--n-logs", type=POSITIVE_INT, default=8000, help="exploration log requests the policies are fitted on")
    p.add_argument("--n-tasks", type=POSITIVE_INT, default=300, help="test (and validation) tasks run through the edge model")
    p.add_argument("--synthetic", action="store_true", help="use SYNTHETIC proposal tables instead of the edge model")
    p.add_argument("--policynet-epochs", type=POSITIVE_INT, default=400, help="PolicyNet training epochs")
    p.add_argument("--out", type=output_file, default="results.json", help="where to write the JSON results")
    p.add_argument("--html", type=output_file, default=None, help="also write the interactive explorer (offline HTML) here")
    p.set_defaults(check=_check_frontier, func=_run_frontier)


def _check_frontier(args: argparse.Namespace) -> dict:
    with flag_errors({"regime": "--regime", "pricing": "--pricing", "n_requests": "--n-requests"}):
        SimulationConfig(regime=args.regime, pricing=args.pricing, n_requests=args.n_requests)
    return {}


def _run_frontier(args: argparse.Namespace, plan: dict) -> int:
    import numpy as np

    if args.synthetic:
        log_table, test_table = synthetic_table(args.n_tasks, 1), synthetic_table(args.n_tasks, 0)
    else:
        log_table, test_table = default_tables(args.n_tasks, args.n_tasks)
    result = run_frontier(test_table, log_table, args.regime, args.pricing, seeds=tuple(range(args.n_seeds)),
                          n_requests=args.n_requests, n_logs=args.n_logs, policynet_epochs=args.policynet_epochs,
                          keep_runs=args.html is not None)
    runs = result.pop("runs", None)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    if args.html is not None:
        grid = explorer_grid(test_table, runs[0]["policies"], np.geomspace(0.05, 300.0, 8), np.geomspace(10.0, 3000.0, 8))
        frontier_explorer_figure(grid, 5, 2).write_html(args.html, include_plotlyjs=True)
    summary = {n: {k: round(v["mean"], 4) for k, v in m.items() if k in ("task_success", "mean_utility")}
               for n, m in result["policies"].items()}
    print_json({"out": args.out, "table_source": result["table_source"], "policies": summary})
    return 0


# --- chapter 07: synergy, reproduce -----------------------------------------------------------
def add_synergy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synergy", help="router and edge improved together, round by round (ch. 7)")
    p.add_argument("--rounds", type=int_range(1, 800), required=True, help="improvement rounds after round 0, in [1, 800]")
    p.add_argument("--trace", type=trace_source, default="markov", help=TRACE_HELP)
    p.add_argument("--pricing", type=one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--policy", default="funcdyn", choices=["funcdyn", "policynet"], help="routing policy")
    p.add_argument("--requests-per-round", type=int_range(8), default=None, help="requests routed per round, >= 8")
    p.add_argument("--scorer-refresh-every", type=COUNT, default=None, help="refresh the scorer every k rounds (0: never)")
    p.add_argument("--rl-steps", type=COUNT, default=None, help="SFT-anchored RL steps per round (0: SFT only)")
    p.add_argument("--seed", type=SEED, default=0)
    add_fast(p, "small settings (the book's fast mode)")
    p.add_argument("--out", type=output_dir, required=True,
                   help="output folder: log/, checkpoints/, state.json, summary.json")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last completed round")
    p.set_defaults(check=_check_synergy, func=_run_synergy)


_SYNERGY_FLAGS = {"rounds": "--rounds", "trace": "--trace", "pricing": "--pricing", "policy": "--policy",
                  "requests_per_round": "--requests-per-round", "scorer_refresh_every": "--scorer-refresh-every",
                  "rl_steps": "--rl-steps", "seed": "--seed"}


def _saved_synergy_config(run_dir: Path) -> dict | None:
    """The config of the synergy run committed in ``run_dir`` (None: no run there)."""

    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())["config"]
        if not isinstance(saved, dict):
            raise TypeError("'config' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"argument --out: {str(path)!r} is not a readable synergy state ({err}); "
                         "choose a new --out") from None
    return saved


def _check_synergy(args: argparse.Namespace) -> dict:
    overrides = {"requests_per_round": args.requests_per_round, "scorer_refresh_every": args.scorer_refresh_every,
                 "rl_steps": args.rl_steps}
    with flag_errors(_SYNERGY_FLAGS):
        config = synergy_config(fast=is_fast(args), rounds=args.rounds, trace=args.trace, pricing=args.pricing,
                                policy=args.policy, seed=args.seed)
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    saved = _saved_synergy_config(Path(args.out))
    if saved is not None and not args.resume:
        raise UsageError(f"argument --out: {args.out!r} already holds a synergy run; pass --resume to continue it "
                         "or choose a new --out")
    if saved is not None:
        for name, value in dataclasses.asdict(config).items():
            if name != "rounds" and saved.get(name) != value:
                flag = _SYNERGY_FLAGS.get(name, "--fast")
                raise UsageError(f"argument {flag}: {name}={value!r} differs from the run being resumed in "
                                 f"{args.out!r} ({saved.get(name)!r}); resume with the same flags (only --rounds "
                                 "may grow) or choose a new --out")
    return {"config": config}


def _run_synergy(args: argparse.Namespace, plan: dict) -> int:
    result = run_synergy(plan["config"], args.out, stages=default_stages(), resume=args.resume, progress=True)
    print_json(write_summary(result))
    return 0


def add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run experiments E1-E6 and write results.json + an HTML report")
    p.add_argument("--out", type=output_dir, required=True, help="output folder: results.json, report.html, synergy runs")
    add_fast(p, "the fast preset (minutes instead of tens of minutes)")
    p.add_argument("--seed", type=SEED, default=0)
    p.set_defaults(check=_check_reproduce, func=_run_reproduce)


def _check_reproduce(args: argparse.Namespace) -> dict:
    fast = is_fast(args)
    with flag_errors({"seed": "--seed"}):
        cfg = ReproduceConfig.preset(fast, args.seed)
    # a rerun into the same --out resumes its synergy runs (E4/E6): they must have been made with these settings
    expected = {"seed": cfg.seed, "requests_per_round": cfg.synergy_requests, "eval_requests": cfg.synergy_eval,
                "calibration_tasks": cfg.synergy_eval}
    for run in ("synergy_refresh_on", "synergy_refresh_off"):
        saved = _saved_synergy_config(Path(args.out) / run) or expected
        for name, value in expected.items():
            if saved.get(name) != value:
                raise UsageError(f"argument --out: {args.out!r} holds a reproduce run made with other settings "
                                 f"({run}: {name}={saved.get(name)!r}, this run: {value!r}); rerun with the same "
                                 "--fast/--no-fast and --seed, or choose a new --out")
    return {"fast": fast}


def _run_reproduce(args: argparse.Namespace, plan: dict) -> int:
    results = reproduce(args.out, fast=plan["fast"], seed=args.seed, progress=True)
    m = results["manifest"]
    print_json({"out": args.out, "mode": m["mode"], "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                 "seconds_per_step": m["seconds_per_step"]})
    return 0
