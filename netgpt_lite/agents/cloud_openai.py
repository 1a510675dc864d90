"""A real cloud agent: any OpenAI-compatible chat-completions endpoint, standard library only.

The book's experiments use a simulated cloud (:class:`netgpt_lite.agents.SimulatedCloud`); this
client lets the same code call a real one -- OpenAI, vLLM, llama.cpp, Ollama or any server that
speaks ``POST {base_url}/chat/completions``.  It sends the task's ``tools`` with ``tool_choice``,
reads ``choices[0].message.tool_calls`` (function name + arguments as a JSON string) or, failing
that, parses the message content with :func:`netgpt_lite.tasks.checker.parse_tool_call`.

Failures are retried with exponential backoff on HTTP 429 / 5xx, connection errors and timeouts:
the ``k``-th retry waits ``min(backoff_max_s, backoff_base_s * 2**k)`` seconds, times ``1 + j*u``
with ``u ~ U[0, 1)`` from a seeded ``numpy`` Generator (``j = jitter_fraction``; 0 gives no
jitter) -- unless the server sent ``Retry-After``, which is then honoured as given.  After the
last attempt :class:`CloudRequestError` says what failed and after how many attempts.

:meth:`OpenAICompatibleCloud.propose` degrades visibly: a task whose request still fails gets
a Proposal with ``tool_call=None``, ``score=0`` and ``completion=""``; the failure is appended
to ``client.failures`` and logged as a warning (never silently lost).  Use
:meth:`OpenAICompatibleCloud.complete` to get the exception instead.

The API key is read from the environment variable named in the config (``OPENAI_API_KEY`` by
default) at each request and is never stored, printed, logged or put in a repr.

Example:
    >>> config = CloudClientConfig(base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct")
    >>> client = OpenAICompatibleCloud(config)   # nothing is sent until propose() / complete()
    >>> client
    OpenAICompatibleCloud(base_url='http://127.0.0.1:8000/v1', model='qwen2.5-7b-instruct')
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import numpy as np

from netgpt_lite.agents.proposal import Proposal
from netgpt_lite.tasks.checker import parse_tool_call, schema_errors
from netgpt_lite.tasks.generate import format_completion

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (rate limit and server errors); other 4xx fail at once."""


@dataclass(frozen=True)
class CloudClientConfig:
    """Where and how to call an OpenAI-compatible chat-completions endpoint.

    Attributes:
        base_url: API root, ``http(s)://host[:port]/v1``; the client POSTs to ``/chat/completions``.
        model: Model name sent in the request.
        api_key_env: Name of the environment variable holding the API key (the key itself is
            never part of the config).  Unset means "send no Authorization header" (local servers).
        timeout_s: Socket timeout of one attempt, seconds.
        max_retries: Retries after the first attempt (so ``max_retries + 1`` attempts at most).
        backoff_base_s: Wait before the first retry, seconds; doubles on each further retry.
        backoff_max_s: Cap of the exponential wait, seconds.
        jitter_fraction: Random extra wait, as a fraction of the backoff, in [0, 1]; 0 = no jitter.
        seed: Seed of the jitter Generator (same seed, same schedule).
        tool_choice: ``"auto"``, ``"required"`` or ``"none"``.
        temperature: Sampling temperature in [0, 2].
        max_tokens: Cap on generated tokens per request.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    jitter_fraction: float = 0.1
    seed: int = 0
    tool_choice: str = "auto"
    temperature: float = 0.0
    max_tokens: int = 256

    def __post_init__(self) -> None:
        checks = [
            (self.base_url.startswith(("http://", "https://")), "base_url", "an http:// or https:// URL"),
            (bool(self.model.strip()), "model", "a non-empty model name"),
            (self.api_key_env.replace("_", "").isalnum(), "api_key_env", "an environment variable name"),
            (self.timeout_s > 0, "timeout_s", "> 0 seconds"),
            (self.max_retries >= 0, "max_retries", ">= 0 (0 means a single attempt)"),
            (self.backoff_base_s >= 0, "backoff_base_s", ">= 0 seconds"),
            (self.backoff_max_s >= self.backoff_base_s, "backoff_max_s", ">= backoff_base_s"),
            (0.0 <= self.jitter_fraction <= 1.0, "jitter_fraction", "in [0, 1] (0 disables jitter)"),
            (self.seed >= 0, "seed", ">= 0"),
            (self.tool_choice in ("auto", "required", "none"), "tool_choice", "'auto', 'required' or 'none'"),
            (0.0 <= self.temperature <= 2.0, "temperature", "in [0, 2]"),
            (self.max_tokens >= 1, "max_tokens", ">= 1"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(
                    f"CloudClientConfig.{name}={getattr(self, name)!r} is invalid: use {allowed}"
                )


class CloudRequestError(RuntimeError):
    """A chat-completions request that failed for good.

    Attributes:
        attempts: How many attempts were made.
        status: The last HTTP status, or None for connection errors and timeouts.
    """

    def __init__(self, message: str, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


@dataclass(frozen=True)
class CloudReply:
    """One parsed chat-completions response."""

    completion: str
    tool_call: dict | None
    n_input_tokens: int
    n_output_tokens: int
    attempts: int


@dataclass(frozen=True)
class CloudFailure:
    """A task whose request failed in :meth:`OpenAICompatibleCloud.propose`."""

    task_id: str
    error: str
    attempts: int


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    Example:
        >>> retry_after_s("2"), retry_after_s(None), retry_after_s("soon")
        (2.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def parse_chat_response(data: dict) -> tuple[str, dict | None]:
    """``(completion, tool_call)`` from a chat-completions response body.

    The first ``message.tool_calls`` entry wins; its completion is written in the one completion format
    (:func:`netgpt_lite.tasks.generate.format_completion`), so ``parse_tool_call(completion) == tool_call``.
    Malformed arguments give ``tool_call=None`` (a schema failure downstream), not an exception.
    """
    message = data["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if calls:
        function = calls[0].get("function", {})
        tool_call = parse_tool_call(
            json.dumps({"name": function.get("name"), "arguments": function.get("arguments")})
        )
        raw = tool_call or {"name": function.get("name"), "arguments": function.get("arguments")}
        return format_completion(raw), tool_call
    content = message.get("content") or ""
    return content, parse_tool_call(content)


class OpenAICompatibleCloud:
    """The cloud agent backed by a real OpenAI-compatible endpoint.

    Args:
        config: Endpoint, model, timeouts and retry policy.
        sleep: Function used to wait between retries (inject a recorder in tests).
    """

    agent = "cloud"

    def __init__(self, config: CloudClientConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.failures: list[CloudFailure] = []
        self._rng = np.random.default_rng(config.seed)

    def __repr__(self) -> str:
        return f"OpenAICompatibleCloud(base_url={self.config.base_url!r}, model={self.config.model!r})"

    @property
    def url(self) -> str:
        return self.config.base_url.rstrip("/") + "/chat/completions"

    def backoff_s(self, retry: int, retry_after: float | None = None) -> float:
        """Wait before retry number ``retry`` (0-based): Retry-After if given, else jittered backoff."""
        if retry_after is not None:
            return retry_after
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0**retry)
        if self.config.jitter_fraction > 0:
            delay *= 1.0 + self.config.jitter_fraction * float(self._rng.random())
        return delay

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.config.api_key_env)
        return text.replace(key, "***") if key else text

    def _post_once(self, body: bytes) -> dict:
        headers = {"Content-Type": "application/json", "User-Agent": "netgpt-lite"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))

    def request(self, body: dict) -> tuple[dict, int]:
        """POST ``body`` with retries; return ``(response JSON, attempts)`` or raise CloudRequestError."""
        payload = json.dumps(body).encode("utf-8")
        attempts = 1 + self.config.max_retries
        for attempt in range(1, attempts + 1):
            retry_after, status = None, None
            try:
                return self._post_once(payload), attempt
            except urllib.error.HTTPError as error:
                status, retry_after = error.code, retry_after_s(error.headers.get("Retry-After"))
                reason = f"HTTP {error.code}: {self._redact(error.read(300).decode('utf-8', 'replace'))}"
                if error.code not in RETRY_STATUSES:
                    attempts = attempt
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = self._redact(f"{type(error).__name__}: {getattr(error, 'reason', error)}")
            except (ValueError, UnicodeDecodeError) as error:  # a 200 whose body is not JSON
                reason, attempts = f"invalid JSON response: {error}", attempt
                break
            if attempt < attempts:
                delay = self.backoff_s(attempt - 1, retry_after)
                logger.warning(
                    "cloud attempt %d/%d failed (%s); retrying in %.2f s", attempt, attempts, reason, delay
                )
                self.sleep(delay)
        raise CloudRequestError(
            f"POST {self.url} failed after {attempts} attempt(s): {reason}", attempts, status
        )

    def complete(self, messages: list[dict], tools: list[dict]) -> CloudReply:
        """Ask the endpoint for one tool call; raises :class:`CloudRequestError` on failure."""
        c = self.config
        body = {
            "model": c.model,
            "messages": messages,
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
        }
        if tools:
            body |= {"tools": tools, "tool_choice": c.tool_choice}
        data, attempts = self.request(body)
        try:
            completion, tool_call = parse_chat_response(data)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise CloudRequestError(
                f"POST {self.url}: unexpected response shape ({error!r})", attempts
            ) from None
        usage = data.get("usage") or {}
        n_in, n_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        return CloudReply(completion, tool_call, n_in, n_out, attempts)

    def propose(self, tasks: Sequence, network=None) -> list[Proposal]:
        """One Proposal per task (in order), sent one request at a time.

        ``network`` is accepted for interface compatibility and ignored: a real endpoint lives
        on the real network.  The score is 1 when the call names an offered tool and validates
        against its schema, else 0 (the endpoint reports no confidence).
        """
        proposals = []
        for task in tasks:
            start = time.perf_counter()
            try:
                reply = self.complete(task.messages, task.tools)
            except CloudRequestError as error:
                self.failures.append(CloudFailure(task.task_id, str(error), error.attempts))
                logger.warning("cloud request for task %s failed: %s", task.task_id, error)
                reply = CloudReply("", None, 0, 0, error.attempts)
            valid = reply.tool_call is not None and _schema_valid(reply.tool_call, task.tools)
            proposals.append(
                Proposal(
                    agent="cloud",
                    completion=reply.completion,
                    tool_call=reply.tool_call,
                    score=float(valid),
                    latency_ms=1000.0 * (time.perf_counter() - start),
                    n_input_tokens=reply.n_input_tokens,
                    n_output_tokens=reply.n_output_tokens,
                )
            )
        return proposals


def _schema_valid(call: dict, tools: list[dict]) -> bool:
    functions = {t.get("function", t)["name"]: t.get("function", t) for t in tools}
    return call["name"] in functions and not schema_errors(
        call["arguments"], functions[call["name"]].get("parameters")
    )
