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
    SEED,
    TRACE_HELP,
    UsageError,
    add_cloud_flags,
    add_fast,
    cloud_agent_from_args,
    existing_file,
    flag_errors,
    float_range,
    int_range,
    is_fast,
    one_of,
    output_dir,
    output_file,
    print_json,
    reading,
    refuse_inapplicable,
    request_suites,
    trace_source,
)
from netgpt_lite.cli.bounds import count, upto
from netgpt_lite.cli.files import model_problem
from netgpt_lite.experiments import calibrated_cut, equal_success
from netgpt_lite.experiments.frontier import TraceSource, compact_summary, run_frontier
from netgpt_lite.experiments.reproduce import reproduce
from netgpt_lite.experiments.reproduce_config import EXPERIMENTS, ReproduceConfig
from netgpt_lite.experiments.synergy_experiments import e4_summary, synergy_runs
from netgpt_lite.network.mahimahi import read_mahimahi
from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.network.state import REGIMES
from netgpt_lite.network.traces import read_trace_csv
from netgpt_lite.provenance import Recorder, file_sha256
from netgpt_lite.routing.edge_outputs import LOG_SOURCES, SHIPPED_DIR, load_edge_tables, stream_tasks
from netgpt_lite.routing.explorer import explorer_grid
from netgpt_lite.routing.proposals import synthetic_table
from netgpt_lite.routing.simulator import SimulationConfig
from netgpt_lite.routing.tables import edge_table
from netgpt_lite.synergy.config import CALIBRATION_CHOICES, saved_setting
from netgpt_lite.synergy.loop import EDGES, STATE_FILE, run_synergy
from netgpt_lite.synergy.stages import default_stages, synergy_config
from netgpt_lite.synergy.summary import write_summary
from netgpt_lite.tasks.generate import generate_tasks
from netgpt_lite.viz.routing import frontier_explorer_figure

# --- chapter 05: frontier ------------------------------------------------------------------
EDGE_TABLES = ("smollm2", "tiny", "synthetic")
FRONTIER_TRACES = ("mixed", "commute", *REGIMES)


def add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontier", help="every policy on a day of changing network, with its limits (ch. 5)")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--trace", default="mixed",
                     help="'mixed' (Markov chain over all regimes), 'commute', a static regime name "
                          f"({', '.join(REGIMES)}), or a CSV trace with columns t, bandwidth_mbps, rtt_ms")
    net.add_argument("--mahimahi", type=existing_file, default=None,
                     help="a Mahimahi (mm-link) link trace: one delivery-opportunity timestamp in ms per line; "
                          "RTT = base RTT of its technology + queueing")
    p.add_argument("--base-rtt-ms", type=float_range(0.0, 60_000.0), default=None,
                   help="with --mahimahi: override its technology's base RTT, in (0, 60000] ms (lte 50, umts 120, "
                        "evdo 150)")
    p.add_argument("--pricing", type=one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--edge", type=one_of("edge", list(EDGE_TABLES)), default="smollm2",
                   help="proposal tables: smollm2 (the shipped SmolLM2 edge outputs), tiny (the from-scratch "
                        "model, run now) or synthetic (SYNTHETIC tables, for tests)")
    p.add_argument("--logs", type=one_of("logs", ["deployment", "validation"]), default="deployment",
                   help="what the policies are fitted on: 'deployment' (the evaluation's own traffic on another "
                        "day: yesterday's logs of the same service) or 'validation' (another distribution of "
                        "phrasings: the distribution-shift arm)")
    p.add_argument("--n-seeds", type=count("seeds"), default=3,
                   help=f"number of seeds (0..K-1), {upto('seeds')}; mean and std over them")
    p.add_argument("--n-requests", type=count("stream"), default=2000, help=f"requests per evaluation stream, {upto('stream')}")
    p.add_argument("--n-logs", type=count("stream"), default=8000,
                   help=f"logged requests the policies are fitted on, {upto('stream')}")
    p.add_argument("--n-tasks", type=count("requests"), default=300,
                   help=f"tasks per table for --edge tiny/synthetic, {upto('requests')}")
    p.add_argument("--policynet-epochs", type=count("epochs"), default=400, help=f"PolicyNet training epochs, {upto('epochs')}")
    p.add_argument("--out", type=output_file, default="frontier.json", help="where to write the full JSON results")
    p.add_argument("--json", action="store_true",
                   help="print {policies: {NAME: {utility, task_success, offload_rate, cost_per_1k_requests_usd, "
                        "latency_p95_ms, oracle_gain_share}}, config} instead of a short summary")
    p.add_argument("--html", type=output_file, default=None, help="also write the interactive explorer (offline HTML) here")
    add_cloud_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(check=_check_frontier, func=_run_frontier)


def _check_frontier(args: argparse.Namespace) -> dict:
    """Parse the trace (a bad file names its line) and validate sizes before any work."""
    with flag_errors({"pricing": "--pricing", "n_requests": "--n-requests"}):
        SimulationConfig(pricing=args.pricing, n_requests=args.n_requests)
    refuse_inapplicable(args, {
        "--base-rtt-ms": (lambda a: a.mahimahi is not None, "only applies to a --mahimahi trace (CSV traces carry "
                                                             "their RTT)"),
        "--n-tasks": (lambda a: a.edge != "smollm2", "needs --edge tiny or synthetic (--edge smollm2 reads the "
                                                     "shipped tables)"),
        "--cloud-base-url": (lambda a: a.edge != "synthetic", "needs real requests to send: --edge smollm2 or tiny, "
                                                              "not synthetic")})
    if args.mahimahi is not None:
        with reading("--mahimahi", args.mahimahi):
            source = TraceSource(Path(args.mahimahi).name, read_mahimahi(args.mahimahi, base_rtt_ms=args.base_rtt_ms))
    elif args.trace in FRONTIER_TRACES:
        source = TraceSource(args.trace)
    elif Path(args.trace).is_file():
        with reading("--trace", args.trace):
            source = TraceSource(Path(args.trace).name, read_trace_csv(args.trace))
    else:
        raise UsageError(f"argument --trace: must be one of {list(FRONTIER_TRACES)} or an existing CSV file; "
                         f"got {args.trace!r}")
    recorder = Recorder(seed=None, split="test", sizes={"n_seeds": args.n_seeds, "n_requests": args.n_requests,
                                                        "n_logs": args.n_logs},
                        config={k: v for k, v in vars(args).items() if k not in ("check", "func")},
                        entry=["netgpt_lite.experiments.frontier"])
    return {"source": source, "cloud": cloud_agent_from_args(args), "recorder": recorder}


def _frontier_tables(args: argparse.Namespace, cloud=None):
    """``(log_table, test_table)``; with a real ``cloud`` their cloud columns are its answers to the same
    requests (every log and test request is sent once; one cloud draw each)."""
    if args.edge == "synthetic":
        return synthetic_table(args.n_tasks, 1), synthetic_table(args.n_tasks, 0)
    if args.edge == "tiny":
        # deployment logs: the evaluation's phrasings, other requests (the next seed), as routing_tables does
        log_split, log_seed = ("test", 1) if args.logs == "deployment" else ("validation", 0)
        tables = (edge_table(log_split, args.n_tasks, log_seed), edge_table("test", args.n_tasks, 0))
        tasks = (generate_tasks(log_split, args.n_tasks, seed=log_seed), generate_tasks("test", args.n_tasks, seed=0))
    else:
        tables = load_edge_tables(logs=args.logs)
        tasks = (stream_tasks(SHIPPED_DIR / "smollm2", LOG_SOURCES[args.logs]),
                 stream_tasks(SHIPPED_DIR / "smollm2", "test"))
    if cloud is None:
        return tables
    from netgpt_lite.synergy.real_cloud import with_cloud_answers

    return tuple(with_cloud_answers(table, t, cloud)[0] for table, t in zip(tables, tasks, strict=True))


def _run_frontier(args: argparse.Namespace, plan: dict) -> int:
    import numpy as np

    source = plan["source"]
    log_table, test_table = _frontier_tables(args, plan["cloud"])
    result = run_frontier(test_table, log_table, source, args.pricing, seeds=tuple(range(args.n_seeds)),
                          n_requests=args.n_requests, n_logs=args.n_logs, policynet_epochs=args.policynet_epochs,
                          keep_runs=args.html is not None, progress=not args.quiet)
    result["config"].update(edge=args.edge, logs=args.logs if args.edge != "synthetic" else "synthetic")
    result["config"]["cloud"] = ("simulated" if plan["cloud"] is None
                                 else {"base_url": args.cloud_base_url, "model": args.cloud_model})
    if args.mahimahi is not None:
        result["config"].update(mahimahi=str(args.mahimahi), base_rtt_ms=args.base_rtt_ms)
    repeats = result["config"]["trace_repeats"]
    if repeats > 1:
        result["config"]["note"] = (f"the trace ({source.replay_length} states) is "
                                    f"shorter than the stream ({args.n_requests} requests, one state each): it "
                                    f"repeats {repeats} times, as mm-link does")
    runs = result.pop("runs", None)
    trace_file = args.mahimahi or (args.trace if Path(args.trace).is_file() else None)
    if trace_file is not None:  # which file it was, byte for byte (public traces are checked by this sha256)
        result["config"]["trace_sha256"] = file_sha256(trace_file)
    result["manifest"] = plan["recorder"].finish()
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    if args.html is not None:
        grid = explorer_grid(test_table, runs[0]["policies"], np.geomspace(0.05, 300.0, 8), np.geomspace(10.0, 3000.0, 8),
                             calibration=runs[0]["policies"]["funcdyn"].calibration)  # thresholds as P(right)
        frontier_explorer_figure(grid, 5, 2).write_html(args.html, include_plotlyjs=True)
    if args.json:
        print_json(compact_summary(result))
        return 0
    summary = {n: {k: round(v["mean"], 4) for k, v in m.items() if k in ("mean_utility", "oracle_gain_share")}
               for n, m in result["policies"].items()}
    room = compact_summary(result)["room"]  # above fixed_hindsight, with its interval
    print_json({"out": args.out, "trace": source.name, "note": result["config"].get("note"),
                "table_source": test_table.source, "room_above_fixed_hindsight": room, "policies": summary})
    return 0


# --- chapter 07: synergy, reproduce -----------------------------------------------------------
def add_synergy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synergy", help="router and edge improved together, round by round (ch. 7)")
    p.add_argument("--rounds", type=count("rounds"), required=True, help=f"improvement rounds after round 0, {upto('rounds')}")
    p.add_argument("--trace", type=trace_source, default="markov", help=TRACE_HELP)
    p.add_argument("--pricing", type=one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--policy", default="funcdyn", choices=["funcdyn", "policynet"], help="routing policy")
    p.add_argument("--requests-per-round", type=count("round_requests", 8), default=None,
                   help=f"requests routed per round, {upto('round_requests', 8)}")
    p.add_argument("--scorer-refresh-every", type=count("rounds", 0), default=None,
                   help=f"refresh the scorer every k rounds, {upto('rounds', 0)} (0: never)")
    p.add_argument("--rl-steps", type=count("round_steps", 0), default=None,
                   help=f"SFT-anchored RL steps per round, {upto('round_steps', 0)} (0: SFT only)")
    p.add_argument("--edge", default="tiny", choices=list(EDGES),
                   help="the edge the loop improves: the tiny from-scratch LM or SmolLM2 with the shipped adapter")
    p.add_argument("--calibration", default="auto", choices=list(CALIBRATION_CHOICES),
                   help="FuncDyn's calibration map, refitted each round: auto (Platt or isotonic by cross-validated "
                        "log-loss on the calibration set), platt or isotonic")
    p.add_argument("--seed", type=SEED, default=0)
    add_fast(p, "small settings (the book's fast mode)")
    p.add_argument("--out", type=output_dir, required=True,
                   help="output folder: log/, checkpoints/, state.json, summary.json")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last completed round")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_cloud_flags(p)
    p.set_defaults(check=_check_synergy, func=_run_synergy)


_SYNERGY_FLAGS = {"rounds": "--rounds", "trace": "--trace", "pricing": "--pricing", "policy": "--policy",
                  "requests_per_round": "--requests-per-round", "scorer_refresh_every": "--scorer-refresh-every",
                  "rl_steps": "--rl-steps", "seed": "--seed", "edge": "--edge", "calibration": "--calibration"}


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


def _first_difference(saved: dict, config) -> tuple[str, object, object] | None:
    """``(setting, saved value, this run's value)`` of the first setting (``rounds`` aside: it may grow) in which
    ``config`` differs from a run's saved config (settings it predates read as the value it ran with), or None."""
    for name, value in dataclasses.asdict(config).items():
        if name != "rounds" and saved_setting(saved, name) != value:
            return name, saved_setting(saved, name), value
    return None


def _refuse_other_settings(saved: dict | None, config, where: str, fix: str, flags: dict | None = None,
                           other: str = "--out") -> None:
    """Refuse to resume ``where`` when its saved config differs from ``config`` (:func:`_first_difference`): one
    message naming the flag (``flags[setting]``, else ``other``), the setting, both values and the ``fix``."""
    differs = None if saved is None else _first_difference(saved, config)
    if differs:
        name, before, value = differs
        raise UsageError(f"argument {(flags or {}).get(name, other)}: {where} was made with {name}={before!r}, "
                         f"this run: {value!r}; {fix}")


def _check_synergy(args: argparse.Namespace) -> dict:
    problem = model_problem(args.edge) if args.edge == "smollm2" else None  # its weights must be installed
    if problem:
        raise UsageError(f"argument --edge: {problem}")
    overrides = {"requests_per_round": args.requests_per_round, "scorer_refresh_every": args.scorer_refresh_every,
                 "rl_steps": args.rl_steps}
    with flag_errors(_SYNERGY_FLAGS):
        config = synergy_config(fast=is_fast(args), rounds=args.rounds, trace=args.trace, pricing=args.pricing,
                                policy=args.policy, seed=args.seed, edge=args.edge, calibration=args.calibration)
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    saved = _saved_synergy_config(Path(args.out))
    if saved is not None and not args.resume:
        raise UsageError(f"argument --out: {args.out!r} already holds a synergy run; pass --resume to continue it "
                         "or choose a new --out")
    _refuse_other_settings(saved, config, f"the run being resumed in {args.out!r}",
                           "resume with the same flags (only --rounds may grow) or choose a new --out",
                           flags=_SYNERGY_FLAGS, other="--fast")  # settings no flag sets come from the preset
    return {"config": config, "cloud": cloud_agent_from_args(args)}


def _run_synergy(args: argparse.Namespace, plan: dict) -> int:
    stages = default_stages(plan["cloud"])
    result = run_synergy(plan["config"], args.out, stages=stages, resume=args.resume, progress=not args.quiet)
    print_json(write_summary(result, stages=stages))
    return 0


def add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run experiments E1-E6 and write results.json + an HTML report")
    p.add_argument("--out", type=output_dir, help="output folder: results.json, report.html, synergy runs "
                   "(required unless --summary)")
    p.add_argument("--summary", action="store_true",
                   help="print the headline E4 figures per trace from the shipped results.json (or --results) "
                        "and its manifest; computes nothing")
    p.add_argument("--results", type=existing_file, default=None,
                   help="with --summary: a results.json other than the shipped one")
    p.add_argument("--json", action="store_true", help="with --summary: print JSON (the only format)")
    add_fast(p, "the fast preset (minutes instead of tens of minutes)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--only", type=experiment_list, default=EXPERIMENTS,
                   help="comma-separated experiments to run, e.g. E1,E2,E3 (default: all of E1-E6)")
    add_cloud_flags(p)  # a real cloud answers in the synergy runs (E4, E6)
    p.add_argument("--handwritten", type=existing_file, nargs="+", default=None,
                   help="request files (JSONL, as eval-edge --tasks reads) written apart from the task generator: "
                        "every synergy run's round-0 and last edge are evaluated on each, paired, e.g. "
                        "tests/data/handwritten_requests.jsonl tests/data/independent_requests.jsonl")
    p.add_argument("--workers", type=int_range(1, 16, "one process each; 16 is far past a laptop's cores"), default=None,
                   help="synergy runs (E4, E6) computed at once, each in its own process with its own SmolLM2 "
                        "(about 3 GB each); default: 2, or 1 with --fast")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(check=_check_reproduce, func=_run_reproduce)


def experiment_list(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for ``--only``: comma-separated names among E1-E6."""
    names = tuple(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    bad = [n for n in names if n not in EXPERIMENTS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"must list experiments among {','.join(EXPERIMENTS)}; got {text!r}")
    return names


SHIPPED_RESULTS = Path(__file__).resolve().parents[1] / "data" / "results" / "results.json"


_RUN_FLAGS = ("--out", "--fast", "--seed", "--only", "--cloud-base-url", "--cloud-model", "--cloud-key-env",
              "--cloud-concurrency", "--handwritten", "--workers", "--quiet")  # reproduce flags that --summary (which computes nothing) ignores


def _check_reproduce(args: argparse.Namespace) -> dict:
    run = (lambda a: not a.summary, "does not apply with --summary (it reads a results file and computes nothing)")
    summary = (lambda a: a.summary, "needs --summary (a run always writes results.json and prints JSON)")
    synergy = (lambda a: bool({"E4", "E6"} & set(a.only)), "needs E4 or E6 in --only (only their synergy runs use "
                                                           "it)")
    refuse_inapplicable(args, {**dict.fromkeys(_RUN_FLAGS, run), "--results": summary, "--json": summary})
    refuse_inapplicable(args, {"--cloud-base-url": synergy, "--handwritten": synergy, "--workers": synergy})
    if args.summary:
        path = args.results or SHIPPED_RESULTS
        with reading("--results", path, parse_errors=False):
            text = Path(path).read_text(encoding="utf-8")
        try:
            results = json.loads(text)
            summary = e4_summary(results)
            # False: a run made before its rounds kept the values equal success is read from
            kept = all(equal_success.kept_values(results["E4"], t) for t in results["E4"]["traces"])
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(f"argument --results: {str(path)!r} is not a reproduce results file ({err})") from err
        return {"summary": summary, "e4": results["E4"], "kept": kept}
    if args.out is None:
        raise UsageError("argument --out: required (or pass --summary to read the shipped results)")
    fast = is_fast(args)
    with flag_errors({"seed": "--seed"}):
        cfg = ReproduceConfig.preset(fast, args.seed, args.only, args.workers)
    # a rerun into the same --out resumes its synergy runs (E4/E6): they must have been made with these settings
    for name, (config, _fork) in synergy_runs(cfg).items():
        _refuse_other_settings(_saved_synergy_config(Path(args.out) / "E4" / name), config,
                               f"the reproduce run in {args.out!r} (E4/{name})",
                               "rerun with the same --fast/--no-fast and --seed, or choose a new --out")
    written = request_suites("--handwritten", args.handwritten)
    return {"fast": fast, "cloud": cloud_agent_from_args(args), "written": written or None}


def _run_reproduce(args: argparse.Namespace, plan: dict) -> int:
    if "summary" in plan:  # the equal-success bootstraps are work: done here, after every check passed
        at_equal = equal_success.summary(plan["e4"]) if plan["kept"] else None
        cut = calibrated_cut.summary(plan["e4"]) if plan["kept"] else None  # None: no calibration sets kept
        print_json(plan["summary"] | ({"E4_equal_success": at_equal} if at_equal else {})
                   | ({"E4_calibrated_cut": cut} if cut else {}))
        return 0
    results = reproduce(args.out, fast=plan["fast"], seed=args.seed, progress=not args.quiet, only=args.only,
                        cloud=plan["cloud"], written=plan["written"], workers=args.workers)
    m = results["manifest"]
    print_json({"out": args.out, "mode": m["mode"], "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                 "seconds_per_step": m["seconds_per_step"]})
    return 0
