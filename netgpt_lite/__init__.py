"""netgpt-lite: a small, offline re-implementation of NetGPT's cloud-edge routing system.

An edge LM answers tool-calling tasks and scores its own answer; a task falls back to the
cloud when the score is below a threshold tau(bandwidth, RTT, price).  The book derives that
threshold, trains the edge model (SFT, then SFT-anchored RL) and runs the synergy loop.

The names in ``__all__`` are the ones a reader needs; each subpackage (``network``, ``theory``,
``tasks``, ``agents``, ``edge``, ``routing``, ``rl``, ``synergy``, ``experiments``, ``viz``) holds
the rest.  Importing the package does nothing: the public names are resolved lazily on first use,
so ``import netgpt_lite`` never pulls in torch.

Example:
    >>> import netgpt_lite as ng
    >>> ng.__version__
    '0.1.0'
    >>> z = ng.NetworkState(bandwidth_mbps=20.0, rtt_ms=60.0)
    >>> 0.0 <= float(ng.optimal_threshold(z.bandwidth_mbps, z.rtt_ms, 0.003, 0.015)) <= 1.0
    True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (a plain dict: nothing is imported until a name is asked for)
_PUBLIC = {
    # runtime: fast mode and seeds
    "fast_mode": "runtime",
    "pick": "runtime",
    "set_seed": "runtime",
    # network and prices (chapter 1)
    "NetworkState": "network.state",
    "REGIMES": "network.state",
    "markov_trace": "network.traces",
    "read_trace_csv": "network.traces",
    "Price": "network.pricing",
    "PRICING_SCHEDULES": "network.pricing",
    # the threshold (chapter 2)
    "UtilityWeights": "theory.threshold",
    "LogisticCalibration": "theory.threshold",
    "kappa": "theory.threshold",
    "optimal_threshold": "theory.threshold",
    # tasks and the checker (chapter 3)
    "Task": "tasks.generate",
    "generate_tasks": "tasks.generate",
    "check_call": "tasks.checker",
    "check_completion": "tasks.checker",
    # agents (chapters 3-4)
    "Proposal": "agents.proposal",
    "SimulatedCloud": "agents.cloud_sim",
    "OpenAICompatibleCloud": "agents.cloud_openai",
    "EdgeAgent": "edge.agent",
    # measuring the edge (chapter 4): the one evaluator and paired comparisons
    "evaluate": "edge.evaluation",
    "compare": "edge.evaluation",
    "paired_comparison": "stats",
    "requests_to_resolve": "stats",
    # routing (chapter 5)
    "route": "routing.context",
    "RoutingContext": "routing.context",
    "FixedThreshold": "routing.policies",
    "CalibratedQuantile": "routing.policies",
    "Cascade": "routing.policies",
    "FuncDyn": "routing.funcdyn",
    "Oracle": "routing.policies",
    "PolicyNet": "routing.policy_net",
    "SimulationConfig": "routing.simulator",
    "simulate": "routing.simulator",
    "summarize": "routing.metrics",
    # RL and the synergy loop (chapters 6-8)
    "RLSettings": "rl.minimal",
    "SynergyConfig": "synergy.loop",
    "run_synergy": "synergy.loop",
    "reproduce": "experiments.reproduce",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value  # resolve once
        return value
    raise AttributeError(f"module 'netgpt_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
