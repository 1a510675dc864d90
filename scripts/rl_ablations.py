"""E5: the SFT-anchored objective against its ablations, over seeds; writes a results JSON with a manifest.

Variants (``netgpt_lite.experiments.rl_ablation.ABLATIONS``): the full composite, no forward KL (gamma = 0),
no reverse KL (beta = 0) and plain clipped policy gradient (beta = gamma = 0).  Each starts from the same SFT
edge and practises on a wider pool of requests than the SFT data (see ``experiment_data`` there).

Usage (about 20 minutes on 2 CPU cores):

    OMP_NUM_THREADS=1 python scripts/rl_ablations.py --steps 30 --seeds 0 1 2 --out runs/ablation.json

Without ``--model`` it starts from the shipped edge checkpoint; with ``--sft-tasks N`` it first trains its own
SFT start (tokenizer + tiny Llama, TRL SFT) on the first N logged cloud answers (train split, task seed 0).
The manifest (``netgpt_lite.provenance.Recorder``) records the command, the settings, the start model (its
weights' sha256 and, with ``--sft-tasks``, how it was trained and how long that took), the code and the
times; ``netgpt_lite/data/rl/README.md`` says how the shipped ``ablation.json`` was run.

Example:
    $ python scripts/rl_ablations.py --steps 1 --seeds 0 --variants full --n-prompts 8 --n-eval 4 --out /tmp/e5.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from netgpt_lite.edge.sft import SFTSettings, train_edge_from_scratch
from netgpt_lite.experiments.rl_ablation import ABLATIONS, run_ablation
from netgpt_lite.provenance import Recorder, atomic_write_json, command_line
from netgpt_lite.rl.minimal import RLSettings

SFT_TASK_SEED = 0  # the SFT start learns the RL "logged" answers: train split, task seed 0


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the process's), run the ablation, write ``--out`` and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", dest="from_dir", default=None, help="SFT model folder (default: shipped)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=None, help="subset of ABLATIONS (default: all)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--max-completion-tokens", type=int, default=64)
    parser.add_argument("--beta", type=float, default=0.04)
    parser.add_argument("--gamma", type=float, default=0.1)
    parser.add_argument("--n-prompts", type=int, default=512)
    parser.add_argument("--n-eval", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--sft-tasks", type=int, default=0, help="train an SFT start on this many logged answers")
    parser.add_argument("--sft-epochs", type=float, default=3.0)
    parser.add_argument("--out", default="netgpt_lite/data/rl/ablation.json")
    args = parser.parse_args(argv)
    command = None if argv is None else command_line(["scripts/rl_ablations.py", *argv])
    start = None
    if args.sft_tasks:
        timer = Recorder()
        args.from_dir = str(train_sft_start(args.sft_tasks, args.sft_epochs, Path(tempfile.mkdtemp()) / "sft"))
        wall_s, cpu_s = timer.elapsed()
        start = {"sft_start": {"n_tasks": args.sft_tasks, "n_epochs": args.sft_epochs, "split": "train",
                               "task_seed": SFT_TASK_SEED, "wall_s": wall_s, "cpu_s": cpu_s}}  # fmt: skip

    settings = RLSettings(steps=args.steps, learning_rate=args.lr, prompts_per_step=args.prompts_per_step,
                          max_completion_tokens=args.max_completion_tokens).replace(beta=args.beta, gamma=args.gamma)  # fmt: skip
    results = run_ablation(args.from_dir, settings, tuple(args.seeds), tuple(args.variants or ABLATIONS),
                           args.n_prompts, args.n_eval, args.eval_every, command=command, start=start)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(json.dumps(results["summary"], indent=1))


def train_sft_start(n_tasks: int, n_epochs: float, out_dir: Path) -> Path:
    """The SFT edge the RL runs start from, trained on ``n_tasks`` logged answers (the RL "logged" set)."""
    train_edge_from_scratch(n_tasks, data_seed=SFT_TASK_SEED, settings=SFTSettings(n_epochs=n_epochs, show_progress=False),
                            out_dir=out_dir)  # fmt: skip
    return out_dir


if __name__ == "__main__":
    main()
