"""The HTTP side of a real cloud: the client's config, POST with retries and a round-trip probe (stdlib only).

:class:`CloudEndpoint` speaks to ``{base_url}/chat/completions`` of any OpenAI-compatible server (OpenAI,
vLLM, llama.cpp, Ollama...) and knows nothing about tasks or tool calls: it sends a JSON body and returns
the JSON it got back (:class:`CloudExchange`).  The agent built on it is
:class:`netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud`; what the bodies mean is
:mod:`netgpt_lite.agents.chat_completions`.

Failures are retried with exponential backoff on HTTP 408 / 429 / 5xx, connection errors, timeouts
and truncated bodies: the ``k``-th retry waits ``min(backoff_max_s, backoff_base_s * 2**k)``
seconds, times ``1 + j*u`` with ``u ~ U[0, 1)`` from a seeded ``numpy`` Generator
(``j = jitter_fraction``; 0 gives no jitter) -- unless the server sent ``Retry-After``, which is
honoured up to ``backoff_max_s`` (a server asking for a day, or for a date in year 9999, gets
``backoff_max_s``).  After the last attempt :class:`CloudRequestError` says what failed and after
how many attempts.  What a server sends back is never trusted: a body over ``max_response_bytes``,
a truncated, non-JSON, 200,000-deep or non-object body becomes a :class:`CloudRequestError`, never
another exception.

The API key is read from the environment variable named in the config (``OPENAI_API_KEY`` by
default) when a request is built and is never stored, printed, logged or put in a repr; no frame
that can raise holds it in a local variable (it goes straight into the request's unredirected
headers), and server messages that echo it are redacted.  An unset variable sends no
``Authorization`` header (fine for local servers) and is warned about once per client.

Example:
    >>> config = CloudClientConfig(base_url="http://127.0.0.1:8000/v1", model="m", jitter_fraction=0.0)
    >>> endpoint = CloudEndpoint(config)   # nothing is sent until exchange() / probe_ms()
    >>> endpoint.url
    'http://127.0.0.1:8000/v1/chat/completions'
    >>> [endpoint.backoff_s(k) for k in range(3)], endpoint.backoff_s(0, retry_after=86400.0)
    ([0.5, 1.0, 2.0], 20.0)
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
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import numpy as np

from netgpt_lite.agents.redaction import redact_url

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
        max_concurrency: Requests :meth:`~netgpt_lite.agents.cloud_openai.OpenAICompatibleCloud.propose`
            keeps in flight at once (>= 1; answers come back in task order whatever it is).
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


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    Nonsense (text, NaN, an unparseable date) gives None; the caller caps what is left
    (:meth:`CloudEndpoint.backoff_s`).

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


def _error_text(error: urllib.error.HTTPError) -> str:
    """The first 300 bytes of an error body (servers may echo the key: redact the result at once)."""
    try:
        return error.read(300).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return "(body unreadable)"


class CloudEndpoint:
    """POST JSON to ``{base_url}/chat/completions`` with retries, and probe the round trip.

    Args:
        config: Endpoint, timeouts and retry policy.
        sleep: Function used to wait between retries (inject a recorder in tests).
    """

    def __init__(self, config: CloudClientConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self._rng = np.random.default_rng(config.seed)
        self._rng_lock = threading.Lock()  # requests may retry from several threads
        self._warned_no_key = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={redact_url(self.config.base_url)!r}, model={self.config.model!r})"

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
                           self.config.api_key_env, redact_url(self.config.base_url))
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
            f"POST {redact_url(self.url)} failed after {attempts} attempt(s): {reason}", attempts, status
        )

    def request(self, body: dict) -> tuple[dict, int]:
        """POST ``body`` with retries; return ``(response JSON, attempts)`` or raise CloudRequestError."""
        done = self.exchange(body)
        return done.data, done.attempts
