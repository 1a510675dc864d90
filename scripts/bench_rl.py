"""Seconds per RL step of both trainers (one step = sample a group per prompt, reward, updates_per_step updates).

Run on 2 CPU cores with one thread per op, as the book's reader would:

    OMP_NUM_THREADS=2 python scripts/bench_rl.py --model netgpt_lite/data/edge_model --steps 6

Prints one JSON line per trainer with the median seconds per step (the first step, which warms up, is dropped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="SFT model folder (default: shipped)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--trainers", default="minimal,trl")
    args = parser.parse_args()

    from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path
    from netgpt_lite.experiments.rl_ablation import experiment_data
    from netgpt_lite.rl.minimal import RLSettings, train_minimal
    from netgpt_lite.rl.trl_trainer import train_trl

    model_dir = args.model or shipped_model_path()
    settings = RLSettings(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                          device="cpu")  # fmt: skip
    for trainer in args.trainers.split(","):
        model, tokenizer = load_edge_model(model_dir)
        prompts, logged, _ = experiment_data(tokenizer, n_prompts=128, n_logged=128, n_eval=1)
        start = time.perf_counter()
        if trainer == "minimal":
            _, history = train_minimal(model, tokenizer, prompts, logged, settings)
        else:
            _, history = train_trl(model_dir, prompts, logged, settings)
        seconds = [h["seconds"] for h in history if "seconds" in h][1:]
        print(json.dumps({"trainer": trainer, "median_s_per_step": round(statistics.median(seconds), 3),
                          "steps_timed": len(seconds), "wall_s": round(time.perf_counter() - start, 1),
                          "threads": torch.get_num_threads(), "prompts_per_step": args.prompts_per_step,
                          "group_size": args.group_size, "updates_per_step": settings.updates_per_step}))  # fmt: skip


if __name__ == "__main__":
    main()
