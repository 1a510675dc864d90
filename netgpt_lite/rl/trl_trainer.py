"""SFT-anchored RL through TRL: a ``GRPOTrainer`` subclass that adds the SFT anchor (chapter 6).

TRL's ``GRPOTrainer`` already has the clipped group-relative objective and a reverse-KL penalty
(``beta``) to a reference model loaded from the SFT folder; :func:`anchored_grpo_trainer_class`
adds ``gamma * anchor_nll_gap`` on SFT-side examples to its loss, and :func:`to_grpo_config` is the one
place where :class:`~netgpt_lite.rl.minimal.RLSettings` meet TRL.  This is the path that scales
(accelerate, GPUs); :mod:`netgpt_lite.rl.minimal` is the readable one.

Example:
    >>> from netgpt_lite.rl.settings import RLSettings
    >>> config = to_grpo_config(RLSettings(steps=2, prompts_per_step=2, group_size=4), "/tmp/grpo")  # doctest: +SKIP
    >>> config.num_generations                                                                         # doctest: +SKIP
    4
"""

from __future__ import annotations

import copy

import numpy as np

from netgpt_lite.edge.tiny_lm import save_edge_model
from netgpt_lite.rl.data import encode_pairs, judge
from netgpt_lite.rl.logprobs import completion_logprobs
from netgpt_lite.rl.objective import anchor_nll_gap_per_token, kl_per_token, sequence_mean, token_mean
from netgpt_lite.rl.settings import RLSettings
from netgpt_lite.runtime import torch_device
from netgpt_lite.tasks.checker import tool_call_reward


# --- the TRL trainer ---------------------------------------------------------------------------------
def exact_match_reward(completions, tools, gold, **kwargs) -> list[float]:
    """TRL reward function: 1.0 for an exact tool_call, else 0.0 (logged with weight 0)."""
    return judge(list(completions), list(tools), list(gold))["exact_match"].tolist()


def schema_valid_reward(completions, tools, gold, **kwargs) -> list[float]:
    """TRL reward function: 1.0 for a schema-valid tool_call, else 0.0 (logged with weight 0)."""
    return judge(list(completions), list(tools), list(gold))["schema_valid"].tolist()


def to_grpo_config(settings: RLSettings, output_dir: str):
    """TRL ``GRPOConfig`` for these settings: the one place the settings meet TRL.

    It overrides TRL defaults that are wrong here: bf16 off on CPU (14x slower for the tiny model),
    activation checkpointing off, the learning rate, its linear warm-up (``warmup_steps``, counted in
    sampled batches as :func:`~netgpt_lite.rl.minimal.train_minimal` counts them) and then a constant rate,
    ``max_completion_length`` from the settings instead of 512, dropout off (the ratio compares one model
    with itself), the "grpo" loss (each completion's token mean, then the mean over completions, as the
    minimal loop reduces it) and ``scale_rewards`` from the settings.  TRL's reverse KL is the k3 estimator:
    settings with another ``kl_estimator`` are refused.  With ``beta > 0`` TRL rebuilds the reference model
    from the model folder, so train from a saved SFT folder.
    """
    from trl import GRPOConfig

    if settings.objective.kl_estimator != "k3" and settings.objective.beta > 0:
        raise ValueError(f"TRL's reverse KL is k3; got kl_estimator={settings.objective.kl_estimator!r}: "
                         "use k3 or train with netgpt_lite.rl.minimal.train_minimal")
    on_cpu = torch_device(settings.device) == "cpu"
    batch = settings.prompts_per_step * settings.group_size
    return GRPOConfig(
        output_dir=output_dir, max_steps=settings.steps * settings.updates_per_step,
        per_device_train_batch_size=batch, steps_per_generation=1, num_generations=settings.group_size,
        num_iterations=settings.updates_per_step, learning_rate=settings.learning_rate,
        lr_scheduler_type="constant_with_warmup", warmup_steps=settings.warmup_steps * settings.updates_per_step,
        disable_dropout=True,
        max_grad_norm=settings.max_grad_norm, temperature=settings.temperature, top_k=0, top_p=1.0,
        max_completion_length=settings.max_completion_tokens, beta=settings.objective.beta,
        epsilon=settings.objective.epsilon, loss_type="grpo", scale_rewards=settings.scale_rewards,
        reward_weights=[1.0, 0.0, 0.0], seed=settings.seed, data_seed=settings.seed,
        bf16=not on_cpu, use_cpu=on_cpu, activation_checkpointing=False, logging_steps=settings.updates_per_step,
        save_strategy="no", report_to="none", disable_tqdm=True, log_level="warning", dataloader_num_workers=0,
    )  # fmt: skip


def anchored_grpo_trainer_class():
    """``AnchoredGRPOTrainer``: TRL's ``GRPOTrainer`` plus ``gamma * anchor_nll_gap`` on SFT-side examples
    (:func:`~netgpt_lite.rl.objective.anchor_nll_gap_per_token`, logged as ``anchor_nll_gap``).

    The class is built on first call because ``import trl`` takes ~10 s.  Extra constructor arguments:
    ``sft_examples`` (a :func:`rl_dataset`), ``gamma``, ``sft_batch_size``, ``seed``.
    """
    import torch
    from trl import GRPOTrainer

    class AnchoredGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, sft_examples, gamma: float, sft_batch_size: int = 16, seed: int = 0, **kwargs):
            super().__init__(*args, **kwargs)
            self.sft_examples, self.gamma, self.sft_batch_size = sft_examples, gamma, sft_batch_size
            self._sft_rng = np.random.default_rng(seed)
            # the SFT model: TRL's reference when beta > 0, else a frozen copy of the starting policy
            self.sft_model = self.ref_model if self.ref_model is not None else copy.deepcopy(self.model)
            self.sft_model.eval().requires_grad_(False)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if model.training else "eval"
            if self.beta == 0.0:  # TRL logs "kl" only when it uses it; log KL to SFT anyway
                with torch.no_grad():
                    args = (inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                            inputs["completion_mask"], self.temperature)  # fmt: skip
                    logp, _ = completion_logprobs(model, *args)
                    logp_sft, _ = completion_logprobs(self.sft_model, *args)
                self._metrics[mode]["kl"].append(float(token_mean(kl_per_token(logp, logp_sft), args[3])))
            if self.gamma > 0:
                rows = self._sft_rng.choice(len(self.sft_examples), self.sft_batch_size, replace=False).tolist()
                sft = self.sft_examples[rows]
                batch = encode_pairs(self.processing_class, sft["prompt"], sft["completion"], loss.device)
                logp_theta, _ = completion_logprobs(model, *batch)
                with torch.no_grad():
                    logp_sft, _ = completion_logprobs(self.sft_model, *batch)
                gap = sequence_mean(anchor_nll_gap_per_token(logp_theta, logp_sft), batch[3])
                loss = loss + self.gamma * gap / self.current_gradient_accumulation_steps
                self._metrics[mode]["anchor_nll_gap"].append(float(gap.detach()))
            return loss

    return AnchoredGRPOTrainer


def train_trl(model_dir, prompts, sft_examples, settings: RLSettings = RLSettings(), out_dir=None):  # noqa: B008
    """Run :func:`anchored_grpo_trainer_class` from a saved SFT folder (TRL rebuilds the reference from it).

    Returns ``(model, history)``: one dict per step with :data:`METRICS` (as in :func:`train_minimal`) and TRL's keys.
    """
    import tempfile

    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    trainer_class = anchored_grpo_trainer_class()
    with tempfile.TemporaryDirectory(prefix="netgpt_rl_") as scratch:
        trainer = trainer_class(
            model=str(model_dir), reward_funcs=[tool_call_reward, exact_match_reward, schema_valid_reward],
            args=to_grpo_config(settings, scratch), train_dataset=prompts.select_columns(["prompt", "tools", "gold"]),
            processing_class=tokenizer, sft_examples=sft_examples, gamma=settings.objective.gamma,
            sft_batch_size=settings.sft_batch_size, seed=settings.seed,
        )  # fmt: skip
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.train()
    names = {"reward": "reward", "exact_match": "rewards/exact_match_reward/mean", "kl_k3_to_sft": "kl",
             "schema_valid": "rewards/schema_valid_reward/mean", "entropy": "entropy",
             "frac_zero_std": "frac_reward_zero_std"}  # fmt: skip
    logs = [e for e in trainer.state.log_history if "reward" in e]
    history = [{"step": i, **{k: e.get(v, float("nan")) for k, v in names.items()}, **e,
                "seconds": e.get("step_time", float("nan")) * settings.updates_per_step} for i, e in enumerate(logs)]  # fmt: skip
    model = trainer.model.eval()
    if out_dir is not None:
        save_edge_model(model, tokenizer, out_dir)
    return model, history
