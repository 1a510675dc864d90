"""SFT-anchored RL of the edge model: a from-scratch loop and a TRL ``GRPOTrainer`` subclass (chapter 6).

Both optimise the composite objective of :mod:`netgpt_lite.rl.objective`,
``clipped_pg + beta * reverse_kl + gamma * forward_kl``, starting from the SFT edge model.
:func:`train_minimal` is one readable loop (CleanRL-style: sample a group per prompt, reward with the
chapter-3 checker, group-normalise, score old/ref log-probs, a few clipped updates); :func:`train_trl` runs TRL's ``GRPOTrainer`` (scales to real models and GPUs with accelerate) with ``gamma * forward_kl`` on
SFT-side examples added to its loss (:func:`anchored_grpo_trainer_class`).  Prompts and logged cloud answers
are ``datasets.Dataset`` objects (:func:`rl_dataset`); the reward is :func:`netgpt_lite.tasks.checker.reward`.

Example:
    >>> settings = RLSettings(steps=2, prompts_per_step=2, group_size=4)
    >>> settings.objective.beta, settings.objective.gamma
    (0.04, 0.1)
    >>> # model, history = train_minimal(model, tokenizer, prompts, sft_examples, settings)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from netgpt_lite.rl.minimal import RLSettings, evaluate, rl_dataset, train_minimal
from netgpt_lite.rl.trl_trainer import train_trl

# --- experiments: one run (the CLI) and the E5 ablation -----------------------------------------------
ABLATIONS = {"full": {}, "no_forward_kl": {"gamma": 0.0}, "no_reverse_kl": {"beta": 0.0},
             "plain_pg": {"beta": 0.0, "gamma": 0.0}}  # fmt: skip
"""E5 variants: changes to the objective weights of the full composite."""


def experiment_data(tokenizer, n_prompts: int = 512, n_logged: int = 512, n_eval: int = 200, seed: int = 0):
    """``(prompts, logged, eval_tasks)``: a wider pool of unlabelled requests to practise on (train templates,
    task seed ``1000 + seed``, never seen in SFT), the logged cloud answers (task seed 0, the SFT data) and
    held-out test-template tasks."""
    from netgpt_lite.tasks.generate import generate_tasks

    prompts = rl_dataset(generate_tasks("train", n_prompts, seed=1000 + seed), tokenizer)
    logged = rl_dataset(generate_tasks("train", n_logged, seed=0), tokenizer)
    return prompts, logged, generate_tasks("test", n_eval, seed=0)


def run_rl(model_dir=None, settings: RLSettings = RLSettings(), trainer: str = "minimal",  # noqa: B008
           n_prompts: int = 512, n_eval: int = 200, eval_every: int = 10, out_dir=None) -> list[dict]:  # fmt: skip
    """Load the SFT edge (default: the shipped checkpoint), run one trainer, optionally save it; return history."""
    from netgpt_lite.edge.tiny_lm import load_edge_model, save_edge_model, shipped_model_path

    model_dir = shipped_model_path() if model_dir is None else model_dir
    model, tokenizer = load_edge_model(model_dir)
    prompts, logged, eval_tasks = experiment_data(tokenizer, n_prompts, n_prompts, n_eval, settings.seed)
    if trainer == "minimal":
        model, history = train_minimal(model, tokenizer, prompts, logged, settings, eval_tasks, eval_every)
    elif trainer == "trl":
        before = evaluate(model, tokenizer, eval_tasks)
        model, history = train_trl(model_dir, prompts, logged, settings)
        after = evaluate(model, tokenizer, eval_tasks)
        history[0].update({f"eval_{k}": v for k, v in before.items()})
        history.append({"step": len(history), **{f"eval_{k}": v for k, v in after.items()}})
    else:
        raise ValueError(f"trainer must be 'minimal' or 'trl', got {trainer!r}")
    if out_dir is not None:
        save_edge_model(model, tokenizer, out_dir)
    return history


def run_ablation(model_dir=None, settings: RLSettings = RLSettings(), seeds=(0, 1, 2),  # noqa: B008
                 variants=tuple(ABLATIONS), n_prompts: int = 512, n_eval: int = 200, eval_every: int = 10) -> dict:  # fmt: skip
    """E5: each variant of :data:`ABLATIONS` with each seed (minimal trainer).  Returns a results dict:
    ``{"manifest", "variants": {name: {"weights", "runs": [{"seed", "history"}]}}, "summary"}``."""
    import platform

    import torch
    import transformers

    import netgpt_lite

    start, out = time.time(), {}
    for name in variants:
        runs = [{"seed": s, "history": run_rl(model_dir, settings.replace(seed=s, **ABLATIONS[name]),
                 "minimal", n_prompts, n_eval, eval_every)} for s in seeds]  # fmt: skip
        out[name] = {"weights": dataclasses.asdict(settings.replace(**ABLATIONS[name]).objective), "runs": runs}
    summary = {name: ablation_summary(v["runs"]) for name, v in out.items()}
    manifest = {"settings": dataclasses.asdict(settings), "seeds": list(seeds), "n_prompts": n_prompts,
                "n_eval": n_eval, "model_dir": str(model_dir or "shipped"), "wall_s": round(time.time() - start, 1),
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": {
                    "netgpt_lite": netgpt_lite.__version__, "torch": torch.__version__, "python": platform.python_version(),
                    "transformers": transformers.__version__}}  # fmt: skip
    return {"manifest": manifest, "variants": out, "summary": summary}


def ablation_summary(runs: list[dict]) -> dict[str, float]:
    """Change of test exact match from step 0 to the end (mean, std over seeds), final schema-valid, last KL."""
    change = [r["history"][-1]["eval_exact_match"] - r["history"][0]["eval_exact_match"] for r in runs]
    return {"exact_match_change_mean": float(np.mean(change)),
            "exact_match_change_std": float(np.std(change, ddof=1)) if len(change) > 1 else 0.0,
            "schema_valid_final_mean": float(np.mean([r["history"][-1]["eval_schema_valid"] for r in runs])),
            "kl_to_sft_last_mean": float(np.mean([r["history"][-2]["kl_to_sft"] for r in runs]))}  # fmt: skip
