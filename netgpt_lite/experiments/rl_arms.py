"""The arms of E5: each starts from the SFT edge, learns from the same day, and is judged the same way.

Every arm sees the same labelled data: the requests the router sent to the cloud, with the cloud's calls
(plus the same replayed SFT answers).  They differ only in how they learn from it:

* ``more_sft``: fine-tune on the cloud's calls (and the replay), as the SFT adapter was trained;
* ``raft``: rejection sampling (:mod:`netgpt_lite.rl.rejection`): sample the policy on the routed
  requests, keep what the checker accepts against the cloud's call, fine-tune on those (and the replay);
* ``rl`` and its ablations (:data:`RL_ARMS`): SFT-anchored RL (:func:`~netgpt_lite.rl.minimal.train_minimal`)
  rewarded by the checker against the cloud's call, the SFT anchor on the same logged answers;
* ``more_sft_rl``: ``more_sft``, then ``rl`` from that model and anchored to it (a synergy round's order).

Example:
    >>> sorted(RL_ARMS)
    ['no_forward_kl', 'no_reverse_kl', 'plain_pg', 'rl']
"""

from __future__ import annotations

from pathlib import Path

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import evaluate
from netgpt_lite.edge.lora import LoraSettings, load_adapter, shipped_adapter_path, train_lora
from netgpt_lite.experiments.rl_ablation import ABLATIONS
from netgpt_lite.provenance import file_sha256
from netgpt_lite.rl.data import rl_dataset
from netgpt_lite.rl.minimal import train_minimal
from netgpt_lite.rl.rejection import accepted_samples
from netgpt_lite.tasks.generate import generate_tasks

RL_ARMS = {"rl": {}, **{k: v for k, v in ABLATIONS.items() if k != "full"}}
"""The RL runs: ``rl`` is the full composite; the others drop one or both anchors."""


def load_start(edge: str, trainable: bool = True):
    """``(model, tokenizer, template_kwargs)`` of the SFT start (trainable adapter for SmolLM2)."""
    if edge == "tiny":
        from netgpt_lite.edge.tiny_lm import load_edge_model

        model, tokenizer = load_edge_model(None)
        return model.requires_grad_(trainable), tokenizer, {}
    return load_adapter(shipped_adapter_path(), trainable=trainable)


def start_identity(edge: str) -> dict:
    """The start named by content: the sha256 of its weights."""
    if edge == "tiny":
        from netgpt_lite.edge.tiny_lm import shipped_model_path

        return {"edge": "tiny", "sha256": file_sha256(shipped_model_path() / "model.safetensors")}
    return {"edge": "smollm2", "sha256": file_sha256(shipped_adapter_path() / "adapter_model.safetensors")}


def evaluate_arm(model, tokenizer, template_kwargs: dict, suites: dict) -> tuple[dict, dict]:
    """Greedy accuracy of ``model`` on each suite (``{name: tasks}``) through the one evaluator
    (:func:`~netgpt_lite.edge.evaluation.evaluate`); ``(metrics, evaluations)``.  Each suite's metrics
    keep the per-request ``records``, so two arms can be compared paired on the same requests."""
    agent = EdgeAgent(model, tokenizer, batch_size=16, template_kwargs=template_kwargs)
    metrics, evaluations = {}, {}
    for name, tasks in suites.items():
        evaluations[name] = evaluate(agent, tasks)
        report = evaluations[name].report()
        metrics[name] = {k: report[k] for k in ("n", "exact_match", "schema_valid", "by_difficulty", "error_types")}
        metrics[name]["records"] = [{"request": r["request"], "correct": r["correct"]}
                                    for r in evaluations[name].records()]  # fmt: skip
    return metrics, evaluations


def practice_data(config, pool, curve_pool, start_record: dict, tokenizer, template: dict, reward_model=None) -> dict:
    """What every arm of a day learns from, and what the RL curve is read on.

    Args:
        config: the :class:`~netgpt_lite.experiments.rl_comparison.E5Config` (``n_replay``, ``cloud_seed``).
        pool, curve_pool: the day's requests and the curve's (:func:`~netgpt_lite.experiments.rl_comparison.day_pools`).
        start_record: the start's record (``runs/sft.json``): its ``day`` (``routed``, ``kept``, ``answers``,
            ``curve``) and ``curve_eval``.
        tokenizer, template: the start's.
        reward_model: with one, RL also practises on the kept (unlabelled) half.

    Returns:
        ``prompts`` (RL's practice rows), ``logged`` (the forward-KL anchor: the cloud's calls and the
        replayed SFT answers), ``replay``, ``curve`` (tasks or None) and ``curve_start``.
    """
    day = start_record["day"]
    routed, kept = [pool[i] for i in day["routed"]], [pool[i] for i in day["kept"]]
    replay_tasks = generate_tasks("train", config.n_replay, seed=0)
    replay = [a.tool_call for a in SimulatedCloud(seed=config.cloud_seed).propose(replay_tasks)]
    practice = routed + (kept if reward_model is not None else [])  # without a reward model: the labels only
    return {
        "prompts": rl_dataset(practice, tokenizer, day["answers"] + [t.gold for t in practice[len(routed):]],
                              labelled=[True] * len(routed) + [False] * (len(practice) - len(routed)), **template),
        "logged": rl_dataset(routed + replay_tasks, tokenizer, day["answers"] + replay, **template),
        "replay": rl_dataset(replay_tasks, tokenizer, replay, **template),
        "curve": [curve_pool[i] for i in day.get("curve", [])] or None,
        "curve_start": start_record.get("curve_eval"),  # the start's point of every RL curve, computed once
    }  # fmt: skip


def run_rl(arm: str, seed: int, config, data: dict, ref_model, reward_model, work: Path, progress: bool,
           keep_checkpoint: bool = False):
    """One RL arm (:data:`RL_ARMS`) at ``seed``; resumable from ``work/<arm>-seed<seed>/checkpoint``, which
    ``keep_checkpoint`` keeps when the run ends (a longer run of the same settings continues it)."""
    model, tokenizer, template = load_start(config.edge)
    settings = config.rl.replace(seed=seed, **RL_ARMS[arm])
    model, history = train_minimal(model, tokenizer, data["prompts"], data["logged"], settings, ref_model=ref_model,
                                   reward_model=reward_model, template_kwargs=template,
                                   eval_tasks=data.get("curve"), eval_every=config.curve_every,
                                   start_eval=data.get("curve_start"),
                                   checkpoint_dir=work / f"{arm}-seed{seed}", checkpoint_every=1, progress=progress,
                                   keep_checkpoint=keep_checkpoint)  # fmt: skip
    return model, tokenizer, template, {"history": history, "weights": _asdict(settings.objective)}


def run_more_sft(seed: int, config, data: dict, work: Path, progress: bool, folder: Path | None = None):
    """``more_sft`` at ``seed``: the SFT start fine-tuned further on the logged answers, into ``folder``
    (default ``work/more_sft-seed<seed>``)."""
    logged = data["logged"]
    return _fine_tune(seed, config, list(logged["prompt"]), list(logged["completion"]),
                      folder or work / f"more_sft-seed{seed}", progress)  # fmt: skip


def run_more_sft_rl(seed: int, config, data: dict, work: Path, progress: bool, reuse_sft: bool = False):
    """``more_sft_rl`` at ``seed``: ``more_sft`` (the same run: its finished adapter when ``reuse_sft``, or this
    arm's own from an earlier try, else trained again into ``work/more_sft_rl-seed<seed>/sft``), then anchored
    RL from it, anchored to it: the frozen reference is that SFT model, as in a synergy round; resumable."""
    import copy

    folder = work / f"more_sft_rl-seed{seed}"
    found = [d for d in ([work / f"more_sft-seed{seed}"] if reuse_sft else []) + [folder / "sft"]
             if (d / "adapter_model.safetensors").is_file() and not (d / "checkpoint").exists()]  # fmt: skip
    if config.edge == "smollm2" and found:
        model, tokenizer, template = load_adapter(found[0], trainable=True)
    else:
        model, tokenizer, template, _ = run_more_sft(seed, config, data, work, progress, folder=folder / "sft")
    anchor = copy.deepcopy(model).eval().requires_grad_(False)
    settings = config.rl.replace(seed=seed)
    model, history = train_minimal(model, tokenizer, data["prompts"], data["logged"], settings, ref_model=anchor,
                                   template_kwargs=template, eval_tasks=data.get("curve"),
                                   eval_every=config.curve_every, checkpoint_dir=folder, checkpoint_every=1,
                                   progress=progress)  # fmt: skip
    adapter = (found or [folder / "sft"])[0] / "adapter_model.safetensors"
    info = {"history": history, "weights": _asdict(settings.objective),
            "sft_adapter_sha256": file_sha256(adapter) if adapter.is_file() else None}
    return model, tokenizer, template, info


def run_raft(seed: int, config, data: dict, work: Path, progress: bool):
    """``raft`` at ``seed``: the policy's own accepted samples on the routed requests
    (:meth:`~netgpt_lite.experiments.rl_comparison.E5Config.raft_samples_per_request` each: by default as many
    rollouts as an RL run draws), plus the replayed SFT answers, fine-tuned on as ``more_sft`` is."""
    model, tokenizer, template = load_start(config.edge, trainable=False)
    routed = data["prompts"].filter(lambda row: row["labelled"])
    kept = accepted_samples(model, tokenizer, routed, config.raft_samples_per_request(), temperature=config.rl.temperature,
                            max_completion_tokens=config.rl.max_completion_tokens, seed=seed)  # fmt: skip
    replay = data["replay"]
    prompts, completions = kept["prompt"] + list(replay["prompt"]), kept["completion"] + list(replay["completion"])
    model, tokenizer, template, extra = _fine_tune(seed, config, prompts, completions, work / f"raft-seed{seed}",
                                                   progress)  # fmt: skip
    n_requests = len(set(kept["request_index"]))
    extra["raft"] = {"n_samples": kept["n_samples"], "n_requests": kept["n_requests"],
                     "n_accepted": len(kept["completion"]), "n_requests_with_an_accepted_sample": n_requests}
    return model, tokenizer, template, extra


def _fine_tune(seed: int, config, prompts: list, completions: list, work: Path, progress: bool):
    """SFT of the start on ``(prompts, completions)``: LoRA for SmolLM2 (the adapter trains further, with
    ``train-edge``'s settings but the continuation rate), TRL's SFT for the tiny model."""
    model, tokenizer, template = load_start(config.edge)
    if config.edge == "tiny":
        from datasets import Dataset

        from netgpt_lite.edge.sft import SFTSettings, loss_curve, train_sft

        settings = SFTSettings(n_epochs=config.more_sft_epochs, learning_rate=config.more_sft_learning_rate,
                               batch_size=8, seed=seed, show_progress=False)  # fmt: skip
        rows = Dataset.from_dict({"prompt": prompts, "completion": completions})
        model, log = train_sft(model.requires_grad_(True), tokenizer, rows, settings)
        return model, tokenizer, template, {"history": {"loss": loss_curve(log)[1].tolist()}}
    settings = LoraSettings(learning_rate=config.more_sft_learning_rate, n_epochs=config.more_sft_epochs,
                            seed=seed, tool_format=template["tool_format"], **config.more_sft_lora)  # fmt: skip
    model, history = train_lora(model, tokenizer, prompts, completions, settings, work, progress=progress)
    return model, tokenizer, template, {"history": {"loss": history["loss"]}, "lora_settings": history["settings"]}


def _asdict(settings) -> dict:
    import dataclasses

    return dataclasses.asdict(settings)
