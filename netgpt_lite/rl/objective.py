"""The SFT-anchored RL objective as pure torch functions: the loss algebra (chapter 6).

Per completion token, the loss the edge model minimises is

    loss = clipped_pg + beta * reverse_kl(pi_theta || pi_ref) + gamma * anchor_nll_gap

* ``clipped_pg`` is PPO's clipped surrogate with GRPO's group-normalised advantages
  ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)``;
* ``reverse_kl`` is estimated on the policy's own samples with Schulman's k1, k2 or k3
  (``log_r = log pi_ref(y) - log pi_theta(y)``: k1 = -log_r, k2 = log_r**2 / 2, k3 = exp(log_r) - 1 - log_r);
  it keeps the policy inside a trust region around the anchor (mode-seeking).  The samples come from the
  policy that drew them (pi_old), so each token's estimate is weighted by ``pi_theta / pi_old``: then its
  gradient is the reverse KL's own, whichever epoch over the batch it is;
* ``anchor_nll_gap`` is the SFT anchor on SFT-side tokens: the policy's negative log-likelihood of them minus
  the SFT model's, ``log pi_SFT(y) - log pi_theta(y)``.  Its gradient is the cross-entropy (SFT) gradient.  On
  tokens sampled from pi_SFT its mean estimates the forward KL(pi_SFT || pi_theta) (mass-covering, hence "the
  forward-KL anchor" of the book); on logged cloud answers, which the trainers feed it, it is a difference of
  two cross-entropies that turns negative once the policy fits those answers better than SFT did.  It is not a
  KL, so it is not named one (E5's stored ablation arm ``no_forward_kl``, gamma = 0, keeps its first name).

Every function here works on tensors of log-probabilities, so the same code serves the from-scratch loop and
the TRL trainer in :mod:`netgpt_lite.rl`; the model passes that produce them are in :mod:`netgpt_lite.rl.logprobs`.
Shapes follow the convention ``[batch, seq]`` for per-token values (``batch`` completions, ``seq`` completion
positions) with a 0/1 ``mask`` of the same shape for padding.
It follows PPO (Schulman et al., 2017), GRPO (Shao et al., 2024) and TRL's ``GRPOTrainer`` ("grpo" loss).

Example:
    >>> import torch
    >>> from netgpt_lite.rl.objective import group_advantages
    >>> group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0, 1.0]), group_size=3).round(decimals=2)
    tensor([ 0.5800, -1.1500,  0.5800,  0.0000,  0.0000,  0.0000])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported inside functions: importing this module stays cheap
    import torch

KL_ESTIMATORS = ("k1", "k2", "k3")


@dataclass(frozen=True)
class AnchoredRLSettings:
    """Weights of the SFT-anchored objective.

    Attributes:
        epsilon: clip range of the probability ratio, in (0, 1): the ratio may move to [1 - eps, 1 + eps].
        beta: weight of the reverse KL(pi_theta || pi_ref) trust-region term, >= 0 (0 switches it off).
        gamma: weight of the SFT anchor (:func:`anchor_nll_gap_per_token` on SFT-side tokens), >= 0 (0: off).
        kl_estimator: which per-token estimator of the reverse KL to use: "k1", "k2" or "k3" (TRL uses k3).

    Example:
        >>> AnchoredRLSettings(epsilon=0.2, beta=0.04, gamma=0.1).gamma
        0.1
    """

    epsilon: float = 0.2
    beta: float = 0.04
    gamma: float = 0.1
    kl_estimator: str = "k3"

    def __post_init__(self) -> None:
        if not 0.0 < self.epsilon < 1.0:
            raise ValueError(
                f"epsilon must be in (0, 1), got {self.epsilon}; 0.1-0.3 is usual (PPO and GRPO use 0.2)"
            )
        if not self.beta >= 0.0:
            raise ValueError(f"beta must be >= 0, got {self.beta}; use 0 to switch the reverse-KL term off")
        if not self.gamma >= 0.0:
            raise ValueError(
                f"gamma must be >= 0, got {self.gamma}; use 0 to switch the SFT anchor off"
            )
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {self.kl_estimator!r}")


# --- advantages -------------------------------------------------------------------------------------
def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4, scale: bool = True) -> torch.Tensor:
    """GRPO advantages: each reward minus its group's mean, divided by the group's std (+ eps).

    Args:
        rewards: ``[n_groups * group_size]`` rewards, the completions of one prompt next to each other.
        group_size: completions sampled per prompt (G).
        eps: added to the std so a zero-variance group gives zero advantages instead of 0/0.
        scale: divide by the group's std (GRPO).  False keeps ``r - mean`` (Dr. GRPO, Liu et al. 2025): with
            0/1 rewards the std lets one wrong sample among seven right ones weigh -2.65, so a few
            nearly-solved requests steer the update.

    Returns:
        ``[n_groups * group_size]`` advantages (zero for every member of a group whose rewards are all equal).
    """
    if group_size < 2 or rewards.numel() % group_size:
        raise ValueError(
            f"group_size must be >= 2 and divide the {rewards.numel()} rewards, got {group_size}"
        )
    grouped = rewards.reshape(-1, group_size)  # [n_groups, G]
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True)  # unbiased, as in TRL
    centred = grouped - mean
    return (centred / (std + eps) if scale else centred).reshape(-1)


def baseline_advantages(rewards: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
    """REINFORCE-with-baseline advantages ``r - b`` (e.g. b = a running mean of the reward)."""
    return rewards - baseline


def zero_variance_fraction(rewards: torch.Tensor, group_size: int) -> float:
    """Fraction of groups whose rewards are all equal: they carry no GRPO learning signal."""
    grouped = rewards.reshape(-1, group_size)
    return float((grouped.max(dim=1).values == grouped.min(dim=1).values).float().mean())


# --- reductions -----------------------------------------------------------------------------------------
def sequence_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GRPO's reduction: mean over each completion's real tokens, then mean over completions.

    Args:
        per_token: ``[batch, seq]`` values.
        mask: ``[batch, seq]`` 1 for real completion tokens, 0 for padding.
    """
    mask = mask.to(per_token.dtype)
    per_sequence = (per_token * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)  # [batch]
    return per_sequence.mean()


def token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over all real tokens of the batch (``[batch, seq]`` in, scalar out)."""
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


# --- the three terms ------------------------------------------------------------------------------------
def clipped_pg_per_token(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, epsilon: float
) -> torch.Tensor:
    """PPO's clipped surrogate, negated so that lower is better.

    ``-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)`` with ``ratio = pi_theta / pi_old`` per token.  Once the
    ratio has left the clip region in the direction the advantage pushes it, the gradient is zero.

    Args:
        logp_new: ``[batch, seq]`` log pi_theta(y_t | ...) of the sampled tokens (with gradient).
        logp_old: ``[batch, seq]`` the same under the policy that sampled them (no gradient).
        advantages: ``[batch]`` one advantage per completion (or ``[batch, seq]``).
        epsilon: clip range in (0, 1).
    """
    import torch

    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)  # [batch, 1] broadcasts over seq
    ratio = (logp_new - logp_old.detach()).exp()
    clipped = ratio.clamp(1.0 - epsilon, 1.0 + epsilon)
    return -torch.minimum(ratio * advantages, clipped * advantages)


def kl_per_token(logp_theta: torch.Tensor, logp_ref: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Schulman's per-sample estimators of KL(pi_theta || pi_ref) on tokens sampled from pi_theta.

    With ``log_r = log pi_ref(y) - log pi_theta(y)``: k1 = -log_r (unbiased, can be negative),
    k2 = log_r**2 / 2 (biased, low variance, >= 0), k3 = exp(log_r) - 1 - log_r (unbiased, >= 0).

    Args:
        logp_theta: ``[batch, seq]`` log-probs of the sampled tokens under the policy.
        logp_ref: ``[batch, seq]`` their log-probs under the anchor (reference or old policy).
        estimator: "k1", "k2" or "k3".

    Example:
        >>> import torch
        >>> kl_per_token(torch.tensor([-1.0]), torch.tensor([-1.0]), "k3")
        tensor([0.])
    """
    log_r = logp_ref - logp_theta
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r**2
    if estimator == "k3":
        return log_r.exp() - 1.0 - log_r
    raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


def anchor_nll_gap_per_token(logp_theta_on_sft: torch.Tensor, logp_sft_on_sft: torch.Tensor) -> torch.Tensor:
    """The SFT anchor per token: the policy's NLL of SFT-side tokens minus the SFT model's.

    ``log pi_SFT(y) - log pi_theta(y)`` = cross-entropy of pi_theta on y minus that of pi_SFT.  The second part
    has no gradient in theta, so the gradient equals the cross-entropy (SFT) gradient on those tokens.  Averaged
    over tokens sampled from pi_SFT it estimates KL(pi_SFT || pi_theta); on other tokens (logged cloud answers)
    it is a plain NLL difference and can be negative.

    Args:
        logp_theta_on_sft: ``[batch, seq]`` log pi_theta of SFT-side tokens (with gradient).
        logp_sft_on_sft: ``[batch, seq]`` log pi_SFT of the same tokens (no gradient).

    Example:
        >>> import torch
        >>> anchor_nll_gap_per_token(torch.tensor([-0.5]), torch.tensor([-1.0]))  # pi_theta fits y better: < 0
        tensor([-0.5000])
    """
    return logp_sft_on_sft.detach() - logp_theta_on_sft


def exact_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Exact KL(p || q) summed over the last (vocabulary) axis: ``[..., vocab]`` logits in, ``[...]`` out."""
    logp = logits_p.log_softmax(dim=-1)
    logq = logits_q.log_softmax(dim=-1)
    return (logp.exp() * (logp - logq)).sum(dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over the last axis (nats): ``[..., vocab]`` in, ``[...]`` out."""
    logp = logits.log_softmax(dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


# --- the composite loss -----------------------------------------------------------------------------------
def anchored_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    logp_ref: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    settings: AnchoredRLSettings,
    logp_theta_on_sft: torch.Tensor | None = None,
    logp_sft_on_sft: torch.Tensor | None = None,
    sft_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """clipped_pg + beta * reverse_kl + gamma * anchor_nll_gap, each reduced GRPO-style over its own tokens.

    Args:
        logp_new, logp_old, mask: ``[batch, seq]`` policy and sampling-policy log-probs of sampled completions.
        logp_ref: ``[batch, seq]`` the anchor's log-probs of the same tokens (needed when ``beta > 0``).
        advantages: ``[batch]`` (e.g. from :func:`group_advantages`).
        settings: epsilon, beta, gamma and the reverse-KL estimator.
        logp_theta_on_sft, logp_sft_on_sft, sft_mask: ``[batch_sft, seq_sft]`` SFT-side tokens under
            pi_theta and pi_SFT (needed when ``gamma > 0``).

    Returns:
        ``(loss, stats)``: the scalar loss to minimise and the value of each term (floats, for logging).
    """
    pg = sequence_mean(clipped_pg_per_token(logp_new, logp_old, advantages, settings.epsilon), mask)
    loss, stats = pg, {"clipped_pg": float(pg.detach())}
    if settings.beta > 0:
        if logp_ref is None:
            raise ValueError("logp_ref is required when beta > 0 (set beta=0 to drop the reverse-KL term)")
        # the samples came from pi_old: the weight pi_theta / pi_old makes each token's estimate one under
        # pi_theta (TRL's use_bias_correction_kl), and with it the k3 term's gradient is the reverse KL's,
        # E[(log pi_theta - log pi_ref) grad log pi_theta]; k3 alone gives (1 - pi_ref / pi_theta) instead
        weight = (logp_new - logp_old.detach()).exp()
        reverse = sequence_mean(weight * kl_per_token(logp_new, logp_ref.detach(), settings.kl_estimator), mask)
        loss = loss + settings.beta * reverse
        stats["reverse_kl"] = float(reverse.detach())
    if settings.gamma > 0:
        if logp_theta_on_sft is None or logp_sft_on_sft is None or sft_mask is None:
            raise ValueError("SFT-side log-probs and mask are required when gamma > 0 (or set gamma=0)")
        gap = sequence_mean(anchor_nll_gap_per_token(logp_theta_on_sft, logp_sft_on_sft), sft_mask)
        loss = loss + settings.gamma * gap
        stats["anchor_nll_gap"] = float(gap.detach())
    stats["loss"] = float(loss.detach())
    return loss, stats
