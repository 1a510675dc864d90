"""Subcommands that train or evaluate the edge model: ``train-edge``, ``eval-edge`` (chapter 4), ``rl`` (chapter 6).

Each subcommand has an ``add_*`` function that declares its flags, a check function that validates
them and builds its configs before any work (the *check* phase), and a run function (the *run* phase).
"""

from __future__ import annotations

import argparse
import sys

from netgpt_lite.cli.arguments import (
    NON_NEGATIVE,
    OPEN_UNIT,
    POSITIVE,
    POSITIVE_INT,
    PROG,
    SEED,
    flag_errors,
    int_range,
    model_source,
    no_check,
    output_dir,
    print_json,
)
from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.scoring import evaluate_edge
from netgpt_lite.edge.sft import SFTSettings, train_edge_checkpoint
from netgpt_lite.edge.tiny_lm import EdgeModelConfig
from netgpt_lite.experiments.rl_ablation import run_rl
from netgpt_lite.rl.minimal import RLSettings


# --- chapter 04: train-edge, eval-edge ---------------------------------------------------
def add_train_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-edge", help="train the tiny edge LM from scratch with TRL SFT (ch. 4)")
    p.add_argument("--out", type=output_dir, required=True, help="output folder (model, tokenizer, manifest.json)")
    p.add_argument("--n-train", type=POSITIVE_INT, default=3000, help="train-split tasks for SFT (default 3000)")
    p.add_argument("--data-seed", type=SEED, default=0, help="task seed of the SFT data (default 0)")
    p.add_argument("--epochs", type=POSITIVE, default=8.0, help="SFT epochs, > 0 (default 8, the shipped checkpoint's)")
    p.add_argument("--lr", type=OPEN_UNIT, default=3e-3, help="peak learning rate in (0, 1) (default 3e-3)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="SFT batch size (default 16)")
    p.add_argument("--hidden-size", type=POSITIVE_INT, default=128, help="model width, a multiple of 4 (default 128)")
    p.add_argument("--layers", type=POSITIVE_INT, default=3, help="decoder blocks (default 3)")
    p.add_argument("--seed", type=SEED, default=0, help="model init and data-order seed (default 0)")
    p.add_argument("--n-test", type=int_range(2), default=600, help="test-split tasks evaluated, >= 2 (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(check=_check_train_edge, func=_run_train_edge)


def _check_train_edge(args: argparse.Namespace) -> dict:

    with flag_errors({"n_epochs": "--epochs", "learning_rate": "--lr", "batch_size": "--batch-size", "seed": "--seed"}):
        settings = SFTSettings(n_epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                               seed=args.seed, show_progress=not args.quiet)  # fmt: skip
    with flag_errors({"hidden_size": "--hidden-size", "n_layers": "--layers", "intermediate_size": "--hidden-size"}):
        config = EdgeModelConfig(hidden_size=args.hidden_size, n_layers=args.layers,
                                 intermediate_size=3 * args.hidden_size)
    return {"settings": settings, "model_config": config}


def _run_train_edge(args: argparse.Namespace, plan: dict) -> int:

    command = " ".join([PROG, *sys.argv[1:]]) if sys.argv[1:2] == ["train-edge"] else f"{PROG} train-edge"
    manifest = train_edge_checkpoint(args.out, n_train=args.n_train, data_seed=args.data_seed, settings=plan["settings"],
                                     model_config=plan["model_config"], n_test=args.n_test, command=command)  # fmt: skip
    acc = manifest["metrics"]["accuracy"]
    print(f"saved {args.out}: {manifest['n_parameters']:,} parameters, {manifest['training_time_s']} s SFT, "
          f"test exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")  # fmt: skip
    return 0


def add_eval_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-edge", help="exact match, schema-valid, AUROC and ECE of the edge (ch. 4)")
    p.add_argument("--model", type=model_source, default=None,
                   help="model folder or Hub id (default: the shipped edge checkpoint)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="task split")
    p.add_argument("--n", type=int_range(2), default=600, help="tasks evaluated, >= 2 (default 600)")
    p.add_argument("--n-logs", type=int_range(10), default=600, help="train logs for the learned scorer, >= 10 (default 600)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(check=no_check, func=_run_eval_edge)


def _run_eval_edge(args: argparse.Namespace, plan: dict) -> int:

    result = evaluate_edge(EdgeAgent.from_pretrained(args.model), args.split, args.n, args.seed, args.n_logs)
    if args.json:
        print_json(result)
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


# --- chapter 06: rl --------------------------------------------------------------------------
def add_rl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="SFT-anchored RL of the edge model (ch. 6)")
    p.add_argument("--model", type=model_source, default=None, help="SFT model folder to start from (default: the shipped edge)")
    p.add_argument("--steps", type=POSITIVE_INT, required=True, help="RL steps, >= 1 (each: sample groups, clipped updates)")
    p.add_argument("--trainer", default="minimal", choices=["minimal", "trl"], help="from-scratch loop or TRL GRPO")
    p.add_argument("--beta", type=NON_NEGATIVE, default=0.04, help="reverse-KL(pi_theta || pi_SFT) weight, >= 0")
    p.add_argument("--gamma", type=NON_NEGATIVE, default=0.1, help="forward-KL(pi_SFT || pi_theta) weight, >= 0")
    p.add_argument("--epsilon", type=OPEN_UNIT, default=0.2, help="clip range of the ratio, in (0, 1)")
    p.add_argument("--lr", type=OPEN_UNIT, default=3e-4, help="learning rate, in (0, 1)")
    p.add_argument("--prompts-per-step", type=POSITIVE_INT, default=8, help="prompts sampled per step, >= 1")
    p.add_argument("--group-size", type=int_range(2), default=8, help="completions per prompt (GRPO's G), >= 2")
    p.add_argument("--n-prompts", type=POSITIVE_INT, default=512, help="size of the request pool RL practises on")
    p.add_argument("--n-eval", type=POSITIVE_INT, default=200, help="held-out test tasks evaluated greedily")
    p.add_argument("--eval-every", type=POSITIVE_INT, default=10, help="evaluate every this many steps (minimal trainer)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=output_dir, required=True,
                   help="output folder: the checkpoint, metrics.json, manifest.json")
    p.set_defaults(check=_check_rl, func=_run_rl)


def _check_rl(args: argparse.Namespace) -> dict:

    flags = {"steps": "--steps", "prompts_per_step": "--prompts-per-step", "group_size": "--group-size",
             "learning_rate": "--lr", "seed": "--seed", "beta": "--beta", "gamma": "--gamma", "epsilon": "--epsilon"}
    with flag_errors(flags):
        settings = RLSettings(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                              learning_rate=args.lr, seed=args.seed).replace(beta=args.beta, gamma=args.gamma,
                                                                              epsilon=args.epsilon)  # fmt: skip
    return {"settings": settings}


def _run_rl(args: argparse.Namespace, plan: dict) -> int:

    settings = plan["settings"]
    # run_rl writes the checkpoint, metrics.json and manifest.json (provenance.Recorder) into --out
    history = run_rl(args.model, settings, args.trainer, args.n_prompts, args.n_eval, args.eval_every, args.out)
    first, last = history[0], history[-1]
    print_json({"out": str(args.out), "eval_exact_match_before": first.get("eval_exact_match"),
                 "eval_exact_match_after": last.get("eval_exact_match"),
                 "eval_schema_valid_after": last.get("eval_schema_valid")})  # fmt: skip
    return 0
