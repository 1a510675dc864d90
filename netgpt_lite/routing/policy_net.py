"""PolicyNet: a small monotone MLP that learns the fallback threshold tau(bandwidth, RTT, price, task) from logs.

It is the learned counterpart of :class:`netgpt_lite.routing.FuncDyn`: it is never told the latency
and price model of chapter 2, only the logged utilities of keeping the edge answer and of falling back;
that the threshold rises with bandwidth and falls with RTT and price is built in (a monotone network),
how much it moves is learned.  Like every
policy it only outputs thresholds; :func:`netgpt_lite.routing.route` applies them.

Example:
    >>> net = PolicyNet(hidden=16, epochs=50, seed=0)   # then net.fit(context, edge_u, cloud_u)
    >>> net.thresholds(context)                         # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.network.state import positive_array
from netgpt_lite.routing.context import RoutingContext
from netgpt_lite.routing.funcdyn import fit_calibration
from netgpt_lite.theory.threshold import threshold_from_kappa

# Inputs the threshold must be monotone in, with their sign: +1 non-decreasing (a better network makes
# the cloud cheaper in time, so more requests may fall back), -1 non-increasing (longer RTT, higher price).
MONOTONE_SIGNS = (1.0, -1.0, -1.0, -1.0)
N_MONOTONE = len(MONOTONE_SIGNS)


def policy_features(context: RoutingContext) -> np.ndarray:
    """PolicyNet's inputs, (n, 6): log bandwidth, log RTT, prices (USD per 1M tokens), then the free
    inputs task kind and log prompt tokens.  Not the score: the network outputs a threshold the score
    is compared to.  The first :data:`N_MONOTONE` columns are the ones the threshold is monotone in."""
    return np.stack([np.log(context.bandwidth_mbps), np.log(context.rtt_ms), 1000.0 * context.usd_per_1k_input,
                     1000.0 * context.usd_per_1k_output, context.is_next_step,
                     np.log1p(context.n_input_tokens)], axis=1)


def monotone_mlp(n_free: int, hidden: int):
    """An MLP whose output is non-decreasing in its first :data:`N_MONOTONE` inputs (sign-flipped to
    all "more is more") for any value of the ``n_free`` others: the monotone inputs meet only
    non-negative weights (softplus of free parameters) on every path, and tanh is increasing, so every
    path from them to the output is a composition of non-decreasing maps.

    Example:
        >>> import torch
        >>> net = monotone_mlp(n_free=2, hidden=8)
        >>> x = torch.zeros(2, N_MONOTONE + 2); x[1, 0] = 1.0      # more of the first monotone input
        >>> bool(net(x)[1] >= net(x)[0])
        True
    """
    import torch
    from torch.nn.functional import softplus

    class MonotoneMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.free = torch.nn.Linear(n_free, hidden)
            self.mono_raw = torch.nn.Parameter(0.1 * torch.randn(hidden, N_MONOTONE))
            self.hidden_raw = torch.nn.Parameter(0.1 * torch.randn(hidden, hidden))
            self.hidden_bias = torch.nn.Parameter(torch.zeros(hidden))
            # small output weights at the start (softplus(-2) ~ 0.13): the output begins near its bias
            self.out_raw = torch.nn.Parameter(-2.0 + 0.1 * torch.randn(hidden))
            self.out_bias = torch.nn.Parameter(torch.zeros(()))
            self.register_buffer("signs", torch.tensor(MONOTONE_SIGNS))

        def forward(self, x):  # x: (n, N_MONOTONE + n_free) -> (n,)
            mono, free = x[:, :N_MONOTONE] * self.signs, x[:, N_MONOTONE:]
            h = torch.tanh(self.free(free) + mono @ softplus(self.mono_raw).T)
            h = torch.tanh(h @ softplus(self.hidden_raw).T + self.hidden_bias)
            return h @ softplus(self.out_raw) + self.out_bias

    return MonotoneMLP()


def _stretched_sigmoid(z, margin: float = 0.1):
    """(1 + 2 margin) sigmoid(z) - margin: reaches 0 and 1 at finite z (a plain sigmoid never outputs
    exactly 0, so scores of 0 -- invalid edge output -- would always fall back, even near an outage)."""
    import torch

    return (1.0 + 2.0 * margin) * torch.sigmoid(z) - margin


OBJECTIVES = ("kappa", "utility")


class PolicyNet:
    """A small monotone MLP that learns the fallback rule from logs: non-decreasing in bandwidth,
    non-increasing in RTT and both prices by construction (:func:`monotone_mlp`), whatever the logs.

    Training never sees the closed form (the latency and price model).  Two objectives:

    * ``"kappa"`` (default): chapter 2's decision is "fall back iff g(s) < kappa(z, p)", and a logged
      request gives an unbiased sample of kappa at its state, kappa_i = (U_c,i - U_e,i) / R + 1{edge
      right}_i (the edge's own latency cancels).  The MLP regresses kappa_i on the features (mean
      squared error); g is isotonic on the logged scores; tau = g^-1(kappa_psi(x)).  It learns *how the
      network and price move kappa* from outcomes, where FuncDyn computes it from a model.
    * ``"utility"``: the MLP outputs tau_psi(x) in [0, 1] (a stretched sigmoid) directly and Adam
      maximises the relaxed utility mean_i [sigma((tau_psi(x_i) - s_i) / temperature) (U_c,i - U_e,i)].
      End to end, but a harder landscape: on the SmolLM2 logs it underfits (chapter 5 shows by how much).

    Seeded (``torch.random.fork_rng``); trains in seconds.

    Example:
        >>> net = PolicyNet(hidden=16, epochs=50, seed=0)  # then net.fit(context, edge_u, cloud_u)
        >>> PolicyNet(objective="reward")
        Traceback (most recent call last):
        ...
        ValueError: objective must be one of ['kappa', 'utility']; got 'reward'
    """

    name = "policynet"

    def __init__(self, hidden: int = 16, epochs: int = 400, lr: float = 3e-2, temperature: float = 0.05,
                 seed: int = 0, objective: str = "kappa", reward: float = 1.0) -> None:
        for field_name, value in (("hidden", hidden), ("epochs", epochs)):
            if int(value) < 1:
                raise ValueError(f"{field_name} must be an integer >= 1; got {value}")
        for field_name, value in (("lr", lr), ("temperature", temperature), ("reward", reward)):
            positive_array(field_name, value)
        if seed < 0:
            raise ValueError(f"seed must be >= 0; got {seed}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {list(OBJECTIVES)}; got {objective!r}")
        self.hidden, self.epochs, self.lr, self.temperature, self.seed = int(hidden), int(epochs), lr, temperature, seed
        self.objective, self.reward = objective, float(reward)
        self.model = None
        self.calibration = None
        self.losses: list[float] = []

    def fit(self, context: RoutingContext, edge_utility, cloud_utility) -> PolicyNet:
        """Train on logged requests (``context`` with ``edge_correct`` for the kappa objective, plus both
        utilities per request); returns self."""
        import torch

        x = policy_features(context)
        std = x.std(axis=0)
        self.mean_, self.std_ = x.mean(axis=0), np.where(std > 1e-9, std, 1.0)  # a constant input stays 0
        gain = np.asarray(cloud_utility, float) - np.asarray(edge_utility, float)
        if self.objective == "kappa":
            if context.edge_correct is None:
                raise ValueError("the kappa objective needs context.edge_correct (logged checker verdicts)")
            self.calibration = fit_calibration(context.scores, context.edge_correct, "isotonic")
            target = gain / self.reward + np.asarray(context.edge_correct, float)  # kappa_i, unbiased
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = monotone_mlp(x.shape[1] - N_MONOTONE, self.hidden)
            xt = torch.tensor((x - self.mean_) / self.std_, dtype=torch.float32)
            st = torch.tensor(context.scores, dtype=torch.float32)
            gt = torch.tensor(gain, dtype=torch.float32)
            yt = torch.tensor(target, dtype=torch.float32) if self.objective == "kappa" else None
            if yt is not None:
                with torch.no_grad():
                    self.model.out_bias.fill_(float(yt.mean()))  # start at the mean kappa of the logs
            opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                if yt is not None:
                    loss = ((self.model(xt) - yt) ** 2).mean()
                else:
                    tau = _stretched_sigmoid(self.model(xt))  # (n,) thresholds, may overshoot [0, 1]
                    loss = -(torch.sigmoid((tau - st) / self.temperature) * gt).mean()  # relaxed 1{s < tau}
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(loss.item())
        return self

    def kappa(self, context: RoutingContext) -> np.ndarray:
        """The learned kappa_psi per request (kappa objective only)."""
        import torch

        if self.model is None:
            raise ValueError("PolicyNet is not trained: call fit(context, edge_utility, cloud_utility) first")
        if self.objective != "kappa":
            raise ValueError("kappa() needs objective='kappa'")
        x = torch.tensor((policy_features(context) - self.mean_) / self.std_, dtype=torch.float32)
        with torch.no_grad():
            return self.model(x).double().numpy()

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        import torch

        if self.model is None:
            raise ValueError("PolicyNet is not trained: call fit(context, edge_utility, cloud_utility) first")
        if self.objective == "kappa":
            return threshold_from_kappa(self.kappa(context), self.calibration)
        x = torch.tensor((policy_features(context) - self.mean_) / self.std_, dtype=torch.float32)
        with torch.no_grad():
            return _stretched_sigmoid(self.model(x)).clamp(0.0, 1.0).double().numpy()
