"""Do the edge's verdicts depend on the batch it was generated in?  The same requests at several batch sizes.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_eval_invariance.py --model sft --n 300 --batch-sizes 1,8,32 \
        --out runs/invariance

Greedy answers are generated in left-padded batches; in fp32 a different batch changes the padding and
the shapes of the matrix products, so a token whose two best candidates are almost tied could flip.
This evaluates the same ``--n`` test requests (task seed ``--seed``) once per batch size through the one
evaluator (:func:`netgpt_lite.edge.evaluation.evaluate`), saves each run's per-request records in
``--out`` (``eval-edge --out`` format, so ``netgpt-lite paired`` can compare any two), and prints, per
batch size against the first: requests whose verdict differs, whose completion text differs, the exact
match rates, CPU and wall seconds, and the process's peak resident memory.  It also runs the same
requests in reversed order at the first batch size with ``--order-check``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate, write_records
from netgpt_lite.provenance import Recorder, cpu_seconds, peak_rss_mb
from netgpt_lite.tasks.generate import generate_tasks


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sft")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--out", type=Path, default=Path("runs/invariance"))
    parser.add_argument("--order-check", action="store_true", help="also run the requests in reversed order")
    args = parser.parse_args(argv)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.n < 1 or not sizes or min(sizes) < 1:
        parser.error("--n and every batch size must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(seed=args.seed, split="test", sizes={"n": args.n}, config=vars(args))
    tasks = generate_tasks("test", args.n, seed=args.seed)
    agent = EdgeAgent.from_pretrained(args.model)
    runs = {}
    plan = [(f"batch{b}", b, tasks) for b in sizes] + ([("reversed", sizes[0], tasks[::-1])] if args.order_check else [])
    for label, size, order in plan:
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        ev = evaluate(agent, order, batch_size=size, progress=True)
        records = ev.records()
        if label == "reversed":
            records = records[::-1]
        runs[label] = {"records": records, "wall_s": round(time.perf_counter() - wall0, 1),
                       "cpu_s": round(cpu_seconds() - cpu0, 1)}
        write_records(args.out / f"{args.model}-{label}.jsonl", records,
                      {"model": args.model, "split": "test", "seed": args.seed, "n": args.n, "batch_size": size})
        first = runs[f"batch{sizes[0]}"]["records"]
        row = {"label": label, "batch_size": size, "wall_s": runs[label]["wall_s"], "cpu_s": runs[label]["cpu_s"],
               "exact_match": sum(r["correct"] for r in records) / len(records),
               "verdicts_differ": sum(a["correct"] != b["correct"] for a, b in zip(first, records)),
               "completions_differ": sum(a["completion"] != b["completion"] for a, b in zip(first, records))}
        runs[label]["row"] = row
        print(json.dumps(row), flush=True)
    summary = {"rows": [r["row"] for r in runs.values()], "peak_rss_mb": peak_rss_mb(),
               "manifest": recorder.finish()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"peak_rss_mb": summary["peak_rss_mb"]}))
    return summary


if __name__ == "__main__":
    main()
