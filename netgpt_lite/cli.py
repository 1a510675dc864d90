"""The ``netgpt-lite`` command line: one subcommand per chapter that produces numbers.

Every subcommand imports its library module lazily, so ``netgpt-lite --help`` is instant and
works without torch being imported.  Errors in user input exit with status 2 and one line
naming the field (``error: bandwidth_mbps must be ...``).

Example:
    $ netgpt-lite threshold --bandwidth-mbps 50 --rtt-ms 40 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


# --- chapter 02: threshold ---------------------------------------------------------------
def _add_threshold(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("threshold", help="optimal fallback threshold tau*(bandwidth, RTT, price) (ch. 2)")
    net = p.add_argument_group("network (give --bandwidth-mbps and --rtt-ms, or a --regime)")
    net.add_argument("--bandwidth-mbps", type=float, help="bandwidth edge<->cloud in Mbps (> 0)")
    net.add_argument("--rtt-ms", type=float, help="round-trip time in ms (> 0)")
    net.add_argument("--regime", help="take bandwidth and RTT from a named regime (5g_good, 4g, ...)")
    price = p.add_argument_group("price (USD per 1,000 tokens, >= 0)")
    price.add_argument("--usd-per-1k-input", type=float, default=0.003)
    price.add_argument("--usd-per-1k-output", type=float, default=0.015)
    util = p.add_argument_group("utility weights and calibration g(s) = sigmoid(a s + b)")
    util.add_argument("--reward", type=float, default=1.0, help="R, utility of a correct tool call (> 0)")
    util.add_argument("--lambda-latency-per-ms", type=float, default=5e-4, help="utility lost per ms (> 0)")
    util.add_argument("--lambda-cost-per-usd", type=float, default=20.0, help="utility lost per USD (> 0)")
    util.add_argument("--q-cloud", type=float, default=0.9, help="cloud success probability in [0, 1]")
    util.add_argument("--calibration-a", type=float, default=8.0, help="logistic slope a (> 0)")
    util.add_argument("--calibration-b", type=float, default=-4.0, help="logistic intercept b")
    load = p.add_argument_group("workload of one request")
    load.add_argument("--n-input-tokens", type=float, default=1500.0)
    load.add_argument("--n-output-tokens", type=float, default=40.0)
    load.add_argument("--request-bytes", type=float, default=6000.0)
    load.add_argument("--response-bytes", type=float, default=400.0)
    dl = p.add_argument_group("optional latency deadline with RTT = rtt_ms + Exp(mean jitter)")
    dl.add_argument("--deadline-ms", type=float, help="enable the deadline extension (> 0)")
    dl.add_argument("--miss-penalty", type=float, default=0.5, help="utility lost on a late answer (> 0)")
    dl.add_argument("--rtt-jitter-mean-ms", type=float, default=100.0, help="mean extra RTT in ms (> 0)")
    p.add_argument("--json", action="store_true", help="print the threshold and every input as JSON")
    p.set_defaults(func=_run_threshold)


def _run_threshold(args: argparse.Namespace) -> int:
    from netgpt_lite.network.pricing import Price, request_cost_usd
    from netgpt_lite.network.state import REGIMES, LatencyModel, cloud_time_ms
    from netgpt_lite.theory.threshold import (
        Deadline,
        LogisticCalibration,
        UtilityWeights,
        Workload,
        kappa,
        optimal_threshold,
    )

    if args.regime is not None:
        if args.regime not in REGIMES:
            raise ValueError(f"regime must be one of {sorted(REGIMES)}; got {args.regime!r}")
        regime = REGIMES[args.regime]
        args.bandwidth_mbps = regime.bandwidth_mbps if args.bandwidth_mbps is None else args.bandwidth_mbps
        args.rtt_ms = regime.rtt_ms if args.rtt_ms is None else args.rtt_ms
    for name in ("bandwidth_mbps", "rtt_ms"):
        if getattr(args, name) is None:
            raise ValueError(f"{name} is required: pass --{name.replace('_', '-')} (or --regime)")
    price = Price(args.usd_per_1k_input, args.usd_per_1k_output)
    weights = UtilityWeights(args.reward, args.lambda_latency_per_ms, args.lambda_cost_per_usd)
    workload = Workload(args.request_bytes, args.response_bytes, args.n_input_tokens, args.n_output_tokens)
    calibration = LogisticCalibration(args.calibration_a, args.calibration_b)
    deadline = None
    if args.deadline_ms is not None:
        deadline = Deadline(args.deadline_ms, args.miss_penalty, args.rtt_jitter_mean_ms)
    common = dict(
        q_cloud=args.q_cloud, weights=weights, workload=workload, latency=LatencyModel(), deadline=deadline
    )
    prices = (price.usd_per_1k_input, price.usd_per_1k_output)
    k = float(kappa(args.bandwidth_mbps, args.rtt_ms, *prices, **common))
    tau = float(
        optimal_threshold(args.bandwidth_mbps, args.rtt_ms, *prices, calibration=calibration, **common)
    )
    t_c = float(
        cloud_time_ms(
            args.bandwidth_mbps, args.rtt_ms, args.request_bytes, args.response_bytes, args.n_output_tokens
        )
    )
    cost = float(request_cost_usd(args.n_input_tokens, args.n_output_tokens, price))
    inputs = {k_: v for k_, v in vars(args).items() if k_ not in ("func", "command", "json")}
    if args.json:
        _print_json(
            {
                "threshold": tau,
                "kappa": k,
                "cloud_time_ms": t_c,
                "cloud_cost_usd": cost,
                "rule": "fall back to the cloud iff edge score < threshold",
                "inputs": inputs,
            }
        )
    else:
        print(
            f"tau* = {tau:.4f} (fall back iff edge score < {tau:.4f}); kappa = {k:.4f}, "
            f"T_c = {t_c:.1f} ms, C_c = ${cost:.5f} at B = {args.bandwidth_mbps:g} Mbps, RTT = {args.rtt_ms:g} ms"
        )
    return 0


# --- chapter 03: tasks ---------------------------------------------------------------------
def _add_tasks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="generate seeded tool-calling tasks as JSONL (ch. 3)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test")
    p.add_argument("--n", type=int, default=1000, help="number of tasks (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="tasks.jsonl", help="output JSONL path (default tasks.jsonl)")
    p.add_argument(
        "--check-cloud", action="store_true", help="also print the simulated cloud's accuracy by difficulty"
    )
    p.set_defaults(func=_run_tasks)


def _run_tasks(args: argparse.Namespace) -> int:
    from netgpt_lite.tasks.generate import difficulty_counts, generate_tasks, kind_counts, write_jsonl

    tasks = generate_tasks(args.split, args.n, seed=args.seed)
    path = write_jsonl(tasks, args.out)
    n_templates = len({t.template_id for t in tasks})
    print(f"wrote {len(tasks)} {args.split} tasks (seed {args.seed}, {n_templates} templates) to {path}: "
          f"{difficulty_counts(tasks)} {kind_counts(tasks)}")  # fmt: skip
    if args.check_cloud:
        from netgpt_lite.agents.cloud_sim import SimulatedCloud
        from netgpt_lite.tasks.checker import check_completion

        proposals = SimulatedCloud(seed=args.seed).propose(tasks)
        correct: dict[str, list[bool]] = {}
        for task, p in zip(tasks, proposals):
            verdict = check_completion(p.completion, task.tools, task.gold)
            correct.setdefault(task.difficulty, []).append(verdict.correct)
        accuracy = {d: round(sum(v) / len(v), 4) for d, v in sorted(correct.items())}
        _print_json({"simulated_cloud_accuracy": accuracy})
    return 0


# --- chapter 04: train-edge, eval-edge ---------------------------------------------------
def _add_train_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-edge", help="train the tiny edge LM from scratch with TRL SFT (ch. 4)")
    p.add_argument("--out", required=True, help="output folder (model, tokenizer, manifest.json)")
    p.add_argument("--n-train", type=int, default=3000, help="train-split tasks for SFT (default 3000)")
    p.add_argument("--data-seed", type=int, default=0, help="task seed of the SFT data (default 0)")
    p.add_argument("--epochs", type=float, default=8.0, help="SFT epochs (default 8, the shipped checkpoint's)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    p.add_argument("--batch-size", type=int, default=16, help="SFT batch size (default 16)")
    p.add_argument("--hidden-size", type=int, default=128, help="model width (default 128)")
    p.add_argument("--layers", type=int, default=3, help="decoder blocks (default 3)")
    p.add_argument("--seed", type=int, default=0, help="model init and data-order seed (default 0)")
    p.add_argument("--n-test", type=int, default=600, help="test-split tasks evaluated (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_train_edge)


def _run_train_edge(args: argparse.Namespace) -> int:
    from netgpt_lite.edge.sft import SFTSettings, train_edge_checkpoint
    from netgpt_lite.edge.tiny_lm import EdgeModelConfig

    settings = SFTSettings(n_epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                           seed=args.seed, show_progress=not args.quiet)  # fmt: skip
    config = EdgeModelConfig(hidden_size=args.hidden_size, n_layers=args.layers, intermediate_size=3 * args.hidden_size)
    command = " ".join(["netgpt-lite", *sys.argv[1:]]) if sys.argv[1:2] == ["train-edge"] else "netgpt-lite train-edge"
    manifest = train_edge_checkpoint(args.out, n_train=args.n_train, data_seed=args.data_seed, settings=settings,
                                     model_config=config, n_test=args.n_test, command=command)  # fmt: skip
    acc = manifest["metrics"]["accuracy"]
    print(f"saved {args.out}: {manifest['n_parameters']:,} parameters, {manifest['training_time_s']} s SFT, "
          f"test exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")  # fmt: skip
    return 0


def _add_eval_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-edge", help="exact match, schema-valid, AUROC and ECE of the edge (ch. 4)")
    p.add_argument("--model", default=None, help="model folder or Hub id (default: the shipped edge checkpoint)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="task split")
    p.add_argument("--n", type=int, default=600, help="tasks evaluated (default 600)")
    p.add_argument("--n-logs", type=int, default=600, help="train logs for the learned scorer (default 600)")
    p.add_argument("--seed", type=int, default=0, help="task seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_eval_edge)


def _run_eval_edge(args: argparse.Namespace) -> int:
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.scoring import evaluate_edge

    result = evaluate_edge(EdgeAgent.from_pretrained(args.model), args.split, args.n, args.seed, args.n_logs)
    if args.json:
        _print_json(result)
        return 0
    acc = result["accuracy"]
    print(f"{args.split} ({acc['n']} tasks): exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")
    for key in ("by_difficulty", "by_kind"):
        for group, r in acc[key].items():
            print(f"  {group:<12} n={r['n']:<4} exact match {r['exact_match']:.3f}  schema-valid {r['schema_valid']:.3f}")
    print(f"scores (labels for the scorer: edge matches {result['label_source']}):")
    for name, m in result["scores"].items():
        print(f"  {name:<10} AUROC {m['auroc']:.3f}  ECE raw {m['ece_raw']:.3f}  isotonic {m['ece_isotonic']:.3f}"
              f"  Platt {m['ece_platt']:.3f}")  # fmt: skip
    return 0


# --- chapter 05: frontier ------------------------------------------------------------------
def _add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontier", help="quality-cost frontier and metrics of every policy (ch. 5)")
    p.add_argument("--regime", default="mixed", help="'mixed' (Markov chain over all regimes) or a regime name")
    p.add_argument("--pricing", default="flat", help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..K-1); mean and std over them")
    p.add_argument("--n-requests", type=int, default=2000, help="requests per evaluation stream")
    p.add_argument("--n-logs", type=int, default=8000, help="exploration log requests the policies are fitted on")
    p.add_argument("--n-tasks", type=int, default=300, help="test (and validation) tasks run through the edge model")
    p.add_argument("--synthetic", action="store_true", help="use SYNTHETIC proposal tables instead of the edge model")
    p.add_argument("--policynet-epochs", type=int, default=400, help="PolicyNet training epochs")
    p.add_argument("--out", default="results.json", help="where to write the JSON results")
    p.add_argument("--html", default=None, help="also write the interactive explorer (offline HTML) here")
    p.set_defaults(func=_frontier)


def _frontier(args: argparse.Namespace) -> int:
    import numpy as np

    from netgpt_lite.experiments.frontier import run_frontier
    from netgpt_lite.routing.explorer import explorer_grid
    from netgpt_lite.routing.simulator import SimulationConfig, synthetic_table
    from netgpt_lite.routing.tables import default_tables

    SimulationConfig(regime=args.regime, pricing=args.pricing)  # validates both names before any work
    for name in ("seeds", "n_requests", "n_logs", "n_tasks", "policynet_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.synthetic:
        log_table, test_table = synthetic_table(args.n_tasks, 1), synthetic_table(args.n_tasks, 0)
    else:
        log_table, test_table = default_tables(args.n_tasks, args.n_tasks)
    result = run_frontier(test_table, log_table, args.regime, args.pricing, seeds=tuple(range(args.seeds)),
                          n_requests=args.n_requests, n_logs=args.n_logs, policynet_epochs=args.policynet_epochs,
                          keep_runs=args.html is not None)
    runs = result.pop("runs", None)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    if args.html is not None:
        from netgpt_lite.viz.routing import frontier_explorer_figure

        grid = explorer_grid(test_table, runs[0]["policies"], np.geomspace(0.05, 300.0, 8), np.geomspace(10.0, 3000.0, 8))
        frontier_explorer_figure(grid, 5, 2).write_html(args.html, include_plotlyjs=True)
    summary = {n: {k: round(v["mean"], 4) for k, v in m.items() if k in ("task_success", "mean_utility")}
               for n, m in result["policies"].items()}
    _print_json({"out": args.out, "table_source": result["table_source"], "policies": summary})
    return 0


# --- chapter 06: rl --------------------------------------------------------------------------
def _add_rl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="SFT-anchored RL of the edge model (ch. 6)")
    p.add_argument("--from", dest="from_dir", default=None, help="SFT model folder (default: the shipped edge)")
    p.add_argument("--steps", type=int, required=True, help="RL steps (each: sample groups, clipped updates)")
    p.add_argument("--trainer", default="minimal", choices=["minimal", "trl"], help="from-scratch loop or TRL GRPO")
    p.add_argument("--beta", type=float, default=0.04, help="reverse-KL(pi_theta || pi_SFT) weight, >= 0")
    p.add_argument("--gamma", type=float, default=0.1, help="forward-KL(pi_SFT || pi_theta) weight, >= 0")
    p.add_argument("--epsilon", type=float, default=0.2, help="clip range of the ratio, in (0, 1)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument("--prompts-per-step", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8, help="completions per prompt (GRPO's G)")
    p.add_argument("--n-prompts", type=int, default=512, help="size of the request pool RL practises on")
    p.add_argument("--n-eval", type=int, default=200, help="held-out test tasks evaluated greedily")
    p.add_argument("--eval-every", type=int, default=10, help="evaluate every this many steps (minimal trainer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder: the checkpoint, metrics.json, manifest.json")
    p.set_defaults(func=_run_rl)


def _run_rl(args: argparse.Namespace) -> int:
    import dataclasses
    import time
    from pathlib import Path

    import torch
    import transformers

    from netgpt_lite.experiments.rl_ablation import run_rl
    from netgpt_lite.rl.minimal import RLSettings

    settings = RLSettings(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                          learning_rate=args.lr, seed=args.seed).replace(beta=args.beta, gamma=args.gamma,
                                                                          epsilon=args.epsilon)  # fmt: skip
    start = time.time()
    out = Path(args.out)
    history = run_rl(args.from_dir, settings, args.trainer, args.n_prompts, args.n_eval, args.eval_every, out)
    (out / "metrics.json").write_text(json.dumps(history, indent=1))
    manifest = {"command": "netgpt-lite rl", "arguments": {k: v for k, v in vars(args).items() if k != "func"},
                "trainer": args.trainer,
                "from": args.from_dir or "shipped", "settings": dataclasses.asdict(settings),
                "wall_s": round(time.time() - start, 1), "versions": {m.__name__: m.__version__ for m in (torch, transformers)},
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    first, last = history[0], history[-1]
    _print_json({"out": str(out), "eval_exact_match_before": first.get("eval_exact_match"),
                 "eval_exact_match_after": last.get("eval_exact_match"),
                 "eval_schema_valid_after": last.get("eval_schema_valid")})  # fmt: skip
    return 0


# --- chapter 07: synergy, reproduce -----------------------------------------------------------
def _add_synergy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synergy", help="router and edge improved together, round by round (ch. 7)")
    p.add_argument("--rounds", type=int, required=True, help="improvement rounds after round 0")
    p.add_argument("--trace", default="markov", help="a regime name, 'markov', or a CSV (t, bandwidth_mbps, rtt_ms)")
    p.add_argument("--pricing", default="flat", help="pricing schedule: flat, peak_offpeak or surge")
    p.add_argument("--policy", default="funcdyn", choices=["funcdyn", "policynet"], help="routing policy")
    p.add_argument("--requests-per-round", type=int, default=None, help="requests routed per round")
    p.add_argument("--scorer-refresh-every", type=int, default=None, help="refresh the scorer every k rounds (0: never)")
    p.add_argument("--rl-steps", type=int, default=None, help="SFT-anchored RL steps per round (0: SFT only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fast", action="store_true", help="small settings (the book's fast mode)")
    p.add_argument("--out", required=True, help="output folder: log/, checkpoints/, state.json, summary.json")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last completed round")
    p.set_defaults(func=_run_synergy)


def _run_synergy(args: argparse.Namespace) -> int:
    import dataclasses

    from netgpt_lite.synergy.loop import run_synergy
    from netgpt_lite.synergy.stages import default_stages, synergy_config, write_summary

    overrides = {"requests_per_round": args.requests_per_round, "scorer_refresh_every": args.scorer_refresh_every,
                 "rl_steps": args.rl_steps}
    config = synergy_config(fast=args.fast, rounds=args.rounds, trace=args.trace, pricing=args.pricing,
                            policy=args.policy, seed=args.seed)
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    result = run_synergy(config, args.out, stages=default_stages(), resume=args.resume, progress=True)
    _print_json(write_summary(result))
    return 0


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run experiments E1-E6 and write results.json + an HTML report")
    p.add_argument("--out", required=True, help="output folder: results.json, report.html, synergy runs")
    p.add_argument("--fast", action="store_true", help="the fast preset (minutes instead of tens of minutes)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args: argparse.Namespace) -> int:
    from netgpt_lite.experiments.reproduce import reproduce

    results = reproduce(args.out, fast=args.fast, seed=args.seed, progress=True)
    m = results["manifest"]
    _print_json({"out": args.out, "mode": m["mode"], "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                 "seconds_per_step": m["seconds_per_step"]})
    return 0


def _not_yet(args: argparse.Namespace) -> int:
    print(f"error: '{args.command}' is not implemented in this version", file=sys.stderr)
    return 2


# subcommand name -> function adding its parser (a plain dict, in chapter order)
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "threshold": _add_threshold,
    "tasks": _add_tasks,
    "train-edge": _add_train_edge,
    "eval-edge": _add_eval_edge,
    "frontier": _add_frontier,
    "rl": _add_rl,
    "synergy": _add_synergy,
    "reproduce": _add_reproduce,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netgpt-lite",
        description="NetGPT cloud-edge routing, offline: thresholds, tool-call tasks, the edge LM, RL and synergy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ValueError as err:  # invalid user input: one line naming the field, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
