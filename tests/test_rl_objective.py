"""Tests for the SFT-anchored objective: estimators against exact KL, gradients, clipping, advantages."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.rl.objective import (
    AnchoredRLSettings,
    anchor_nll_gap_per_token,
    anchored_loss,
    clipped_pg_per_token,
    entropy_from_logits,
    exact_kl,
    group_advantages,
    kl_per_token,
    sequence_mean,
    token_mean,
    zero_variance_fraction,
)


def _sample_kl_estimates(vocab: int, scale: float, n: int, seed: int) -> tuple[dict, float]:
    """Samples y ~ pi_theta over a small vocabulary; per-sample k1, k2, k3 and the exact KL(pi_theta || pi_ref)."""
    gen = torch.Generator().manual_seed(seed)
    logits_theta = torch.randn(vocab, generator=gen, dtype=torch.float64)
    logits_ref = logits_theta + scale * torch.randn(vocab, generator=gen, dtype=torch.float64)
    logp_theta, logp_ref = logits_theta.log_softmax(0), logits_ref.log_softmax(0)
    y = torch.multinomial(logp_theta.exp(), n, replacement=True, generator=gen)
    estimates = {k: kl_per_token(logp_theta[y], logp_ref[y], k) for k in ("k1", "k2", "k3")}
    return estimates, float(exact_kl(logits_theta, logits_ref))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_k1_and_k3_are_unbiased(seed: int, estimator: str) -> None:
    n = 200_000
    estimates, exact = _sample_kl_estimates(vocab=6, scale=1.0, n=n, seed=seed)
    samples = estimates[estimator]
    tolerance = 4 * float(samples.std()) / math.sqrt(n)
    assert abs(float(samples.mean()) - exact) < tolerance


def test_k3_is_nonnegative_and_has_lower_variance_than_k1_for_nearby_distributions() -> None:
    estimates, _ = _sample_kl_estimates(vocab=6, scale=0.3, n=50_000, seed=3)
    assert bool((estimates["k3"] >= 0).all())
    assert bool((estimates["k2"] >= 0).all())
    assert bool((estimates["k1"] < 0).any())  # k1 can be negative per sample
    assert float(estimates["k3"].std()) < float(estimates["k1"].std())


def test_k2_is_biased_but_close_for_nearby_distributions_and_not_for_far_ones() -> None:
    near, exact_near = _sample_kl_estimates(vocab=6, scale=0.1, n=200_000, seed=4)
    assert abs(float(near["k2"].mean()) - exact_near) < 0.05 * exact_near  # within 5% when close
    far, exact_far = _sample_kl_estimates(vocab=6, scale=3.0, n=200_000, seed=4)
    k2_far = far["k2"]
    gap = abs(float(k2_far.mean()) - exact_far)
    assert gap > 4 * float(k2_far.std()) / math.sqrt(k2_far.numel())  # a real, detectable bias when far


def test_k2_as_a_loss_gives_the_exact_reverse_kl_gradient() -> None:
    """E_{y~pi}[grad k2(y)] = grad KL(pi || ref): checked exactly by weighting each token by pi(y)."""
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    logits_ref = torch.randn(5, generator=gen, dtype=torch.float64)
    exact = exact_kl(logits, logits_ref)
    (grad_exact,) = torch.autograd.grad(exact, logits)
    logp = logits.log_softmax(0)
    weights = logp.exp().detach()  # expectation over samples of pi, as the estimator sees it
    k2_loss = (weights * kl_per_token(logp, logits_ref.log_softmax(0), "k2")).sum()
    (grad_k2,) = torch.autograd.grad(k2_loss, logits)
    torch.testing.assert_close(grad_k2, grad_exact)


def test_forward_kl_gradient_equals_cross_entropy_gradient_on_full_distributions() -> None:
    gen = torch.Generator().manual_seed(6)
    logits_sft = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    logits = torch.randn(4, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    (grad_kl,) = torch.autograd.grad(exact_kl(logits_sft, logits).sum(), logits)
    p_sft = logits_sft.softmax(-1)
    cross_entropy = -(p_sft * logits.log_softmax(-1)).sum()
    (grad_ce,) = torch.autograd.grad(cross_entropy, logits)
    torch.testing.assert_close(grad_kl, grad_ce)
    # and KL = cross-entropy - SFT entropy
    torch.testing.assert_close(
        exact_kl(logits_sft, logits).sum(), cross_entropy - entropy_from_logits(logits_sft).sum()
    )


def test_anchor_nll_gap_on_sft_targets_has_the_cross_entropy_gradient() -> None:
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(
        3, 5, 11, generator=gen, dtype=torch.float64, requires_grad=True
    )  # [batch, seq, vocab]
    targets = torch.randint(0, 11, (3, 5), generator=gen)
    logits_sft = torch.randn(3, 5, 11, generator=gen, dtype=torch.float64)
    logp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [batch, seq]
    logp_sft = logits_sft.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = torch.ones_like(logp)
    (grad_fwd,) = torch.autograd.grad(token_mean(anchor_nll_gap_per_token(logp, logp_sft), mask), logits)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
    (grad_ce,) = torch.autograd.grad(ce, logits)
    torch.testing.assert_close(grad_fwd, grad_ce)


def test_anchor_nll_gap_on_sft_samples_estimates_the_forward_kl() -> None:
    gen = torch.Generator().manual_seed(8)
    logits_sft, logits = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen)
    logp_sft, logp = logits_sft.log_softmax(0), logits.double().log_softmax(0)
    n = 200_000
    y = torch.multinomial(logp_sft.exp(), n, replacement=True, generator=gen)
    samples = anchor_nll_gap_per_token(logp[y], logp_sft[y])
    exact = float(exact_kl(logits_sft, logits.double()))
    assert abs(float(samples.mean()) - exact) < 4 * float(samples.std()) / math.sqrt(n)


def _batch(seed: int = 9):
    gen = torch.Generator().manual_seed(seed)
    logp_old = -torch.rand(4, 6, generator=gen, dtype=torch.float64) * 3
    logp_new = (logp_old + 0.3 * torch.randn(4, 6, generator=gen, dtype=torch.float64)).requires_grad_()
    logp_ref = logp_old + 0.2 * torch.randn(4, 6, generator=gen, dtype=torch.float64)
    mask = torch.ones(4, 6, dtype=torch.float64)
    mask[0, 4:] = 0  # padding
    advantages = torch.tensor([1.0, -0.5, 0.0, 2.0], dtype=torch.float64)
    return logp_new, logp_old, logp_ref, advantages, mask


def test_composite_reduces_to_clipped_pg_when_beta_and_gamma_are_zero() -> None:
    logp_new, logp_old, logp_ref, advantages, mask = _batch()
    s = AnchoredRLSettings(epsilon=0.2, beta=0.0, gamma=0.0)
    loss, stats = anchored_loss(logp_new, logp_old, logp_ref, advantages, mask, s)
    plain = sequence_mean(clipped_pg_per_token(logp_new, logp_old, advantages, 0.2), mask)
    torch.testing.assert_close(loss, plain)
    assert set(stats) == {"clipped_pg", "loss"}
    full, _ = anchored_loss(
        logp_new, logp_old, logp_ref, advantages, mask, AnchoredRLSettings(beta=0.5, gamma=0.0)
    )
    assert float(full.detach()) > float(plain.detach())  # the k3 term is positive when logp_new != logp_ref


def test_composite_adds_weighted_terms() -> None:
    logp_new, logp_old, logp_ref, advantages, mask = _batch()
    sft_theta = logp_new[:2, :3]
    sft_ref = logp_old[:2, :3]
    sft_mask = torch.ones(2, 3, dtype=torch.float64)
    s = AnchoredRLSettings(epsilon=0.2, beta=0.3, gamma=0.7, kl_estimator="k3")
    loss, stats = anchored_loss(
        logp_new, logp_old, logp_ref, advantages, mask, s, sft_theta, sft_ref, sft_mask
    )
    expected = stats["clipped_pg"] + 0.3 * stats["reverse_kl"] + 0.7 * stats["anchor_nll_gap"]
    assert math.isclose(float(loss.detach()), expected, rel_tol=1e-9)
    with pytest.raises(ValueError, match="SFT-side"):
        anchored_loss(logp_new, logp_old, logp_ref, advantages, mask, s)
    with pytest.raises(ValueError, match="logp_ref"):
        anchored_loss(logp_new, logp_old, None, advantages, mask, AnchoredRLSettings(gamma=0.0))


def test_padding_is_ignored() -> None:
    logp_new, logp_old, logp_ref, advantages, mask = _batch()
    s = AnchoredRLSettings(beta=0.1, gamma=0.0)
    loss_a, _ = anchored_loss(logp_new, logp_old, logp_ref, advantages, mask, s)
    garbage = logp_new.detach().clone()
    garbage[0, 4:] = 50.0  # change only padded positions
    loss_b, _ = anchored_loss(garbage, logp_old, logp_ref, advantages, mask, s)
    torch.testing.assert_close(loss_a.detach(), loss_b)


@pytest.mark.parametrize(
    ("log_ratio", "advantage", "grad_is_zero"),
    [
        (0.5, 1.0, True),  # ratio above 1 + eps with A > 0: clipped, no push further up
        (-0.5, -1.0, True),  # ratio below 1 - eps with A < 0: clipped, no push further down
        (0.5, -1.0, False),  # ratio above 1 + eps with A < 0: the unclipped side still pulls it back
        (-0.5, 1.0, False),  # ratio below 1 - eps with A > 0: pulled back up
        (0.05, 1.0, False),  # inside the region: ordinary policy gradient
    ],
)
def test_clip_zeroes_the_gradient_only_outside_the_region_in_the_advantage_direction(
    log_ratio: float, advantage: float, grad_is_zero: bool
) -> None:
    logp_old = torch.tensor([[-1.0]], dtype=torch.float64)
    logp_new = (logp_old + log_ratio).requires_grad_()
    loss = clipped_pg_per_token(logp_new, logp_old, torch.tensor([advantage], dtype=torch.float64), 0.2).sum()
    (grad,) = torch.autograd.grad(loss, logp_new)
    assert (float(grad.abs()) == 0.0) == grad_is_zero
    if not grad_is_zero:  # gradient descent moves log pi in the advantage's direction
        assert math.copysign(1.0, -float(grad)) == math.copysign(1.0, advantage)


@settings(max_examples=40, deadline=None)
@given(
    rewards=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=8, max_size=8),
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-5.0, 5.0),
)
def test_group_advantages_properties(rewards: list[float], scale: float, shift: float) -> None:
    r = torch.tensor(rewards, dtype=torch.float64)
    grouped = group_advantages(r, group_size=4).reshape(2, 4)
    torch.testing.assert_close(grouped.mean(1), torch.zeros(2, dtype=torch.float64), atol=1e-9, rtol=0)
    for g in range(2):
        r_g = r.reshape(2, 4)[g]
        # order preserved: a better reward never gets a smaller advantage
        assert bool((grouped[g][r_g.argsort()].diff() >= -1e-12).all())
        if float(r_g.std()) > 1e-3:  # eps=0: exactly unit std, and invariant to a positive affine change
            adv = group_advantages(r_g, group_size=4, eps=0.0)
            assert math.isclose(float(adv.std()), 1.0, rel_tol=1e-9)
            torch.testing.assert_close(
                group_advantages(scale * r_g + shift, 4, eps=0.0), adv, atol=1e-6, rtol=1e-6
            )


def test_zero_variance_groups_give_zero_advantages_and_are_counted() -> None:
    r = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    adv = group_advantages(r, group_size=4)
    assert bool((adv[:4] == 0).all())
    assert zero_variance_fraction(r, 4) == 0.5
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(r, group_size=3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("epsilon", 0.0), ("epsilon", 1.0), ("beta", -0.1), ("gamma", -1.0), ("kl_estimator", "k4")],
)
def test_settings_validation_names_the_field(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        AnchoredRLSettings(**{field: value})
