"""SFT-anchored RL (chapter 6): the objective, the from-scratch loop, the reward model and the TRL trainer.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.rl.minimal import (
    METRICS,
    RLSettings,
    encode_pairs,
    evaluate,
    judge,
    rl_dataset,
    train_minimal,
)
from netgpt_lite.rl.objective import (
    KL_ESTIMATORS,
    AnchoredRLSettings,
    anchored_loss,
    baseline_advantages,
    cache_argument,
    clipped_pg_per_token,
    completion_logprobs,
    entropy_from_logits,
    exact_kl,
    fit_unimodal,
    forward_kl_per_token,
    group_advantages,
    grouped_completion_logprobs,
    kl_per_token,
    prefill,
    sequence_mean,
    token_mean,
    unimodal_q,
    zero_variance_fraction,
)
from netgpt_lite.rl.reward_model import RewardModel, sample_outputs
from netgpt_lite.rl.trl_trainer import (
    anchored_grpo_trainer_class,
    exact_match_reward,
    schema_valid_reward,
    to_grpo_config,
    train_trl,
)

__all__ = [
    "KL_ESTIMATORS",
    "AnchoredRLSettings",
    "group_advantages",
    "baseline_advantages",
    "zero_variance_fraction",
    "sequence_mean",
    "token_mean",
    "clipped_pg_per_token",
    "kl_per_token",
    "forward_kl_per_token",
    "exact_kl",
    "entropy_from_logits",
    "completion_logprobs",
    "cache_argument",
    "grouped_completion_logprobs",
    "prefill",
    "anchored_loss",
    "unimodal_q",
    "fit_unimodal",
    "METRICS",
    "RLSettings",
    "rl_dataset",
    "judge",
    "encode_pairs",
    "evaluate",
    "train_minimal",
    "RewardModel",
    "sample_outputs",
    "exact_match_reward",
    "schema_valid_reward",
    "to_grpo_config",
    "anchored_grpo_trainer_class",
    "train_trl",
]
