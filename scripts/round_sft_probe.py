"""How a synergy round's SFT should continue the SmolLM2 adapter: forgetting and learning, on validation.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/round_sft_probe.py --seed 0 \
        --recipes lr2e-4 lr5e-5 replay3_lr2e-4 --out runs/round_sft/seed0

Rebuilds round 1 of E4's reachable run of ``--seed`` (the shipped adapter routes the round's 384 deployment
requests; the cloud answers the ones that fall back), then, for each recipe, continues the shipped adapter by
one epoch of LoRA SFT on the round's logged answers (the scorer's hold-out left out, as a round does) and
measures, paired against the round-0 edge: exact match on 300 validation requests (``generate_tasks(
"validation", 300, seed=7)``: never the deployment's phrasings, never E4's held-out stream), i.e. what the
round forgets, and exact match on the requests it trained on (against their gold calls), i.e. what it
learned.  A recipe is ``lr<rate>`` or ``replay<k>_lr<rate>`` (``k`` of the adapter's own SFT examples
rehearsed beside each new answer, :func:`netgpt_lite.synergy.edge_models.replay_examples`).

Writes ``--out/probe.json`` (per recipe: the paired comparisons, sizes, CPU seconds) and prints one line per
recipe.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import netgpt_lite.synergy.edge_models as em
from netgpt_lite.edge.evaluation import evaluate, verdicts
from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.provenance import atomic_write_json, cpu_seconds
from netgpt_lite.stats import paired_comparison
from netgpt_lite.synergy import stages
from netgpt_lite.synergy.system import EdgeCloudSystem
from netgpt_lite.tasks.generate import Task, generate_tasks

RECIPE = re.compile(r"^(?:replay(\d+)_)?lr([0-9.]+e-?\d+)$")


def e4_config(seed: int):
    """The SynergyConfig of E4's reachable run of ``seed`` (``reproduce``'s full preset)."""
    cfg = ReproduceConfig()
    return stages.synergy_config(fast=False, rounds=cfg.synergy_rounds, requests_per_round=cfg.synergy_requests,
                                 eval_requests=cfg.synergy_eval, calibration_tasks=cfg.synergy_calibration,
                                 edge=cfg.synergy_edge, rl_steps=cfg.synergy_rl_steps,
                                 edge_decoding=cfg.synergy_decoding, sft_epochs=1, trace="reachable", seed=seed)


def correct(system, config, tasks) -> np.ndarray:
    agent = em.edge_agent(system, config.edge_decoding)
    return np.array([v.correct for v in verdicts(tasks, evaluate(agent, tasks).outputs)])


def round_zero(config) -> EdgeCloudSystem:
    model, tokenizer, template = em.initial_edge(config)
    return EdgeCloudSystem(model, tokenizer, scorer=None, policy=None, template=template)


def train(config, new, recipe: str, seed: int) -> EdgeCloudSystem:
    replay, lr = RECIPE.match(recipe).groups()
    examples = list(new)
    if replay:
        examples += em.replay_examples(int(replay) * len(new), np.random.default_rng(100 + seed))
    examples = [examples[i] for i in np.random.default_rng(seed).permutation(len(examples))]
    system = round_zero(config)
    em.SMOLLM2_SFT_LEARNING_RATE = float(lr)  # the one knob this probe turns
    system.model, _, _ = em.train_edge(system, examples, replace(config, rl_steps=0), 1)
    return system


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="E4's run seed (its round 1 is rebuilt)")
    parser.add_argument("--recipes", nargs="+", default=["lr2e-4", "lr5e-5"])
    parser.add_argument("--n-validation", type=int, default=300)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    bad = [r for r in args.recipes if not RECIPE.match(r)]
    if bad or args.n_validation < 10:
        parser.error(f"recipes look like lr5e-5 or replay3_lr2e-4 (got {bad}); --n-validation >= 10")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config, start, wall = e4_config(args.seed), cpu_seconds(), time.perf_counter()
    validation = generate_tasks("validation", args.n_validation, seed=7)
    system = round_zero(config)
    system.policy, system.calibration_choice = stages.fit_policy(system, config)
    rows = stages.trainable_rows(stages.route_round(system, config, 1))
    new = [(Task.from_dict(json.loads(x["task"])), json.loads(x["cloud_call"])) for x in rows
           if not x["scorer_holdout"]]
    trained_on = [t for t, _ in new]
    before_val, before_fit = correct(system, config, validation), correct(system, config, trained_on)
    result = {"seed": args.seed, "n_logged": len(rows), "n_trained_on": len(new),
              "n_validation": len(validation), "recipes": {}}
    for recipe in args.recipes:
        t0 = cpu_seconds()
        trained = train(config, new, recipe, args.seed)
        val = paired_comparison(correct(trained, config, validation), before_val)
        fit = paired_comparison(correct(trained, config, trained_on), before_fit)
        result["recipes"][recipe] = {"validation": val, "trained_on": fit, "cpu_s": round(cpu_seconds() - t0, 1)}
        print(f"seed {args.seed} {recipe}: validation {val['b_exact_match']:.3f} -> {val['a_exact_match']:.3f} "
              f"({val['difference']:+.3f}, 95% CI {val['ci_low']:+.3f} to {val['ci_high']:+.3f}, n={val['n']}); "
              f"trained-on {fit['b_exact_match']:.3f} -> {fit['a_exact_match']:.3f} (n={fit['n']})", flush=True)
        atomic_write_json(out / "probe.json", {**result, "cpu_s": round(cpu_seconds() - start, 1),
                                               "wall_s": round(time.perf_counter() - wall, 1)})
    return result


if __name__ == "__main__":
    main()
