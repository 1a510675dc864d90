"""SFT-anchored RL (chapter 6): the objective, the model passes, sampling, the from-scratch loop and its
checkpoints, the reward model, the TRL trainer and the KL toy.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.rl.checkpoint import load_rl_checkpoint, save_rl_checkpoint, trainable_parameters
from netgpt_lite.rl.data import encode_pairs, evaluate, judge, rl_dataset
from netgpt_lite.rl.logprobs import cache_argument, completion_logprobs, grouped_completion_logprobs, prefill
from netgpt_lite.rl.minimal import METRICS, RLSettings, train_minimal
from netgpt_lite.rl.objective import (
    KL_ESTIMATORS,
    AnchoredRLSettings,
    anchor_nll_gap_per_token,
    anchored_loss,
    baseline_advantages,
    clipped_pg_per_token,
    entropy_from_logits,
    exact_kl,
    group_advantages,
    kl_per_token,
    sequence_mean,
    token_mean,
    zero_variance_fraction,
)
from netgpt_lite.rl.reward_model import RewardModel, sample_outputs
from netgpt_lite.rl.sampling import SampledGroups, sample_groups, shared_prefill_cache
from netgpt_lite.rl.settings import SMOLLM2_RL
from netgpt_lite.rl.toy import fit_unimodal, unimodal_q
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
    "anchor_nll_gap_per_token",
    "exact_kl",
    "entropy_from_logits",
    "completion_logprobs",
    "cache_argument",
    "grouped_completion_logprobs",
    "prefill",
    "SampledGroups",
    "sample_groups",
    "shared_prefill_cache",
    "anchored_loss",
    "unimodal_q",
    "fit_unimodal",
    "METRICS",
    "RLSettings",
    "SMOLLM2_RL",
    "rl_dataset",
    "judge",
    "encode_pairs",
    "evaluate",
    "train_minimal",
    "trainable_parameters",
    "save_rl_checkpoint",
    "load_rl_checkpoint",
    "RewardModel",
    "sample_outputs",
    "exact_match_reward",
    "schema_valid_reward",
    "to_grpo_config",
    "anchored_grpo_trainer_class",
    "train_trl",
]
