"""netgpt-lite: a small, offline re-implementation of NetGPT's cloud-edge routing system.

An edge LM answers tool-calling tasks and scores its own answer; a task falls back to the
cloud when the score is below a threshold tau(bandwidth, RTT, price).  The book derives that
threshold, trains the edge model (SFT, then SFT-anchored RL) and runs the synergy loop.

Importing the package is cheap and does nothing: the public names below are resolved lazily
from their modules on first use, so ``import netgpt_lite`` never pulls in torch.

Example:
    >>> import netgpt_lite as ng
    >>> ng.__version__
    '0.1.0'
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (a plain dict: nothing is imported until asked for)
_PUBLIC = {
    "fast_mode": "runtime",
    "set_seed": "runtime",
    "NetworkState": "network.state",
    "REGIMES": "network.state",
    "Price": "network.pricing",
    "optimal_threshold": "theory.threshold",
    "generate_tasks": "tasks.generate",
    "check_completion": "tasks.checker",
    "SimulatedCloud": "agents.cloud_sim",
    "EdgeAgent": "edge.agent",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'netgpt_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
