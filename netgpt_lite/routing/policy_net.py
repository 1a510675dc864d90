"""PolicyNet: a small MLP that learns the fallback threshold tau(bandwidth, RTT, price, task) from logs.

It is the learned counterpart of :class:`netgpt_lite.routing.FuncDyn`: it is never told the closed
form of chapter 2, only the logged utilities of keeping the edge answer and of falling back, and it
has to discover that the threshold rises with bandwidth and falls with RTT and price.  Like every
policy it only outputs thresholds; :func:`netgpt_lite.routing.route` applies them.

Example:
    >>> net = PolicyNet(hidden=16, epochs=50, seed=0)   # then net.fit(context, edge_u, cloud_u)
    >>> net.thresholds(context)                         # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.network.state import positive_array
from netgpt_lite.routing.policies import RoutingContext


def policy_features(context: RoutingContext) -> np.ndarray:
    """PolicyNet's inputs, (n, 6): log bandwidth, log RTT, prices (USD per 1M tokens), the task kind
    and log prompt tokens.  Not the score: the network outputs a threshold the score is compared to."""
    return np.stack([np.log(context.bandwidth_mbps), np.log(context.rtt_ms), 1000.0 * context.usd_per_1k_input,
                     1000.0 * context.usd_per_1k_output, context.is_next_step,
                     np.log1p(context.n_input_tokens)], axis=1)


def _stretched_sigmoid(z, margin: float = 0.1):
    """(1 + 2 margin) sigmoid(z) - margin: reaches 0 and 1 at finite z (a plain sigmoid never outputs
    exactly 0, so scores of 0 -- invalid edge output -- would always fall back, even near an outage)."""
    import torch

    return (1.0 + 2.0 * margin) * torch.sigmoid(z) - margin


class PolicyNet:
    """A small MLP tau_psi(features) in [0, 1] (a stretched sigmoid, clipped), trained to maximise
    empirical utility on logs.

    Training never sees the closed form.  For logged request i with edge utility U_e,i and cloud
    utility U_c,i (both outcomes are in the logs), the relaxed routing indicator
    sigma((tau_psi(x_i) - s_i) / temperature) replaces 1{s_i < tau}, and Adam maximises
    mean_i [sigma(.) (U_c,i - U_e,i)].  Seeded (``torch.random.fork_rng``); trains in seconds.

    Example:
        >>> net = PolicyNet(hidden=16, epochs=50, seed=0)  # then net.fit(context, edge_u, cloud_u)
    """

    name = "policynet"

    def __init__(self, hidden: int = 16, epochs: int = 400, lr: float = 1e-2, temperature: float = 0.05,
                 seed: int = 0) -> None:
        for field_name, value in (("hidden", hidden), ("epochs", epochs)):
            if int(value) < 1:
                raise ValueError(f"{field_name} must be an integer >= 1; got {value}")
        for field_name, value in (("lr", lr), ("temperature", temperature)):
            positive_array(field_name, value)
        if seed < 0:
            raise ValueError(f"seed must be >= 0; got {seed}")
        self.hidden, self.epochs, self.lr, self.temperature, self.seed = int(hidden), int(epochs), lr, temperature, seed
        self.model = None
        self.losses: list[float] = []

    def fit(self, context: RoutingContext, edge_utility, cloud_utility) -> PolicyNet:
        """Train on logged requests (``context`` plus both utilities per request); returns self."""
        import torch

        x = policy_features(context)
        self.mean_, self.std_ = x.mean(axis=0), x.std(axis=0) + 1e-6
        gain = np.asarray(cloud_utility, float) - np.asarray(edge_utility, float)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = torch.nn.Sequential(
                torch.nn.Linear(x.shape[1], self.hidden), torch.nn.Tanh(),
                torch.nn.Linear(self.hidden, self.hidden), torch.nn.Tanh(), torch.nn.Linear(self.hidden, 1))
            xt = torch.tensor((x - self.mean_) / self.std_, dtype=torch.float32)
            st = torch.tensor(context.scores, dtype=torch.float32)
            gt = torch.tensor(gain, dtype=torch.float32)
            opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                tau = _stretched_sigmoid(self.model(xt).squeeze(-1))  # (n,) thresholds, may overshoot [0, 1]
                loss = -(torch.sigmoid((tau - st) / self.temperature) * gt).mean()  # relaxed 1{s < tau}
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(loss.item())
        return self

    def thresholds(self, context: RoutingContext) -> np.ndarray:
        import torch

        if self.model is None:
            raise ValueError("PolicyNet is not trained: call fit(context, edge_utility, cloud_utility) first")
        x = torch.tensor((policy_features(context) - self.mean_) / self.std_, dtype=torch.float32)
        with torch.no_grad():
            return _stretched_sigmoid(self.model(x).squeeze(-1)).clamp(0.0, 1.0).double().numpy()
