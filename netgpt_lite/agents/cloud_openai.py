"""A real cloud agent: any OpenAI-compatible chat-completions endpoint, with the simulated cloud's ``propose``.

The book's experiments use a simulated cloud (:class:`netgpt_lite.agents.SimulatedCloud`); this
agent lets the same code call a real one -- OpenAI, vLLM, llama.cpp, Ollama or any server that
speaks ``POST {base_url}/chat/completions``.  It is built from two parts, each in its own module:

* :mod:`netgpt_lite.agents.cloud_http` -- :class:`~netgpt_lite.agents.cloud_http.CloudClientConfig` and the
  HTTP side (:class:`~netgpt_lite.agents.cloud_http.CloudEndpoint`): retries with capped, jittered
  backoff, ``Retry-After``, untrusted bodies, the API key never stored or logged;
* :mod:`netgpt_lite.agents.chat_completions` -- the wire format: the request body, and the reply's tool
  calls (parallel ones included) and token counts.

:meth:`OpenAICompatibleCloud.propose` degrades visibly: a task whose request still fails (after
the retries, or with a body of the wrong shape) gets a Proposal with ``tool_call=None``,
``score=0`` and ``completion=""``; the failure is appended to ``client.failures`` and logged as a
warning (never silently lost).  Use :meth:`OpenAICompatibleCloud.complete` to get the
:class:`~netgpt_lite.agents.cloud_http.CloudRequestError` instead.

Example:
    >>> config = CloudClientConfig(base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct")
    >>> client = OpenAICompatibleCloud(config)   # nothing is sent until propose() / complete()
    >>> client
    OpenAICompatibleCloud(base_url='http://127.0.0.1:8000/v1', model='qwen2.5-7b-instruct')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from netgpt_lite.agents.chat_completions import SHAPE_ERRORS, CloudReply, chat_body, chat_reply
from netgpt_lite.agents.cloud_http import CloudClientConfig, CloudEndpoint, CloudRequestError
from netgpt_lite.agents.proposal import Proposal
from netgpt_lite.agents.redaction import redact_url
from netgpt_lite.tasks.checker import schema_errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CloudFailure:
    """A task whose request failed in :meth:`OpenAICompatibleCloud.propose`."""

    task_id: str
    error: str
    attempts: int


class OpenAICompatibleCloud(CloudEndpoint):
    """The cloud agent backed by a real OpenAI-compatible endpoint.

    Args:
        config: Endpoint, model, timeouts and retry policy.
        sleep: Function used to wait between retries (inject a recorder in tests).
    """

    agent = "cloud"

    def __init__(self, config: CloudClientConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config, sleep)
        self.failures: list[CloudFailure] = []

    def chat_body(self, messages: list[dict], tools: list[dict], **overrides) -> dict:
        """The request body for ``messages`` and ``tools`` (config defaults; ``overrides`` win)."""
        return chat_body(self.config, messages, tools, **overrides)

    def reply_of(self, data: dict, attempts: int) -> CloudReply:
        """Parse a response body into a :class:`CloudReply`; raises :class:`CloudRequestError` on a bad shape."""
        try:
            return chat_reply(data, attempts)
        except SHAPE_ERRORS as error:
            raise CloudRequestError(
                f"POST {redact_url(self.url)}: unexpected response shape ({type(error).__name__}: {str(error)[:200]})",
                attempts,
            ) from None

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
