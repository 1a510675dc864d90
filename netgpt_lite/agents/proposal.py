"""What every agent returns: a :class:`Proposal` per task, and the :class:`Agent` protocol.

Every agent (the edge LM in :mod:`netgpt_lite.edge.agent`, the simulated cloud in
:mod:`netgpt_lite.agents.cloud_sim`, the OpenAI-compatible client in
:mod:`netgpt_lite.agents.cloud_openai`) answers a batch of tasks with one :class:`Proposal` per task:
``propose(tasks, network=None) -> list[Proposal]``.  When no network state is given, agents assume
:data:`DEFAULT_NETWORK` (ordinary 4G).

Example:
    >>> p = Proposal(agent="cloud", completion="", tool_call=None, score=1.0, latency_ms=500.0,
    ...              n_input_tokens=300, n_output_tokens=20)
    >>> p.agent, p.tool_call is None
    ('cloud', True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from netgpt_lite.network.state import REGIMES, NetworkState
from netgpt_lite.tasks.generate import Task

DEFAULT_NETWORK = REGIMES["4g"].state  # used when propose() gets no network state: ordinary 4G


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One agent's answer to one task.

    Attributes:
        agent: ``"edge"`` or ``"cloud"``.
        completion: Raw model text, e.g. ``<tool_call>{...}</tool_call>``.
        tool_call: The parsed call ``{"name", "arguments"}``, or None when nothing parsed.
        score: The agent's confidence in [0, 1] that its call is right.
        latency_ms: Modelled time until the answer is available, ms (>= 0).
        n_input_tokens: Prompt tokens (billed for the cloud).
        n_output_tokens: Generated tokens.
    """

    agent: str
    completion: str
    tool_call: dict | None
    score: float
    latency_ms: float
    n_input_tokens: int
    n_output_tokens: int

    def __post_init__(self) -> None:
        if self.agent not in ("edge", "cloud"):
            raise ValueError(f"agent must be 'edge' or 'cloud', got {self.agent!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        if not self.latency_ms >= 0 or self.n_input_tokens < 0 or self.n_output_tokens < 0:
            raise ValueError("latency_ms, n_input_tokens and n_output_tokens must be >= 0")


class Agent(Protocol):
    """Anything that answers tasks: one :class:`Proposal` per task, in order."""

    def propose(self, tasks: Sequence[Task], network: NetworkState | None = None) -> list[Proposal]: ...
