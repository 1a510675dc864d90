"""E5: the SFT-anchored objective against its ablations, over seeds; writes a results JSON with a manifest.

Variants (``netgpt_lite.rl.ABLATIONS``): the full composite, no forward KL (gamma = 0), no reverse KL
(beta = 0) and plain clipped policy gradient (beta = gamma = 0).  Each starts from the same SFT edge and
practises on a wider pool of requests than the SFT data (see ``netgpt_lite.rl.experiment_data``).

The shipped artifact was made with (about 20 minutes on 2 CPU cores):

    OMP_NUM_THREADS=1 python scripts/rl_ablations.py --from /path/to/sft_model --steps 30 --seeds 0 1 2 \\
        --out netgpt_lite/data/rl/ablation.json

Without ``--from`` it starts from the shipped edge checkpoint; with ``--sft-tasks N`` it first trains its own
SFT start (tokenizer + tiny Llama, TRL SFT) on the first N logged cloud answers (train split, task seed 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="from_dir", default=None, help="SFT model folder (default: shipped)")
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
    if args.sft_tasks:
        args.from_dir = str(train_sft_start(args.sft_tasks, args.sft_epochs, Path(tempfile.mkdtemp()) / "sft"))

    from netgpt_lite.experiments.rl_ablation import ABLATIONS, run_ablation
    from netgpt_lite.rl.minimal import RLSettings

    settings = RLSettings(steps=args.steps, learning_rate=args.lr, prompts_per_step=args.prompts_per_step,
                          max_completion_tokens=args.max_completion_tokens).replace(beta=args.beta, gamma=args.gamma)  # fmt: skip
    results = run_ablation(args.from_dir, settings, tuple(args.seeds), tuple(args.variants or ABLATIONS),
                           args.n_prompts, args.n_eval, args.eval_every)  # fmt: skip
    results["manifest"]["command"] = "python scripts/rl_ablations.py " + " ".join(argv or sys.argv[1:])
    if args.sft_tasks:
        results["manifest"]["model_dir"] = f"SFT start: {args.sft_tasks} logged answers, {args.sft_epochs} epochs"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["summary"], indent=1))


def train_sft_start(n_tasks: int, n_epochs: float, out_dir: Path) -> Path:
    """The SFT edge the RL runs start from, trained on ``n_tasks`` logged answers (seed 0: the RL "logged" set)."""
    from netgpt_lite.edge.sft import SFTSettings, train_sft
    from netgpt_lite.edge.tiny_lm import build_model, sft_dataset, task_texts, train_tokenizer
    from netgpt_lite.tasks.generate import generate_tasks

    tasks = generate_tasks("train", n_tasks, seed=0)
    tokenizer = train_tokenizer(task_texts(tasks))
    train_sft(build_model(tokenizer), tokenizer, sft_dataset(tasks, tokenizer),
              SFTSettings(n_epochs=n_epochs, show_progress=False), out_dir=out_dir)  # fmt: skip
    return out_dir


if __name__ == "__main__":
    main()
