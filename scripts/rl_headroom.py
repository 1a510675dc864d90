"""The room RL has before it runs: greedy exact match against pass@k of the edge's own samples.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rl_headroom.py --n 100 --samples 8 --out runs/headroom

Loads an adapter (default: the shipped SFT adapter; ``--model`` another folder), draws ``--n`` requests of
the validation split (the phrasings RL practises on; never test) and measures, through
:func:`netgpt_lite.rl.headroom.headroom`, greedy exact match, pass@k for k up to ``--samples``, the share
of all-right / all-wrong / mixed groups, the share greedy gets wrong while some sample is right, and the
mean per-token entropy.  Prints one JSON line (with CPU seconds per sampled completion) and writes
``--out/headroom.json`` with every request's counts and a manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path
from netgpt_lite.provenance import Recorder, atomic_write_json, cpu_seconds, file_sha256
from netgpt_lite.rl.headroom import headroom
from netgpt_lite.tasks.generate import VARIETIES, generate_tasks


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="adapter folder (default: the shipped SFT adapter)")
    parser.add_argument("--split", default="validation", choices=["train", "validation"],
                        help="never test: settings are chosen on what this shows")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="task seed; the sampling seed too")
    parser.add_argument("--variety", default="classic", choices=VARIETIES)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-completion-tokens", type=int, default=64)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.n < 1 or args.samples < 2 or not 0 < args.temperature <= 2:
        parser.error("need --n >= 1, --samples >= 2 and --temperature in (0, 2]")
    model_dir = Path(args.model) if args.model else shipped_adapter_path()
    recorder = Recorder(seed=args.seed, split=args.split, sizes={"n": args.n, "samples": args.samples},
                        entry=["netgpt_lite.rl.headroom"],  # its staleness: that module's closure, hashed
                        config={"model": str(model_dir), "variety": args.variety, "temperature": args.temperature,
                                "max_completion_tokens": args.max_completion_tokens,
                                "adapter_sha256": file_sha256(model_dir / "adapter_model.safetensors")})
    model, tokenizer, template = load_adapter(model_dir)
    tasks = generate_tasks(args.split, args.n, seed=args.seed, variety=args.variety)
    cpu0 = cpu_seconds()
    result = headroom(model, tokenizer, tasks, args.samples, temperature=args.temperature,
                      max_completion_tokens=args.max_completion_tokens, seed=args.seed, template_kwargs=template)
    result["summary"]["cpu_s"] = round(cpu_seconds() - cpu0, 1)
    result["summary"]["cpu_s_per_sample"] = round(result["summary"]["cpu_s"] / (args.n * (args.samples + 1)), 3)
    result["manifest"] = recorder.finish(summary=result["summary"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "headroom.json", result)
    print(json.dumps(result["summary"]), flush=True)
    return result


if __name__ == "__main__":
    main()
