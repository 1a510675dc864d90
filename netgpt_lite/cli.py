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
    p.set_defaults(func=_not_yet)


# --- chapter 03: tasks ---------------------------------------------------------------------
def _add_tasks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="generate seeded tool-calling tasks as JSONL (ch. 3)")
    p.set_defaults(func=_not_yet)


# --- chapter 04: train-edge, eval-edge ---------------------------------------------------
def _add_train_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-edge", help="train the tiny edge LM from scratch with TRL SFT (ch. 4)")
    p.set_defaults(func=_not_yet)


def _add_eval_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-edge", help="exact match, schema-valid, AUROC and ECE of the edge (ch. 4)")
    p.set_defaults(func=_not_yet)


# --- chapter 05: frontier ------------------------------------------------------------------
def _add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frontier", help="quality-cost frontier and metrics of every policy (ch. 5)")
    p.set_defaults(func=_not_yet)


# --- chapter 06: rl --------------------------------------------------------------------------
def _add_rl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="SFT-anchored RL of the edge model (ch. 6)")
    p.set_defaults(func=_not_yet)


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

    from netgpt_lite.synergy import run_synergy, synergy_config, write_summary

    overrides = {"requests_per_round": args.requests_per_round, "scorer_refresh_every": args.scorer_refresh_every,
                 "rl_steps": args.rl_steps}
    config = synergy_config(fast=args.fast, rounds=args.rounds, trace=args.trace, pricing=args.pricing,
                            policy=args.policy, seed=args.seed)
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    result = run_synergy(config, args.out, resume=args.resume, progress=True)
    _print_json(write_summary(result))
    return 0


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run experiments E1-E6 and write results.json + an HTML report")
    p.set_defaults(func=_not_yet)


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
