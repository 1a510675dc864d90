"""How much one request may ask of the service: the body, the tools, the messages, the prompt.

One request used to be able to hold the edge for ten minutes (a 100,000-character tool name) or make
the process read a 300 MB body.  :class:`RequestLimits` bounds every dimension a client controls;
each limit is a ``serve`` flag (:data:`LIMIT_FLAGS`), validated against :data:`LIMIT_RANGES`.  A
request over a limit is refused before any work, with a message naming the limit and its value:

* the body (:func:`read_body`): HTTP 413, checked on ``Content-Length`` before a byte is read and
  again while reading (a chunked body is never read past the limit);
* the tools, their names and sizes, the messages (:func:`check_request`): HTTP 400; tool names
  follow OpenAI's rule (``^[a-zA-Z0-9_-]+$``, at most 64 characters by default);
* text that cannot be encoded (a lone surrogate such as ``"\\ud800"``, valid JSON but not UTF-8):
  HTTP 400 naming the field (:func:`check_request`);
* the rendered prompt's token count: HTTP 400, checked by the router before the request joins a batch.

Example:
    >>> limits = RequestLimits(max_tools=2)
    >>> tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    >>> check_request({"messages": [{"role": "user", "content": "hi"}], "tools": [tool] * 3}, limits)
    Traceback (most recent call last):
    netgpt_lite.service.limits.BadRequest: 3 tools is over the limit max_tools=2 (serve --max-tools)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields

LIMIT_RANGES = {
    "max_body_bytes": (1024, 64 * 1024 * 1024),
    "max_tools": (1, 1024),
    "max_tool_bytes": (64, 1024 * 1024),
    "max_tool_name_chars": (1, 256),
    "max_messages": (1, 10_000),
    "max_message_chars": (1, 16 * 1024 * 1024),
    "max_prompt_tokens": (16, 131_072),
}
"""Each limit's allowed values, ``[low, high]`` (the upper bounds keep a typo from disabling a limit)."""

LIMIT_FLAGS = {name: "--" + name.replace("_", "-") for name in LIMIT_RANGES}
"""The ``serve`` flag of each limit (``max_tools`` -> ``--max-tools``)."""

TOOL_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")


class BadRequest(ValueError):
    """A request the service refuses; answered with :attr:`status` (400) and this message."""

    status = 400


class PayloadTooLarge(BadRequest):
    """A body over ``max_body_bytes``: HTTP 413."""

    status = 413


@dataclass(frozen=True)
class RequestLimits:
    """The most one request may carry (each a ``serve`` flag, see :data:`LIMIT_FLAGS`).

    Attributes:
        max_body_bytes: Request body, bytes (1 MiB: 128 tools of 8 kB fit).
        max_tools: Tools offered in one request (OpenAI's own limit is 128).
        max_tool_bytes: One tool's JSON, bytes.
        max_tool_name_chars: One tool name, characters (OpenAI allows 64).
        max_messages: Messages in one request.
        max_message_chars: One message's JSON, characters.
        max_prompt_tokens: The edge prompt (messages and tools rendered by the chat template), tokens.
    """

    max_body_bytes: int = 1024 * 1024
    max_tools: int = 128
    max_tool_bytes: int = 16 * 1024
    max_tool_name_chars: int = 64
    max_messages: int = 256
    max_message_chars: int = 64 * 1024
    max_prompt_tokens: int = 4096

    def __post_init__(self) -> None:
        for f in fields(self):
            value, (low, high) = getattr(self, f.name), LIMIT_RANGES[f.name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(
                    f"{f.name}={value!r} is invalid: use an integer in [{low}, {high}] "
                    f"(serve {LIMIT_FLAGS[f.name]})"
                )

    def over(self, name: str, what: str) -> str:
        """The message of a request over limit ``name``: ``"<what> is over the limit name=value (serve --flag)"``."""
        return f"{what} is over the limit {name}={getattr(self, name)} (serve {LIMIT_FLAGS[name]})"


def _unencodable(value, path: str) -> str | None:
    """The path of the first string under ``value`` that is not valid Unicode (a lone surrogate), or None."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError as err:
                return f"{where} (character {err.start}: U+{ord(node[err.start]):04X})"
        elif isinstance(node, dict):
            stack.extend((k, f"{where} key") for k in node)
            stack.extend((v, f"{where}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return None


def check_request(body: dict, limits: RequestLimits) -> None:
    """Raise :class:`BadRequest` naming the first limit ``body`` breaks (its shape is already checked).

    Checks the number of tools, each tool's name and JSON size, the number of messages, each
    message's JSON size, and that every string is encodable (no lone surrogates).
    """
    tools, messages = body["tools"], body["messages"]
    if len(tools) > limits.max_tools:
        raise BadRequest(limits.over("max_tools", f"{len(tools)} tools"))
    for i, tool in enumerate(tools):
        name = tool["function"]["name"]
        if len(name) > limits.max_tool_name_chars:
            raise BadRequest(
                limits.over("max_tool_name_chars", f"tools[{i}].function.name ({len(name)} characters)")
            )
        if not TOOL_NAME_RE.fullmatch(name):
            raise BadRequest(
                f"tools[{i}].function.name={name!r} is invalid: use letters, digits, '_' and '-' "
                "only (^[a-zA-Z0-9_-]+$)"
            )
        size = len(json.dumps(tool))
        if size > limits.max_tool_bytes:
            raise BadRequest(limits.over("max_tool_bytes", f"tools[{i}] ({name!r}, {size} bytes of JSON)"))
    if len(messages) > limits.max_messages:
        raise BadRequest(limits.over("max_messages", f"{len(messages)} messages"))
    for i, message in enumerate(messages):
        size = len(json.dumps(message, ensure_ascii=False))
        if size > limits.max_message_chars:
            raise BadRequest(limits.over("max_message_chars", f"messages[{i}] ({size} characters of JSON)"))
    where = _unencodable(messages, "messages") or _unencodable(tools, "tools")
    if where:
        raise BadRequest(f"{where} is not valid Unicode (a lone surrogate): send UTF-8 text")


async def read_body(request, limits: RequestLimits) -> bytes:
    """The body of a Starlette ``request``, never more than ``max_body_bytes`` of it read.

    Raises:
        PayloadTooLarge: ``Content-Length`` says more (nothing is read), or the stream goes past the limit.
        BadRequest: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadRequest(f"Content-Length={declared[:40]!r} is not a number of bytes")
        if int(declared) > limits.max_body_bytes:
            raise PayloadTooLarge(limits.over("max_body_bytes", f"a body of {int(declared)} bytes"))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise PayloadTooLarge(limits.over("max_body_bytes", f"a body of at least {size} bytes"))
        chunks.append(chunk)
    return b"".join(chunks)
