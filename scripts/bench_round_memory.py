"""Peak resident memory of each part of one SmolLM2 synergy round: where a round's gigabytes go.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_round_memory.py [--requests 96 --calibration 64]

Builds round 0 of a small reachable run in memory (the shipped adapter, its policy fitted on
``--calibration`` calibration tasks), routes round 1's ``--requests`` requests, and then runs round 1's
improvement with each part wrapped: the LoRA SFT, the
anchor's load, the RL steps, the KL to SFT, the scorer's fit and choice, the policy's refit.  A thread
samples this process's RSS every 0.1 s; each part prints its wall seconds and its RSS before, at peak and
after (GB).  The profile behind ``synergy.scoring.FEATURE_BATCH`` and ``kl_to_reference``'s
``logits_to_keep``.

At the defaults, one thread, beside a two-worker E4 run on 2 cores (``/usr/bin/time -v``): 13 CPU-min,
28 min wall, maximum resident 2.69 GB (2,688,656 kB); the parts' peaks: LoRA SFT 1.91, RL (2 steps) 2.56,
KL to SFT 2.54, the scorer's choice 2.39 GB.  The heap holds 0.55 GB in use throughout; RL's rollouts and
updates add about 1.1 GB above where they start, and that sets the round's peak.  Trimming the heap after
each phase of answering (``synergy.stages.answer``) lowered the scorer's choice from 2.56 to 2.39 GB and the
resident memory after it from 2.46 to 2.28 GB, not the peak (the same run before it: 2,696,408 kB, 13 CPU-min).

Like E4's workers, it keeps 128 of oneDNN's compiled bf16 kernels (``bound_onednn_cache``); the numbers
above were measured before that bound, with oneDNN's 1024.

``--from-run RUN --round R`` measures a real run's round instead: it forks the committed run folder RUN
(e.g. ``runs/pipeline/reproduce/E4/reachable-seed0``) at round ``R - 1`` into a scratch folder and runs
round R there with its own settings, its routing, improvement and evaluation wrapped too.  Each part also
prints glibc's heap in use and free (``mallinfo2``), so a high RSS reads as live tensors or as freed
blocks the heap keeps.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_round_memory.py \
        --from-run runs/pipeline/reproduce/E4/reachable-seed0 --round 4
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import tempfile
import threading
import time
from pathlib import Path

import psutil

import netgpt_lite.edge.lora as lora
import netgpt_lite.synergy.edge_models as edge_models
import netgpt_lite.synergy.stages as stages
from netgpt_lite.experiments.synergy_experiments import bound_onednn_cache

PARTS = ((lora, "train_lora"), (lora, "load_adapter"), (edge_models, "train_minimal"),
         (edge_models, "kl_to_reference"), (stages, "fit_scorer"), (stages, "choose_scorer"), (stages, "fit_policy"))


class PeakRss:
    """This process's highest RSS over each open span (sampled every 0.1 s in a daemon thread); spans nest,
    so a part's peak counts the parts inside it."""

    def __init__(self) -> None:
        self.process, self.spans = psutil.Process(), []
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            now = self.now()
            for span in list(self.spans):
                span[0] = max(span[0], now)
            time.sleep(0.1)

    def now(self) -> int:
        return self.process.memory_info().rss

    def open(self) -> list:
        span = [self.now()]
        self.spans.append(span)
        return span

    def close(self, span: list) -> int:
        self.spans.remove(span)
        return max(span[0], self.now())


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_gb() -> str:
    """glibc's heap (main and thread arenas) in use and free, and its separately mapped blocks, in GB
    (``mallinfo2``, glibc 2.33+; empty elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return ""
    info = libc.mallinfo2()
    return (f"heap in use {info.uordblks / 2**30:.2f}, free {info.fordblks / 2**30:.2f}, "
            f"mapped {info.hblkhd / 2**30:.2f} GB")


def wrap(module, name: str, rss: PeakRss) -> None:
    """Replace ``module.name`` by a version that prints its wall time and RSS before, at peak and after."""
    inner = getattr(module, name)

    def timed(*args, **kwargs):
        span, start = rss.open(), time.perf_counter()
        before = span[0]
        out = inner(*args, **kwargs)
        peak = rss.close(span)
        print(f"{name:16s} {time.perf_counter() - start:6.0f} s  RSS before {before / 2**30:.2f}  peak "
              f"{peak / 2**30:.2f}  after {rss.now() / 2**30:.2f} GB; {heap_gb()}",
              flush=True)
        return out

    setattr(module, name, timed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=96, help="requests routed in round 1")
    parser.add_argument("--calibration", type=int, default=64, help="calibration tasks")
    parser.add_argument("--rl-steps", type=int, default=2, help="RL steps of round 1")
    parser.add_argument("--from-run", type=Path, default=None, help="a committed synergy run folder to fork")
    parser.add_argument("--round", type=int, default=None, help="with --from-run: the round to run (>= 1)")
    args = parser.parse_args(argv)
    bound_onednn_cache()  # as E4's workers run (set ONEDNN_PRIMITIVE_CACHE_CAPACITY=1024 for oneDNN's default)
    if (args.from_run is None) != (args.round is None):
        parser.error("--from-run and --round go together")
    if args.from_run is not None:
        return real_round(args.from_run, args.round)
    from datasets import Dataset

    config = stages.synergy_config(fast=False, rounds=1, requests_per_round=args.requests, eval_requests=8,
                                   calibration_tasks=args.calibration, edge="smollm2", rl_steps=args.rl_steps,
                                   sft_epochs=1, trace="reachable", edge_decoding="retry", seed=0)
    rss = PeakRss()
    system = stages.init_system(config)  # round 0: the shipped adapter, its policy fitted on the calibration set
    log = Dataset.from_list(stages.route_round(system, config, 1))
    print(f"round 1 logged {len(log)} cloud answers; RSS {rss.now() / 2**30:.2f} GB", flush=True)
    for module, name in PARTS:
        wrap(module, name, rss)
    stages.improve(system, log, config, 1)


def real_round(run: Path, r: int) -> None:
    """Round ``r`` of the committed run folder ``run``, forked at ``r - 1`` into a scratch folder."""
    from netgpt_lite.synergy.config import SETTINGS_BEFORE_RECORDED
    from netgpt_lite.synergy.loop import SynergyConfig, fork_run, read_state, run_synergy

    state = read_state(run)
    if state is None:
        raise SystemExit(f"--from-run: {run} holds no committed synergy run (no state.json)")
    if not 1 <= r <= state["last_completed_round"] + 1:
        raise SystemExit(f"--round must be 1..{state['last_completed_round'] + 1} for {run}; got {r}")
    # a run saved before a setting existed ran with the value SETTINGS_BEFORE_RECORDED gives it
    config = dataclasses.replace(SynergyConfig(**{**SETTINGS_BEFORE_RECORDED, **state["config"]}), rounds=r)
    rss = PeakRss()
    for module, name in (*PARTS, (stages, "route_round"), (stages, "improve"), (stages, "evaluate_system"),
                         (stages, "load_system")):
        wrap(module, name, rss)
    with tempfile.TemporaryDirectory(prefix="bench-round-") as tmp:
        fork_run(run, Path(tmp) / "run", at_round=r - 1, config=config)
        print(f"forked {run} at round {r - 1}; RSS {rss.now() / 2**30:.2f} GB; {heap_gb()}", flush=True)
        start = time.perf_counter()
        run_synergy(config, Path(tmp) / "run", stages=stages.default_stages(), resume=True)
    print(f"round {r}: {time.perf_counter() - start:.0f} s wall; {heap_gb()}", flush=True)


if __name__ == "__main__":
    main()
