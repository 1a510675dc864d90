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
from netgpt_lite.rl.settings import RLSettings
from netgpt_lite.runtime import prefer_bf16, torch_device, training_memory

METRICS = ("reward", "exact_match", "schema_valid", "kl_k3_to_sft", "entropy", "frac_zero_std")
"""What both trainers log per step (see chapter 6, "What the logged metrics mean").  ``kl_k3_to_sft`` is the
k3 estimate of KL(pi_theta || pi_SFT) per token on the step's samples (the synergy rounds' ``kl_to_sft`` is an
exact KL on evaluation prompts, another quantity)."""


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
    sft_cache: dict = field(default_factory=dict)  # logged answer index -> its tensors and SFT log-probs

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


def _sample_groups(run: _Run, prompts, chunk_prompts: int | None = 2) -> tuple[dict, SampledGroups]:
    """Step 1a: draw ``prompts_per_step`` prompts and sample ``group_size`` completions for each,
    ``chunk_prompts`` prompts at a time (the KV cache of 2 x 8 rows, not 8 x 8: a third of the peak memory)."""
    s = run.settings
    batch = prompts[run.rng.choice(len(prompts), s.prompts_per_step, replace=False).tolist()]
    run.model.eval()
    with run.autocast():  # the precision the update scores in: the ratio's two sides are one model
        return batch, sample_groups(run.model, run.tokenizer, batch["prompt"], s.group_size,
                                    temperature=s.temperature,
                                    max_completion_tokens=s.max_completion_tokens,
                                    shared_prefill=s.shared_prefill, chunk_prompts=chunk_prompts,
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
    """Step 2: ``(rewards, advantages, keep)``, ``[B*G]`` each: group-relative advantages (divided by the
    group's std unless ``scale_rewards="none"``), and which completions the update keeps (with
    ``dynamic_sampling``, only groups whose rewards differ: DAPO).  Rewards come first, so a dropped group
    costs no forward pass at all."""
    import torch

    G = run.settings.group_size  # noqa: N806
    rewards = torch.tensor(scores["reward"], dtype=torch.float32, device=run.device)  # [B*G]
    keep = torch.ones_like(rewards, dtype=torch.bool)
    if run.settings.dynamic_sampling:
        keep = (rewards.reshape(-1, G).std(dim=1) > 0).repeat_interleave(G)  # whole groups kept or dropped
    return rewards, group_advantages(rewards, G, scale=run.settings.scale_rewards == "group"), keep


def _reference_logprobs(run: _Run, sample: SampledGroups, keep):
    """Step 3: ``[K, T]`` log-probs of the ``K`` kept samples under the frozen SFT model, without gradient;
    each kept prompt runs once, its KV cache shared by its group."""
    import torch

    G, parts = run.settings.group_size, []  # noqa: N806
    with torch.no_grad(), run.autocast():
        for rows in range(0, sample.completion_ids.shape[0], G):  # a group at a time: [G, T, V] logits, not [B*G, ...]
            if not bool(keep[rows]):
                continue
            group = slice(rows, rows + G)
            logp, _ = completion_logprobs(run.ref_model, sample.prompt_ids[rows : rows + 1],
                                          sample.prompt_mask[rows : rows + 1], sample.completion_ids[group],
                                          sample.completion_mask[group], run.settings.temperature)  # fmt: skip
            parts.append(logp)
    return torch.cat(parts) if parts else None


def _sample_metrics(run: _Run, scores: dict, rewards, sample: SampledGroups) -> dict[str, float]:
    """The logged means of the step's samples: rewards, exact match, schema-valid, entropy (nats per token,
    from generation), share of all-equal groups.  The KL to SFT comes from the update (kept groups)."""
    row = {k: float(v.mean()) for k, v in scores.items()}
    row["entropy"] = float(token_mean(sample.entropy.float(), sample.completion_mask))
    row["frac_zero_std"] = zero_variance_fraction(rewards, run.settings.group_size)
    return row


def _sft_side(run: _Run, sft_examples, index: int):
    """One logged answer as ``(prompt_ids, prompt_mask, ids, mask, logp_sft)``, unpadded ``[1, ...]``, with
    the frozen SFT model's log-probs computed the first time it is drawn and kept (it never changes)."""
    import torch

    if index not in run.sft_cache:
        ex = sft_examples[index]
        tensors = encode_pairs(run.tokenizer, [ex["prompt"]], [ex["completion"]], run.device)
        with torch.no_grad(), run.autocast():
            logp_sft, _ = completion_logprobs(run.ref_model, *tensors)
        run.sft_cache[index] = (*tensors, logp_sft.float())
    return run.sft_cache[index]


def _anchor_backward(run: _Run, sft_examples) -> float:
    """The SFT anchor: ``gamma * anchor_nll_gap`` on ``sft_batch_size`` logged answers, backpropagated one
    answer at a time; returns the gap's mean."""
    s = run.settings
    picks = run.rng.choice(len(sft_examples), min(s.sft_batch_size, len(sft_examples)), replace=False).tolist()
    gap_total = 0.0
    for i in picks:
        p_ids, p_mask, t_ids, t_mask, logp_sft = _sft_side(run, sft_examples, i)
        with run.autocast():
            logp_theta, _ = completion_logprobs(run.model, p_ids, p_mask, t_ids, t_mask)
        gap = sequence_mean(anchor_nll_gap_per_token(logp_theta.float(), logp_sft), t_mask)
        (s.objective.gamma * gap / len(picks)).backward()
        gap_total += float(gap.detach()) / len(picks)
    return gap_total


def _update(run: _Run, sample: SampledGroups, advantages, keep, sft_examples,
            update_chunk_rows: int = 2) -> dict[str, float]:
    """Steps 3-4: the kept groups' SFT log-probs, then ``updates_per_step`` clipped updates of the composite
    loss on them (PPO's epochs over one sampled batch), each with a fresh SFT-side batch for the anchor.

    Dropout is off (eval mode) and "old" log-probs are those of the first epoch's own pass, so the ratio
    compares one model in one precision with itself: it is exactly 1 in the first epoch and moves after,
    which is when clipping and the reverse KL act.  The loss is a mean over kept completions; each kept prompt
    runs once and its G completions ``update_chunk_rows`` at a time
    (:func:`~netgpt_lite.rl.logprobs.grouped_backward`), so gradients add up to the full batch's.  Returns the
    last epoch's terms, ``kl_k3_to_sft`` (the first epoch's, per token: the policy that sampled), the share
    of tokens whose ratio left the clip range in the last epoch (``clip_fraction``) and the relative size
    of the step's whole change to the trainable weights (``update_to_weight``: ||delta|| / ||theta||).
    """

    import torch

    s, G = run.settings, run.settings.group_size  # noqa: N806
    if not bool(keep.any()):
        return {"kl_k3_to_sft": None}  # no group to learn from: no pass, nothing measured
    cpu = time.process_time()
    ref = _reference_logprobs(run, sample, keep)  # [K, T]
    cpu_reference = time.process_time() - cpu
    kept_groups = keep[::G]  # [B]: dynamic sampling keeps or drops whole groups
    u_ids, u_mask = sample.prompt_ids[::G][kept_groups], sample.prompt_mask[::G][kept_groups]  # [B', P]
    c_ids, c_mask, adv, n_rows = sample.completion_ids[keep], sample.completion_mask[keep], advantages[keep], int(keep.sum())
    old = torch.zeros_like(ref)  # filled by the first epoch's pass
    policy_only = dataclasses.replace(s.objective, gamma=0.0)
    before = [p.detach().clone() for p in run.params]
    run.model.eval()  # dropout off: the update's model is the one that sampled
    terms: dict[str, float] = {}
    for epoch in range(s.updates_per_step):
        run.optimizer.zero_grad()
        terms = {"clipped_pg": 0.0, "kl_k3": 0.0, "clipped": 0.0,
                 **({"reverse_kl": 0.0} if s.objective.beta > 0 else {})}  # fmt: skip
        for j in range(u_ids.shape[0]):  # one kept prompt and its G completions at a time, in chunks of rows
            group = slice(j * G, (j + 1) * G)
            n_tok = int(c_mask[group].sum(1).max())  # the group's longest completion: no pass over padding

            def chunk_loss(logp_new, rows, group=group, epoch=epoch, keys=tuple(terms), t=slice(0, n_tok)):
                rows = slice(group.start + rows.start, group.start + rows.stop)  # rows of the kept completions
                if epoch == 0:
                    old[rows, t] = logp_new.detach()
                o, r, m = old[rows, t], ref[rows, t], c_mask[rows, t]
                loss, part = anchored_loss(logp_new, o, r, adv[rows], m, policy_only)
                ratio = (logp_new.detach() - o).exp()
                part["clipped"] = float(token_mean(((ratio - 1).abs() > s.objective.epsilon).float(), m))
                part["kl_k3"] = float(token_mean(kl_per_token(logp_new.detach(), r, "k3"), m))
                share = (rows.stop - rows.start) / n_rows  # this chunk's share of the mean over completions
                return loss * share, {k: part.get(k, 0.0) * share for k in keys}

            for part in grouped_backward(run.model, u_ids[j : j + 1], u_mask[j : j + 1], c_ids[group, :n_tok],
                                         c_mask[group, :n_tok], chunk_loss, temperature=s.temperature,
                                         chunk_rows=update_chunk_rows, autocast=run.autocast):  # fmt: skip
                for key in terms:
                    terms[key] += part[key]
        if epoch == 0:
            kl_first = terms["kl_k3"]
        terms["loss"] = terms["clipped_pg"] + s.objective.beta * terms.get("reverse_kl", 0.0)
        if s.objective.gamma > 0:  # the anchor: pi_theta's NLL of logged answers against the SFT model's
            terms["anchor_nll_gap"] = _anchor_backward(run, sft_examples)
            terms["loss"] += s.objective.gamma * terms["anchor_nll_gap"]
        torch.nn.utils.clip_grad_norm_(run.params, s.max_grad_norm)
        run.optimizer.step()
    with torch.no_grad():
        moved = sum(float((p - b).pow(2).sum()) for p, b in zip(run.params, before, strict=True))
        norm = sum(float(b.pow(2).sum()) for b in before)
    terms["clip_fraction"] = terms.pop("clipped")
    terms.pop("kl_k3")
    return {**terms, "kl_k3_to_sft": kl_first, "update_to_weight": (moved / max(norm, 1e-30)) ** 0.5,
            "cpu_s_reference": cpu_reference}


def train_minimal(model, tokenizer, prompts, sft_examples, settings: RLSettings = RLSettings(),  # noqa: B008
                  eval_tasks=None, eval_every: int = 10, ref_model=None, *, reward_model=None,
                  template_kwargs: dict | None = None, checkpoint_dir=None, checkpoint_every: int = 5,
                  progress: bool = False, start_eval: dict | None = None, optimizer_state=None,
                  keep_checkpoint: bool = False):  # fmt: skip
    """SFT-anchored GRPO, from scratch, in one loop.

    Args:
        model, tokenizer: The policy (starts as the SFT edge model, or an SFT LoRA adapter loaded trainable;
            its trainable parameters train in place) and its tokenizer.
        prompts: :func:`rl_dataset` of the requests to practise on (``prompt``, ``tools``, ``gold``, ``labelled``).
        sft_examples: :func:`rl_dataset` of logged cloud answers (``prompt``, ``completion``): the SFT anchor's side.
        settings: :class:`RLSettings`.
        eval_tasks: Tasks evaluated greedily (:func:`evaluate`) at step 0, every ``eval_every`` steps and at
            the end (history keys ``eval_exact_match``, ...).  ``ref_model``: the frozen SFT model (default: a copy).
        start_eval: the step-0 evaluation when the caller has it already (``{"exact_match": ...}``, the keys
            :func:`evaluate` returns): the start is not evaluated again.
        reward_model: rewards the rows with ``labelled`` False (:class:`~netgpt_lite.rl.reward_model.RewardModel`);
            without one every row is rewarded by the checker against its ``gold``.
        template_kwargs: prompt rendering of ``eval_tasks`` (e.g. ``{"tool_format": "compact"}`` for SmolLM2).
        checkpoint_dir: if given, the run saves ``checkpoint_dir/checkpoint`` (trainable tensors, Adam moments,
            RNG states, history: safetensors + JSON) every ``checkpoint_every`` steps and, rerun with the same
            arguments after a kill, continues from it with the same samples.  Removed when the run finishes,
            unless ``keep_checkpoint``: then it holds the finished run (its last step, without the final
            evaluation), which a run of the same settings but more ``steps`` continues, as if it had run them
            all (the warm-up and the rate do not depend on ``steps``).
        progress: a progress bar on stderr (steps done, time left, the last step's reward, exact match, KL).
        optimizer_state: an :class:`~netgpt_lite.edge.optimizer_state.OptimizerState` carried from an earlier
            run (a synergy round's): Adam starts from its moments and the warm-up counts its steps, so a
            continued run takes no fresh sign step; the state after the last step is left in it.

    Returns:
        ``(model, history)``: the trained model and one dict of metrics per step (:data:`METRICS` and more).
    """
    import shutil
    from pathlib import Path

    run, history, first = _start_run(model, tokenizer, settings, ref_model), [], 0
    offset = 0 if optimizer_state is None else optimizer_state.restore(run.optimizer)  # steps of earlier runs
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
            scores = start_eval if step == 0 and start_eval is not None else \
                evaluate(model, tokenizer, eval_tasks, **template_kwargs)
            row.update({f"eval_{k}": v for k, v in scores.items()})
        if step == settings.steps:  # the last row only evaluates the final model
            history.append(row)
            break
        start, cpu = time.perf_counter(), time.process_time()  # CPU seconds of every thread of this process
        batch, sample = _sample_groups(run, prompts)  # 1. a group per prompt (with the sampling log-probs) ...
        row["seconds_sampling"] = time.perf_counter() - start
        row["cpu_s_sampling"], cpu = time.process_time() - cpu, time.process_time()
        scores, diagnostics = _rewards(batch, sample, settings, reward_model)  # ... and its rewards
        row["cpu_s_rewards"], cpu = time.process_time() - cpu, time.process_time()
        rewards, advantages, keep = _advantages(run, scores)  # 2. group-relative advantages, kept groups
        row.update({**diagnostics, **_sample_metrics(run, scores, rewards, sample)})
        for group in run.optimizer.param_groups:  # linear warm-up, then constant
            group["lr"] = settings.learning_rate * min(1.0, (offset + step + 1) / max(settings.warmup_steps, 1))
        row["learning_rate"] = run.optimizer.param_groups[0]["lr"]  # this step's, after the warm-up
        with training_memory():  # freed activations leave RSS (sampling stays outside: it would slow down)
            row.update(_update(run, sample, advantages, keep, sft_examples))  # 3-4. SFT log-probs, clipped epochs
        row["cpu_s_update"] = time.process_time() - cpu - row.get("cpu_s_reference", 0.0)
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.update()  # then show, log and checkpoint
        bar.set_postfix(reward=f"{row['reward']:.3f}", exact=f"{row['exact_match']:.3f}",
                        kl="-" if row["kl_k3_to_sft"] is None else f"{row['kl_k3_to_sft']:.4f}", zero_std=f"{row['frac_zero_std']:.2f}")
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < settings.steps:
            save_rl_checkpoint(checkpoint, model, run.optimizer, step + 1, history, run.rng)
    bar.close()
    if checkpoint is not None and keep_checkpoint:  # the final evaluation row is recomputed by a longer run
        save_rl_checkpoint(checkpoint, model, run.optimizer, settings.steps, history[:-1], run.rng)
    elif checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    if optimizer_state is not None:
        optimizer_state.capture(run.optimizer, offset + settings.steps)
    model.eval()
    return model, history
