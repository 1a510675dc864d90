"""CPU seconds per rollout of an RL step, split by phase: sampling, rewards, the SFT pass, the update.

Run as the book's reader would (2 CPU cores):

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_rl.py --edge smollm2 --steps 3
    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_rl.py --edge smollm2 --steps 1 --curve 100  # peak RSS
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_rl.py --edge tiny --steps 6 --trainers minimal,trl

``--edge smollm2`` trains the shipped SFT adapter on validation requests (the E5 day's kind of data) with
the settings of ``--updates-per-step`` epochs per sampled batch; ``--edge tiny`` the from-scratch model.
The minimal trainer logs CPU seconds per phase (``cpu_s_sampling``, ``cpu_s_rewards``,
``cpu_s_reference``, ``cpu_s_update``); this prints, per trainer, one JSON line with each phase's CPU
seconds per rollout (medians over steps, the first step dropped as warm-up when there are more than
two), the all-in CPU seconds per rollout, wall seconds per step, the share of groups kept and the run's
peak RSS (with ``--curve N``, over N validation requests evaluated greedily before and after the steps as
well, as E5's learning curve evaluates them inside the RL process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--model", default=None, help="tiny: SFT model folder (default: shipped)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--updates-per-step", type=int, default=2)
    parser.add_argument("--bf16", choices=["auto", "on", "off"], default="off")
    parser.add_argument("--trainers", default="minimal")
    parser.add_argument("--curve", type=int, default=0,
                        help="smollm2: validation requests evaluated greedily in-process before and after the "
                             "steps, as E5's learning curve is (0: none), so the peak RSS covers it too")
    args = parser.parse_args()

    from netgpt_lite.experiments.rl_summary import PHASES, cost_per_rollout
    from netgpt_lite.provenance import peak_rss_mb
    from netgpt_lite.rl.minimal import RLSettings, train_minimal

    bf16 = {"auto": None, "on": True, "off": False}[args.bf16]
    settings = RLSettings(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                          updates_per_step=args.updates_per_step, learning_rate=2e-5, bf16=bf16,
                          max_completion_tokens=48, sft_batch_size=4, device="cpu")  # fmt: skip
    for trainer in args.trainers.split(","):
        if args.edge == "smollm2":
            from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path
            from netgpt_lite.rl.data import rl_dataset
            from netgpt_lite.tasks.generate import generate_tasks

            if trainer != "minimal":
                raise SystemExit("--edge smollm2 times the minimal trainer (TRL needs a saved full model)")
            model, tokenizer, template = load_adapter(shipped_adapter_path(), trainable=True)
            tasks = generate_tasks("validation", 64, seed=3000)
            prompts = logged = rl_dataset(tasks, tokenizer, **template)
            curve = generate_tasks("validation", args.curve, seed=4000) if args.curve else None
        else:
            from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path
            from netgpt_lite.experiments.rl_ablation import experiment_data

            model, tokenizer = load_edge_model(args.model or shipped_model_path())
            prompts, logged, _ = experiment_data(tokenizer, n_prompts=128, n_logged=128, n_eval=1)
            curve, template = None, {}
        start = time.perf_counter()
        if trainer == "minimal":
            _, history = train_minimal(model, tokenizer, prompts, logged, settings, eval_tasks=curve,
                                       eval_every=args.steps, template_kwargs=template)
        else:
            from netgpt_lite.rl.trl_trainer import train_trl

            _, history = train_trl(args.model or shipped_model_path(), prompts, logged, settings)
        rows = [h for h in history if "seconds" in h]
        timed = rows[1:] if len(rows) > 2 else rows
        rollouts = settings.prompts_per_step * settings.group_size
        result = {"trainer": trainer, "edge": args.edge, "steps_timed": len(timed),
                  "median_wall_s_per_step": round(statistics.median(h["seconds"] for h in timed), 2),
                  "wall_s": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads(),
                  "prompts_per_step": args.prompts_per_step, "group_size": args.group_size,
                  "updates_per_step": settings.updates_per_step, "bf16": args.bf16,
                  "frac_groups_kept": round(1 - statistics.mean(h["frac_zero_std"] for h in timed), 3),
                  "curve_requests": args.curve, "peak_rss_mb": peak_rss_mb()}  # fmt: skip
        cost = cost_per_rollout([history], rollouts)  # the one definition E5's chapter reads too
        if cost is not None:
            result.update({f"cpu_s_per_rollout_{p}": cost[p] for p in PHASES})
            result["cpu_s_per_rollout"] = cost["all"]
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
