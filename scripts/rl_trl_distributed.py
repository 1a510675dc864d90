"""The TRL path scaled out: SFT-anchored GRPO on several processes with ``accelerate`` (chapter 6).

On CPU (two processes over gloo; what ``tests/test_rl_trl_distributed.py`` runs)::

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
        --dynamo_backend no scripts/rl_trl_distributed.py --out /tmp/trl2

``--multi_gpu`` is what makes accelerate start the processes through torchrun; without CUDA they join a
gloo group on the CPU (``--cpu`` alone would start one process).  On a multi-GPU machine the same command
with ``--num_processes <GPUs>`` (and ``--mixed_precision bf16``) runs one process per GPU over NCCL; with vLLM
for generation (``pip install vllm``), set ``use_vllm=True, vllm_mode="colocate"`` in the ``GRPOConfig``
that :func:`netgpt_lite.rl.trl_trainer.to_grpo_config` returns.  Each process generates and scores its
own share of the groups; gradients are averaged across processes by accelerate (DDP).

Writes ``OUT/trl_distributed.json`` from the main process: the number of processes and the per-step history.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)

    from accelerate import PartialState

    from netgpt_lite.edge.tiny_lm import load_edge_model, shipped_model_path
    from netgpt_lite.experiments.rl_ablation import experiment_data
    from netgpt_lite.rl.minimal import RLSettings
    from netgpt_lite.rl.trl_trainer import train_trl

    state = PartialState()
    _, tokenizer = load_edge_model(None)
    prompts, logged, _ = experiment_data(tokenizer, n_prompts=32, n_logged=32, n_eval=1)
    settings = RLSettings(steps=args.steps, prompts_per_step=2, group_size=4, max_completion_tokens=24,
                          sft_batch_size=4, device="cpu")  # fmt: skip
    _, history = train_trl(shipped_model_path(), prompts, logged, settings)
    if state.is_main_process:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        keep = ("step", "reward", "exact_match", "schema_valid", "kl_k3_to_sft", "anchor_nll_gap")
        rows = [{k: r.get(k) for k in keep} for r in history]
        (out / "trl_distributed.json").write_text(json.dumps({"num_processes": state.num_processes, "history": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
