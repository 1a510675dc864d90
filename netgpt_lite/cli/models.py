"""Subcommands that train the edge model: ``train-edge`` (chapter 4), ``tables`` (chapter 5), ``rl``, ``e5`` (chapter 6).

Each subcommand has an ``add_*`` function that declares its flags, a check function that validates
them and builds its configs before any work (the *check* phase), and a run function (the *run* phase).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netgpt_lite.cli.arguments import (
    DROPOUT,
    NON_NEGATIVE,
    OPEN_UNIT,
    PROG,
    SEED,
    UsageError,
    existing_file,
    flag_errors,
    model_source,
    no_check,
    output_dir,
    print_json,
    refuse_inapplicable,
    request_suites,
)
from netgpt_lite.cli.bounds import MAX_TRAIN_EPOCHS, TRAIN_EPOCHS, count, upto
from netgpt_lite.cli.files import model_problem
from netgpt_lite.edge.lora import LoraSettings, train_edge_adapter
from netgpt_lite.edge.sft import SFTSettings, train_edge_checkpoint
from netgpt_lite.edge.tiny_lm import EdgeModelConfig
from netgpt_lite.experiments.rl_ablation import rl_start, run_rl
from netgpt_lite.experiments.rl_comparison import E5Config, run_e5
from netgpt_lite.rl.minimal import RLSettings
from netgpt_lite.routing.edge_outputs import build_edge_outputs
from netgpt_lite.tasks.generate import VARIETIES

# --- chapter 04: train-edge (eval-edge lives in cli.evaluation) ---------------------------------------------------
# Defaults that differ by base model: the tiny model trains from scratch for 8 epochs on the classic
# generator; SmolLM2 needs one pass of LoRA over fewer, real-length examples, of the broad generator
# (2,400 of them, about 1.4 CPU-hours here; chapter 4's scaling curve is still rising there).
TRAIN_DEFAULTS = {
    "tiny": {"n_train": 3000, "epochs": 8.0, "lr": 3e-3, "batch_size": 16, "variety": "classic"},
    "smollm2": {"n_train": 2400, "epochs": 1.0, "lr": 1e-3, "batch_size": 4, "variety": "broad"},
}


def add_train_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-edge", help="train the edge: the tiny LM from scratch, or a LoRA adapter on SmolLM2 (ch. 4)")
    p.add_argument("--base", choices=list(TRAIN_DEFAULTS), default="tiny",
                   help="tiny: the 0.8 M model from scratch (TRL SFT); smollm2: a LoRA adapter on SmolLM2-135M-Instruct "
                        "trained on logged cloud answers (resumable: rerun the same command after a kill)")
    p.add_argument("--out", type=output_dir, required=True, help="output folder (model or adapter, manifest.json)")
    p.add_argument("--n-train", type=count("tasks"), default=None,
                   help=f"train-split requests, {upto('tasks')} (default: tiny 3000, smollm2 2400)")
    p.add_argument("--data-seed", type=SEED, default=0, help="task seed of the training requests (default 0)")
    p.add_argument("--variety", choices=VARIETIES, default=None,
                   help="smollm2: the training requests' generator variety: broad (default: numbers in words, "
                        "other units, relative times, typos, new names, defaults, near-miss tools) or classic")
    p.add_argument("--epochs", type=TRAIN_EPOCHS, default=None,
                   help=f"passes over the data, in (0, {MAX_TRAIN_EPOCHS:g}] (default: tiny 8, smollm2 1)")
    p.add_argument("--lr", type=OPEN_UNIT, default=None, help="peak learning rate in (0, 1) (default: tiny 3e-3, smollm2 1e-3)")
    p.add_argument("--batch-size", type=count("batch"), default=None,
                   help=f"examples per step, {upto('batch')} (default: tiny 16, smollm2 4)")
    p.add_argument("--hidden-size", type=count("width"), default=128,
                   help=f"tiny: model width, a multiple of 4 {upto('width')} (default 128)")
    p.add_argument("--layers", type=count("layers"), default=3, help=f"tiny: decoder blocks, {upto('layers')} (default 3)")
    p.add_argument("--rank", type=count("rank"), default=16,
                   help=f"smollm2: LoRA rank, {upto('rank')} (default 16; the adapter is saved in bf16)")
    p.add_argument("--tool-format", choices=["names", "compact", "full"], default="compact",
                   help="smollm2: how the offered tools are written in the prompt (default compact)")
    p.add_argument("--micro-batch-size", type=count("batch"), default=2,
                   help="smollm2: examples per forward/backward pass, gradients accumulated over the batch "
                        "(default 2)")
    p.add_argument("--dropout", type=DROPOUT, default=0.0,
                   help="smollm2: LoRA dropout in [0, 1) (default 0: no stored copies, train = eval forward)")
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                   help="smollm2: recompute activations in the backward pass (default on: the shipped adapter's "
                        "600-step run peaked at 3.0 GB with it and 6.2 GB without, for about 1.4x the CPU; the "
                        "weights come out bit for bit the same either way)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="smollm2: bf16 autocast (default: on when the CPU has AVX-512 BF16 / AMX, or on a GPU)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="smollm2: where to train (default cpu)")
    p.add_argument("--seed", type=SEED, default=0, help="model init and data-order seed (default 0)")
    p.add_argument("--n-test", type=count("requests", 2), default=600,
                   help=f"tiny: test-split tasks evaluated, {upto('requests', 2)} (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(check=_check_train_edge, func=_run_train_edge)


_TINY_ONLY = ("--hidden-size", "--layers", "--n-test")  # train-edge flags of one base; the other ignores them
_LORA_ONLY = ("--rank", "--tool-format", "--bf16", "--device", "--dropout", "--gradient-checkpointing", "--micro-batch-size",
              "--variety")


def _check_train_edge(args: argparse.Namespace) -> dict:
    tiny = (lambda a: a.base == "tiny", "needs --base tiny (the from-scratch model; --base smollm2 trains a LoRA adapter)")
    lora = (lambda a: a.base == "smollm2", "needs --base smollm2 (a LoRA setting; --base tiny trains every weight "
                                           "of the from-scratch model)")
    refuse_inapplicable(args, {**dict.fromkeys(_TINY_ONLY, tiny), **dict.fromkeys(_LORA_ONLY, lora)})
    for key, value in TRAIN_DEFAULTS[args.base].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.base == "smollm2":
        _needs_smollm2("--base")
        with flag_errors({"n_epochs": "--epochs", "learning_rate": "--lr", "batch_size": "--batch-size",
                          "rank": "--rank", "seed": "--seed", "tool_format": "--tool-format", "dropout": "--dropout",
                          "micro_batch_size": "--micro-batch-size"}):
            settings = LoraSettings(rank=args.rank, learning_rate=args.lr, batch_size=args.batch_size,
                                    n_epochs=args.epochs, tool_format=args.tool_format, bf16=args.bf16, seed=args.seed,
                                    dropout=args.dropout, gradient_checkpointing=args.gradient_checkpointing,
                                    micro_batch_size=args.micro_batch_size)
        return {"settings": settings}
    with flag_errors({"n_epochs": "--epochs", "learning_rate": "--lr", "batch_size": "--batch-size", "seed": "--seed"}):
        settings = SFTSettings(n_epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                               seed=args.seed, show_progress=not args.quiet)  # fmt: skip
    with flag_errors({"hidden_size": "--hidden-size", "n_layers": "--layers", "intermediate_size": "--hidden-size"}):
        config = EdgeModelConfig(hidden_size=args.hidden_size, n_layers=args.layers,
                                 intermediate_size=3 * args.hidden_size)
    return {"settings": settings, "model_config": config}


def _needs_smollm2(flag: str) -> None:
    """The SmolLM2 weights are installed (the error says how), before anything starts."""
    problem = model_problem("smollm2")
    if problem:
        raise UsageError(f"argument {flag}: {problem}")


def _run_train_edge(args: argparse.Namespace, plan: dict) -> int:
    command = " ".join([PROG, *sys.argv[1:]]) if sys.argv[1:2] == ["train-edge"] else f"{PROG} train-edge"
    if args.base == "smollm2":
        manifest = train_edge_adapter(args.out, n_train=args.n_train, data_seed=args.data_seed, settings=plan["settings"],
                                      variety=args.variety,
                                      device=args.device, command=command, progress=not args.quiet)  # fmt: skip
        print(f"saved {args.out}: LoRA rank {args.rank}, {manifest['n_trainable_parameters']:,} trainable parameters, "
              f"{manifest['n_steps']} steps in {manifest['wall_s']} s (bf16 {manifest['bf16']}); "
              f"evaluate with: {PROG} eval-edge --model {args.out}")  # fmt: skip
        return 0
    manifest = train_edge_checkpoint(args.out, n_train=args.n_train, data_seed=args.data_seed, settings=plan["settings"],
                                     model_config=plan["model_config"], n_test=args.n_test, command=command)  # fmt: skip
    acc = manifest["metrics"]["accuracy"]
    print(f"saved {args.out}: {manifest['n_parameters']:,} parameters, {manifest['training_time_s']} s SFT, "
          f"test exact match {acc['exact_match']:.3f}, schema-valid {acc['schema_valid']:.3f}")  # fmt: skip
    return 0


def add_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tables", help="the edge's answers on the routing chapters' log and test streams, as an artifact (ch. 5)")
    p.add_argument("--edge", type=model_source, default="smollm2", help="tiny, smollm2 (default), or an adapter / model folder")
    p.add_argument("--out", type=output_dir, required=True, help="output folder: logs.jsonl, test.jsonl, manifest.json")
    p.add_argument("--n-test", type=count("requests"), default=300,
                   help=f"test-split requests (the evaluation stream), {upto('requests')}")
    p.add_argument("--n-logs", type=count("requests"), default=300,
                   help=f"validation-split requests (the logs policies are fitted on), {upto('requests')}")
    p.add_argument("--n-deploy-logs", type=count("requests", 0), default=0,
                   help=f"test-split requests of another day (seed + 1): logs from the evaluation's own traffic, "
                        f"{upto('requests', 0)} (default 0: none)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed of the streams (default 0)")
    p.add_argument("--batch-size", type=count("batch"), default=16, help=f"prompts generated together, {upto('batch')} (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(check=no_check, func=_run_tables)


def _run_tables(args: argparse.Namespace, plan: dict) -> int:
    command = " ".join([PROG, *sys.argv[1:]]) if sys.argv[1:2] == ["tables"] else f"{PROG} tables"
    manifest = build_edge_outputs(args.edge, args.out, n_test=args.n_test, n_logs=args.n_logs, seed=args.seed,
                                  batch_size=args.batch_size, command=command, progress=not args.quiet,
                                  n_deploy_logs=args.n_deploy_logs)
    for stem, s in manifest["streams"].items():
        print(f"{stem}: {s['n']} {s['split']} requests, exact match {s['exact_match']:.3f}, schema-valid {s['schema_valid']:.3f}")
    print(f"wrote {args.out} in {manifest['wall_s']} s wall, {manifest['cpu_s']} CPU-s")
    return 0


# --- chapter 06: rl --------------------------------------------------------------------------
def add_rl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="SFT-anchored RL of the edge model (ch. 6)")
    p.add_argument("--model", type=model_source, default=None,
                   help="SFT model to start from: tiny (default: the shipped tiny edge) or a model folder written by "
                        "'train-edge --base tiny' or 'rl'; SmolLM2's adapter is trained by 'netgpt-lite e5'")
    p.add_argument("--steps", type=count("rl_steps"), required=True,
                   help=f"RL steps, {upto('rl_steps')} (each: sample groups, clipped updates)")
    p.add_argument("--trainer", default="minimal", choices=["minimal", "trl"], help="from-scratch loop or TRL GRPO")
    p.add_argument("--beta", type=NON_NEGATIVE, default=0.04, help="reverse-KL(pi_theta || pi_SFT) weight, >= 0")
    p.add_argument("--gamma", type=NON_NEGATIVE, default=0.1, help="forward-KL(pi_SFT || pi_theta) weight, >= 0")
    p.add_argument("--epsilon", type=OPEN_UNIT, default=0.2, help="clip range of the ratio, in (0, 1)")
    p.add_argument("--lr", type=OPEN_UNIT, default=3e-4, help="learning rate, in (0, 1)")
    p.add_argument("--prompts-per-step", type=count("group"), default=8, help=f"prompts sampled per step, {upto('group')}")
    p.add_argument("--group-size", type=count("group", 2), default=8,
                   help=f"completions per prompt (GRPO's G), {upto('group', 2)}")
    p.add_argument("--n-prompts", type=count("tasks"), default=512,
                   help=f"size of the request pool RL practises on, {upto('tasks')}")
    p.add_argument("--n-eval", type=count("requests"), default=200,
                   help=f"held-out test tasks evaluated greedily, {upto('requests')}")
    p.add_argument("--eval-every", type=count("rl_steps"), default=10,
                   help=f"evaluate every this many steps, {upto('rl_steps')} (--trainer minimal only)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=output_dir, required=True,
                   help="output folder: the checkpoint, metrics.json, manifest.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(check=_check_rl, func=_run_rl)


def _check_rl(args: argparse.Namespace) -> dict:
    refuse_inapplicable(args, {"--eval-every": (lambda a: a.trainer == "minimal", "needs --trainer minimal (TRL's "
                                                "GRPO trainer evaluates before and after training only)")})
    try:
        rl_start(args.model)
    except ValueError as err:
        raise UsageError(f"argument --model: {err}") from None
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
    history = run_rl(args.model, settings, args.trainer, args.n_prompts, args.n_eval, args.eval_every, args.out,
                     progress=not args.quiet)
    first, last = history[0], history[-1]
    print_json({"out": str(args.out), "eval_exact_match_before": first.get("eval_exact_match"),
                 "eval_exact_match_after": last.get("eval_exact_match"),
                 "eval_schema_valid_after": last.get("eval_schema_valid")})  # fmt: skip
    return 0


# --- chapter 06: e5 --------------------------------------------------------------------------
def add_e5(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("e5", help="experiment E5: SFT vs more SFT vs rejection sampling vs SFT-anchored RL, and the "
                                  "anchors' ablation (ch. 6)")
    default = E5Config()
    p.add_argument("--out", type=output_dir, required=True, help="run folder (resumable): runs/, e5.json, rl_adapter/")
    p.add_argument("--edge", default="smollm2", choices=["smollm2", "tiny"], help="the SFT start (default smollm2)")
    p.add_argument("--steps", type=count("e5_steps"), default=default.rl.steps,
                   help=f"RL steps per run, {upto('e5_steps')} (default {default.rl.steps})")
    p.add_argument("--n-rl-seeds", type=count("e5_seeds", 0), default=len(default.rl_seeds),
                   help=f"seeds 0..N-1 of anchored RL, {upto('e5_seeds', 0)} (default {len(default.rl_seeds)})")
    p.add_argument("--n-seeds", type=count("e5_seeds", 0), default=len(default.seeds),
                   help=f"seeds 0..N-1 of the rivals more_sft and raft, {upto('e5_seeds', 0)} "
                        f"(default {len(default.seeds)})")
    p.add_argument("--n-sft-rl-seeds", type=count("e5_seeds", 0), default=len(default.sft_rl_seeds),
                   help=f"seeds 0..N-1 of more_sft_rl: more SFT, then anchored RL anchored to it, "
                        f"{upto('e5_seeds', 0)} (default {len(default.sft_rl_seeds)})")
    p.add_argument("--n-ablation-seeds", type=count("e5_seeds", 0), default=len(default.ablation_seeds),
                   help=f"seeds 0..N-1 of the anchor-free variants, {upto('e5_seeds', 0)} "
                        f"(default {len(default.ablation_seeds)}; 0 skips them)")
    p.add_argument("--ablation", nargs="+", default=list(default.ablation_arms), choices=list(default.ablation_arms),
                   help="which anchor-free variants run (default all three; needs --n-ablation-seeds >= 1)")
    p.add_argument("--more-sft-learning-rate", type=OPEN_UNIT, default=default.more_sft_learning_rate,
                   help="peak rate at which more SFT and rejection sampling continue the start, in (0, 1) (default "
                        f"{default.more_sft_learning_rate:g}; 5e-5 is the rate a synergy round continues the SmolLM2 "
                        "adapter at, chosen on validation requests, where 2e-4 forgot: regenerate's e5 stage passes it)")
    p.add_argument("--day", choices=["validation", "test"], default=default.day_split,
                   help="the day's traffic RL and its rivals learn from: validation phrasings (default), or test: "
                        "the deployment's own phrasings (other requests than the evaluation's)")
    p.add_argument("--n-pool", type=count("tasks", 4), default=default.n_pool,
                   help=f"the day's new requests (the least confident half is labelled), {upto('tasks', 4)} "
                        f"(default {default.n_pool})")
    p.add_argument("--n-eval", type=count("requests", 2), default=default.n_eval,
                   help=f"held-out test-split requests, {upto('requests', 2)} (default {default.n_eval})")
    p.add_argument("--n-curve", type=count("requests", 0), default=default.n_curve,
                   help=f"validation requests of RL's learning curve, {upto('requests', 0)} (default "
                        f"{default.n_curve}; 0: none)")
    p.add_argument("--handwritten", type=existing_file, nargs="+", default=None,
                   help="JSONL files of hand-written requests evaluated beside the test split for the headline "
                        "arms, each a suite named by its file (e.g. tests/data/handwritten_requests.jsonl "
                        "tests/data/independent_requests.jsonl); never trained on")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="run every N-th run starting at I (0 <= I < N): N processes, one per core, share the work; "
                        "start 0/N first (it evaluates the start), the others once OUT/runs/sft.json exists; "
                        "when all have finished, the same command without --shard writes e5.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    p.set_defaults(check=_check_e5, func=_run_e5)


def _check_e5(args: argparse.Namespace) -> dict:
    refuse_inapplicable(args, {"--ablation": (lambda a: a.n_ablation_seeds > 0, "needs --n-ablation-seeds >= 1 "
                                              "(0 runs no anchor-free variant)")})
    if args.edge == "smollm2":
        _needs_smollm2("--edge")
    flags = {"steps": "--steps", "seeds": "--n-seeds", "n_pool": "--n-pool", "n_eval": "--n-eval",
             "n_curve": "--n-curve", "more_sft_learning_rate": "--more-sft-learning-rate"}
    with flag_errors(flags):
        config = E5Config(edge=args.edge, n_pool=args.n_pool, day_split=args.day, n_eval=args.n_eval, n_curve=args.n_curve,
                          seeds=tuple(range(args.n_seeds)), rl_seeds=tuple(range(args.n_rl_seeds)),
                          sft_rl_seeds=tuple(range(args.n_sft_rl_seeds)),
                          ablation_seeds=tuple(range(args.n_ablation_seeds)), ablation_arms=tuple(args.ablation),
                          more_sft_learning_rate=args.more_sft_learning_rate,
                          rl=E5Config().rl.replace(steps=args.steps))  # fmt: skip
    shard = None
    if args.shard is not None:
        i, _, n = args.shard.partition("/")
        if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
            raise UsageError(f"--shard must be I/N with 0 <= I < N (e.g. 0/2), got {args.shard!r}")
        shard = (int(i), int(n))
        if shard[0] > 0 and not (Path(args.out) / "runs" / "sft.json").exists():
            raise UsageError(f"--shard {args.shard}: {Path(args.out) / 'runs' / 'sft.json'} is missing; start "
                             f"--shard 0/{n} first and this one once that file exists")
    suites = request_suites("--handwritten", args.handwritten)
    return {"config": config, "handwritten": suites, "shard": shard}


def _run_e5(args: argparse.Namespace, plan: dict) -> int:
    command = " ".join([PROG, *sys.argv[1:]]) if sys.argv[1:2] == ["e5"] else f"{PROG} e5"
    artifact = run_e5(plan["config"], args.out, plan["handwritten"], command=command, progress=not args.quiet,
                      shard=plan["shard"])
    if "missing" in artifact:
        print_json({"out": str(args.out), "shard": args.shard, "missing": artifact["missing"],
                    "next": "when the other shards finish, run the same command without --shard to write e5.json"})
        return 0
    m = artifact["manifest"]
    headline = {arm: {suite: {k: c["mean_over_seeds"][k] for k in ("n", "n_seeds", "difference", "ci_low", "ci_high")}
                      for suite, c in suites.items()} for arm, suites in artifact["paired"].items()}  # fmt: skip
    print_json({"out": str(args.out), "summary": artifact["summary"], "paired_vs_sft": headline,
                "wall_s": m["wall_s"], "cpu_s": m["cpu_s"]})
    return 0
