"""Constrained decoding as the rival of training for valid calls: the same requests, greedy vs constrained.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_constrained.py --n 300 --out runs/constrained
    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_constrained.py --tasks tests/data/independent_requests.jsonl \
        --out runs/constrained-independent

The shipped SFT edge (``--model``) answers the same requests twice through the one evaluator
(:func:`netgpt_lite.edge.evaluation.evaluate`): greedy, then greedy under the llguidance mask that only
lets through a schema-valid call to one of the request's tools (``EdgeAgent(decoding="constrained")``,
:mod:`netgpt_lite.edge.constrained`), on the same model weights in memory.  For each it reports exact
match, schema-valid rate, AUROC and raw ECE of the self-confidence scores (``self_mean``: the model's
token probabilities, what the router uses), wall and CPU seconds per request; for the constrained run
also the AUROC / ECE of ``self_mean_masked`` (token probabilities renormalised over the allowed tokens).
Then the paired difference (constrained minus greedy) with its bootstrap 95% interval and McNemar's exact
p (:func:`netgpt_lite.edge.evaluation.compare`), and the AUROC difference with a paired bootstrap
interval.  ``--out`` gets both runs' per-request records (``eval-edge --out`` format: ``netgpt-lite paired``
compares them again) and ``summary.json`` with a manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import compare, evaluate, write_records
from netgpt_lite.edge.scoring import auroc, edge_metrics, expected_calibration_error
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, peak_rss_mb
from netgpt_lite.tasks.generate import generate_tasks
from netgpt_lite.tasks.request_file import read_request_file


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sft", help="edge model (default sft: SmolLM2 + the shipped adapter)")
    parser.add_argument("--n", type=int, default=300, help="test requests (default 300); not with --tasks")
    parser.add_argument("--tasks", type=Path, default=None, help="a request file (eval-edge --tasks format)")
    parser.add_argument("--seed", type=int, default=0, help="task seed and bootstrap seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=None, help="prompts generated together (default: the model's)")
    parser.add_argument("--n-bootstrap", type=int, default=2000, help="resamples for the AUROC difference")
    parser.add_argument("--out", type=Path, default=Path("runs/constrained"))
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be >= 2")
    tasks = read_request_file(args.tasks) if args.tasks else generate_tasks("test", args.n, seed=args.seed)
    source = args.tasks.name if args.tasks else f"test split, seed {args.seed}"
    args.out.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(seed=args.seed, split=tasks[0].split, sizes={"n": len(tasks)},
                        config={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                        entry=["netgpt_lite.edge.evaluation", "netgpt_lite.edge.constrained"])  # fmt: skip
    greedy = EdgeAgent.from_pretrained(args.model)
    constrained = EdgeAgent(greedy.model, greedy.tokenizer, batch_size=greedy.batch_size,
                            max_new_tokens=greedy.max_new_tokens, template_kwargs=greedy.template_kwargs,
                            decoding="constrained")  # the same weights: only the decoding differs
    constrained.constraint.record_masked = {}
    runs, evaluations = {}, {}
    for name, agent in (("greedy", greedy), ("constrained", constrained)):
        print(f"{name}: {len(tasks)} requests ({source})", file=sys.stderr, flush=True)
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        ev = evaluate(agent, tasks, batch_size=args.batch_size, progress=True)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        metrics = edge_metrics(agent, ev)
        runs[name] = {"n": len(tasks), "exact_match": metrics["exact_match"], "schema_valid": metrics["schema_valid"],
                      "scores": metrics["scores"], "error_types": metrics["error_types"],
                      "by_difficulty": metrics["by_difficulty"], "wall_s_per_request": round(wall / len(tasks), 3),
                      "cpu_s_per_request": round(cpu / len(tasks), 3),
                      "mean_output_tokens": float(np.mean([o.n_output_tokens for o in ev.outputs]))}  # fmt: skip
        evaluations[name] = ev
        write_records(args.out / f"{args.model}-{name}.jsonl", ev.records(),
                      {"model": args.model, "decoding": name, "split": tasks[0].split, "seed": args.seed,
                       "n": len(tasks), "tasks_file": args.tasks.name if args.tasks else None})  # fmt: skip
        print(json.dumps({name: {k: runs[name][k] for k in ("exact_match", "schema_valid", "wall_s_per_request",
                                                             "cpu_s_per_request")}}), flush=True)  # fmt: skip
    g, c = evaluations["greedy"], evaluations["constrained"]
    y = c.correct.astype(int)
    masked = np.array([np.exp(np.mean(constrained.constraint.record_masked[o.prompt])) if o.schema_valid else 0.0
                       for o in c.outputs])  # fmt: skip
    runs["constrained"]["scores"]["self_mean_masked"] = {"auroc": _auroc(masked, y),
                                                         "ece_raw": expected_calibration_error(masked, y)}
    runs["constrained"]["unconstrained_requests"] = constrained.constraint.unconstrained
    scores = {name: np.array([o.confidence("mean") for o in ev.outputs]) for name, ev in evaluations.items()}
    summary = {
        "model": args.model,
        "requests": source,
        "library": f"llguidance {version('llguidance')}",
        "greedy": runs["greedy"],
        "constrained": runs["constrained"],
        "paired": {"model": f"{args.model}-constrained", "baseline": f"{args.model}-greedy", **compare(c, g, seed=args.seed)},
        "auroc_difference": _auroc_difference(scores["constrained"], y, scores["greedy"], g.correct.astype(int),
                                              args.n_bootstrap, args.seed),
        "completions_differ": sum(a.completion != b.completion for a, b in zip(g.outputs, c.outputs)),
        "repaired": {  # greedy answers that were schema-invalid: what constrained decoding made of them
            "greedy_invalid": int(sum(not o.schema_valid for o in g.outputs)),
            "now_valid": int(sum(not a.schema_valid and b.schema_valid for a, b in zip(g.outputs, c.outputs))),
            "now_correct": int(sum(not a.schema_valid and v for a, v in zip(g.outputs, c.correct))),
            "mean_score_now_wrong": _mean([s for a, s, v in zip(g.outputs, scores["constrained"], c.correct)
                                           if not a.schema_valid and not v]),
        },
        "peak_rss_mb": peak_rss_mb(),
        "manifest": recorder.finish(),
    }
    atomic_write_json(args.out / "summary.json", summary)
    p = summary["paired"]
    print(f"paired on {p['n']} requests: constrained {p['a_exact_match']:.3f} vs greedy {p['b_exact_match']:.3f}; "
          f"difference {p['difference']:+.3f} (95% CI {p['ci_low']:+.3f} to {p['ci_high']:+.3f}); McNemar p = "
          f"{p['mcnemar_p']:.3g}; {p['a_only']} flip to right, {p['b_only']} to wrong")  # fmt: skip
    print(json.dumps({k: summary[k] for k in ("auroc_difference", "completions_differ", "repaired")}))
    return summary


def _auroc(scores, labels) -> float:
    labels = np.asarray(labels)
    return auroc(scores, labels) if 0 < labels.sum() < len(labels) else float("nan")


def _mean(values) -> float | None:
    return float(np.mean(values)) if values else None


def _auroc_difference(s_a, y_a, s_b, y_b, n_bootstrap: int, seed: int) -> dict:
    """AUROC(A) - AUROC(B) on the same requests, with a paired percentile-bootstrap 95% interval."""
    rng = np.random.default_rng(seed)
    n, boot = len(y_a), []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, n, n)
        if 0 < y_a[idx].sum() < n and 0 < y_b[idx].sum() < n:
            boot.append(auroc(s_a[idx], y_a[idx]) - auroc(s_b[idx], y_b[idx]))
    diff = _auroc(s_a, y_a) - _auroc(s_b, y_b)
    low, high = (np.quantile(boot, [0.025, 0.975]) if boot else (float("nan"), float("nan")))
    return {"constrained": _auroc(s_a, y_a), "greedy": _auroc(s_b, y_b), "difference": float(diff),
            "ci_low": float(low), "ci_high": float(high), "n_bootstrap": len(boot)}  # fmt: skip


if __name__ == "__main__":
    main()
