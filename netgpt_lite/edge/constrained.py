"""Constrained decoding: the edge may only emit a schema-valid call to one of the offered tools.

The rival of training for valid JSON is forcing it at decode time.  Per request, :func:`call_schema`
turns the offered tools into one JSON schema -- ``anyOf`` over the tools of
``{"name": {"const": tool}, "arguments": <that tool's parameters>}``, no extra keys, argument keys in
sorted order -- and `llguidance <https://github.com/guidance-ai/llguidance>`_ compiles it into a
token mask that is applied at every greedy step, with compact separators and no free whitespace: the
only texts that can come out are exactly the :func:`~netgpt_lite.tasks.generate.format_completion`
form the edge is trained to emit, followed by eos.  (A call can still come out invalid when it runs
out of ``max_new_tokens`` before it closes.)  Where the model's own greedy call is already valid and in
that form, the mask never removes its arg-max token and the output is the same; llguidance fixes the
property order to the schema's, so a call the model writes with unsorted or repeated keys is closed at
the first key that breaks the order (the one way constraining lost a right answer in
``scripts/bench_constrained.py``).

:func:`generate_constrained` returns what :class:`~netgpt_lite.edge.agent.EdgeAgent` generation
returns -- the completion text and, per generated token, the log-probability the self-confidence
score uses -- so the evaluator and the scores work unchanged; ``EdgeAgent(..., decoding="constrained")``
routes through it.  The score's log-prob of a token is the *model's* (the softmax over the whole
vocabulary, before the mask): the renormalised probability over the allowed tokens would be 1 for
every forced token and say nothing about the model.  :class:`CallConstraint` can also record those
renormalised log-probs (``record_masked``), which ``scripts/bench_constrained.py`` compares.

llguidance (MIT, one ~8 MB wheel, no dependencies) is imported when a :class:`CallConstraint` is built,
never at import time: ``pip install llguidance`` or ``pip install "netgpt-lite[constrained]"``.  It was
chosen by measurement over xgrammar (equally exact, but its wheel pulls the 286 MB ``triton`` on
Linux) and lm-format-enforcer (its transformers integration does not import with transformers 5, and
with a shim it let through calls that break ``minimum``, the key order and the whitespace).

Example:
    >>> tools = [{"type": "function", "function": {"name": "ping", "parameters": {"type": "object",
    ...     "properties": {"site": {"type": "string"}, "count": {"type": "integer"}}, "required": ["site"]}}}]
    >>> schema = call_schema(tools)
    >>> schema["properties"]["name"], list(schema["properties"]["arguments"]["properties"])
    ({'const': 'ping'}, ['count', 'site'])
    >>> from netgpt_lite.edge.tiny_lm import load_edge_model                      # doctest: +SKIP
    >>> model, tok = load_edge_model(None)                                        # doctest: +SKIP
    >>> prompt = tok.apply_chat_template([{"role": "user", "content": "ping site A"}], tools=tools,
    ...                                  tokenize=False, add_generation_prompt=True)  # doctest: +SKIP
    >>> text = generate_constrained(model, tok, [prompt], [tools])[0][1]          # doctest: +SKIP
    >>> text.startswith('{"name":"ping","arguments":{')                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

LIBRARY = "llguidance"
INSTALL_HINT = 'pip install llguidance  (or: pip install "netgpt-lite[constrained]")'
SEPARATORS = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
"""llguidance's JSON options: compact JSON, as :func:`~netgpt_lite.tasks.generate.format_completion` writes it."""


def call_schema(tools: Sequence[dict]) -> dict:
    """The JSON schema of one call to one of ``tools``, in the edge's completion format.

    Each option is ``{"name": {"const": tool}, "arguments": <the tool's parameters>}`` with ``name``
    first, the tool's properties listed in sorted key order (llguidance emits properties in the listed
    order, which is the order :func:`~netgpt_lite.tasks.generate.format_completion` writes) and
    ``additionalProperties: false`` on both objects (the checker rejects unknown arguments).

    Args:
        tools: Offered tools, OpenAI format ``[{"type": "function", "function": {...}}]`` or bare docs.

    Returns:
        One option's schema for a single tool, else ``{"anyOf": [...]}``.

    Raises:
        ValueError: when ``tools`` is empty (no call can be valid).

    Example:
        >>> tools = [{"name": "a", "parameters": {"type": "object", "properties": {}}}, {"name": "b"}]
        >>> [o["properties"]["name"]["const"] for o in call_schema(tools)["anyOf"]]
        ['a', 'b']
    """
    options = []
    for tool in tools:
        function = tool.get("function", tool)
        parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
        properties = parameters.get("properties") or {}
        parameters["properties"] = {key: properties[key] for key in sorted(properties)}
        parameters["additionalProperties"] = False
        parameters.setdefault("type", "object")
        options.append({"type": "object", "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                        "required": ["name", "arguments"], "additionalProperties": False})  # fmt: skip
    if not options:
        raise ValueError("no tools offered: no call can satisfy the constraint")
    return options[0] if len(options) == 1 else {"anyOf": options}


class CallConstraint:
    """Compiles :func:`call_schema` grammars for one tokenizer and builds the per-batch logits processor.

    The llguidance tokenizer (about 1-2 s to build) is made once per vocabulary size; a compiled matcher
    is cached per schema (``cache_size`` most recent) and copied for each request.  A schema llguidance
    cannot compile (an unsupported keyword such as an unknown ``format``) leaves that request
    unconstrained, i.e. plain greedy, and is counted in :attr:`unconstrained`.

    Args:
        tokenizer: A fast Hugging Face tokenizer (SmolLM2's, the tiny edge's).
        cache_size: Compiled schemas kept.

    Attributes:
        unconstrained: Requests decoded without a constraint because their schema did not compile.
        record_masked: None, or a dict that :func:`generate_constrained` fills with ``prompt -> log-probs
            renormalised over the allowed tokens`` (for comparing the two scores).

    Raises:
        ImportError: when llguidance is not installed, with the command that installs it.
    """

    def __init__(self, tokenizer, cache_size: int = 1024) -> None:
        require_llguidance()
        self.tokenizer, self.cache_size = tokenizer, cache_size
        self.eos_ids = _eos_ids(tokenizer)
        self._vocabularies: dict[int, object] = {}
        self._matchers: OrderedDict[tuple[int, str], object] = OrderedDict()
        self.unconstrained = 0
        self.record_masked: dict | None = None

    def matcher(self, tools: Sequence[dict], n_vocab: int):
        """A fresh llguidance matcher for a call to one of ``tools``, or None if the schema does not compile."""
        import llguidance

        key = (n_vocab, json.dumps(call_schema(tools), ensure_ascii=False))
        if key not in self._matchers:
            if n_vocab not in self._vocabularies:
                import llguidance.hf

                self._vocabularies[n_vocab] = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=n_vocab)
            grammar = llguidance.LLMatcher.grammar_from_json_schema(key[1], defaults=SEPARATORS)
            compiled = llguidance.LLMatcher(self._vocabularies[n_vocab], grammar)
            self._matchers[key] = None if compiled.is_error() else compiled
            if len(self._matchers) > self.cache_size:
                self._matchers.popitem(last=False)
        self._matchers.move_to_end(key)
        template = self._matchers[key]
        if template is None:
            self.unconstrained += 1
            return None
        return template.deep_copy()

    def processor(self, tools_list: Sequence[Sequence[dict]]) -> GrammarLogits:
        """A logits processor for one batch: row ``i`` may only continue a valid call to ``tools_list[i]``."""
        return GrammarLogits(self, tools_list)


class GrammarLogits:
    """A ``transformers`` logits processor masking every row to its request's grammar, greedy-ready.

    At each step it feeds each row's previous token to its matcher, masks the disallowed tokens to
    ``-inf`` and records, for the token greedy decoding will pick (the arg-max of the masked scores),
    the model's log-prob before the mask (:attr:`steps`) and after it (:attr:`masked_steps`): one
    ``(batch,)`` vector per step each.  Rows that emitted eos are left alone (generate pads them).
    """

    def __init__(self, constraint: CallConstraint, tools_list: Sequence[Sequence[dict]]) -> None:
        self.constraint, self.tools_list = constraint, list(tools_list)
        self.matchers: list | None = None
        self.done = [False] * len(self.tools_list)
        self.steps: list = []
        self.masked_steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        n, vocab = scores.shape
        if self.matchers is None:  # first step: nothing generated yet
            self.matchers = [self.constraint.matcher(tools, vocab) for tools in self.tools_list]
        else:
            for i, token in enumerate(input_ids[:, -1].tolist()):
                if self.done[i]:
                    continue
                if token in self.constraint.eos_ids:
                    self.done[i] = True
                elif self.matchers[i] is not None:
                    self.matchers[i].consume_token(token)  # an allowed token: it was masked that way
        words = (vocab + 31) // 32
        bits = torch.full((n, words), -1, dtype=torch.int32)  # all allowed
        for i, matcher in enumerate(self.matchers):
            if matcher is None or self.done[i]:
                continue
            row = bits[i]
            matcher.unsafe_compute_mask_ptr(row.data_ptr(), words * 4)
            if matcher.is_error() or not bool((row != 0).any()):  # cannot happen for a valid grammar
                row.zero_()
                for eos in self.constraint.eos_ids:
                    row[eos // 32] |= _bit(eos % 32)
        shifts = torch.arange(32, dtype=torch.int32)
        allowed = ((bits.unsqueeze(-1) >> shifts) & 1).bool().reshape(n, words * 32)[:, :vocab].to(scores.device)
        masked = scores.masked_fill(~allowed, float("-inf"))
        chosen = masked.argmax(dim=-1, keepdim=True)
        self.steps.append(torch.log_softmax(scores.float(), dim=-1).gather(1, chosen).squeeze(1).cpu())
        self.masked_steps.append(torch.log_softmax(masked.float(), dim=-1).gather(1, chosen).squeeze(1).cpu())
        return masked


def generate_constrained(model, tokenizer, prompts: list[str], tools_list: Sequence[Sequence[dict]], *,
                         max_new_tokens: int = 64, constraint: CallConstraint | None = None) -> list[tuple]:
    """Greedy constrained generation of a batch: one call to one of each prompt's tools.

    Args:
        model: A causal LM (``transformers``).
        tokenizer: Its fast tokenizer, left padding and a pad token set (:class:`~netgpt_lite.edge.agent.EdgeAgent` does it).
        prompts: Rendered prompts (:func:`~netgpt_lite.edge.prompt.render_prompt`).
        tools_list: The offered tools of each prompt.
        max_new_tokens: Generation budget per prompt.
        constraint: A :class:`CallConstraint` to reuse (its caches); default: a new one.

    Returns:
        Per prompt, what ``EdgeAgent`` generation yields: ``(prompt, text, token_logprobs,
        n_input_tokens, wall_ms)``; ``token_logprobs`` are the model's log-probs of the generated
        tokens (eos included), ``wall_ms`` the batch's wall time divided by its size.
    """
    import torch

    from netgpt_lite.edge.generation import greedy_generate

    if len(prompts) != len(tools_list):
        raise ValueError(f"one tools list per prompt: got {len(prompts)} prompts and {len(tools_list)} tools lists")
    constraint = constraint or CallConstraint(tokenizer)
    processor = constraint.processor(tools_list)
    results = greedy_generate(model, tokenizer, prompts, max_new_tokens, processor)
    if constraint.record_masked is not None and processor.masked_steps:
        masked = torch.stack(processor.masked_steps, dim=1)  # (batch, steps)
        for row, (prompt, _, logprobs, _, _) in enumerate(results):
            constraint.record_masked[prompt] = masked[row, : len(logprobs)].numpy()
    return results


def _bit(position: int) -> int:
    """The int32 value with only bit ``position`` set (bit 31 is the sign bit)."""
    return (1 << position) - (1 << 32 if position == 31 else 0)


def _eos_ids(tokenizer) -> set[int]:
    ids = tokenizer.eos_token_id
    return set(ids) if isinstance(ids, (list, tuple)) else {int(ids)}


def require_llguidance():
    """Import llguidance (and its Hugging Face bridge), or raise an ImportError that says how to install it."""
    try:
        import llguidance
        import llguidance.hf  # noqa: F401 - the tokenizer bridge is needed too
    except ImportError as err:
        raise ImportError(f"constrained decoding needs {LIBRARY}: {INSTALL_HINT}") from err
    return llguidance
