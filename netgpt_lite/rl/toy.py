"""A 3-token toy of chapter 6: mode-seeking (reverse KL) versus mass-covering (forward KL).

Fit a one-bump distribution q over a few tokens to a two-mode target p, once by minimising KL(p || q) and
once KL(q || p): the forward fit spreads over both modes, the reverse fit picks one.  The chapter draws the
fits with :func:`netgpt_lite.viz.rl.kl_toy_figure`; why the RL objective anchors both ways is in
:mod:`netgpt_lite.rl.objective`.

Example:
    >>> import torch
    >>> q = unimodal_q(torch.tensor(1.0), torch.tensor(0.0), n_tokens=3)  # centre 1, width e**0 = 1
    >>> [round(x, 3) for x in q.tolist()]
    [0.274, 0.452, 0.274]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported inside functions: importing this module stays cheap
    import torch


def unimodal_q(center: torch.Tensor, log_width: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """A one-bump distribution over ``n_tokens`` tokens: softmax of ``-(k - center)**2 / (2 width**2)``."""
    import torch

    k = torch.arange(n_tokens, dtype=center.dtype)
    return torch.softmax(-((k - center) ** 2) / (2 * log_width.exp() ** 2), dim=0)


def fit_unimodal(
    p: list[float], direction: str, steps: int = 400, lr: float = 0.05, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Fit a one-bump q to a target p by minimising KL(p || q) ("forward") or KL(q || p) ("reverse").

    Forward KL spreads q over every mode of p (mass-covering); reverse KL picks one mode (mode-seeking).

    Args:
        p: target probabilities (e.g. bimodal ``[0.495, 0.01, 0.495]``), summing to 1.
        direction: "forward" or "reverse".
        steps, lr: Adam steps and learning rate.
        seed: seeds the random starting center.

    Returns:
        ``(q, losses)``: the fitted probabilities and the KL after every step.

    Example:
        >>> q, _ = fit_unimodal([0.495, 0.01, 0.495], "reverse", seed=0)
        >>> max(q) > 0.8
        True
    """
    import torch

    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}")
    target = torch.tensor(p, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    center = (torch.rand((), generator=gen, dtype=torch.float64) * (len(p) - 1)).requires_grad_()
    log_width = torch.full((), -0.7, dtype=torch.float64, requires_grad=True)  # start narrow (width 0.5)
    opt = torch.optim.Adam([center, log_width], lr=lr)
    losses = []
    for _ in range(steps):
        q = unimodal_q(center, log_width, len(p)).clamp_min(1e-12)
        first, second = (target, q) if direction == "forward" else (q, target)
        loss = (first * (first.log() - second.log())).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return unimodal_q(center, log_width, len(p)).detach().tolist(), losses
