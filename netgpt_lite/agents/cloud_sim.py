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
import json
import math
import zlib
from collections.abc import Sequence

import numpy as np

from netgpt_lite.agents.proposal import DEFAULT_NETWORK, Proposal
from netgpt_lite.network.state import LatencyModel, NetworkState, cloud_time_ms
from netgpt_lite.tasks.generate import DIFFICULTIES, Task, format_completion
from netgpt_lite.tasks.templates import SITES
from netgpt_lite.tasks.tools import SIMILAR_TOOLS


@dataclasses.dataclass(frozen=True)
class CloudConfig:
    """Behaviour of the simulated cloud (illustrative defaults; change with ``dataclasses.replace``).

    Attributes:
        success_easy: Probability of the exact gold call on easy tasks, in [0, 1].
        success_medium: Same for medium tasks.
        success_hard: Same for hard tasks.
        similar_tool_share: Share of wrong answers that call a similar offered tool (the rest
            change or drop one argument), in [0, 1].
        chars_per_token: Characters per token for token counts (> 0; ~4 for English and JSON).
        response_overhead_bytes: HTTP + JSON envelope around the completion, bytes (>= 0).
        latency: Queueing and decoding speeds of the latency model.
    """

    success_easy: float = 0.99
    success_medium: float = 0.97
    success_hard: float = 0.93
    similar_tool_share: float = 0.3
    chars_per_token: float = 4.0
    response_overhead_bytes: int = 300
    latency: LatencyModel = LatencyModel()

    def __post_init__(self) -> None:
        for name in ("success_easy", "success_medium", "success_hard", "similar_tool_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not self.chars_per_token > 0:
            raise ValueError(f"chars_per_token must be > 0 (try 4.0), got {self.chars_per_token}")
        if self.response_overhead_bytes < 0:
            raise ValueError(f"response_overhead_bytes must be >= 0, got {self.response_overhead_bytes}")

    def success_probability(self, difficulty: str) -> float:
        """The configured success probability of a difficulty level."""
        return (self.success_easy, self.success_medium, self.success_hard)[DIFFICULTIES.index(difficulty)]


def _task_rng(seed: int, task_id: str, draw: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(task_id.encode()), draw]))


def _properties(task: Task, name: str) -> tuple[dict, list]:
    params = next(t["function"]["parameters"] for t in task.tools if t["function"]["name"] == name)
    return params["properties"], params.get("required", [])


def _other_value(prop: dict, value, rng: np.random.Generator):
    """A schema-valid value different from ``value`` (a plausible slip: neighbour number, other enum...)."""
    if "enum" in prop:
        return str(rng.choice([v for v in prop["enum"] if v != value]))
    if prop["type"] == "boolean":
        return not value
    if prop["type"] == "integer":
        lo, hi = prop.get("minimum", 0), prop.get("maximum", 10**6)
        candidates = [
            v
            for v in (value * 2, value // 2, value + 1, value - 1, value * 10)
            if lo <= v <= hi and v != value
        ]
        return int(rng.choice(candidates))
    if "pattern" in prop:  # HH:MM: one hour off (the classic am/pm or relative-time slip)
        hour, minute = map(int, value.split(":"))
        return f"{(hour + (1 if hour < 23 else -1)):02d}:{minute:02d}"
    head, _, tail = value.rpartition("-")
    if tail.isdigit():  # "cell-17" -> "cell-18"
        return f"{head}-{int(tail) + 1}"

    return str(rng.choice([s for s in SITES if s != value]))


def _filler(prop: dict, gold_args: dict, rng: np.random.Generator):
    """A schema-valid value for a required argument the gold call does not have (similar-tool slips)."""
    strings = [v for v in gold_args.values() if isinstance(v, str)]
    if "enum" in prop:
        return str(rng.choice(prop["enum"]))
    if prop["type"] in ("integer", "number"):
        numbers = [v for v in gold_args.values() if isinstance(v, int) and not isinstance(v, bool)]
        value = numbers[0] if numbers else prop.get("minimum", 1)
        return int(min(max(value, prop.get("minimum", value)), prop.get("maximum", value)))
    if prop["type"] == "boolean":
        return True
    if "pattern" in prop:
        return "12:00"
    return strings[0] if strings else "all"


def _wrong_call(task: Task, config: CloudConfig, rng: np.random.Generator) -> dict:
    """A schema-valid call that differs from the gold call."""
    gold = task.gold
    offered = [t["function"]["name"] for t in task.tools if t["function"]["name"] != gold["name"]]
    similar = [n for n in offered if n in SIMILAR_TOOLS[gold["name"]]]
    if offered and rng.random() < config.similar_tool_share:
        name = str(rng.choice(similar or offered))
        props, required = _properties(task, name)
        args = {k: v for k, v in gold["arguments"].items() if k in props}
        args.update({k: _filler(props[k], gold["arguments"], rng) for k in required if k not in args})
        return {"name": name, "arguments": args}
    props, required = _properties(task, gold["name"])
    args = dict(gold["arguments"])
    optional = [k for k in args if k not in required]
    if optional and rng.random() < 0.3:  # forgot an optional argument the user asked for
        del args[str(rng.choice(optional))]
    else:
        key = str(rng.choice(list(args)))
        args[key] = _other_value(props[key], args[key], rng)
    return {"name": gold["name"], "arguments": args}


class SimulatedCloud:
    """The offline default cloud agent (see the module docstring).

    Args:
        config: Success probabilities, token heuristic and latency model.
        seed: Seed; the answer to a task depends only on ``(seed, task_id, draw)``.

    Example:
        >>> from netgpt_lite.tasks.generate import generate_tasks
        >>> p = SimulatedCloud(seed=1).propose(generate_tasks("train", 1))[0]
        >>> p.completion.startswith('{"name":'), p.score
        (True, 1.0)
    """

    def __init__(self, config: CloudConfig | None = None, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.config = config if config is not None else CloudConfig()
        self.seed = seed

    def __repr__(self) -> str:
        return f"SimulatedCloud(config={self.config!r}, seed={self.seed})"

    def answer(self, task: Task, draw: int = 0) -> tuple[dict, bool]:
        """The cloud's tool_call for one task and whether it is the gold call (by construction)."""
        rng = _task_rng(self.seed, task.task_id, draw)
        if rng.random() < self.config.success_probability(task.difficulty):
            return {"name": task.gold["name"], "arguments": dict(task.gold["arguments"])}, True
        return _wrong_call(task, self.config, rng), False

    def outcomes(self, tasks: Sequence[Task], n_draws: int = 1) -> dict[str, np.ndarray]:
        """Vectorised outcomes for simulators, without building Proposals.

        Returns:
            ``correct`` (bool) and ``n_output_tokens``, ``response_bytes`` with shape ``(n, n_draws)``;
            ``n_input_tokens``, ``request_bytes`` with shape ``(n,)`` (the request does not depend on the draw).
        """
        cpt = self.config.chars_per_token
        request_bytes = np.array(
            [len(json.dumps({"messages": t.messages, "tools": t.tools})) for t in tasks], float
        )
        correct = np.zeros((len(tasks), n_draws), bool)
        completion_chars = np.zeros((len(tasks), n_draws))
        for i, task in enumerate(tasks):
            for d in range(n_draws):
                call, correct[i, d] = self.answer(task, d)
                completion_chars[i, d] = len(format_completion(call))
        return {
            "correct": correct,
            "n_input_tokens": np.ceil(request_bytes / cpt).astype(int),
            "n_output_tokens": np.ceil(completion_chars / cpt).astype(int),
            "request_bytes": request_bytes,
            "response_bytes": completion_chars + self.config.response_overhead_bytes,
        }

    def propose(self, tasks: Sequence[Task], network: NetworkState | None = None) -> list[Proposal]:
        """One Proposal per task; latency from the network model at ``network`` (default: 4G)."""
        net = network if network is not None else DEFAULT_NETWORK
        proposals = []
        for task in tasks:
            call, _ = self.answer(task)
            completion = format_completion(call)
            request_bytes = len(json.dumps({"messages": task.messages, "tools": task.tools}))
            n_out = math.ceil(len(completion) / self.config.chars_per_token)
            latency_ms = cloud_time_ms(net.bandwidth_mbps, net.rtt_ms, request_bytes,
                                       len(completion) + self.config.response_overhead_bytes, n_out,
                                       self.config.latency)  # fmt: skip
            proposals.append(Proposal(agent="cloud", completion=completion, tool_call=call, score=1.0,
                                      latency_ms=float(latency_ms),
                                      n_input_tokens=math.ceil(request_bytes / self.config.chars_per_token),
                                      n_output_tokens=n_out))  # fmt: skip
        return proposals


def cloud_outcomes(
    tasks: Sequence[Task], seed: int = 0, config: CloudConfig | None = None, n_draws: int = 1
) -> dict[str, np.ndarray]:
    """Shortcut for ``SimulatedCloud(config, seed).outcomes(tasks, n_draws)``.

    Example:
        >>> from netgpt_lite.tasks.generate import generate_tasks
        >>> out = cloud_outcomes(generate_tasks("test", 4), seed=0, n_draws=2)
        >>> out["correct"].shape, out["n_input_tokens"].shape
        ((4, 2), (4,))
    """
    return SimulatedCloud(config, seed).outcomes(tasks, n_draws)
