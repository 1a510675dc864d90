"""SFT-anchored RL of the edge model, from scratch: one readable loop (chapter 6).

:func:`train_minimal` optimises the composite objective of :mod:`netgpt_lite.rl.objective`,
``clipped_pg + beta * reverse_kl + gamma * forward_kl``, starting from the SFT edge model, in the
style of CleanRL: sample a group of completions per prompt, reward each with the chapter-3 checker,
normalise rewards within the group, score the old and reference log-probabilities, then a few clipped
updates.  Prompts and logged cloud answers are ``datasets.Dataset`` objects (:func:`rl_dataset`); the
reward is :func:`netgpt_lite.tasks.checker.reward`.  :class:`RLSettings` is shared with the TRL
trainer (:mod:`netgpt_lite.rl.trl_trainer`).

Example:
    >>> settings = RLSettings(steps=2, prompts_per_step=2, group_size=4)
    >>> settings.objective.beta, settings.objective.gamma
    (0.04, 0.1)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field

import numpy as np

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.tiny_lm import render_prompt
from netgpt_lite.rl.objective import (
    AnchoredRLSettings,
    anchored_loss,
    cache_argument,
    completion_logprobs,
    entropy_from_logits,
    group_advantages,
    kl_per_token,
    prefill,
    token_mean,
    zero_variance_fraction,
)
from netgpt_lite.runtime import torch_device
from netgpt_lite.tasks.checker import check_completion, reward
from netgpt_lite.tasks.generate import format_completion

METRICS = ("reward", "exact_match", "schema_valid", "kl_to_sft", "entropy", "frac_zero_std")
"""What both trainers log per step (see chapter 6, "What the logged metrics mean")."""


@dataclass(frozen=True)
class RLSettings:
    """One RL run.  Defaults: a minute-scale run of the ~1M-parameter edge model on 2 CPU cores.

    Attributes:
        steps: Optimiser rounds (each: one batch of sampled groups, ``updates_per_step`` updates).
        prompts_per_step: Prompts sampled per step.
        group_size: Completions per prompt (GRPO's G, >= 2): advantages are normalised within the group.
        updates_per_step: Clipped updates on each sampled batch (PPO's epochs; >1 makes clipping matter).
        learning_rate: Adam learning rate (a 1M-parameter model wants ~1e-4..1e-3, not TRL's 1e-6).
        temperature: Sampling temperature (1.0: sample the policy itself, the most exploration).
        max_completion_tokens: Generation budget per completion (the edge's calls are <= ~45 tokens).
        sft_batch_size: SFT-side (prompt, logged answer) pairs per update for the forward-KL term.
        dynamic_sampling: Drop groups whose rewards are all equal from the update (DAPO): they carry no
            policy-gradient signal and would only dilute the batch.
        shared_prefill: Prefill each prompt once and share its KV cache across its ``group_size`` samples.
        bf16: bf16 autocast for the log-prob passes and the update (about 1.8x faster where the CPU has
            AMX / AVX-512 BF16, or on a GPU); None picks it by the hardware; default False (fp32).  Sampling stays fp32.
        max_grad_norm: Gradient-norm clip.
        objective: epsilon, beta, gamma and the reverse-KL estimator (:class:`AnchoredRLSettings`).
        seed: Seeds prompt order, sampling and (for TRL) data order.
        device: "cpu", "cuda" or None (CUDA when available).
    """

    steps: int = 40
    prompts_per_step: int = 8
    group_size: int = 8
    updates_per_step: int = 2
    learning_rate: float = 3e-4
    temperature: float = 1.0
    max_completion_tokens: int = 64
    sft_batch_size: int = 16
    dynamic_sampling: bool = True
    shared_prefill: bool = True
    bf16: bool | None = False
    max_grad_norm: float = 1.0
    objective: AnchoredRLSettings = field(default_factory=AnchoredRLSettings)
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "prompts_per_step", "updates_per_step", "max_completion_tokens", "sft_batch_size",
                     "group_size"):  # fmt: skip
            if getattr(self, name) < (2 if name == "group_size" else 1):
                raise ValueError(f"{name} must be >= {2 if name == 'group_size' else 1}, got {getattr(self, name)}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}; try 3e-4")
        if not 0.0 < self.temperature <= 2.0:
            raise ValueError(f"temperature must be in (0, 2], got {self.temperature}; 1.0 samples the policy")
        if self.max_grad_norm <= 0 or self.seed < 0:
            raise ValueError(f"max_grad_norm must be > 0 and seed >= 0, got {self.max_grad_norm}, {self.seed}")
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda', got {self.device!r}")

    def replace(self, **changes) -> RLSettings:
        """A copy with some fields changed; ``epsilon``/``beta``/``gamma`` go into ``objective``."""
        weights = {k: changes.pop(k) for k in ("epsilon", "beta", "gamma", "kl_estimator") if k in changes}
        if weights:
            changes["objective"] = dataclasses.replace(self.objective, **weights)
        return dataclasses.replace(self, **changes)


# --- data ------------------------------------------------------------------------------------------
def rl_dataset(tasks, tokenizer, answers: list[dict] | None = None, labelled=None, **template_kwargs):
    """Tasks as a ``datasets.Dataset``: ``task_id, difficulty, prompt`` (rendered), ``completion, tools, gold``,
    ``labelled``.

    ``answers`` are the logged (e.g. cloud) tool_calls, by default the tasks' gold calls: they become ``gold``
    (what the checker rewards) and ``completion`` (the SFT-side target of the forward KL).  ``labelled``
    (default all True) marks the rows whose ``gold`` a reward may use; an unlabelled row is rewarded by a
    reward model in :func:`train_minimal`, and its ``gold`` (the task's truth) only feeds diagnostics.
    """
    from datasets import Dataset

    answers = [t.gold for t in tasks] if answers is None else answers
    labelled = [True] * len(tasks) if labelled is None else [bool(x) for x in labelled]
    return Dataset.from_dict({
        "task_id": [t.task_id for t in tasks],
        "difficulty": [t.difficulty for t in tasks],
        "prompt": [render_prompt(tokenizer, t.messages, t.tools, **template_kwargs) for t in tasks],
        "completion": [format_completion(a) for a in answers],
        "tools": [json.dumps(t.tools) for t in tasks],
        "gold": [json.dumps(a) for a in answers],
        "labelled": labelled,
    })  # fmt: skip


def judge(completions: list[str], tools_json: list[str], gold_json: list[str]) -> dict[str, np.ndarray]:
    """Reward, exact match and schema validity of each completion (the chapter-3 checker)."""

    verdicts = [check_completion(c, json.loads(t), json.loads(g)) for c, t, g in zip(completions, tools_json, gold_json)]
    return {
        "reward": np.array([reward(v) for v in verdicts]),
        "exact_match": np.array([v.correct for v in verdicts], dtype=float),
        "schema_valid": np.array([v.schema_valid for v in verdicts], dtype=float),
    }


def encode_pairs(tokenizer, prompts: list[str], completions: list[str], device="cpu"):
    """Left-padded prompt ids ``[B, P]`` and right-padded completion ids + eos ``[B, T]``, with masks."""
    tokenizer.padding_side = "left"
    p = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False)
    tokenizer.padding_side = "right"
    c = tokenizer([x + tokenizer.eos_token for x in completions], padding=True, return_tensors="pt",
                  add_special_tokens=False)  # fmt: skip
    tokenizer.padding_side = "left"
    return (p["input_ids"].to(device), p["attention_mask"].to(device),
            c["input_ids"].to(device), c["attention_mask"].to(device))  # fmt: skip


def _sample(model, tokenizer, prompts: list[str], settings: RLSettings, device):
    """``group_size`` sampled completions per prompt: prompt/completion ids and masks, and the texts.

    With ``settings.shared_prefill`` each prompt is prefilled once and its KV cache repeated for its
    ``group_size`` samples (:func:`shared_prefill_cache`); generation then starts from the cache, so the
    prompt's cost is paid once per group instead of once per sample.  The completions have the same
    distribution either way (the same logits; greedy decoding gives the same tokens).
    """
    import torch

    enc = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False).to(device)
    prompt_ids = enc["input_ids"].repeat_interleave(settings.group_size, dim=0)  # [B*G, P]
    prompt_mask = enc["attention_mask"].repeat_interleave(settings.group_size, dim=0)
    extra = {}
    if settings.shared_prefill and prompt_ids.shape[1] > 1:
        extra[cache_argument(model)] = shared_prefill_cache(model, enc["input_ids"], enc["attention_mask"],
                                                             settings.group_size)
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                             temperature=settings.temperature, top_k=0, top_p=1.0,
                             max_new_tokens=settings.max_completion_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             output_logits=True, return_dict_in_generate=True, **extra)  # fmt: skip
    completion_ids = out.sequences[:, prompt_ids.shape[1] :]  # [B*G, T]
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    completion_mask = ((is_eos.cumsum(1) - is_eos) == 0).long()  # tokens up to and including the first eos
    texts = tokenizer.batch_decode(completion_ids * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                   skip_special_tokens=True)  # fmt: skip
    # the sampling policy's log-probs and entropies come with the samples: no second forward pass for "old"
    logits = torch.stack(out.logits, dim=1).float() / settings.temperature  # [B*G, T, V], raw logits / temperature
    logp_old = logits.log_softmax(-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)  # [B*G, T]
    sampled = {"logp_old": logp_old, "entropy": entropy_from_logits(logits)}
    return prompt_ids, prompt_mask, completion_ids, completion_mask, texts, sampled


def shared_prefill_cache(model, input_ids, attention_mask, group_size: int):
    """The KV cache of every prompt but its last token, computed once per prompt ``[B, P-1]`` and repeated
    ``group_size`` times along the batch (``[B*G, P-1]``), for ``generate(input_ids=<prompts repeated>,
    past_key_values=cache)``: generation then only runs the last prompt token and the new ones.

    Positions follow the left padding as ``generate`` computes them (:func:`~netgpt_lite.rl.objective.prefill`).
    """
    import torch

    with torch.no_grad():
        _, cache, _ = prefill(model, input_ids[:, :-1], attention_mask[:, :-1], group_size)
    return cache


def evaluate(model, tokenizer, tasks, batch_size: int = 64, **template_kwargs) -> dict[str, float]:
    """Greedy exact match, schema-valid rate and mean reward of the edge on ``tasks`` (prompts rendered with
    ``template_kwargs``, e.g. ``tool_format="compact"`` for SmolLM2)."""

    agent = EdgeAgent(model, tokenizer, batch_size=batch_size, template_kwargs=template_kwargs)
    was_training, outputs = model.training, agent.run(tasks)
    model.train(was_training)
    scores = judge([o.completion for o in outputs], [json.dumps(t.tools) for t in tasks],
                   [json.dumps(t.gold) for t in tasks])  # fmt: skip
    return {k: float(v.mean()) for k, v in scores.items()}


# --- the minimal trainer -----------------------------------------------------------------------------
def _rewards(batch, texts: list[str], logp_old, c_mask, p_mask, settings: RLSettings, reward_model, row: dict):
    """The checker's reward against ``gold``; for unlabelled rows the reward model's, when one is given.

    Also logs the reward model's mean score and the checker's mean reward (against the task's truth, kept
    for diagnostics only) on the same unlabelled samples: the gap between them is reward hacking.
    """
    G = settings.group_size  # noqa: N806
    tools, gold = np.repeat(batch["tools"], G).tolist(), np.repeat(batch["gold"], G).tolist()
    scores = judge(texts, tools, gold)
    unlabelled = ~np.repeat(np.asarray(batch["labelled"], dtype=bool), G) if "labelled" in batch \
        else np.zeros(len(texts), dtype=bool)
    if reward_model is not None and unlabelled.any():
        from netgpt_lite.rl.reward_model import sample_outputs

        idx = np.flatnonzero(unlabelled)
        lengths = c_mask.sum(1).tolist()
        outputs = sample_outputs(np.repeat(batch["prompt"], G)[idx].tolist(), [texts[i] for i in idx],
                                 [tools[i] for i in idx], [logp_old[i, : lengths[i]].float().cpu().numpy() for i in idx],
                                 p_mask.sum(1)[idx].tolist())  # fmt: skip
        rm = reward_model.rewards(outputs)
        row["rm_reward_unlabelled"] = float(rm.mean())
        row["checker_reward_unlabelled"] = float(scores["reward"][idx].mean())
        scores["reward"] = scores["reward"].copy()
        scores["reward"][idx] = rm
    return scores


def _trainable(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _save_rl_checkpoint(folder, model, optimizer, step: int, history: list, rng) -> None:
    import torch

    from netgpt_lite.edge.lora import save_checkpoint

    tensors = {f"param.{k}": v for k, v in _trainable(model).items()}
    tensors["rng.torch"] = torch.get_rng_state()
    save_checkpoint(folder, tensors, optimizer, {"step": step, "history": history, "rng": rng.bit_generator.state})


def _load_rl_checkpoint(folder, model, optimizer, rng) -> tuple[int, list]:
    import torch

    from netgpt_lite.edge.lora import load_checkpoint

    tensors, record = load_checkpoint(folder, optimizer)
    params = _trainable(model)
    missing = sorted(set(params) - {k[len("param."):] for k in tensors if k.startswith("param.")})
    if missing:
        raise ValueError(f"the checkpoint in {folder} does not match the model ({len(missing)} trainable tensors "
                         f"missing, e.g. {missing[0]}); delete that folder to restart the run from step 0")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[f"param.{name}"])
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = record["rng"]
    return int(record["step"]), list(record["history"])


def train_minimal(model, tokenizer, prompts, sft_examples, settings: RLSettings = RLSettings(),  # noqa: B008
                  eval_tasks=None, eval_every: int = 10, ref_model=None, *, reward_model=None,
                  template_kwargs: dict | None = None, checkpoint_dir=None, checkpoint_every: int = 5,
                  progress: bool = False):  # fmt: skip
    """SFT-anchored GRPO, from scratch, in one loop.

    Args:
        model, tokenizer: The policy (starts as the SFT edge model, or an SFT LoRA adapter loaded trainable;
            its trainable parameters train in place) and its tokenizer.
        prompts: :func:`rl_dataset` of the requests to practise on (``prompt``, ``tools``, ``gold``, ``labelled``).
        sft_examples: :func:`rl_dataset` of logged cloud answers (``prompt``, ``completion``): the forward-KL side.
        settings: :class:`RLSettings`.
        eval_tasks: Tasks evaluated greedily (:func:`evaluate`) at step 0, every ``eval_every`` steps and at
            the end (history keys ``eval_exact_match``, ...).  ``ref_model``: the frozen SFT model (default: a copy).
        reward_model: rewards the rows with ``labelled`` False (:class:`~netgpt_lite.rl.reward_model.RewardModel`);
            without one every row is rewarded by the checker against its ``gold``.
        template_kwargs: prompt rendering of ``eval_tasks`` (e.g. ``{"tool_format": "compact"}`` for SmolLM2).
        checkpoint_dir: if given, the run saves ``checkpoint_dir/checkpoint`` (trainable tensors, Adam moments,
            RNG states, history: safetensors + JSON) every ``checkpoint_every`` steps and, rerun with the same
            arguments after a kill, continues from it with the same samples.  Removed when the run finishes.
        progress: print one line per step.

    Returns:
        ``(model, history)``: the trained model and one dict of metrics per step (:data:`METRICS` and more).
    """
    import contextlib
    import shutil
    from pathlib import Path

    import torch

    from netgpt_lite.edge.lora import cpu_has_bf16

    device, rng = torch_device(settings.device), np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    model.to(device)
    ref_model = (copy.deepcopy(model) if ref_model is None else ref_model).to(device).eval().requires_grad_(False)
    params = list(_trainable(model).values())
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate)
    bf16 = (device == "cuda" or cpu_has_bf16()) if settings.bf16 is None else settings.bf16

    def autocast():
        return torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    obj, G, history, first = settings.objective, settings.group_size, [], 0  # noqa: N806 (G as in the GRPO paper)
    checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / "checkpoint"
    if checkpoint is not None and checkpoint.exists():
        first, history = _load_rl_checkpoint(checkpoint, model, optimizer, rng)
    template_kwargs = dict(template_kwargs or {})
    for step in range(first, settings.steps + 1):
        row = {"step": step}
        if eval_tasks is not None and (step % eval_every == 0 or step == settings.steps):
            row.update({f"eval_{k}": v for k, v in evaluate(model, tokenizer, eval_tasks, **template_kwargs).items()})
        if step == settings.steps:  # the last row only evaluates the final model
            history.append(row)
            break
        start = time.perf_counter()
        # 1. sample a group of completions for each prompt
        batch = prompts[rng.choice(len(prompts), settings.prompts_per_step, replace=False).tolist()]
        model.eval()
        p_ids, p_mask, c_ids, c_mask, texts, sampled = _sample(model, tokenizer, batch["prompt"], settings, device)
        row["seconds_sampling"] = time.perf_counter() - start
        # 2. log-probs under the sampling policy (old: from generation) and the SFT model (ref, no gradient;
        #    each prompt once, its KV cache shared by its group: p_ids[::G] are the B distinct prompts)
        logp_old, entropy = sampled["logp_old"], sampled["entropy"]
        u_ids, u_mask = p_ids[::G], p_mask[::G]  # [B, P]
        with torch.no_grad(), autocast():
            logp_ref, _ = completion_logprobs(ref_model, u_ids, u_mask, c_ids, c_mask, settings.temperature)
        # 3. rewards (checker, or the reward model for unlabelled requests); group-normalised advantages,
        #    optionally keeping only groups whose rewards differ
        scores = _rewards(batch, texts, logp_old, c_mask, p_mask, settings, reward_model, row)
        rewards = torch.tensor(scores["reward"], dtype=torch.float32, device=device)  # [B*G]
        advantages = group_advantages(rewards, G)
        keep = torch.ones_like(rewards, dtype=torch.bool)
        if settings.dynamic_sampling:
            keep = (rewards.reshape(-1, G).std(dim=1) > 0).repeat_interleave(G)
        row.update({k: float(v.mean()) for k, v in scores.items()})
        row["kl_to_sft"] = float(token_mean(kl_per_token(logp_old.float(), logp_ref.float(), "k3"), c_mask))
        row["entropy"] = float(token_mean(entropy.float(), c_mask))
        row["frac_zero_std"] = zero_variance_fraction(rewards, G)
        # 4. a few clipped updates of the composite loss on the kept completions
        model.train()
        for _ in range(settings.updates_per_step if bool(keep.any()) else 0):
            sft = sft_examples[rng.choice(len(sft_examples), min(settings.sft_batch_size, len(sft_examples)),
                                          replace=False).tolist()]  # fmt: skip
            s_ids, s_mask, t_ids, t_mask = encode_pairs(tokenizer, sft["prompt"], sft["completion"], device)
            with autocast():
                kept_groups = keep[::G]  # dynamic sampling keeps or drops whole groups
                logp_new, _ = completion_logprobs(model, u_ids[kept_groups], u_mask[kept_groups], c_ids[keep],
                                                  c_mask[keep], settings.temperature)  # fmt: skip
                sft_theta = sft_ref = None
                if obj.gamma > 0:
                    sft_theta, _ = completion_logprobs(model, s_ids, s_mask, t_ids, t_mask)
                    with torch.no_grad():
                        sft_ref, _ = completion_logprobs(ref_model, s_ids, s_mask, t_ids, t_mask)
            loss, terms = anchored_loss(logp_new.float(), logp_old[keep].float(), logp_ref[keep].float(),
                                        advantages[keep], c_mask[keep], obj,
                                        None if sft_theta is None else sft_theta.float(),
                                        None if sft_ref is None else sft_ref.float(), t_mask)  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            row.update(terms)
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if progress:
            print(f"step {step + 1}/{settings.steps}: reward {row['reward']:.3f} exact {row['exact_match']:.3f} "
                  f"kl {row['kl_to_sft']:.4f} zero-std {row['frac_zero_std']:.2f} {row['seconds']:.1f} s", flush=True)
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < settings.steps:
            _save_rl_checkpoint(checkpoint, model, optimizer, step + 1, history, rng)
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    model.eval()
    return model, history
