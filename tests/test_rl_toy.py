"""Tests for the chapter-6 KL toy: a one-bump fit to a two-mode target, forward versus reverse KL."""

from __future__ import annotations

import pytest
import torch

from netgpt_lite.rl.toy import fit_unimodal, unimodal_q


def test_toy_forward_kl_covers_both_modes_and_reverse_kl_picks_one() -> None:
    p = [0.495, 0.01, 0.495]
    q_fwd, losses_fwd = fit_unimodal(p, "forward", seed=0)
    q_rev, losses_rev = fit_unimodal(p, "reverse", seed=0)
    assert min(q_fwd[0], q_fwd[2]) > 0.25 and q_fwd[1] > 0.2  # mass everywhere, even on the unlikely token
    assert max(q_rev) > 0.9 and q_rev[1] < 0.05  # one mode, nothing in the valley
    assert losses_fwd[-1] < losses_fwd[0] and losses_rev[-1] < losses_rev[0]


def test_unimodal_q_is_a_distribution_and_the_direction_is_checked() -> None:
    q = unimodal_q(torch.tensor(0.3, dtype=torch.float64), torch.tensor(-0.2, dtype=torch.float64), 5)
    assert q.shape == (5,) and abs(float(q.sum()) - 1.0) < 1e-12 and int(q.argmax()) == 0
    with pytest.raises(ValueError, match="direction"):
        fit_unimodal([0.5, 0.5], "sideways")
