"""SFT-anchored RL of the edge model, from scratch: one readable loop (chapter 6).

:func:`train_minimal` optimises the composite objective of :mod:`netgpt_lite.rl.objective`,
``clipped_pg + beta * reverse_kl + gamma * anchor_nll_gap``, starting from the SFT edge model, in the
style of CleanRL.  Its loop reads as the chapter's algorithm box, one function per line: (1) sample a group
of completions per prompt (:mod:`netgpt_lite.rl.sampling`) and reward each with the chapter-3 checker or a
reward model; (2) group-normalised advantages, dropping zero-variance groups; (3) log-probs under the
sampling policy (from generation) and the SFT model; (4) a few clipped updates of the composite loss; then
log and checkpoint (:mod:`netgpt_lite.rl.checkpoint`).  Prompts and logged cloud answers are
``datasets.Dataset`` objects (:func:`netgpt_lite.rl.data.rl_dataset`).  :class:`RLSettings` is shared with the TRL trainer
(:mod:`netgpt_lite.rl.trl_trainer`).

Example:
    >>> settings = RLSettings(steps=2, prompts_per_step=2, group_size=4)
    >>> settings.objective.beta, settings.objective.gamma
    (0.04, 0.1)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netgpt_lite.rl.checkpoint import load_rl_checkpoint, save_rl_checkpoint, trainable_parameters
from netgpt_lite.rl.data import encode_pairs, evaluate, judge
from netgpt_lite.rl.logprobs import completion_logprobs, grouped_backward
from netgpt_lite.rl.objective import (
    AnchoredRLSettings,
    anchor_nll_gap_per_token,
    anchored_loss,
    group_advantages,
    kl_per_token,
    sequence_mean,
    token_mean,
    zero_variance_fraction,
)
from netgpt_lite.rl.reference import reference_model
from netgpt_lite.rl.sampling import SampledGroups, sample_groups
from netgpt_lite.runtime import prefer_bf16, torch_device, training_memory

METRICS = ("reward", "exact_match", "schema_valid", "kl_k3_to_sft", "entropy", "frac_zero_std")
"""What both trainers log per step (see chapter 6, "What the logged metrics mean").  ``kl_k3_to_sft`` is the
k3 estimate of KL(pi_theta || pi_SFT) per token on the step's samples (the synergy rounds' ``kl_to_sft`` is an
exact KL on evaluation prompts, another quantity)."""


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
        sft_batch_size: SFT-side (prompt, logged answer) pairs per update for the SFT anchor term.
        dynamic_sampling: Drop groups whose rewards are all equal from the update (DAPO): they carry no
            policy-gradient signal and would only dilute the batch.
        shared_prefill: Prefill each prompt once and share its KV cache across its ``group_size`` samples.
        bf16: bf16 autocast for the log-prob passes and the update (about 1.8x faster where the CPU has
            AMX / AVX-512 BF16, or on a GPU); None picks it by a timed probe (:func:`~netgpt_lite.runtime.prefer_bf16`);
            default False (fp32).  Sampling stays fp32.
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
# --- the minimal trainer: one function per line of the algorithm box -----------------------------------
@dataclass
class _Run:
    """What every step of one run shares: the policy, the frozen SFT model, the optimiser and the numpy RNG
    that draws prompts and SFT-side batches (torch's global RNG, seeded once, draws the samples)."""

    model: Any
    ref_model: Any
    tokenizer: Any
    settings: RLSettings
    device: str
    rng: np.random.Generator
    params: list
    optimizer: Any
    bf16: bool

    def autocast(self):
        """bf16 autocast on the run's device when ``bf16``, else a no-op context."""
        import contextlib

        import torch

        return torch.autocast(device_type=self.device, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()


def _start_run(model, tokenizer, settings: RLSettings, ref_model) -> _Run:
    """Seed numpy and torch, move the policy to the device, freeze the SFT model (default: a copy), build Adam."""
    import torch

    device, rng = torch_device(settings.device), np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    model.to(device)
    ref_model = reference_model(model, None if ref_model is None else ref_model.to(device))  # one copy of frozen weights
    params = list(trainable_parameters(model).values())
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate)
    bf16 = prefer_bf16(device) if settings.bf16 is None else settings.bf16  # a timed probe, not a flag list
    return _Run(model, ref_model, tokenizer, settings, device, rng, params, optimizer, bf16)


def _sample_groups(run: _Run, prompts) -> tuple[dict, SampledGroups]:
    """Step 1a: draw ``prompts_per_step`` prompts and sample ``group_size`` completions for each."""
    s = run.settings
    batch = prompts[run.rng.choice(len(prompts), s.prompts_per_step, replace=False).tolist()]
    run.model.eval()
    return batch, sample_groups(run.model, run.tokenizer, batch["prompt"], s.group_size, temperature=s.temperature,
                                max_completion_tokens=s.max_completion_tokens, shared_prefill=s.shared_prefill,
                                device=run.device)  # fmt: skip


def _rewards(batch, sample: SampledGroups, settings: RLSettings, reward_model) -> tuple[dict, dict[str, float]]:
    """Step 1b: the checker's reward against ``gold``; for unlabelled rows the reward model's, if one is given.

    Returns ``(scores, diagnostics)``: ``[B*G]`` arrays per :func:`judge` key, and (when the reward model
    scored some rows) its mean score beside the checker's mean reward on the same unlabelled samples (against
    the task's truth, kept for diagnostics only): the gap between them is reward hacking.
    """
    G = settings.group_size  # noqa: N806
    texts, c_mask, p_mask = sample.texts, sample.completion_mask, sample.prompt_mask
    tools, gold = np.repeat(batch["tools"], G).tolist(), np.repeat(batch["gold"], G).tolist()
    scores = judge(texts, tools, gold)
    unlabelled = ~np.repeat(np.asarray(batch["labelled"], dtype=bool), G) if "labelled" in batch \
        else np.zeros(len(texts), dtype=bool)
    if reward_model is None or not unlabelled.any():
        return scores, {}
    from netgpt_lite.rl.reward_model import sample_outputs

    idx = np.flatnonzero(unlabelled)
    lengths, logp_old = c_mask.sum(1).tolist(), sample.logp_old
    outputs = sample_outputs(np.repeat(batch["prompt"], G)[idx].tolist(), [texts[i] for i in idx],
                             [tools[i] for i in idx], [logp_old[i, : lengths[i]].float().cpu().numpy() for i in idx],
                             p_mask.sum(1)[idx].tolist())  # fmt: skip
    rm = reward_model.rewards(outputs)
    diagnostics = {"rm_reward_unlabelled": float(rm.mean()),
                   "checker_reward_unlabelled": float(scores["reward"][idx].mean())}  # fmt: skip
    scores["reward"] = scores["reward"].copy()
    scores["reward"][idx] = rm
    return scores, diagnostics


def _advantages(run: _Run, scores: dict):
    """Step 2: ``(rewards, advantages, keep)``, ``[B*G]`` each: GRPO's group-normalised advantages, and which
    completions the update keeps (with ``dynamic_sampling``, only groups whose rewards differ: DAPO)."""
    import torch

    G = run.settings.group_size  # noqa: N806
    rewards = torch.tensor(scores["reward"], dtype=torch.float32, device=run.device)  # [B*G]
    keep = torch.ones_like(rewards, dtype=torch.bool)
    if run.settings.dynamic_sampling:
        keep = (rewards.reshape(-1, G).std(dim=1) > 0).repeat_interleave(G)  # whole groups kept or dropped
    return rewards, group_advantages(rewards, G), keep


def _reference_logprobs(run: _Run, sample: SampledGroups):
    """Step 3: ``[B*G, T]`` log-probs of the samples under the frozen SFT model, without gradient (the
    sampling policy's came with the samples); each prompt runs once, its KV cache shared by its group."""
    import torch

    G, parts = run.settings.group_size, []  # noqa: N806
    with torch.no_grad(), run.autocast():
        for rows in range(0, sample.completion_ids.shape[0], G):  # a group at a time: [G, T, V] logits, not [B*G, ...]
            group = slice(rows, rows + G)
            logp, _ = completion_logprobs(run.ref_model, sample.prompt_ids[rows : rows + 1],
                                          sample.prompt_mask[rows : rows + 1], sample.completion_ids[group],
                                          sample.completion_mask[group], run.settings.temperature)  # fmt: skip
            parts.append(logp)
    return torch.cat(parts)


def _sample_metrics(run: _Run, scores: dict, rewards, sample: SampledGroups, logp_ref) -> dict[str, float]:
    """The logged means of the step's samples (:data:`METRICS`): rewards, k3 KL to SFT, entropy, zero-std groups."""
    c_mask = sample.completion_mask
    row = {k: float(v.mean()) for k, v in scores.items()}
    row["kl_k3_to_sft"] = float(token_mean(kl_per_token(sample.logp_old.float(), logp_ref.float(), "k3"), c_mask))
    row["entropy"] = float(token_mean(sample.entropy.float(), c_mask))
    row["frac_zero_std"] = zero_variance_fraction(rewards, run.settings.group_size)
    return row


def _update(run: _Run, sample: SampledGroups, logp_ref, advantages, keep, sft_examples,
            update_chunk_rows: int = 2) -> dict[str, float]:
    """Step 4: ``updates_per_step`` clipped updates of the composite loss on the kept completions, each with a
    fresh SFT-side batch for the anchor; returns the last update's terms (none when no group was kept).

    The loss is a mean over completions (:func:`~netgpt_lite.rl.objective.sequence_mean`), so its gradient is
    the sum of each kept group's share: the groups are differentiated one at a time, each prompt once and its
    G completions ``update_chunk_rows`` at a time (:func:`~netgpt_lite.rl.logprobs.grouped_backward`; the
    anchor's SFT examples one by one), and the gradients add up to the full batch's.  Chunks bound memory:
    for SmolLM2 a group in one pass holds about 1.8 GB of activations, in chunks of 2 about 1.2 GB.
    """
    import dataclasses

    import torch

    s, G, terms = run.settings, run.settings.group_size, {}  # noqa: N806
    kept_groups = keep[::G]  # [B]: dynamic sampling keeps or drops whole groups
    u_ids, u_mask = sample.prompt_ids[::G][kept_groups], sample.prompt_mask[::G][kept_groups]  # [B', P]
    c_ids, c_mask, logp_old = sample.completion_ids[keep], sample.completion_mask[keep], sample.logp_old[keep]
    ref, adv, n_rows = logp_ref[keep].float(), advantages[keep], int(keep.sum())  # kept rows, G per prompt
    policy_only = dataclasses.replace(s.objective, gamma=0.0)
    run.model.train()
    for _ in range(s.updates_per_step if bool(keep.any()) else 0):
        sft = sft_examples[run.rng.choice(len(sft_examples), min(s.sft_batch_size, len(sft_examples)),
                                          replace=False).tolist()]  # fmt: skip
        run.optimizer.zero_grad()
        terms = {"clipped_pg": 0.0, **({"reverse_kl": 0.0} if s.objective.beta > 0 else {})}
        for j in range(u_ids.shape[0]):  # one kept prompt and its G completions at a time, in chunks of rows
            group = slice(j * G, (j + 1) * G)

            def chunk_loss(logp_new, rows, group=group, keys=tuple(terms)):
                rows = slice(group.start + rows.start, group.start + rows.stop)  # rows of the kept completions
                loss, part = anchored_loss(logp_new, logp_old[rows].float(), ref[rows], adv[rows], c_mask[rows],
                                           policy_only)  # fmt: skip
                share = (rows.stop - rows.start) / n_rows  # this chunk's share of the mean over completions
                return loss * share, {key: part[key] * share for key in keys}

            for part in grouped_backward(run.model, u_ids[j : j + 1], u_mask[j : j + 1], c_ids[group], c_mask[group],
                                         chunk_loss, temperature=s.temperature, chunk_rows=update_chunk_rows,
                                         autocast=run.autocast):  # fmt: skip
                for key in terms:
                    terms[key] += part[key]
        loss_value = terms["clipped_pg"] + s.objective.beta * terms.get("reverse_kl", 0.0)
        if s.objective.gamma > 0:  # the anchor: pi_theta's NLL of logged answers against the SFT model's
            s_ids, s_mask, t_ids, t_mask = encode_pairs(run.tokenizer, sft["prompt"], sft["completion"], run.device)
            gap_total, n_sft = 0.0, s_ids.shape[0]
            for i in range(n_sft):  # one logged answer at a time, as the groups above
                with run.autocast():
                    sft_theta, _ = completion_logprobs(run.model, s_ids[i : i + 1], s_mask[i : i + 1],
                                                       t_ids[i : i + 1], t_mask[i : i + 1])  # fmt: skip
                    with torch.no_grad():
                        sft_ref, _ = completion_logprobs(run.ref_model, s_ids[i : i + 1], s_mask[i : i + 1],
                                                         t_ids[i : i + 1], t_mask[i : i + 1])  # fmt: skip
                gap = sequence_mean(anchor_nll_gap_per_token(sft_theta.float(), sft_ref.float()), t_mask[i : i + 1])
                (s.objective.gamma * gap / n_sft).backward()
                gap_total += float(gap.detach()) / n_sft
            terms["anchor_nll_gap"] = gap_total
            loss_value += s.objective.gamma * gap_total
        terms["loss"] = loss_value
        torch.nn.utils.clip_grad_norm_(run.params, s.max_grad_norm)
        run.optimizer.step()
    return terms


def train_minimal(model, tokenizer, prompts, sft_examples, settings: RLSettings = RLSettings(),  # noqa: B008
                  eval_tasks=None, eval_every: int = 10, ref_model=None, *, reward_model=None,
                  template_kwargs: dict | None = None, checkpoint_dir=None, checkpoint_every: int = 5,
                  progress: bool = False):  # fmt: skip
    """SFT-anchored GRPO, from scratch, in one loop.

    Args:
        model, tokenizer: The policy (starts as the SFT edge model, or an SFT LoRA adapter loaded trainable;
            its trainable parameters train in place) and its tokenizer.
        prompts: :func:`rl_dataset` of the requests to practise on (``prompt``, ``tools``, ``gold``, ``labelled``).
        sft_examples: :func:`rl_dataset` of logged cloud answers (``prompt``, ``completion``): the SFT anchor's side.
        settings: :class:`RLSettings`.
        eval_tasks: Tasks evaluated greedily (:func:`evaluate`) at step 0, every ``eval_every`` steps and at
            the end (history keys ``eval_exact_match``, ...).  ``ref_model``: the frozen SFT model (default: a copy).
        reward_model: rewards the rows with ``labelled`` False (:class:`~netgpt_lite.rl.reward_model.RewardModel`);
            without one every row is rewarded by the checker against its ``gold``.
        template_kwargs: prompt rendering of ``eval_tasks`` (e.g. ``{"tool_format": "compact"}`` for SmolLM2).
        checkpoint_dir: if given, the run saves ``checkpoint_dir/checkpoint`` (trainable tensors, Adam moments,
            RNG states, history: safetensors + JSON) every ``checkpoint_every`` steps and, rerun with the same
            arguments after a kill, continues from it with the same samples.  Removed when the run finishes.
        progress: a progress bar on stderr (steps done, time left, the last step's reward, exact match, KL).

    Returns:
        ``(model, history)``: the trained model and one dict of metrics per step (:data:`METRICS` and more).
    """
    import shutil
    from pathlib import Path

    run, history, first = _start_run(model, tokenizer, settings, ref_model), [], 0
    template_kwargs = dict(template_kwargs or {})
    checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / "checkpoint"
    if checkpoint is not None and checkpoint.exists():
        first, history = load_rl_checkpoint(checkpoint, model, run.optimizer, run.rng)
    from tqdm.auto import tqdm

    bar = tqdm(total=settings.steps, initial=first, desc="RL steps", unit="step", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    for step in range(first, settings.steps + 1):
        row = {"step": step}
        if eval_tasks is not None and (step % eval_every == 0 or step == settings.steps):
            row.update({f"eval_{k}": v for k, v in evaluate(model, tokenizer, eval_tasks, **template_kwargs).items()})
        if step == settings.steps:  # the last row only evaluates the final model
            history.append(row)
            break
        start = time.perf_counter()
        batch, sample = _sample_groups(run, prompts)  # 1. a group per prompt (with the sampling log-probs) ...
        row["seconds_sampling"] = time.perf_counter() - start
        scores, diagnostics = _rewards(batch, sample, settings, reward_model)  # ... and its rewards
        rewards, advantages, keep = _advantages(run, scores)  # 2. group-normalised advantages, kept groups
        with training_memory():  # freed activations leave RSS (sampling stays outside: it would slow down)
            logp_ref = _reference_logprobs(run, sample)  # 3. log-probs under the SFT model (no gradient)
            row.update({**diagnostics, **_sample_metrics(run, scores, rewards, sample, logp_ref)})
            row.update(_update(run, sample, logp_ref, advantages, keep, sft_examples))  # 4. clipped updates
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.update()  # then show, log and checkpoint
        bar.set_postfix(reward=f"{row['reward']:.3f}", exact=f"{row['exact_match']:.3f}",
                        kl=f"{row['kl_k3_to_sft']:.4f}", zero_std=f"{row['frac_zero_std']:.2f}")  # fmt: skip
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < settings.steps:
            save_rl_checkpoint(checkpoint, model, run.optimizer, step + 1, history, run.rng)
    bar.close()
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    model.eval()
    return model, history
