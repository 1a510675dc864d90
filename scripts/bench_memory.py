"""Peak resident memory (the whole process tree) of what a reader runs: evaluation, LoRA training, an RL
step, each chapter, the book.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py eval --n 1000
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py lora --n-train 32 [--batch-size 4] [--checkpointing]
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py rl [--fp32]
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py chapter notebooks/06_rl.ipynb [--fast]
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py book
    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_memory.py command -- netgpt-lite eval-edge --n 50

Each runs its command as a child process and samples the resident memory of the child and all its
descendants (jupyter kernels included) every 0.2 s from ``/proc``; the peak of that *sum* is what a
laptop must hold.  ``ru_maxrss`` of the largest single process is printed beside it.  Prints one JSON
line: the target, peak tree RSS in MB, wall and CPU seconds (children), the exit status.  The limits a
reader's machine sets: 3 GB for any chapter, evaluation or training run, 4 GB for the whole book build.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024


def _tree_rss_kb(root: int) -> float:
    """Sum of the resident set of ``root`` and its descendants, in kB (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def measure(target: str, command: list[str], env: dict | None = None) -> dict:
    """Run ``command``, sampling its process tree's RSS; one result row."""
    wall0 = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, env={**os.environ, **(env or {})})
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _tree_rss_kb(child.pid))
        time.sleep(0.2)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"target": target, "peak_tree_rss_mb": round(peak / 1024, 1),
           "max_single_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
           "wall_s": round(time.perf_counter() - wall0, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
           "returncode": child.returncode, "command": " ".join(command)}
    print(json.dumps(row), flush=True)
    return row


def _rl_step(fp32: bool) -> None:
    """One step of E5's SFT-anchored RL on the SmolLM2 adapter (the E5 settings), in this process; ``fp32``
    turns bf16 autocast off, as on a CPU without bf16 instructions."""
    from netgpt_lite.experiments.rl_comparison import E5Config, load_start
    from netgpt_lite.rl.data import rl_dataset
    from netgpt_lite.rl.minimal import train_minimal
    from netgpt_lite.tasks.generate import generate_tasks

    config = E5Config()
    model, tokenizer, template = load_start("smollm2")
    ref, _, _ = load_start("smollm2", trainable=False)
    tasks = generate_tasks("validation", config.rl.prompts_per_step * 2, seed=config.task_seed)
    data = rl_dataset(tasks, tokenizer, **template)  # the gold calls stand in for logged cloud answers
    settings = config.rl.replace(steps=1, **({"bf16": False} if fp32 else {}))
    _, history = train_minimal(model, tokenizer, data, data, settings, ref_model=ref, template_kwargs=template)
    print(json.dumps({"rl_step": history[-1] if history else None}, default=str))


def _lora_steps(n_train: int, as_before: bool, batch_size: int | None = None, checkpointing: bool = False,
                dropout: float | None = None, micro_batch_size: int | None = None, trim_every: int | None = None,
                variety: str = "classic") -> None:
    """``n_train`` examples of LoRA SFT on SmolLM2 with the train-edge settings (unless overridden), in this
    process; ``as_before`` puts back how it trained before: the plain ``model(..., labels=...).loss`` (every
    position projected onto the vocabulary) and no gradient checkpointing."""
    from netgpt_lite.edge import lora
    from netgpt_lite.edge.prompt import render_prompt
    from netgpt_lite.edge.smollm import load_smollm
    from netgpt_lite.tasks.generate import format_completion, generate_tasks

    if as_before:
        lora.completion_loss = lambda model, ids, mask, labels: model(input_ids=ids, attention_mask=mask,
                                                                       labels=labels).loss
    if trim_every is not None:
        lora.TRIM_EVERY_STEPS = trim_every
    model, tokenizer = load_smollm(None)
    tasks = generate_tasks("train", n_train, seed=0, variety=variety)
    prompts = [render_prompt(tokenizer, t.messages, t.tools, tool_format="compact") for t in tasks]
    given = {"batch_size": batch_size, "dropout": dropout, "micro_batch_size": micro_batch_size}
    settings = lora.LoraSettings(tool_format="compact", gradient_checkpointing=checkpointing and not as_before,
                                 **{k: v for k, v in given.items() if v is not None})
    print(f"LoRA settings: {settings}", flush=True)
    lora.train_lora(model, tokenizer, prompts, [format_completion(t.gold) for t in tasks], settings,
                    tempfile.mkdtemp(prefix="bench-lora-"), progress=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=["eval", "lora", "rl", "chapter", "book", "command", "_rl_child",
                                           "_lora_child"])
    parser.add_argument("rest", nargs="*", help="the notebook (chapter) or the command (command)")
    parser.add_argument("--n", type=int, default=1000, help="eval: requests (default 1000)")
    parser.add_argument("--model", default="smollm2", help="eval: the model (default smollm2)")
    parser.add_argument("--n-train", type=int, default=32, help="lora: examples (default 32 = 4 steps of 8)")
    parser.add_argument("--fast", action="store_true", help="chapter/book: NETGPT_LITE_FAST=1")
    parser.add_argument("--fp32", action="store_true", help="rl: no bf16 autocast (a CPU without bf16)")
    parser.add_argument("--batch-size", type=int, default=None, help="lora: examples per step (default: train-edge's)")
    parser.add_argument("--micro-batch-size", type=int, default=None,
                        help="lora: examples per forward/backward pass (default: train-edge's)")
    parser.add_argument("--checkpointing", action="store_true", help="lora: gradient checkpointing (less memory)")
    parser.add_argument("--trim-every", type=int, default=None,
                        help="lora: optimiser steps between heap trims (default: the library's TRIM_EVERY_STEPS)")
    parser.add_argument("--variety", choices=["classic", "broad"], default="classic", help="lora: the requests' variety")
    parser.add_argument("--dropout", type=float, default=None, help="lora: LoRA dropout (default: train-edge's)")
    parser.add_argument("--as-before", action="store_true",
                        help="lora: the loss over every position and no gradient checkpointing (the old way)")
    args = parser.parse_args(argv)
    env = {"NETGPT_LITE_FAST": "1"} if args.fast else {"NETGPT_LITE_FAST": "0"}
    cli = str(BIN / "netgpt-lite")
    if args.target == "_rl_child":
        _rl_step(args.fp32)
        return {}
    if args.target == "_lora_child":
        _lora_steps(args.n_train, args.as_before, args.batch_size, args.checkpointing, args.dropout,
                    args.micro_batch_size, args.trim_every, args.variety)
        return {}
    if args.target == "eval":
        return measure(f"eval-edge --n {args.n}", [cli, "eval-edge", "--model", args.model, "--n", str(args.n),
                                                   "--n-logs", "0", "--quiet", "--json"])  # fmt: skip
    if args.target == "lora":
        flag = ["--as-before"] if args.as_before else []
        flag += ["--checkpointing"] if args.checkpointing else []
        flag += ["--variety", args.variety]
        for name in ("batch_size", "micro_batch_size", "dropout", "trim_every"):
            if getattr(args, name) is not None:
                flag += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        label = "as before" if args.as_before else (
            "completion-only loss" + (", gradient checkpointing" if args.checkpointing else ""))
        return measure(f"LoRA SFT, SmolLM2, {args.n_train} examples ({label}; {' '.join(flag) or 'train-edge settings'})",
                       [sys.executable, __file__, "_lora_child", "--n-train", str(args.n_train), *flag])
    if args.target == "rl":
        precision = "fp32" if args.fp32 else "bf16 where the CPU has it"
        return measure(f"one RL step (E5 settings, SmolLM2, {precision})",
                       [sys.executable, __file__, "_rl_child", *(["--fp32"] if args.fp32 else [])])
    if args.target == "chapter":
        (notebook,) = args.rest
        code = ("import nbformat, sys; from nbclient import NotebookClient; nb = nbformat.read(sys.argv[1], 4); "
                "NotebookClient(nb, timeout=3600, kernel_name='python3', "
                "resources={'metadata': {'path': 'notebooks'}}).execute()")
        return measure(f"chapter {Path(notebook).stem} ({'fast' if args.fast else 'full'})",
                       [sys.executable, "-c", code, notebook], env)
    if args.target == "book":
        return measure(f"book ({'fast' if args.fast else 'full'})",
                       [str(BIN / "jupyter-book"), "build", "-W", "--keep-going", "book"],
                       {**env, "PATH": f"{BIN}:{os.environ['PATH']}", "PLOTLY_RENDERER": "notebook"})
    return measure("command", args.rest)


if __name__ == "__main__":
    main()
