"""Subcommands that need no model: ``threshold`` (chapter 2), ``tasks`` (chapter 3), ``provenance``,
``regenerate`` (which runs the commands that do, one stage at a time) and ``claims`` (the README's and the
front page's sentences about results, regenerated from the artifacts).

Each subcommand has an ``add_*`` function that declares its flags, a check function that validates
them and builds its configs before any work (the *check* phase), and a run function (the *run* phase).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.cli.arguments import (
    POSITIVE,
    PROBABILITY,
    PROG,
    SEED,
    UsageError,
    argument_dict,
    existing_dir,
    flag_errors,
    given,
    no_check,
    one_of,
    output_file,
    print_json,
    reading,
    refuse_inapplicable,
)
from netgpt_lite.cli.bounds import BOUNDS, count
from netgpt_lite.experiments import claims
from netgpt_lite.network.pricing import Price, request_cost_usd
from netgpt_lite.network.state import REGIMES, LatencyModel, cloud_time_ms
from netgpt_lite.provenance import (
    DATA_DIR,
    STAGES,
    check_artifacts,
    make_plan,
    regenerate,
    scrub_path,
    source_hash,
)
from netgpt_lite.tasks.checker import check_completion
from netgpt_lite.tasks.generate import VARIETIES, difficulty_counts, generate_tasks, kind_counts, write_jsonl
from netgpt_lite.theory.threshold import (
    Deadline,
    LogisticCalibration,
    UtilityWeights,
    Workload,
    kappa,
    optimal_threshold,
)


# --- chapter 02: threshold ---------------------------------------------------------------
def add_threshold(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("threshold", help="optimal fallback threshold tau*(bandwidth, RTT, price) (ch. 2)")
    net = p.add_argument_group("network (give --bandwidth-mbps and --rtt-ms, or a --regime)")
    net.add_argument("--bandwidth-mbps", type=POSITIVE, help="bandwidth edge<->cloud in Mbps (> 0)")
    net.add_argument("--rtt-ms", type=POSITIVE, help="round-trip time in ms (> 0)")
    net.add_argument("--regime", type=one_of("regime", list(REGIMES)),
                     help="take bandwidth and RTT (those not given) from a named regime (5g_good, 4g, ...)")
    price = p.add_argument_group("price (USD per 1,000 tokens, >= 0)")
    price.add_argument("--usd-per-1k-input", type=float, default=0.003)
    price.add_argument("--usd-per-1k-output", type=float, default=0.015)
    util = p.add_argument_group("utility weights and calibration g(s) = sigmoid(a s + b)")
    util.add_argument("--reward", type=float, default=1.0, help="R, utility of a correct tool call (> 0)")
    util.add_argument("--lambda-latency-per-ms", type=float, default=5e-4, help="utility lost per ms (> 0)")
    util.add_argument("--lambda-cost-per-usd", type=float, default=20.0, help="utility lost per USD (> 0)")
    util.add_argument("--q-cloud", type=PROBABILITY, default=0.9, help="cloud success probability in [0, 1]")
    util.add_argument("--calibration-a", type=float, default=8.0, help="logistic slope a (> 0)")
    util.add_argument("--calibration-b", type=float, default=-4.0, help="logistic intercept b")
    load = p.add_argument_group("workload of one request (>= 0)")
    load.add_argument("--n-input-tokens", type=float, default=1500.0)
    load.add_argument("--n-output-tokens", type=float, default=40.0)
    load.add_argument("--request-bytes", type=float, default=6000.0)
    load.add_argument("--response-bytes", type=float, default=400.0)
    dl = p.add_argument_group("optional latency deadline with RTT = rtt_ms + Exp(mean jitter)")
    dl.add_argument("--deadline-ms", type=float, help="enable the deadline extension (> 0)")
    dl.add_argument("--miss-penalty", type=float, default=0.5, help="utility lost on a late answer (> 0; with --deadline-ms)")
    dl.add_argument("--rtt-jitter-mean-ms", type=float, default=100.0, help="mean extra RTT in ms (> 0; with --deadline-ms)")
    p.add_argument("--json", action="store_true", help="print the threshold and every input as JSON")
    p.set_defaults(check=_check_threshold, func=_run_threshold)


def _both_measured(args: argparse.Namespace) -> bool:
    return given(args, "--bandwidth-mbps") and given(args, "--rtt-ms")


def _check_threshold(args: argparse.Namespace) -> dict:
    with_deadline = (lambda a: a.deadline_ms is not None, "needs --deadline-ms (it is part of the deadline extension)")
    refuse_inapplicable(args, {"--miss-penalty": with_deadline, "--rtt-jitter-mean-ms": with_deadline,
                               "--regime": (lambda a: not _both_measured(a), "fills in --bandwidth-mbps or --rtt-ms, "
                                            "but both are given; drop --regime or one of them")})
    if args.regime is not None:
        regime = REGIMES[args.regime]
        args.bandwidth_mbps = regime.bandwidth_mbps if args.bandwidth_mbps is None else args.bandwidth_mbps
        args.rtt_ms = regime.rtt_ms if args.rtt_ms is None else args.rtt_ms
    for name in ("bandwidth_mbps", "rtt_ms"):
        if getattr(args, name) is None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"argument {flag}: required: pass --bandwidth-mbps and --rtt-ms, "
                             f"or a --regime from {sorted(REGIMES)}")
    plan: dict = {}
    with flag_errors({"usd_per_1k_input": "--usd-per-1k-input", "usd_per_1k_output": "--usd-per-1k-output"}):
        plan["price"] = Price(args.usd_per_1k_input, args.usd_per_1k_output)
    with flag_errors({n: "--" + n.replace("_", "-") for n in ("reward", "lambda_latency_per_ms", "lambda_cost_per_usd")}):
        plan["weights"] = UtilityWeights(args.reward, args.lambda_latency_per_ms, args.lambda_cost_per_usd)
    names = ("request_bytes", "response_bytes", "n_input_tokens", "n_output_tokens")
    with flag_errors({n: "--" + n.replace("_", "-") for n in names}):
        plan["workload"] = Workload(args.request_bytes, args.response_bytes, args.n_input_tokens,
                                    args.n_output_tokens)
    with flag_errors({"a": "--calibration-a", "b": "--calibration-b"}):
        plan["calibration"] = LogisticCalibration(args.calibration_a, args.calibration_b)
    plan["deadline"] = None
    if args.deadline_ms is not None:
        with flag_errors({n: "--" + n.replace("_", "-") for n in ("deadline_ms", "miss_penalty", "rtt_jitter_mean_ms")}):
            plan["deadline"] = Deadline(args.deadline_ms, args.miss_penalty, args.rtt_jitter_mean_ms)
    return plan


def _run_threshold(args: argparse.Namespace, plan: dict) -> int:
    price = plan["price"]
    common = dict(q_cloud=args.q_cloud, weights=plan["weights"], workload=plan["workload"], latency=LatencyModel(),
                  deadline=plan["deadline"])  # fmt: skip
    prices = (price.usd_per_1k_input, price.usd_per_1k_output)
    k = float(kappa(args.bandwidth_mbps, args.rtt_ms, *prices, **common))
    tau = float(
        optimal_threshold(args.bandwidth_mbps, args.rtt_ms, *prices, calibration=plan["calibration"], **common)
    )
    t_c = float(
        cloud_time_ms(
            args.bandwidth_mbps, args.rtt_ms, args.request_bytes, args.response_bytes, args.n_output_tokens
        )
    )
    cost = float(request_cost_usd(args.n_input_tokens, args.n_output_tokens, price))
    inputs = {k_: v for k_, v in argument_dict(args).items() if k_ not in ("command", "json")}
    if args.json:
        print_json(
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
def add_tasks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="generate seeded tool-calling tasks as JSONL (ch. 3)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test")
    p.add_argument("--n", type=count("tasks"), default=1000,
                   help=f"number of tasks, in [1, {BOUNDS['tasks'][0]}] (default 1000)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed, >= 0 (default 0)")
    p.add_argument("--variety", choices=VARIETIES, default="classic",
                   help="classic (default: the tasks every shipped result uses) or broad (numbers in words, other units, relative times, typos, new names, defaults, near-miss tools)")
    p.add_argument("--out", type=output_file, default="tasks.jsonl", help="output JSONL path (default tasks.jsonl)")
    p.add_argument(
        "--check-cloud", action="store_true", help="also print the simulated cloud's accuracy by difficulty"
    )
    p.set_defaults(check=no_check, func=_run_tasks)


def _run_tasks(args: argparse.Namespace, plan: dict) -> int:
    tasks = generate_tasks(args.split, args.n, seed=args.seed, variety=args.variety)
    path = write_jsonl(tasks, args.out)
    n_templates = len({t.template_id for t in tasks})
    print(f"wrote {len(tasks)} {args.split} tasks (seed {args.seed}, {n_templates} templates) to {path}: "
          f"{difficulty_counts(tasks)} {kind_counts(tasks)}")  # fmt: skip
    if args.check_cloud:
        proposals = SimulatedCloud(seed=args.seed).propose(tasks)
        correct: dict[str, list[bool]] = {}
        for task, p in zip(tasks, proposals):
            verdict = check_completion(p.completion, task.tools, task.gold)
            correct.setdefault(task.difficulty, []).append(verdict.correct)
        accuracy = {d: round(sum(v) / len(v), 4) for d, v in sorted(correct.items())}
        print_json({"simulated_cloud_accuracy": accuracy})
    return 0


# --- provenance ------------------------------------------------------------------------------
def add_provenance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provenance", help="every shipped artifact, the command that made it, and whether the code "
                                          "it depends on changed since")  # fmt: skip
    p.add_argument("--root", type=existing_dir, default=None,
                   help="folder to scan for artifacts (default: the shipped data, netgpt_lite/data)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when an artifact is stale or its manifest lacks required fields")
    p.set_defaults(check=no_check, func=_run_provenance)


def _run_provenance(args: argparse.Namespace, plan: dict) -> int:
    root = DATA_DIR if args.root is None else Path(args.root)
    if args.root is None:  # a broken shipped manifest is a bug of the package, not bad input
        statuses = check_artifacts(root)
    else:
        with reading("--root", root):
            statuses = check_artifacts(root)
    rows = [{"path": s.path, "command": s.command, "git_commit": s.git_commit, "state": s.state,
             "n_code_files": len(s.code_files), "changed": None if s.changed is None else list(s.changed),
             "other_command": s.other_command, "missing_fields": list(s.missing_fields)}
            for s in statuses]  # fmt: skip
    n_stale = sum(s.stale for s in statuses)
    n_incomplete = sum(bool(s.missing_fields) for s in statuses)
    if args.json:
        print_json({"root": scrub_path(str(root)), "source_hash": source_hash(), "n_artifacts": len(rows),
                    "n_stale": n_stale, "n_incomplete": n_incomplete, "artifacts": rows})
    else:
        print(f"{len(rows)} artifacts under {scrub_path(str(root))}:")
        for s in statuses:
            extra = f" (commit {s.git_commit[:7]})" if s.git_commit else ""
            if s.stale:
                extra += f": {s.why_stale}"
            if s.missing_fields:
                extra += f" (manifest lacks {', '.join(s.missing_fields)})"
            print(f"  {s.state:<7}  {s.path}  <- {s.command or '(no command recorded)'}{extra}")
        if n_stale:
            print(f"{n_stale} stale: the code they depend on changed since they were made, or their stage now runs "
                  "another command. That is a report, not "
                  "an error: the test suite checks a sample of each against today's code; rerun an artifact's "
                  "command to refresh it.")
    return 1 if args.strict and (n_stale or n_incomplete) else 0


# --- regenerate ------------------------------------------------------------------------------
def add_regenerate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regenerate", help="remake every stale shipped artifact in dependency order (resumable; "
                                          "prints the plan and the last runs' times first)")  # fmt: skip
    p.add_argument("--only", nargs="+", default=None, choices=[s.name for s in STAGES], metavar="STAGE",
                   help=f"these stages only (default all): {', '.join(s.name for s in STAGES)}")
    p.add_argument("--force", action="store_true", help="rerun the chosen stages even when fresh")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    p.add_argument("--jobs", type=count("jobs"), default=1,
                   help="stages run at once, each once the stages it is made from are done, with cores/jobs "
                        "threads unless OMP_NUM_THREADS is set (default 1; 2 on a 2-core machine: most stages "
                        "keep one core busy)")
    p.set_defaults(check=_check_regenerate, func=_run_regenerate)


def _check_regenerate(args: argparse.Namespace) -> dict:
    refuse_inapplicable(args, {"--json": (lambda a: a.dry_run, "needs --dry-run (a run prints its progress)")})
    if not args.dry_run:  # a stage that loads SmolLM2 would fail after the earlier stages ran: refuse now
        from netgpt_lite.cli.files import model_problem

        needs = [p.stage.name for p in make_plan(args.only, args.force) if p.run and p.stage.smollm2]
        problem = model_problem("smollm2") if needs else None
        if problem:
            raise UsageError(f"argument --only: the stages {', '.join(needs)} load SmolLM2: {problem}")
    return {}


def _run_regenerate(args: argparse.Namespace, plan: dict) -> int:
    if args.json:
        rows = [{"stage": p.stage.name, "run": p.run, "reason": p.reason, "outs": list(p.stage.outs),
                 "after": list(p.stage.after), "command": p.stage.command(), "last_wall_s": p.last_wall_s,
                 "last_cpu_s": p.last_cpu_s, "last_cpus": p.last_cpus}
                for p in make_plan(args.only, args.force)]  # fmt: skip
        print_json({"n_run": sum(r["run"] for r in rows), "stages": rows})
        return 0
    try:
        regenerate(args.only, args.force, args.dry_run, jobs=args.jobs)
    except RuntimeError as err:  # a stage's command failed: named, with its log; finished stages are kept
        print(f"{PROG} regenerate: error: {err}", file=sys.stderr)
        return 1
    if not args.dry_run and (claims.REPO_ROOT / "README.md").is_file():  # a checkout: its words follow
        try:
            rewritten = claims.write()
        except (OSError, ValueError, KeyError, TypeError) as err:  # the artifacts are in place: only words wait
            print(f"{PROG} regenerate: error: the stages finished and their artifacts are in place, but the "
                  f"README's result sentences were not rewritten ({type(err).__name__}: {err}); mend the file "
                  f"named, then run `{PROG} claims --write`", file=sys.stderr)
            return 1
        print(f"claims rewritten from the remade artifacts: {', '.join(rewritten)}" if rewritten else
              "claims: the README and the front page still say what the artifacts show")
    return 0


# --- claims ----------------------------------------------------------------------------------
def add_claims(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="check (or --write) the README's and the front page's sentences about "
                                      "results against the artifacts they describe")  # fmt: skip
    p.add_argument("--write", action="store_true", help="rewrite the passages that differ")
    p.add_argument("--root", type=existing_dir, default=None,
                   help="the repository holding README.md and book/intro.md (default: the checkout the library "
                        "is installed from)")
    p.set_defaults(check=_check_claims, func=_run_claims)


def _check_claims(args: argparse.Namespace) -> dict:
    root = claims.REPO_ROOT if args.root is None else Path(args.root)
    for name in claims.CLAIMS:  # every mark in place before any file is read for its words or written
        file = root / claims.CLAIMS[name].file
        if not file.is_file():
            raise UsageError(f"argument --root: {scrub_path(str(root))} has no {claims.CLAIMS[name].file}: "
                             "give the repository's root folder")
        try:
            claims.current(root, name)
        except ValueError as err:
            raise UsageError(f"argument --root: {err}") from None
    return {"root": root}


def _run_claims(args: argparse.Namespace, plan: dict) -> int:
    changed = claims.write(plan["root"]) if args.write else claims.differing(plan["root"])
    for name, claim in claims.CLAIMS.items():
        state = ("rewritten" if args.write else "differs") if name in changed else "matches"
        print(f"  {state:<9}  {name:<18}  {claim.file}")
    if changed and not args.write:
        print(f"{len(changed)} passages no longer say what their artifact shows: "
              f"{PROG} claims --write rewrites them")
        return 1
    return 0
