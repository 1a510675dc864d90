"""CPU seconds per example of LoRA SFT on SmolLM2, for each training setting, on the machine at hand.

Times ``edge.lora.train_lora`` itself (the loop ``netgpt-lite train-edge --base smollm2`` runs) on the
same train-split examples under each setting: bf16 autocast on or off, gradient checkpointing on or
off, batch size.  The first step of each run is a warm-up and is not counted.  CPU seconds are this
process's user + system time, so another job on the machine inflates wall time more than them.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_lora_cost.py                 # the default grid
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_lora_cost.py --steps 3 --batch-sizes 8
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_lora_cost.py --json runs/lora_cost.json

Prints one line per setting and the cheapest; ``--json`` writes the table (the reference floor: a
forward + backward over a ~280-token prompt and ~30-token completion is about 170-270 GFLOP).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_setting(model_loader, tokenizer, prompts, completions, *, bf16: bool, checkpointing: bool,
                 batch_size: int, steps: int, dropout: float = 0.0, tool_format: str = "compact",
                 micro_batch_size: int | None = None, attention: str = "eager") -> dict:
    """One LoRA run of ``steps + 1`` optimiser steps; CPU-s and wall-s per example after the first step."""

    from netgpt_lite.edge import lora

    n = batch_size * (steps + 1)
    micro = micro_batch_size or batch_size
    passes = -(-batch_size // micro)  # forward+backward passes per optimiser step
    settings = lora.LoraSettings(batch_size=batch_size, n_epochs=1.0, bf16=bf16, gradient_checkpointing=checkpointing,
                                 save_every_steps=10_000, tool_format=tool_format, warmup_ratio=0.0, dropout=dropout,
                                 micro_batch_size=micro, attention=attention)
    marks = []
    original = lora.completion_loss

    def timed_loss(*args, **kwargs):  # stamp the start of every pass: the first step's passes are the warm-up
        marks.append((_cpu_s(), time.perf_counter()))
        return original(*args, **kwargs)

    lora.completion_loss = timed_loss
    try:
        with tempfile.TemporaryDirectory(prefix="bench-lora-") as out:
            model = model_loader()
            lora.train_lora(model, tokenizer, prompts[:n], completions[:n], settings, out, progress=False)
            end = (_cpu_s(), time.perf_counter())
    finally:
        lora.completion_loss = original
    (cpu0, wall0), counted = marks[passes], batch_size * steps
    del model
    return {"bf16": bf16, "gradient_checkpointing": checkpointing, "batch_size": batch_size, "micro_batch_size": micro,
            "attention": attention,
            "dropout": dropout,
            "tool_format": tool_format,
            "examples": counted,
            "cpu_s_per_example": round((end[0] - cpu0) / counted, 3),
            "wall_s_per_example": round((end[1] - wall0) / counted, 3)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed optimiser steps per setting (after 1 warm-up)")
    parser.add_argument("--batch-sizes", default="4,8,16", help="comma-separated batch sizes")
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    parser.add_argument("--micro-batch-sizes", default="",
                        help="comma-separated examples per pass (default: each batch in one pass)")
    parser.add_argument("--attention", default="eager", help="comma-separated attention kernels: eager, sdpa")
    parser.add_argument("--dropout", type=float, default=0.0, help="LoRA dropout (0, the default, stores no copies)")
    parser.add_argument("--tool-format", choices=["names", "compact", "full"], default="compact",
                        help="prompt rendering (median 201, 272, 746 tokens on validation requests)")
    parser.add_argument("--precision", choices=["both", "bf16", "fp32"], default="both")
    parser.add_argument("--checkpointing", choices=["both", "on", "off"], default="both")
    args = parser.parse_args(argv)
    import torch

    from netgpt_lite.edge.lora import cpu_has_bf16
    from netgpt_lite.edge.prompt import render_prompt
    from netgpt_lite.edge.smollm import load_smollm
    from netgpt_lite.tasks.generate import format_completion, generate_tasks

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    _, tokenizer = load_smollm(None)
    tasks = generate_tasks("train", max(sizes) * (args.steps + 1), seed=0)
    prompts = [render_prompt(tokenizer, t.messages, t.tools, tool_format=args.tool_format) for t in tasks]
    completions = [format_completion(t.gold) for t in tasks]
    print(f"{torch.get_num_threads()} threads; CPU advertises bf16: {cpu_has_bf16()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    precisions = {"both": (True, False), "bf16": (True,), "fp32": (False,)}[args.precision]
    checkpointings = {"both": (True, False), "on": (True,), "off": (False,)}[args.checkpointing]
    for bf16 in precisions:
        for checkpointing in checkpointings:
            for size in sizes:
                for micro in [int(m) for m in args.micro_batch_sizes.split(",") if m] or [size]:
                    for attention in args.attention.split(","):
                        row = time_setting(lambda: load_smollm(None)[0], tokenizer, prompts, completions, bf16=bf16,
                                           checkpointing=checkpointing, batch_size=size, steps=args.steps,
                                           dropout=args.dropout, tool_format=args.tool_format,
                                           micro_batch_size=micro, attention=attention)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    best = min(rows, key=lambda r: r["cpu_s_per_example"])
    print("cheapest:", json.dumps(best))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "cheapest": best, "threads": torch.get_num_threads()}, indent=1))
    return rows


if __name__ == "__main__":
    main()
