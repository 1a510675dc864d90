"""The cloud client against what servers really send: each fault of the table in the module docstring.

Fault -> behaviour (what these tests check, on a scripted upstream on 127.0.0.1):

* 429 / 503 with ``Retry-After: 86400`` or an HTTP date in year 9999 -> waits ``backoff_max_s``, not a day;
* 408 Request Timeout -> retried like 429 / 5xx;
* several ``tool_calls`` -> all kept in ``CloudReply.tool_calls``; the Proposal scores 0 (one call expected);
* ``usage`` null -> 0 tokens; ``usage`` with a non-integer -> a recorded failure, never an exception;
* a truncated body (short of its Content-Length) -> retried, then a recorded failure;
* 200,000-deep JSON, a non-JSON 200, a JSON list, a body without ``choices`` -> a recorded failure;
* a body over ``max_response_bytes`` -> a recorded failure;
* ``timeout_s=inf`` / ``backoff_max_s=inf`` -> rejected by the config;
* the key variable unset -> one warning per client, no Authorization header;
* a failing request -> no frame of the traceback holds the key in a local variable.
"""

from __future__ import annotations

import logging
import socket
import types

import pytest

from netgpt_lite.agents.cloud_http import CloudClientConfig, CloudRequestError
from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud
from netgpt_lite.service.upstream import ScriptedUpstream
from netgpt_lite.tasks.checker import parse_tool_call
from netgpt_lite.tasks.generate import generate_tasks

SECRET = "sk-fault-test-9876543210"
KEY_ENV = "NETGPT_LITE_FAULT_TEST_KEY"
TASK = generate_tasks("test", 1, seed=3)[0]


@pytest.fixture
def upstream(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    started = []

    def start(*script: dict, **kwargs) -> ScriptedUpstream:
        started.append(ScriptedUpstream(list(script), answers={TASK.messages[-1]["content"]: TASK.gold},
                                        **kwargs).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def client_for(server, **overrides) -> tuple[OpenAICompatibleCloud, list[float]]:
    settings = {"base_url": server.base_url, "model": "m", "api_key_env": KEY_ENV, "timeout_s": 2.0,
                "backoff_base_s": 0.1, "backoff_max_s": 2.0, "jitter_fraction": 0.0, **overrides}
    sleeps: list[float] = []
    return OpenAICompatibleCloud(CloudClientConfig(**settings), sleep=sleeps.append), sleeps


@pytest.mark.parametrize("retry_after", ["86400", "Fri, 31 Dec 9999 23:59:59 GMT", "1e308"])
def test_retry_after_is_capped_at_backoff_max(upstream, retry_after):
    server = upstream({"status": 429, "headers": {"Retry-After": retry_after}, "body": {"error": {}}})
    client, sleeps = client_for(server)
    reply = client.complete(TASK.messages, TASK.tools)
    assert reply.tool_call == TASK.gold and reply.attempts == 2
    assert sleeps == [2.0]  # backoff_max_s, not a day (or forever)


def test_408_is_retried(upstream):
    server = upstream({"status": 408, "body": {"error": {"message": "request timeout"}}})
    client, sleeps = client_for(server)
    assert client.complete(TASK.messages, TASK.tools).attempts == 2 and sleeps == [0.1]


def test_parallel_tool_calls_are_all_returned(upstream):
    second = {"name": TASK.tools[-1]["function"]["name"], "arguments": {}}
    server = upstream(*[{"tool_calls": [TASK.gold, second]}] * 2)
    client, _ = client_for(server)
    reply = client.complete(TASK.messages, TASK.tools)
    assert reply.tool_calls == (TASK.gold, second) and reply.tool_call == TASK.gold
    assert parse_tool_call(reply.completion) is None  # a JSON list of two calls is not the one call asked for
    (proposal,) = client.propose([TASK])
    assert proposal.score == 0.0 and proposal.tool_call == TASK.gold and client.failures == []


def _answer(**changes) -> dict:
    from netgpt_lite.service.upstream import completion_body

    return completion_body([TASK.gold], "m") | changes


@pytest.mark.parametrize(("name", "step", "n_requests"), [
    ("usage_not_integer", {"body": _answer(usage={"prompt_tokens": "many", "completion_tokens": 3})}, 1),
    ("usage_list", {"body": _answer(usage=[1, 2])}, 1),
    ("no_choices", {"body": {"id": "x"}}, 1),
    ("choices_empty", {"body": _answer(choices=[])}, 1),
    ("function_not_object", {"body": _answer(choices=[{"message": {"tool_calls": [{"function": 3}]}}])}, 1),
    ("json_list", {"body": "[1, 2, 3]"}, 1),
    ("not_json", {"body": "<html>502 Bad Gateway</html>"}, 1),
    ("deep_json", {"body": "[" * 200_000 + "]" * 200_000}, 1),
    ("truncated", {"truncate": True}, 2),  # a transport fault: retried once (max_retries=1), then recorded
])
def test_malformed_replies_are_recorded_failures(upstream, name, step, n_requests):
    server = upstream(*[step] * n_requests)
    client, _ = client_for(server, max_retries=1)
    (proposal,) = client.propose([TASK])  # never raises
    assert (proposal.tool_call, proposal.score, proposal.completion) == (None, 0.0, "")
    assert len(client.failures) == 1 and client.failures[0].attempts == n_requests, name
    assert len([r for r in server.requests if r["body"] is not None]) == n_requests


def test_usage_null_means_zero_tokens(upstream):
    server = upstream({"body": _answer(usage=None)})
    client, _ = client_for(server)
    reply = client.complete(TASK.messages, TASK.tools)
    assert (reply.n_input_tokens, reply.n_output_tokens) == (0, 0) and reply.tool_call == TASK.gold


def test_body_over_the_cap_is_a_failure(upstream):
    server = upstream({"body": _answer(padding="x" * 5000)})
    client, _ = client_for(server, max_response_bytes=2048)
    with pytest.raises(CloudRequestError, match="max_response_bytes"):
        client.complete(TASK.messages, TASK.tools)


@pytest.mark.parametrize("field", ["timeout_s", "backoff_max_s"])
def test_infinite_times_are_rejected(field):
    with pytest.raises(ValueError, match=field):
        CloudClientConfig(**{field: float("inf")})


def test_unset_key_warns_once_and_sends_no_header(upstream, monkeypatch, caplog):
    server = upstream()
    monkeypatch.delenv(KEY_ENV)
    client, _ = client_for(server)
    with caplog.at_level(logging.WARNING, logger="netgpt_lite.agents.cloud_openai"):
        client.complete(TASK.messages, TASK.tools)
        client.complete(TASK.messages, TASK.tools)
    assert caplog.text.count(f"{KEY_ENV} is not set") == 1
    assert all("Authorization" not in r["headers"] for r in server.requests)


def _frames(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        tb: types.TracebackType | None = error.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        error = error.__cause__ or error.__context__


@pytest.mark.parametrize("fault", ["refused", "http_401"])
def test_no_frame_of_a_failure_holds_the_key(upstream, fault):
    if fault == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        server = types.SimpleNamespace(base_url=url)
        upstream()  # sets the key
    else:
        server = upstream({"status": 401, "body": {"error": {"message": f"bad key {SECRET}"}}})
    client, _ = client_for(server, max_retries=0)
    with pytest.raises(CloudRequestError) as info:
        client.complete(TASK.messages, TASK.tools)
    assert SECRET not in str(info.value)
    frames = list(_frames(info.value))
    assert frames  # the traceback was walked
    for frame in frames:
        for name, value in frame.f_locals.items():
            assert not (isinstance(value, str) and SECRET in value), f"{frame.f_code.co_name}: local {name!r}"
            assert not (isinstance(value, dict) and SECRET in repr(value)), f"{frame.f_code.co_name}: {name!r}"


def test_concurrent_propose_keeps_task_order(upstream):
    import time

    from netgpt_lite.tasks.generate import generate_tasks

    tasks = generate_tasks("test", 8, seed=5)
    server = upstream(delay_s=0.3)
    server.answers.update({t.messages[-1]["content"]: t.gold for t in tasks})
    client, _ = client_for(server, max_concurrency=8)
    start = time.perf_counter()
    proposals = client.propose(tasks)
    assert time.perf_counter() - start < 8 * 0.3 / 2  # in flight together, not one after another
    assert [p.tool_call for p in proposals] == [t.gold for t in tasks]
