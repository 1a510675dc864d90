"""The edge agent: a causal LM that answers tool-calling tasks first and scores its own answer.

:class:`EdgeAgent` wraps any Hugging Face causal LM and its tokenizer (by default the tiny edge
model shipped in ``netgpt_lite/data/edge_model``; a local folder or a Hub id works too):

1. render each task with the tokenizer's chat template (:func:`netgpt_lite.edge.prompt.render_prompt`);
2. generate greedily, in left-padded batches with the KV cache, keeping each chosen token's log-prob;
3. parse the completion with :func:`netgpt_lite.tasks.checker.parse_tool_call` and validate the call
   against the task's tools (JSON schema; the gold call is never looked at);
4. score it: ``exp(mean token log-prob)`` of the generated tokens (eos included) -- the geometric
   mean probability of the answer -- or ``exp(min token log-prob)`` with ``score="min"``; the score
   is 0 when the call does not parse or is schema-invalid.  Malformed output never raises.

``decoding`` picks how step 2 generates: ``"greedy"``; ``"constrained"`` (every call through the JSON-schema
token mask of :mod:`netgpt_lite.edge.constrained`); or ``"retry"``: greedy, and only the calls that come out
schema-invalid are generated again under the mask, so the edge never hands on an invalid call it could
have repaired (its score and tokens are then the retry's; its time covers both passes).

``propose`` returns one :class:`netgpt_lite.agents.Proposal` per task.  Its ``latency_ms`` is the
*modelled* edge time ``network.edge_time_ms(n_output_tokens, latency)`` (a phone-class device, not
this machine); the measured wall time of the batch is kept in :attr:`EdgeOutput.wall_ms`.

Example:
    >>> from netgpt_lite.tasks.generate import generate_tasks
    >>> agent = EdgeAgent.from_pretrained()          # SmolLM2 + the shipped adapter   # doctest: +SKIP
    >>> p = agent.propose(generate_tasks("test", 4))[0]                        # doctest: +SKIP
    >>> 0.0 <= p.score <= 1.0                                                  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netgpt_lite.agents.proposal import Proposal
from netgpt_lite.edge.generation import greedy_generate
from netgpt_lite.edge.lora import PROMPT_FILE, shipped_adapter_path, shipped_rl_adapter_path
from netgpt_lite.edge.prompt import render_prompt
from netgpt_lite.edge.smollm import DEFAULT_TOOL_FORMAT, load_smollm
from netgpt_lite.edge.tiny_lm import load_edge_model
from netgpt_lite.network.state import LatencyModel, edge_time_ms
from netgpt_lite.runtime import torch_device
from netgpt_lite.tasks.checker import check_call, parse_tool_call

SCORES = ("mean", "min")
DECODINGS = ("greedy", "constrained", "retry")
DEFAULT_EDGE = "smollm2"  # the book's edge model; "tiny" is the from-scratch lesson and the test suite's model


@dataclass(frozen=True)
class EdgeOutput:
    """Everything the edge produced for one task (the raw material of scores and proposals).

    Attributes:
        prompt: The rendered prompt text.
        completion: Generated text (eos and padding removed).
        tool_call: The parsed call, or None when it does not parse.
        schema_valid: The call names an offered tool and its arguments validate against its schema.
        token_logprobs: Log-probability of each generated token (eos included), shape ``(n_output_tokens,)``.
        n_input_tokens: Prompt length in tokens (padding excluded).
        n_output_tokens: Generated tokens, eos included.
        wall_ms: Measured wall time of this task's batch divided by the batch size.
        retried: The greedy call was schema-invalid and this is its constrained retry (``decoding="retry"``);
            ``n_output_tokens`` and ``wall_ms`` then count both passes.
    """

    prompt: str
    completion: str
    tool_call: dict | None
    schema_valid: bool
    token_logprobs: np.ndarray = field(repr=False)
    n_input_tokens: int
    n_output_tokens: int
    wall_ms: float
    retried: bool = False

    def confidence(self, score: str = "mean") -> float:
        """Self-confidence in [0, 1]: exp of the mean (or min) token log-prob; 0 if invalid or empty."""
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if not self.schema_valid or self.token_logprobs.size == 0:
            return 0.0
        reduce = np.mean if score == "mean" else np.min
        return float(np.clip(np.exp(reduce(self.token_logprobs)), 0.0, 1.0))


class EdgeAgent:
    """A small causal LM answering tool-calling tasks, with a self-confidence score.

    Args:
        model: A causal LM (``transformers``), e.g. from :func:`netgpt_lite.edge.tiny_lm.load_edge_model`.
        tokenizer: Its tokenizer; left padding and a pad token are enforced.
        max_new_tokens: Generation budget per task (the shipped model's calls are <= ~45 tokens).
        batch_size: Default number of prompts generated together.
        score: ``"mean"`` (geometric-mean token probability) or ``"min"`` (least likely token).
        latency: ``network.LatencyModel`` giving the modelled edge time (default: the library default).
        template_kwargs: Extra chat-template variables (e.g. ``{"tool_arguments": True}``).
        decoding: ``"greedy"`` (default) or ``"constrained"``: greedy under a token mask that only lets
            through a schema-valid call to one of the request's tools
            (:mod:`netgpt_lite.edge.constrained`; needs ``pip install llguidance``).
    """

    agent = "edge"

    def __init__(
        self,
        model,
        tokenizer,
        *,
        max_new_tokens: int = 64,
        batch_size: int = 32,
        score: str = "mean",
        latency=None,
        template_kwargs: dict | None = None,
        decoding: str = "greedy",
    ) -> None:

        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens}, {batch_size}")
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
        tokenizer.padding_side = "left"  # generation appends on the right: pads must sit on the left
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_new_tokens, self.batch_size, self.score = max_new_tokens, batch_size, score
        self.latency = LatencyModel() if latency is None else latency
        self.template_kwargs = dict(template_kwargs or {})
        self.decoding, self.constraint = decoding, None
        if decoding in ("constrained", "retry"):  # fails here, before any generation, when llguidance is missing
            from netgpt_lite.edge.constrained import CallConstraint

            self.constraint = CallConstraint(tokenizer)

    @classmethod
    def from_pretrained(cls, path=None, device: str | None = None, *, adapter=None, **kwargs) -> EdgeAgent:
        """Load an edge agent by name or from a folder / Hub id.

        Args:
            path: ``"smollm2"`` / ``"sft"`` or None (the book's edge: SmolLM2-135M-Instruct with the shipped
                SFT LoRA adapter), ``"rl"`` (the shipped adapter after SFT-anchored RL, experiment E5), ``"tiny"`` (the shipped 0.8 M model of chapter 4, fast: the test suite's),
                ``"smollm2-base"`` (no adapter: answers in prose), a folder
                holding a LoRA adapter (``adapter_config.json``; SmolLM2 is its base), or any causal-LM
                folder or Hub id.
            device: ``"cpu"`` or ``"cuda"``; default: CUDA when available.
            adapter: a LoRA adapter folder to put on a causal-LM ``path`` (e.g. SmolLM2 from the Hub).
            kwargs: :class:`EdgeAgent` options (``batch_size``, ``score``, ...).
        """
        device = torch_device(device)
        name = str(path) if path is not None else DEFAULT_EDGE
        if name == "tiny":
            model, tokenizer = load_edge_model(None, device=device)
            return cls(model, tokenizer, **kwargs)
        if name in ("smollm2", "sft", "rl", "smollm2-base") or (Path(name) / "adapter_config.json").is_file():
            adapter_dir = {"smollm2": shipped_adapter_path(), "sft": shipped_adapter_path(), "rl": shipped_rl_adapter_path(),
                           "smollm2-base": None}.get(name, Path(name))  # fmt: skip
            return cls._smollm(adapter_dir, None, device, kwargs)
        if adapter is not None:
            return cls._smollm(Path(adapter), name, device, kwargs)
        model, tokenizer = load_edge_model(path, device=device)
        return cls(model, tokenizer, **kwargs)

    @classmethod
    def _smollm(cls, adapter_dir, source, device: str, kwargs: dict) -> EdgeAgent:
        if adapter_dir is not None and not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"no LoRA adapter in {adapter_dir}: train one with "
                                    f"`netgpt-lite train-edge --base smollm2 --out {adapter_dir}`")
        tool_format = DEFAULT_TOOL_FORMAT
        if adapter_dir is not None and (Path(adapter_dir) / PROMPT_FILE).is_file():
            tool_format = json.loads((Path(adapter_dir) / PROMPT_FILE).read_text()).get("tool_format", tool_format)
        model, tokenizer = load_smollm(adapter_dir, source=source, device=device, merge=True)
        kwargs = {"batch_size": 16, "max_new_tokens": 64, **kwargs}
        kwargs["template_kwargs"] = {"tool_format": tool_format, **(kwargs.get("template_kwargs") or {})}
        return cls(model, tokenizer, **kwargs)

    def prompts(self, tasks: Sequence) -> list[str]:
        """The rendered prompt of every task."""
        return [render_prompt(self.tokenizer, t.messages, t.tools, **self.template_kwargs) for t in tasks]

    def run(self, tasks: Sequence, batch_size: int | None = None, progress: bool = False) -> list[EdgeOutput]:
        """Generate, parse and validate an answer for every task (greedy, batched, KV cache).

        Batches are composed deterministically: prompts are sorted by token length (longest first, so a
        batch pads little), ties broken by the prompt text, so the same tasks in any order form the same
        batches.  The outputs come back in the order of ``tasks``.  Whether a verdict can change with the
        batch size is measured, not assumed: ``scripts/bench_eval_invariance.py``.

        Args:
            tasks: The tasks to answer.
            batch_size: Prompts generated together (default: the agent's).
            progress: Show a progress bar with the time left on stderr.
        """
        prompts = self.prompts(tasks)
        size = batch_size or self.batch_size
        n_tokens = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]] if prompts else []
        order = sorted(range(len(tasks)), key=lambda i: (-n_tokens[i], prompts[i], i))
        outputs: list[EdgeOutput | None] = [None] * len(tasks)
        with _progress_bar(len(tasks), progress, "edge answers") as bar:
            for start in range(0, len(order), size):
                rows = order[start : start + size]
                for i, (prompt, text, logprobs, n_in, wall_ms) in zip(rows, self._generate([prompts[i] for i in rows],
                                                                                          [tasks[i].tools for i in rows])):
                    call = parse_tool_call(text)
                    valid = call is not None and check_call(call, tasks[i].tools, call).schema_valid
                    outputs[i] = EdgeOutput(prompt, text, call, valid, logprobs, n_in, len(logprobs), wall_ms)
                bar.update(len(rows))
        if self.decoding == "retry":
            self._retry_invalid(tasks, outputs, size)
        return outputs

    def _retry_invalid(self, tasks: Sequence, outputs: list, size: int) -> None:
        """Generate the schema-invalid calls of ``outputs`` again under the schema mask, in place."""
        from netgpt_lite.edge.constrained import generate_constrained

        invalid = [i for i, o in enumerate(outputs) if not o.schema_valid]
        for start in range(0, len(invalid), size):
            rows = invalid[start : start + size]
            redone = generate_constrained(self.model, self.tokenizer, [outputs[i].prompt for i in rows],
                                          [tasks[i].tools for i in rows], max_new_tokens=self.max_new_tokens,
                                          constraint=self.constraint)  # fmt: skip
            for i, (prompt, text, logprobs, n_in, wall_ms) in zip(rows, redone):
                first, call = outputs[i], parse_tool_call(text)
                valid = call is not None and check_call(call, tasks[i].tools, call).schema_valid
                outputs[i] = EdgeOutput(prompt, text, call, valid, logprobs, n_in, first.n_output_tokens + len(logprobs),
                                        first.wall_ms + wall_ms, retried=True)  # fmt: skip

    def propose(self, tasks: Sequence, network=None, batch_size: int | None = None) -> list:
        """One :class:`~netgpt_lite.agents.Proposal` per task (the ``network`` does not affect the edge)."""
        return self.to_proposals(self.run(tasks, batch_size))

    def to_proposals(self, outputs: Sequence[EdgeOutput]) -> list:
        """Turn :meth:`run` outputs into Proposals (score = self-confidence, latency = modelled edge time)."""

        return [
            Proposal(
                agent="edge",
                completion=o.completion,
                tool_call=o.tool_call,
                score=o.confidence(self.score),
                latency_ms=float(edge_time_ms(o.n_output_tokens, self.latency)),
                n_input_tokens=o.n_input_tokens,
                n_output_tokens=o.n_output_tokens,
            )
            for o in outputs
        ]

    def _generate(self, prompts: list[str], tools_list: list | None = None):
        """Greedy batched generation; yields ``(prompt, text, token_logprobs, n_input_tokens, wall_ms)``.

        With ``decoding="constrained"`` (and the prompts' ``tools_list``) the batch is generated by
        :func:`netgpt_lite.edge.constrained.generate_constrained`, which returns the same tuples.

        Each step's chosen-token log-prob is kept as it is computed, never the full logits
        (:func:`~netgpt_lite.edge.generation.greedy_generate`).
        """
        if self.decoding == "constrained":  # ("retry" generates greedily; its invalid calls are redone later)
            from netgpt_lite.edge.constrained import generate_constrained

            yield from generate_constrained(self.model, self.tokenizer, prompts, tools_list,
                                            max_new_tokens=self.max_new_tokens, constraint=self.constraint)
            return
        yield from greedy_generate(self.model, self.tokenizer, prompts, self.max_new_tokens)


def _progress_bar(total: int, show: bool, desc: str):
    """A tqdm bar on stderr (rate and time left), or a silent stand-in when ``show`` is False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="req", disable=not show, leave=False, dynamic_ncols=True)
