"""Measure the edge against issue 12's targets: accuracy on the test split and on hand-written requests,
the confidence score's AUROC, prompt lengths per tool format, and generation speed at batch 1 and 16.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_edge.py --model smollm2 --n 300
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_edge.py --outputs netgpt_lite/data/edge_outputs/smollm2

With ``--outputs`` the test-split numbers are read from an edge-outputs artifact (``netgpt-lite tables``),
whose test stream is the first 300 test-split tasks of seed 0, instead of being generated again.

Prints one JSON object.  Targets (issue 12): test exact match >= 0.70, schema-valid >= 0.97, AUROC of the
chosen score >= 0.95; hand-written requests (tests/data/handwritten_requests.jsonl, never used for
training or prompt choice) exact match >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.scoring import auroc, evaluate_edge, expected_calibration_error
from netgpt_lite.edge.smollm import TOOL_FORMATS
from netgpt_lite.routing.edge_outputs import read_rows
from netgpt_lite.tasks.generate import generate_tasks
from netgpt_lite.tasks.request_file import read_request_file

HANDWRITTEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "handwritten_requests.jsonl"


def _summary(result: dict) -> dict:
    return {"n": result["n"], "exact_match": round(result["exact_match"], 4),
            "schema_valid": round(result["schema_valid"], 4),
            "by_difficulty": {k: round(v["exact_match"], 4) for k, v in result["by_difficulty"].items()},
            "error_types": result["error_types"],
            "auroc": {k: round(v["auroc"], 4) for k, v in result["scores"].items()},
            "ece_raw": {k: round(v["ece_raw"], 4) for k, v in result["scores"].items()}}


def _speed(agent: EdgeAgent, tasks, batch_size: int) -> dict:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    outputs = agent.run(tasks, batch_size=batch_size)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n_tokens = sum(o.n_output_tokens for o in outputs)
    return {"batch_size": batch_size, "n_tasks": len(tasks), "s_per_task": round(wall / len(tasks), 3),
            "cpu_s_per_task": round(cpu / len(tasks), 3), "output_tokens_per_s": round(n_tokens / wall, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2", help="tiny, smollm2, or a model/adapter folder")
    parser.add_argument("--n", type=int, default=300, help="test-split tasks (task seed 0)")
    parser.add_argument("--outputs", default=None, help="an edge-outputs folder: take the test numbers from it")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args(argv)
    agent = EdgeAgent.from_pretrained(args.model)
    report = {"model": args.model, "template_kwargs": agent.template_kwargs}
    if args.outputs:
        rows = read_rows(Path(args.outputs) / "test.jsonl")
        y = np.array([r["correct"] for r in rows], dtype=int)
        difficulty = {t.task_id: t.difficulty for t in generate_tasks("test", len(rows), seed=0)}
        errors = [r["error_type"] for r in rows]
        report["test"] = {"n": len(rows), "source": f"{args.outputs}/test.jsonl",
                          "exact_match": round(float(y.mean()), 4),
                          "schema_valid": round(float(np.mean([r["schema_valid"] for r in rows])), 4),
                          "by_difficulty": {d: round(float(np.mean([r["correct"] for r in rows if difficulty[r["task_id"]] == d])), 4)
                                            for d in sorted(set(difficulty.values()))},
                          "error_types": {e: errors.count(e) for e in sorted(set(errors))},
                          "auroc": {f"self_{k}": round(auroc(np.array([r[f"score_{k}"] for r in rows]), y), 4)
                                    for k in ("mean", "min")},
                          "ece_raw": {f"self_{k}": round(expected_calibration_error(np.array([r[f"score_{k}"] for r in rows]), y), 4)
                                      for k in ("mean", "min")}}
    else:
        report["test"] = _summary(evaluate_edge(agent, "test", args.n, seed=0, n_logs=0))
    report["handwritten"] = _summary(evaluate_edge(agent, n_logs=0, tasks=read_request_file(HANDWRITTEN)))
    if "tool_format" in agent.template_kwargs:
        tasks = generate_tasks("test", 500, seed=0)
        lengths = {}
        for fmt in TOOL_FORMATS:
            n = [len(agent.tokenizer.apply_chat_template(t.messages, tools=t.tools, tokenize=True, return_dict=False,
                                                         add_generation_prompt=True, tool_format=fmt)) for t in tasks]
            lengths[fmt] = {"median": float(np.median(n)), "max": int(max(n))}
        report["prompt_tokens"] = lengths
    if not args.no_speed:
        tasks = generate_tasks("test", 48, seed=7)
        report["speed"] = [_speed(agent, tasks[:8], 1), _speed(agent, tasks, 16)]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
