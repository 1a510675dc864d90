"""Agents and their proposals, and the simulated cloud: the book's offline default cloud LLM.

Every agent (the edge LM in :mod:`netgpt_lite.edge.agent`, the simulated cloud here, the real
OpenAI-compatible client in :mod:`netgpt_lite.agents.cloud_openai`) answers a batch of tasks with one
:class:`Proposal` per task: ``propose(tasks, network=None) -> list[Proposal]``.

:class:`SimulatedCloud` stands in for a strong remote LLM. Per task it is right with a probability
set by the task's difficulty (:class:`CloudConfig`; the defaults 0.99 / 0.97 / 0.93 are
illustrative, in the range strong models reach on BFCL-style simple calls). When it is wrong, it
is wrong the way real models are: the answer stays schema-valid but picks a similar offered tool,
changes one argument value within its schema, or drops an optional argument the user asked for.
Token counts use the 4-characters-per-token heuristic on the JSON the cloud would receive (messages +
tool schemas) and send back (the completion); latency comes from the network model
(:func:`netgpt_lite.network.cloud_time_ms`). Randomness is derived from ``(seed, task_id, draw)``
with ``numpy.random.SeedSequence``, so a task's answer does not depend on the batch it came in.

Example:
    >>> from netgpt_lite.tasks.generate import generate_tasks
    >>> cloud = SimulatedCloud(CloudConfig(), seed=0)
    >>> [p.agent for p in cloud.propose(generate_tasks("test", 2))]
    ['cloud', 'cloud']
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
