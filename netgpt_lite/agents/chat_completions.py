"""The chat-completions wire format: messages and tools into a request body, a response body into tool calls.

No network here (that is :mod:`netgpt_lite.agents.cloud_http`): :func:`chat_body` builds the
``POST /chat/completions`` body (``tools`` with ``tool_choice``), and :func:`chat_reply` reads
``choices[0].message.tool_calls`` (function name + arguments as a JSON string) or, failing that, parses
the message content with :func:`netgpt_lite.tasks.checker.parse_tool_call`, plus the ``usage`` token
counts.  A body of the wrong shape (missing ``choices``, ``usage`` that is not an object or holds a
non-integer) raises one of :data:`SHAPE_ERRORS`, which the agent turns into a recorded failure.

**Parallel tool calls.**  A reply may carry several ``tool_calls``; all are kept, in order, in
:attr:`CloudReply.tool_calls`.  The book's tasks ask for exactly one call, so a Proposal keeps the
first as ``tool_call``, writes all of them as a JSON list in ``completion`` (which the checkers then
judge "unparseable": several calls are not the one call asked for) and scores 0.  The router
service (:mod:`netgpt_lite.service`) never splits or drops them: a cloud answer goes back to its
client whole, with every call.

Example:
    >>> call = {"function": {"name": "f", "arguments": '{"x": 1}'}}
    >>> usage = {"prompt_tokens": 12, "completion_tokens": 5}
    >>> body = {"choices": [{"message": {"tool_calls": [call]}}], "usage": usage}
    >>> reply = chat_reply(body, attempts=1)
    >>> reply.tool_call, reply.n_input_tokens, reply.n_output_tokens
    ({'name': 'f', 'arguments': {'x': 1}}, 12, 5)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from netgpt_lite.agents.cloud_http import CloudClientConfig
from netgpt_lite.tasks.checker import parse_tool_call
from netgpt_lite.tasks.generate import format_completion

SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError)
"""What :func:`chat_reply` raises on a response body of the wrong shape."""


@dataclass(frozen=True)
class CloudReply:
    """One parsed chat-completions response.

    Attributes:
        completion: The answer text (one call in the completion format; several as a JSON list).
        tool_call: The first (usually the only) parsed call, or None.
        n_input_tokens, n_output_tokens: ``usage`` of the reply (0 when the server sent none).
        attempts: Attempts the request took.
        tool_calls: Every call of the reply, in order (a call whose arguments do not parse is
            kept as sent, ``{"name", "arguments": <raw string>}``).
    """

    completion: str
    tool_call: dict | None
    n_input_tokens: int
    n_output_tokens: int
    attempts: int
    tool_calls: tuple = ()


def chat_body(config: CloudClientConfig, messages: list[dict], tools: list[dict], **overrides) -> dict:
    """The request body for ``messages`` and ``tools`` (``config``'s model and defaults; ``overrides`` win).

    Example:
        >>> config = CloudClientConfig(model="m")
        >>> chat_body(config, [{"role": "user", "content": "hi"}], [], max_tokens=16, temperature=None)
        {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.0, 'max_tokens': 16}
    """
    body = {"model": config.model, "messages": messages, "temperature": config.temperature,
            "max_tokens": config.max_tokens}
    if tools:
        body |= {"tools": tools, "tool_choice": config.tool_choice}
    return body | {k: v for k, v in overrides.items() if v is not None}


def _one_call(entry) -> dict:
    function = (entry.get("function") or {}) if isinstance(entry, dict) else {}
    if not isinstance(function, dict):
        raise TypeError(f"tool_calls[].function is a {type(function).__name__}, not an object")
    raw = {"name": function.get("name"), "arguments": function.get("arguments")}
    return parse_tool_call(json.dumps(raw)) or raw


def _first_parsed(calls: list[dict]) -> dict | None:
    first = calls[0] if calls else None
    return first if first is not None and isinstance(first.get("arguments"), dict) else None


def parse_chat_calls(data: dict) -> tuple[str, list[dict]]:
    """``(completion, calls)``: every ``message.tool_calls`` entry, in order, or the call parsed from the content.

    One call is written in the one completion format (:func:`netgpt_lite.tasks.generate.format_completion`),
    so ``parse_tool_call(completion) == calls[0]``; several are written as a JSON list.  Malformed
    arguments stay as the raw string (a schema failure downstream), not an exception.  A body without
    ``choices[0].message`` raises ``KeyError`` / ``IndexError`` / ``TypeError``.

    Example:
        >>> body = {"choices": [{"message": {"tool_calls": [
        ...     {"function": {"name": "f", "arguments": '{"x": 1}'}},
        ...     {"function": {"name": "g", "arguments": "{}"}}]}}]}
        >>> parse_chat_calls(body)[1]
        [{'name': 'f', 'arguments': {'x': 1}}, {'name': 'g', 'arguments': {}}]
    """
    message = data["choices"][0]["message"]
    entries = message.get("tool_calls") or []
    if not isinstance(entries, list):
        raise TypeError(f"message.tool_calls is a {type(entries).__name__}, not a list")
    if entries:
        calls = [_one_call(e) for e in entries]
        if len(calls) == 1:
            return format_completion(calls[0]), calls
        return json.dumps(calls, separators=(",", ":")), calls
    content = message.get("content") or ""
    if not isinstance(content, str):
        raise TypeError(f"message.content is a {type(content).__name__}, not a string")
    call = parse_tool_call(content)
    return content, [call] if call is not None else []


def parse_chat_response(data: dict) -> tuple[str, dict | None]:
    """``(completion, tool_call)`` from a chat-completions response body (see :func:`parse_chat_calls`)."""
    completion, calls = parse_chat_calls(data)
    return completion, _first_parsed(calls)


def _token_count(usage: dict, name: str) -> int:
    value = usage.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TypeError(f"usage.{name}={value!r} is not a non-negative integer")
    return int(value)


def chat_reply(data: dict, attempts: int) -> CloudReply:
    """The :class:`CloudReply` of a response body that took ``attempts``; raises one of :data:`SHAPE_ERRORS`
    on a body of the wrong shape."""
    completion, calls = parse_chat_calls(data)
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise TypeError(f"usage is a {type(usage).__name__}, not an object")
    n_in, n_out = _token_count(usage, "prompt_tokens"), _token_count(usage, "completion_tokens")
    return CloudReply(completion, _first_parsed(calls), n_in, n_out, attempts, tuple(calls))
