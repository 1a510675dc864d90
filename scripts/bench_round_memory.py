"""Peak resident memory of each part of one SmolLM2 synergy round: where a round's gigabytes go.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_round_memory.py [--requests 96 --calibration 64]

Builds round 0 of a small reachable run in memory (the shipped adapter, its policy fitted on
``--calibration`` calibration tasks), routes round 1's ``--requests`` requests, and then runs round 1's
improvement with each part wrapped: the LoRA SFT, the
anchor's load, the RL steps, the KL to SFT, the scorer's fit and choice, the policy's refit.  A thread
samples this process's RSS every 0.1 s; each part prints its wall seconds and its RSS before, at peak and
after (GB).  The profile behind ``synergy.scoring.FEATURE_BATCH`` and ``kl_to_reference``'s
``logits_to_keep``.

At the defaults, one thread, beside a two-worker E4 run on 2 cores (``/usr/bin/time -v``): 17 CPU-min,
27 min wall, maximum resident 2.70 GB; the parts' peaks: LoRA SFT 1.93, RL (2 steps) 2.57, KL to SFT 2.54,
the scorer's choice 2.56 GB.
"""

from __future__ import annotations

import argparse
import threading
import time

import psutil

import netgpt_lite.edge.lora as lora
import netgpt_lite.synergy.edge_models as edge_models
import netgpt_lite.synergy.stages as stages

PARTS = ((lora, "train_lora"), (lora, "load_adapter"), (edge_models, "train_minimal"),
         (edge_models, "kl_to_reference"), (stages, "fit_scorer"), (stages, "choose_scorer"), (stages, "fit_policy"))


class PeakRss:
    """The highest RSS of this process since the last :meth:`reset` (sampled every 0.1 s in a daemon thread)."""

    def __init__(self) -> None:
        self.process, self.peak = psutil.Process(), 0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.1)

    def reset(self) -> int:
        self.peak = self.process.memory_info().rss
        return self.peak


def wrap(module, name: str, rss: PeakRss) -> None:
    """Replace ``module.name`` by a version that prints its wall time and RSS before, at peak and after."""
    inner = getattr(module, name)

    def timed(*args, **kwargs):
        before, start = rss.reset(), time.perf_counter()
        out = inner(*args, **kwargs)
        print(f"{name:16s} {time.perf_counter() - start:6.0f} s  RSS before {before / 2**30:.2f}  peak "
              f"{rss.peak / 2**30:.2f}  after {rss.process.memory_info().rss / 2**30:.2f} GB", flush=True)
        return out

    setattr(module, name, timed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=96, help="requests routed in round 1")
    parser.add_argument("--calibration", type=int, default=64, help="calibration tasks")
    parser.add_argument("--rl-steps", type=int, default=2, help="RL steps of round 1")
    args = parser.parse_args(argv)
    from datasets import Dataset

    config = stages.synergy_config(fast=False, rounds=1, requests_per_round=args.requests, eval_requests=8,
                                   calibration_tasks=args.calibration, edge="smollm2", rl_steps=args.rl_steps,
                                   sft_epochs=1, trace="reachable", edge_decoding="retry", seed=0)
    rss = PeakRss()
    system = stages.init_system(config)  # round 0: the shipped adapter, its policy fitted on the calibration set
    log = Dataset.from_list(stages.route_round(system, config, 1))
    print(f"round 1 logged {len(log)} cloud answers; RSS {rss.reset() / 2**30:.2f} GB", flush=True)
    for module, name in PARTS:
        wrap(module, name, rss)
    stages.improve(system, log, config, 1)


if __name__ == "__main__":
    main()
