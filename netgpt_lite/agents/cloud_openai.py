"""A real cloud agent: any OpenAI-compatible chat-completions endpoint, standard library only.

The book's experiments use a simulated cloud (:class:`netgpt_lite.agents.SimulatedCloud`); this
client lets the same code call a real one -- OpenAI, vLLM, llama.cpp, Ollama or any server that
speaks ``POST {base_url}/chat/completions``.  It sends the task's ``tools`` with ``tool_choice``,
reads ``choices[0].message.tool_calls`` (function name + arguments as a JSON string) or, failing
that, parses the message content with :func:`netgpt_lite.tasks.checker.parse_tool_call`.

Failures are retried with exponential backoff on HTTP 408 / 429 / 5xx, connection errors, timeouts
and truncated bodies: the ``k``-th retry waits ``min(backoff_max_s, backoff_base_s * 2**k)``
seconds, times ``1 + j*u`` with ``u ~ U[0, 1)`` from a seeded ``numpy`` Generator
(``j = jitter_fraction``; 0 gives no jitter) -- unless the server sent ``Retry-After``, which is
honoured up to ``backoff_max_s`` (a server asking for a day, or for a date in year 9999, gets
``backoff_max_s``).  After the last attempt :class:`CloudRequestError` says what failed and after
how many attempts.  What a server sends back is never trusted: a body over
``max_response_bytes``, a non-JSON or 200,000-deep JSON body, ``usage`` that is null or not an
integer, a missing ``choices`` -- each becomes a :class:`CloudRequestError` (never another
exception), and :meth:`~OpenAICompatibleCloud.propose` records it as a failure.

**Parallel tool calls.**  A reply may carry several ``tool_calls``; all are kept, in order, in
:attr:`CloudReply.tool_calls`.  The book's tasks ask for exactly one call, so a Proposal keeps the
first as ``tool_call``, writes all of them as a JSON list in ``completion`` (which the checkers then
judge "unparseable": several calls are not the one call asked for) and scores 0.  The router
service (:mod:`netgpt_lite.service`) never splits or drops them: a cloud answer goes back to its
client whole, with every call.

:meth:`OpenAICompatibleCloud.propose` degrades visibly: a task whose request still fails gets
a Proposal with ``tool_call=None``, ``score=0`` and ``completion=""``; the failure is appended
to ``client.failures`` and logged as a warning (never silently lost).  Use
:meth:`OpenAICompatibleCloud.complete` to get the exception instead.

The API key is read from the environment variable named in the config (``OPENAI_API_KEY`` by
default) when a request is built and is never stored, printed, logged or put in a repr; no frame
that can raise holds it in a local variable (it goes straight into the request's unredirected
headers), and server messages that echo it are redacted.  An unset variable sends no
``Authorization`` header (fine for local servers) and is warned about once per client.

Example:
    >>> config = CloudClientConfig(base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct")
    >>> client = OpenAICompatibleCloud(config)   # nothing is sent until propose() / complete()
    >>> client
    OpenAICompatibleCloud(base_url='http://127.0.0.1:8000/v1', model='qwen2.5-7b-instruct')
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import numpy as np

from netgpt_lite.agents.proposal import Proposal
from netgpt_lite.tasks.checker import parse_tool_call, schema_errors
from netgpt_lite.tasks.generate import format_completion

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (request timeout, rate limit, server errors); other 4xx fail at once."""


@dataclass(frozen=True)
class CloudClientConfig:
    """Where and how to call an OpenAI-compatible chat-completions endpoint.

    Attributes:
        base_url: API root, ``http(s)://host[:port]/v1``; the client POSTs to ``/chat/completions``.
        model: Model name sent in the request.
        api_key_env: Name of the environment variable holding the API key (the key itself is
            never part of the config).  Unset means "send no Authorization header" (local servers).
        timeout_s: Socket timeout of one attempt, seconds (finite, > 0).
        max_retries: Retries after the first attempt (so ``max_retries + 1`` attempts at most).
        backoff_base_s: Wait before the first retry, seconds; doubles on each further retry.
        backoff_max_s: Cap of every wait, seconds (finite), the server's ``Retry-After`` included.
        jitter_fraction: Random extra wait, as a fraction of the backoff, in [0, 1]; 0 = no jitter.
        seed: Seed of the jitter Generator (same seed, same schedule).
        tool_choice: ``"auto"``, ``"required"`` or ``"none"``.
        temperature: Sampling temperature in [0, 2].
        max_tokens: Cap on generated tokens per request.
        max_response_bytes: Largest response body read, bytes; a longer one is a failure.
        max_concurrency: Requests :meth:`OpenAICompatibleCloud.propose` keeps in flight at once (>= 1;
            answers come back in task order whatever it is).
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
    max_response_bytes: int = 4_000_000
    max_concurrency: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.base_url.startswith(("http://", "https://")), "base_url", "an http:// or https:// URL"),
            (bool(self.model.strip()), "model", "a non-empty model name"),
            (self.api_key_env.replace("_", "").isalnum(), "api_key_env", "an environment variable name"),
            (math.isfinite(self.timeout_s) and self.timeout_s > 0, "timeout_s", "a finite number > 0 seconds"),
            (self.max_retries >= 0, "max_retries", ">= 0 (0 means a single attempt)"),
            (self.backoff_base_s >= 0, "backoff_base_s", ">= 0 seconds"),
            (math.isfinite(self.backoff_max_s) and self.backoff_max_s >= self.backoff_base_s, "backoff_max_s",
             "a finite number >= backoff_base_s"),
            (0.0 <= self.jitter_fraction <= 1.0, "jitter_fraction", "in [0, 1] (0 disables jitter)"),
            (self.seed >= 0, "seed", ">= 0"),
            (self.tool_choice in ("auto", "required", "none"), "tool_choice", "'auto', 'required' or 'none'"),
            (0.0 <= self.temperature <= 2.0, "temperature", "in [0, 2]"),
            (self.max_tokens >= 1, "max_tokens", ">= 1"),
            (self.max_response_bytes >= 1024, "max_response_bytes", ">= 1024 bytes"),
            (1 <= self.max_concurrency <= 256, "max_concurrency", "in [1, 256]"),
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
        status: The last HTTP status, or None for connection errors, timeouts and bad bodies.
    """

    def __init__(self, message: str, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


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


@dataclass(frozen=True)
class CloudExchange:
    """One successful HTTP exchange: the response JSON and what it cost on the wire.

    Attributes:
        data: The response body, decoded.
        attempts: Attempts it took (1 = no retry).
        request_bytes: Bytes of the request body sent.
        response_bytes: Bytes of the response body received.
        elapsed_s: Wall time of the successful attempt (send to last byte), seconds.
        processing_ms: The server's own time, from an ``openai-processing-ms`` header (None without one),
            so ``1000 * elapsed_s - processing_ms`` estimates the network round trip.
    """

    data: dict
    attempts: int
    request_bytes: int
    response_bytes: int
    elapsed_s: float
    processing_ms: float | None = None


@dataclass(frozen=True)
class CloudFailure:
    """A task whose request failed in :meth:`OpenAICompatibleCloud.propose`."""

    task_id: str
    error: str
    attempts: int


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    Nonsense (text, NaN, an unparseable date) gives None; the caller caps what is left
    (:meth:`OpenAICompatibleCloud.backoff_s`).

    Example:
        >>> retry_after_s("2"), retry_after_s(None), retry_after_s("soon"), retry_after_s("nan")
        (2.0, None, None, None)
    """
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if not math.isnan(seconds) else None
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _one_call(entry) -> dict:
    function = (entry.get("function") or {}) if isinstance(entry, dict) else {}
    if not isinstance(function, dict):
        raise TypeError(f"tool_calls[].function is a {type(function).__name__}, not an object")
    raw = {"name": function.get("name"), "arguments": function.get("arguments")}
    return parse_tool_call(json.dumps(raw)) or raw


def parse_chat_response(data: dict) -> tuple[str, dict | None]:
    """``(completion, tool_call)`` from a chat-completions response body (see :func:`parse_chat_calls`)."""
    completion, calls = parse_chat_calls(data)
    return completion, _first_parsed(calls)


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


def _error_text(error: urllib.error.HTTPError) -> str:
    """The first 300 bytes of an error body (servers may echo the key: redact the result at once)."""
    try:
        return error.read(300).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return "(body unreadable)"


def _token_count(usage: dict, name: str) -> int:
    value = usage.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TypeError(f"usage.{name}={value!r} is not a non-negative integer")
    return int(value)


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
        self._rng_lock = threading.Lock()  # propose() may retry from several threads
        self._warned_no_key = False

    def __repr__(self) -> str:
        return f"OpenAICompatibleCloud(base_url={self.config.base_url!r}, model={self.config.model!r})"

    @property
    def url(self) -> str:
        return self.config.base_url.rstrip("/") + "/chat/completions"

    def backoff_s(self, retry: int, retry_after: float | None = None) -> float:
        """Wait before retry number ``retry`` (0-based): Retry-After if given, else jittered backoff;
        never more than ``backoff_max_s``."""
        if retry_after is not None:
            return min(float(retry_after), self.config.backoff_max_s)
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0**retry)
        if self.config.jitter_fraction > 0:
            with self._rng_lock:
                delay *= 1.0 + self.config.jitter_fraction * float(self._rng.random())
        return min(delay, self.config.backoff_max_s)

    def _redact(self, text: str) -> str:
        return text.replace(os.environ[self.config.api_key_env], "***") if os.environ.get(self.config.api_key_env) else text

    def _build_request(self, url: str, body: bytes | None, method: str) -> urllib.request.Request:
        """The request with its Authorization header; the key is never bound to a local name."""
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Content-Type": "application/json", "User-Agent": "netgpt-lite"})
        if os.environ.get(self.config.api_key_env):
            request.add_unredirected_header("Authorization", "Bearer " + os.environ[self.config.api_key_env])
        elif not self._warned_no_key:
            self._warned_no_key = True
            logger.warning("environment variable %s is not set: sending requests to %s without an API key",
                           self.config.api_key_env, self.config.base_url)
        return request

    def _post_once(self, body: bytes) -> tuple[dict, int, float | None]:
        request = self._build_request(self.url, body, "POST")
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            raw = response.read(self.config.max_response_bytes + 1)
            declared = response.headers.get("Content-Length", "")
            processing = response.headers.get("openai-processing-ms", "")
        if len(raw) > self.config.max_response_bytes:
            raise OverflowError(f"response body over max_response_bytes={self.config.max_response_bytes}")
        if declared.isdigit() and len(raw) < int(declared):  # read(n) returns short bodies without raising
            raise http.client.IncompleteRead(raw[:64], int(declared) - len(raw))
        try:
            processing_ms = float(processing) if processing else None
        except ValueError:
            processing_ms = None
        return json.loads(raw.decode("utf-8")), len(raw), processing_ms

    def probe_ms(self) -> float:
        """Round-trip time of one light request (``GET {base_url}/models``), ms; raises ``OSError`` when down.

        Any HTTP answer (even 401 or 404) counts: the point is the time to the server and back.
        """
        request = self._build_request(self.config.base_url.rstrip("/") + "/models", None, "GET")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                response.read(65536)
        except urllib.error.HTTPError:
            pass
        return 1000.0 * (time.perf_counter() - start)

    def exchange(self, body: dict) -> CloudExchange:
        """POST ``body`` with retries; the :class:`CloudExchange`, or raise :class:`CloudRequestError`."""
        payload = json.dumps(body).encode("utf-8")
        attempts = 1 + self.config.max_retries
        for attempt in range(1, attempts + 1):
            retry_after, status = None, None
            start = time.perf_counter()
            try:
                data, n_received, processing_ms = self._post_once(payload)
                if not isinstance(data, dict):
                    raise ValueError(f"the body is a JSON {type(data).__name__}, not an object")
                return CloudExchange(data, attempt, len(payload), n_received, time.perf_counter() - start,
                                     processing_ms if processing_ms is None or math.isfinite(processing_ms) else None)
            except urllib.error.HTTPError as error:
                status, retry_after = error.code, retry_after_s(error.headers.get("Retry-After"))
                reason = f"HTTP {error.code}: {self._redact(_error_text(error))}"
                if error.code not in RETRY_STATUSES:
                    attempts = attempt
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
                # HTTPException: IncompleteRead (a truncated body), BadStatusLine, RemoteDisconnected...
                reason = self._redact(f"{type(error).__name__}: {getattr(error, 'reason', error)}")
            except (ValueError, UnicodeDecodeError, RecursionError, OverflowError) as error:
                # a 200 whose body is not JSON, not an object, too deep to decode or too long: not retried
                reason, attempts = f"invalid JSON response: {type(error).__name__}: {str(error)[:200]}", attempt
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

    def request(self, body: dict) -> tuple[dict, int]:
        """POST ``body`` with retries; return ``(response JSON, attempts)`` or raise CloudRequestError."""
        done = self.exchange(body)
        return done.data, done.attempts

    def chat_body(self, messages: list[dict], tools: list[dict], **overrides) -> dict:
        """The request body for ``messages`` and ``tools`` (config defaults; ``overrides`` win)."""
        c = self.config
        body = {"model": c.model, "messages": messages, "temperature": c.temperature, "max_tokens": c.max_tokens}
        if tools:
            body |= {"tools": tools, "tool_choice": c.tool_choice}
        return body | {k: v for k, v in overrides.items() if v is not None}

    def reply_of(self, data: dict, attempts: int) -> CloudReply:
        """Parse a response body into a :class:`CloudReply`; raises :class:`CloudRequestError` on a bad shape."""
        try:
            completion, calls = parse_chat_calls(data)
            usage = data.get("usage") or {}
            if not isinstance(usage, dict):
                raise TypeError(f"usage is a {type(usage).__name__}, not an object")
            n_in, n_out = _token_count(usage, "prompt_tokens"), _token_count(usage, "completion_tokens")
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as error:
            raise CloudRequestError(
                f"POST {self.url}: unexpected response shape ({type(error).__name__}: {str(error)[:200]})", attempts
            ) from None
        return CloudReply(completion, _first_parsed(calls), n_in, n_out, attempts, tuple(calls))

    def complete(self, messages: list[dict], tools: list[dict]) -> CloudReply:
        """Ask the endpoint for a tool call; raises :class:`CloudRequestError` on any failure."""
        data, attempts = self.request(self.chat_body(messages, tools))
        return self.reply_of(data, attempts)

    def propose(self, tasks: Sequence, network=None) -> list[Proposal]:
        """One Proposal per task (in order), ``max_concurrency`` requests at a time; never raises for a bad reply.

        ``network`` is accepted for interface compatibility and ignored: a real endpoint lives
        on the real network.  The score is 1 when the reply holds exactly one call, naming an offered
        tool and valid against its schema, else 0 (the endpoint reports no confidence).
        """
        if self.config.max_concurrency == 1 or len(tasks) <= 1:
            return [self._propose_one(task) for task in tasks]
        with ThreadPoolExecutor(max_workers=min(self.config.max_concurrency, len(tasks))) as pool:
            return list(pool.map(self._propose_one, tasks))

    def _propose_one(self, task) -> Proposal:
        start = time.perf_counter()
        try:
            reply = self.complete(task.messages, task.tools)
        except CloudRequestError as error:
            self.failures.append(CloudFailure(task.task_id, str(error), error.attempts))
            logger.warning("cloud request for task %s failed: %s", task.task_id, error)
            reply = CloudReply("", None, 0, 0, error.attempts)
        single = len(reply.tool_calls) <= 1
        valid = single and reply.tool_call is not None and _schema_valid(reply.tool_call, task.tools)
        return Proposal(agent="cloud", completion=reply.completion, tool_call=reply.tool_call, score=float(valid),
                        latency_ms=1000.0 * (time.perf_counter() - start), n_input_tokens=reply.n_input_tokens,
                        n_output_tokens=reply.n_output_tokens)


def _schema_valid(call: dict, tools: list[dict]) -> bool:
    functions = {t.get("function", t)["name"]: t.get("function", t) for t in tools}
    return call["name"] in functions and not schema_errors(
        call["arguments"], functions[call["name"]].get("parameters")
    )
