"""Benchmark: edge generation throughput (output tokens/s) with batching and the KV cache.

Greedy decoding of the shipped edge checkpoint on test-split tasks, batch 1 vs 8 vs 32, with the
KV cache on (what ``EdgeAgent`` uses) and, for batch 32, off.  Prints median of ``--repeats`` runs.
The machine may be shared: the load average is printed next to the numbers.

    OMP_NUM_THREADS=1 python scripts/bench_generation.py --n 64

On a 2-core machine shared with other jobs, OMP_NUM_THREADS=2 was several times slower than 1 (threads
wait for each other when the cores are busy): measure with 1 thread there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="test tasks per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="tiny", help="tiny (default), smollm2, or a model folder")
    args = parser.parse_args()

    import torch

    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.tasks.generate import generate_tasks

    agent = EdgeAgent.from_pretrained(args.model, device="cpu")
    tasks = generate_tasks("test", args.n, seed=0)
    agent.run(tasks[:4])  # warm-up
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, {args.n} tasks")
    for batch_size in (1, 8, 32):
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs = agent.run(tasks, batch_size=batch_size)
            rates.append(sum(o.n_output_tokens for o in outputs) / (time.perf_counter() - start))
        print(f"batch {batch_size:>2}, KV cache on : {statistics.median(rates):8.0f} output tokens/s")
    prompts = agent.prompts(tasks[:32])
    enc = agent.tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False)
    for use_cache in (True, False):
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.no_grad():
                out = agent.model.generate(**enc, max_new_tokens=48, min_new_tokens=48, do_sample=False,
                                           use_cache=use_cache, pad_token_id=agent.tokenizer.pad_token_id)  # fmt: skip
            rates.append((out.shape[1] - enc["input_ids"].shape[1]) * len(prompts) / (time.perf_counter() - start))
        print(f"batch 32, 48 tokens, KV cache {'on ' if use_cache else 'off'}: {statistics.median(rates):8.0f} tokens/s")


if __name__ == "__main__":
    main()
