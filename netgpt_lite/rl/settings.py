"""The settings of one RL run, shared by the from-scratch loop and the TRL trainer (chapter 6).

Example:
    >>> RLSettings(steps=2, learning_rate=2e-5).replace(beta=0.0).objective.beta
    0.0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from netgpt_lite.rl.objective import AnchoredRLSettings


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
        bf16: bf16 autocast for sampling, the SFT model's pass and the update, so the samples come from the
            model the ratio and the KL score; None picks it by a timed probe
            (:func:`~netgpt_lite.runtime.prefer_bf16`); default False (fp32).  On an AVX-512 BF16 CPU it
            saved little for SmolLM2 (``scripts/bench_rl.py --bf16 on``, 1 thread: 2.58 against 2.84 CPU-s
            per rollout; autocast casts the frozen weights again in every chunk's pass) and peaked at 2.8 GB,
            where fp32 peaked at 2.2 GB even with a learning-curve evaluation; a GPU or AMX gains more.
        max_grad_norm: Gradient-norm clip.
        objective: epsilon, beta, gamma and the reverse-KL estimator (:class:`AnchoredRLSettings`).
        warmup_steps: the learning rate rises linearly over the first steps (0: none), then stays.
        scale_rewards: ``"group"`` divides each group's centred rewards by its std (GRPO); ``"none"`` keeps
            them centred only (Dr. GRPO).
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
    warmup_steps: int = 0
    scale_rewards: str = "group"
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
        if self.warmup_steps < 0 or self.scale_rewards not in ("group", "none"):
            raise ValueError(f"warmup_steps must be >= 0 and scale_rewards 'group' or 'none', got "
                             f"{self.warmup_steps}, {self.scale_rewards!r}")
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda', got {self.device!r}")

    def replace(self, **changes) -> RLSettings:
        """A copy with some fields changed; ``epsilon``/``beta``/``gamma`` go into ``objective``."""
        weights = {k: changes.pop(k) for k in ("epsilon", "beta", "gamma", "kl_estimator") if k in changes}
        if weights:
            changes["objective"] = dataclasses.replace(self.objective, **weights)
        return dataclasses.replace(self, **changes)


SMOLLM2_RL = RLSettings(steps=12, prompts_per_step=8, group_size=8, updates_per_step=2, learning_rate=2e-5,
                        warmup_steps=2, max_completion_tokens=48, sft_batch_size=4, bf16=False)
"""SFT-anchored RL of the SmolLM2 adapter: the one recipe E5 and the synergy rounds run.
Every choice is measured, not copied: two epochs over each sampled batch, so that clipping and the reverse
KL act (the first epoch's own log-probs are "old": one model, one precision, dropout off); a learning rate
chosen on validation phrasings by ``scripts/rl_sweep.py`` (never test; its artifact,
``netgpt_lite/data/results/rl_sweep/sweep.json``, holds each rate's curve and KL to SFT, and chapter 6 prints
them); linear warm-up over 2 steps because Adam's first step moves every weight by the learning rate; fp32
throughout, so sampling and update score with the same model; 48 tokens cover the longest call."""
