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
    completion_logprobs,
    group_advantages,
    kl_per_token,
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
def rl_dataset(tasks, tokenizer, answers: list[dict] | None = None, **template_kwargs):
    """Tasks as a ``datasets.Dataset``: ``task_id, difficulty, prompt`` (rendered), ``completion, tools, gold``.

    ``answers`` are the logged (e.g. cloud) tool_calls, by default the tasks' gold calls: they become ``gold``
    (what the checker rewards) and ``completion`` (the SFT-side target of the forward KL).
    """
    from datasets import Dataset

    answers = [t.gold for t in tasks] if answers is None else answers
    return Dataset.from_dict({
        "task_id": [t.task_id for t in tasks],
        "difficulty": [t.difficulty for t in tasks],
        "prompt": [render_prompt(tokenizer, t.messages, t.tools, **template_kwargs) for t in tasks],
        "completion": [format_completion(a) for a in answers],
        "tools": [json.dumps(t.tools) for t in tasks],
        "gold": [json.dumps(a) for a in answers],
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
        extra[_cache_argument(model)] = shared_prefill_cache(model, enc["input_ids"], enc["attention_mask"],
                                                             settings.group_size)
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                             temperature=settings.temperature, top_k=0, top_p=1.0,
                             max_new_tokens=settings.max_completion_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             **extra)  # fmt: skip
    completion_ids = out[:, prompt_ids.shape[1] :]  # [B*G, T]
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    completion_mask = ((is_eos.cumsum(1) - is_eos) == 0).long()  # tokens up to and including the first eos
    texts = tokenizer.batch_decode(completion_ids * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                   skip_special_tokens=True)  # fmt: skip
    return prompt_ids, prompt_mask, completion_ids, completion_mask, texts


def shared_prefill_cache(model, input_ids, attention_mask, group_size: int):
    """The KV cache of every prompt but its last token, computed once per prompt ``[B, P-1]`` and repeated
    ``group_size`` times along the batch (``[B*G, P-1]``), for ``generate(input_ids=<prompts repeated>,
    past_key_values=cache)``: generation then only runs the last prompt token and the new ones.

    Positions follow the left padding as ``generate`` computes them (cumulative attention mask), so the
    cached keys equal the ones a plain ``generate`` would compute.
    """
    import torch
    from transformers import DynamicCache

    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    name = _cache_argument(model)
    with torch.no_grad():
        out = model(input_ids=input_ids[:, :-1], attention_mask=attention_mask[:, :-1],
                    position_ids=positions[:, :-1], use_cache=True, **{name: DynamicCache()})
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    cache.batch_repeat_interleave(group_size)
    return cache


def _cache_argument(model) -> str:
    """``"cache"`` (transformers >= 5.2x) or ``"past_key_values"`` (older releases, e.g. Colab's)."""
    import inspect

    base = getattr(model, "get_base_model", lambda: model)()
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def evaluate(model, tokenizer, tasks, batch_size: int = 64) -> dict[str, float]:
    """Greedy exact match, schema-valid rate and mean reward of the edge on ``tasks``."""

    was_training, outputs = model.training, EdgeAgent(model, tokenizer, batch_size=batch_size).run(tasks)
    model.train(was_training)
    scores = judge([o.completion for o in outputs], [json.dumps(t.tools) for t in tasks],
                   [json.dumps(t.gold) for t in tasks])  # fmt: skip
    return {k: float(v.mean()) for k, v in scores.items()}


# --- the minimal trainer -----------------------------------------------------------------------------
def train_minimal(model, tokenizer, prompts, sft_examples, settings: RLSettings = RLSettings(),  # noqa: B008
                  eval_tasks=None, eval_every: int = 10, ref_model=None):  # fmt: skip
    """SFT-anchored GRPO, from scratch, in one loop.

    Args:
        model, tokenizer: The policy (starts as the SFT edge model; trained in place) and its tokenizer.
        prompts: :func:`rl_dataset` of the requests to practise on (``prompt``, ``tools``, ``gold``).
        sft_examples: :func:`rl_dataset` of logged cloud answers (``prompt``, ``completion``): the forward-KL side.
        settings: :class:`RLSettings`.
        eval_tasks: Tasks evaluated greedily (:func:`evaluate`) at step 0, every ``eval_every`` steps and at
            the end (history keys ``eval_exact_match``, ...).  ``ref_model``: the frozen SFT model (default: a copy).

    Returns:
        ``(model, history)``: the trained model and one dict of metrics per step (:data:`METRICS` and more).
    """
    import torch

    device, rng = torch_device(settings.device), np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    model.to(device)
    ref_model = (copy.deepcopy(model) if ref_model is None else ref_model).to(device).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    obj, G, history = settings.objective, settings.group_size, []  # noqa: N806 (G as in the GRPO paper)
    for step in range(settings.steps + 1):
        row = {"step": step}
        if eval_tasks is not None and (step % eval_every == 0 or step == settings.steps):
            row.update({f"eval_{k}": v for k, v in evaluate(model, tokenizer, eval_tasks).items()})
        if step == settings.steps:  # the last row only evaluates the final model
            history.append(row)
            break
        start = time.perf_counter()
        # 1. sample a group of completions for each prompt, and reward them with the checker
        batch = prompts[rng.choice(len(prompts), settings.prompts_per_step, replace=False).tolist()]
        model.eval()
        p_ids, p_mask, c_ids, c_mask, texts = _sample(model, tokenizer, batch["prompt"], settings, device)
        scores = judge(texts, np.repeat(batch["tools"], G).tolist(), np.repeat(batch["gold"], G).tolist())
        rewards = torch.tensor(scores["reward"], dtype=torch.float32, device=device)  # [B*G]
        # 2. group-normalised advantages; optionally keep only groups whose rewards differ
        advantages = group_advantages(rewards, G)
        keep = torch.ones_like(rewards, dtype=torch.bool)
        if settings.dynamic_sampling:
            keep = (rewards.reshape(-1, G).std(dim=1) > 0).repeat_interleave(G)
        # 3. log-probs under the sampling policy (old) and the SFT model (ref), no gradient
        with torch.no_grad():
            logp_old, entropy = completion_logprobs(model, p_ids, p_mask, c_ids, c_mask, settings.temperature)
            logp_ref, _ = completion_logprobs(ref_model, p_ids, p_mask, c_ids, c_mask, settings.temperature)
        row.update({k: float(v.mean()) for k, v in scores.items()})
        row["kl_to_sft"] = float(token_mean(kl_per_token(logp_old, logp_ref, "k3"), c_mask))
        row["entropy"] = float(token_mean(entropy, c_mask))
        row["frac_zero_std"] = zero_variance_fraction(rewards, G)
        # 4. a few clipped updates of the composite loss on the kept completions
        model.train()
        for _ in range(settings.updates_per_step if bool(keep.any()) else 0):
            sft = sft_examples[rng.choice(len(sft_examples), settings.sft_batch_size, replace=False).tolist()]
            s_ids, s_mask, t_ids, t_mask = encode_pairs(tokenizer, sft["prompt"], sft["completion"], device)
            logp_new, _ = completion_logprobs(model, p_ids[keep], p_mask[keep], c_ids[keep], c_mask[keep],
                                              settings.temperature)  # fmt: skip
            sft_theta = sft_ref = None
            if obj.gamma > 0:
                sft_theta, _ = completion_logprobs(model, s_ids, s_mask, t_ids, t_mask)
                with torch.no_grad():
                    sft_ref, _ = completion_logprobs(ref_model, s_ids, s_mask, t_ids, t_mask)
            loss, terms = anchored_loss(logp_new, logp_old[keep], logp_ref[keep], advantages[keep], c_mask[keep],
                                        obj, sft_theta, sft_ref, t_mask)  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            row.update(terms)
        row["seconds"] = time.perf_counter() - start
        history.append(row)
    model.eval()
    return model, history
