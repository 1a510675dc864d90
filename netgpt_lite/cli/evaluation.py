"""Subcommands that measure the edge: ``eval-edge`` (one model, or two paired on the same requests) and
``paired`` (recompute a paired comparison from two saved evaluations).

``--decoding constrained`` decodes ``--model`` under a token mask that only lets through a schema-valid
call to one of the request's tools (:mod:`netgpt_lite.edge.constrained`, needs llguidance);
``--baseline-decoding`` does the same for the baseline, so ``--model sft --decoding constrained
--baseline sft`` compares constrained with greedy decoding of one model, paired.

``eval-edge --model A --baseline B`` evaluates both models on the same requests through the one
evaluator and adds a ``paired`` object (A minus B: both exact-match rates, the difference, a bootstrap
95% interval, McNemar's exact p, and how many requests flip each way).  ``--out FOLDER`` saves each
model's per-request verdicts as JSON lines, which ``netgpt-lite paired A.jsonl B.jsonl`` compares again
without generating anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netgpt_lite.cli.arguments import (
    SEED,
    UsageError,
    existing_file,
    model_source,
    output_dir,
    output_file,
    print_json,
    reading,
    refuse_inapplicable,
)
from netgpt_lite.cli.bounds import BOUNDS, count, upto
from netgpt_lite.edge.agent import DECODINGS, EdgeAgent
from netgpt_lite.edge.constrained import require_llguidance
from netgpt_lite.edge.evaluation import compare, compare_records, evaluate, read_records, write_records
from netgpt_lite.edge.scoring import edge_metrics
from netgpt_lite.provenance import Recorder, atomic_write_json, command_line, file_sha256, git_state
from netgpt_lite.tasks.generate import VARIETIES, generate_tasks
from netgpt_lite.tasks.request_file import read_request_file

EVALUATOR = "netgpt_lite.edge.evaluation"  # the code a saved evaluation depends on (its import closure)
DEFAULT_N = 300  # ~5 minutes for SmolLM2 on 2 cores (about 1 CPU-s per request at batch 16)


def add_eval_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-edge", help="exact match, schema-valid, AUROC and ECE of the edge; "
                                         "--baseline compares two models paired (ch. 4)")  # fmt: skip
    p.add_argument("--model", type=model_source, default="smollm2",
                   help="smollm2 (default: SmolLM2 + the shipped LoRA adapter, = sft), rl, tiny (the from-scratch "
                        "model), smollm2-base, a model or adapter folder, or a Hub id")
    p.add_argument("--baseline", type=model_source, default=None,
                   help="a second model evaluated on the same requests; adds a paired comparison (model - baseline)")
    p.add_argument("--decoding", choices=DECODINGS, default="greedy",
                   help="greedy (default); constrained: only schema-valid calls to an offered tool can be "
                        "generated; retry: greedy, and only the schema-invalid calls generated again under that "
                        "mask (both need `pip install llguidance`)")
    p.add_argument("--baseline-decoding", choices=DECODINGS, default="greedy",
                   help="decoding of --baseline (default greedy)")
    p.add_argument("--tasks", type=existing_file, default=None,
                   help="a JSONL file of your own requests (each line: request or messages, tools, gold); "
                        "replaces --split/--n")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="task split")
    p.add_argument("--variety", choices=VARIETIES, default="classic",
                   help="classic (default: the tasks every shipped result uses) or broad (numbers in words, other units, relative times, typos, new names, defaults, near-miss tools)")
    p.add_argument("--n", type=count("requests", 2), default=DEFAULT_N,
                   help=f"requests evaluated, {upto('requests', 2)} (default {DEFAULT_N}: about 5 minutes for SmolLM2 "
                        "on 2 cores); not with --tasks")
    p.add_argument("--n-logs", type=count("logs", 0), default=0,
                   help=f"train logs for the learned scorer and calibration maps: 0 or in [10, {BOUNDS['logs'][0]}] "
                        "(default 0: self-confidence scores only; 600 adds 900 generations, about 15 minutes for SmolLM2)")
    p.add_argument("--seed", type=SEED, default=0, help="task seed (default 0)")
    p.add_argument("--batch-size", type=count("batch"), default=None,
                   help=f"prompts generated together, {upto('batch')} (default: the model's)")
    p.add_argument("--out", type=output_dir, default=None,
                   help="folder for the per-request verdicts (<model>.jsonl, <baseline>.jsonl) and the JSON result")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(check=_check_eval_edge, func=_run_eval_edge)


def _check_eval_edge(args: argparse.Namespace) -> dict:
    if args.n_logs and args.n_logs < 10:
        raise UsageError(f"argument --n-logs: must be 0 (self-confidence scores only) or >= 10; got {args.n_logs}")
    if args.baseline is not None and (args.baseline, args.baseline_decoding) == (args.model, args.decoding):
        raise UsageError(f"argument --baseline: is the same model as --model ({args.model}) with the same "
                         f"decoding; name another one or set --decoding / --baseline-decoding")  # fmt: skip
    if args.baseline is None and args.baseline_decoding != "greedy":
        raise UsageError("argument --baseline-decoding: applies only with --baseline")
    if "constrained" in (args.decoding, args.baseline_decoding if args.baseline else "greedy"):
        try:
            require_llguidance()  # before any model loads
        except ImportError as err:
            raise UsageError(f"--decoding constrained: {err}") from None
    from_file = (lambda a: a.tasks is None, "does not apply with --tasks (the file holds the requests); drop one")
    refuse_inapplicable(args, {"--split": from_file, "--n": from_file, "--variety": from_file})
    if args.tasks is not None:
        with reading("--tasks", args.tasks):
            tasks = read_request_file(args.tasks)  # every line checked before the model loads
    else:
        tasks = generate_tasks(args.split, args.n, seed=args.seed, variety=args.variety)
    return {"tasks": tasks}


def _evaluate_one(name: str, args: argparse.Namespace, tasks: list, decoding: str = "greedy") -> tuple[dict, object]:
    options = {} if args.batch_size is None else {"batch_size": args.batch_size}
    agent = EdgeAgent.from_pretrained(name, decoding=decoding, **options)
    if not args.quiet:
        print(f"evaluating {_label(name, decoding)} on {len(tasks)} requests", file=sys.stderr, flush=True)
    evaluation = evaluate(agent, tasks, progress=not args.quiet)
    result = edge_metrics(agent, evaluation, args.split, args.seed, args.n_logs, progress=not args.quiet)
    del agent  # free the first model before the second loads: one model in memory at a time
    return result, evaluation


def _run_eval_edge(args: argparse.Namespace, plan: dict) -> int:
    tasks = plan["tasks"]
    recorder = Recorder(seed=args.seed, split=tasks[0].split, sizes={"n": len(tasks)}, entry=[EVALUATOR],
                        config={k: getattr(args, k) for k in ("model", "baseline", "n_logs", "batch_size", "decoding",
                                                              "baseline_decoding", "variety")})  # fmt: skip
    result, evaluation = _evaluate_one(args.model, args, tasks, args.decoding)
    result["model"], result["decoding"] = args.model, args.decoding
    name = _label(args.model, args.decoding)
    commit, _ = git_state()
    header = {"split": result["split"], "seed": args.seed, "n": len(tasks), "command": command_line(),
              "git_commit": commit, "tasks_file": Path(args.tasks).name if args.tasks else None}  # fmt: skip
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_records(Path(args.out) / f"{_file_name(name)}.jsonl", evaluation.records(),
                      {**header, "model": args.model, "decoding": args.decoding})  # fmt: skip
    if args.baseline is not None:
        base_name = _label(args.baseline, args.baseline_decoding)
        base_result, base_eval = _evaluate_one(args.baseline, args, tasks, args.baseline_decoding)
        result["baseline"] = {"model": args.baseline, "decoding": args.baseline_decoding, **{k: base_result[k] for k in
                                                          ("n", "exact_match", "schema_valid", "by_difficulty",
                                                           "error_types", "scores")}}  # fmt: skip
        result["paired"] = {"model": name, "baseline": base_name, **compare(evaluation, base_eval, seed=args.seed)}
        if args.out is not None:
            write_records(Path(args.out) / f"{_file_name(base_name)}.jsonl", base_eval.records(),
                          {**header, "model": args.baseline, "decoding": args.baseline_decoding})  # fmt: skip
    if args.out is not None:
        atomic_write_json(Path(args.out) / "result.json", {**result, "manifest": recorder.finish()})
    if args.json:
        print_json(result)
        return 0
    _print_result(result)
    if "paired" in result:
        print(paired_line(result["paired"]))
    return 0


def _label(model: str, decoding: str) -> str:
    """The model's name, with ``-constrained`` when it decodes constrained (a file name, a paired label)."""
    return model if decoding == "greedy" else f"{model}-{decoding}"


def _file_name(model: str) -> str:
    return Path(model).name.replace(" ", "_") or "model"


def paired_line(p: dict) -> str:
    """One line a reader can quote: both rates, the difference with its interval, n, the flips and p."""
    return (f"paired on {p['n']} requests: {p.get('model', 'A')} {p['a_exact_match']:.3f} vs "
            f"{p.get('baseline', 'B')} {p['b_exact_match']:.3f}; difference {p['difference']:+.3f} "
            f"(95% CI {p['ci_low']:+.3f} to {p['ci_high']:+.3f}); {p['a_only']} requests flip to right, "
            f"{p['b_only']} to wrong; McNemar exact p = {p['mcnemar_p']:.3g}")  # fmt: skip


def _print_result(result: dict) -> None:
    acc = result["accuracy"]
    print(f"{_label(result['model'], result.get('decoding', 'greedy'))} on {result['split']} ({acc['n']} requests): exact match {acc['exact_match']:.3f}, "
          f"schema-valid {acc['schema_valid']:.3f}")  # fmt: skip
    for key in ("by_difficulty", "by_kind"):
        for group, r in acc[key].items():
            print(f"  {group:<12} n={r['n']:<4} exact match {r['exact_match']:.3f}  schema-valid {r['schema_valid']:.3f}")
    print("errors:", ", ".join(f"{k} {v}" for k, v in acc["error_types"].items()))
    print(f"scores (labels for the scorer: edge matches {result['label_source']}):")
    for name, m in result["scores"].items():
        calibrated = (f"  isotonic {m['ece_isotonic']:.3f}  Platt {m['ece_platt']:.3f}" if "ece_platt" in m else "")
        print(f"  {name:<10} AUROC {m['auroc']:.3f}  ECE raw {m['ece_raw']:.3f}{calibrated}")
    if "baseline" in result:
        b = result["baseline"]
        print(f"{_label(b['model'], b.get('decoding', 'greedy'))} (baseline): exact match {b['exact_match']:.3f}, schema-valid {b['schema_valid']:.3f}")


def add_paired(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paired", help="compare two saved evaluations (eval-edge --out files) paired, request by request")
    p.add_argument("a", type=existing_file, metavar="A", help="per-request verdicts of model A (a .jsonl from eval-edge --out)")
    p.add_argument("b", type=existing_file, metavar="B", help="per-request verdicts of model B, on the same requests")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--out", type=output_file, default=None,
                   help="write the comparison as JSON with a manifest (the two files' headers and sha256)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(check=_check_paired, func=_run_paired)


def _check_paired(args: argparse.Namespace) -> dict:
    loaded = {}
    for name in ("a", "b"):
        with reading(name.upper(), getattr(args, name)):
            loaded[name] = read_records(getattr(args, name))
    return loaded


def _run_paired(args: argparse.Namespace, plan: dict) -> int:
    (head_a, rec_a), (head_b, rec_b) = plan["a"], plan["b"]
    try:
        paired = compare_records(rec_a, rec_b, seed=args.seed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    paired = {"model": head_a.get("model", "A"), "baseline": head_b.get("model", "B"), **paired}
    if args.out is not None:
        inputs = {name: {"file": Path(getattr(args, name)).name, "sha256": file_sha256(getattr(args, name)),
                         "header": head} for name, head in (("a", head_a), ("b", head_b))}  # fmt: skip
        recorder = Recorder(seed=args.seed, split=head_a.get("split"), sizes={"n": paired["n"]}, entry=[EVALUATOR])
        atomic_write_json(args.out, {"paired": paired, "inputs": inputs, "manifest": recorder.finish()})
    if args.json:
        print_json(paired)
    else:
        print(paired_line(paired))
    return 0
