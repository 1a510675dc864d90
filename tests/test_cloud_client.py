"""Tests for netgpt_lite.agents.cloud_openai against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from netgpt_lite.agents.chat_completions import parse_chat_response
from netgpt_lite.agents.cloud_http import CloudClientConfig, CloudRequestError, retry_after_s
from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud
from netgpt_lite.tasks.checker import check_completion, parse_tool_call
from netgpt_lite.tasks.generate import Task

SECRET = "sk-test-0123456789-secret"
KEY_ENV = "NETGPT_LITE_TEST_API_KEY"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "open_ticket",
            "description": "Open a trouble ticket.",
            "parameters": {
                "type": "object",
                "properties": {
                    "site": {"type": "string"},
                    "urgency": {"type": "string", "enum": ["low", "high"]},
                },
                "required": ["site"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_cell_kpi",
            "description": "Read a KPI.",
            "parameters": {
                "type": "object",
                "properties": {"cell_id": {"type": "integer"}},
                "required": ["cell_id"],
            },
        },
    },
]
TASKS = [
    Task(f"test-0-{i}", "test", "single_step", "easy", "single/open_ticket/0",
         [{"role": "user", "content": f"Open a ticket for site {site}."}], TOOLS,
         {"name": "open_ticket", "arguments": {"site": site, "urgency": "high"}})
    for i, site in enumerate(["harbor", "airport", "campus"])
]  # fmt: skip


def chat_response(
    tool_call: dict | None = None, content: str | None = None, arguments: str | None = None
) -> dict:
    """A chat.completions body in the real wire format."""
    message: dict = {"role": "assistant", "content": content}
    if tool_call is not None:
        args = arguments if arguments is not None else json.dumps(tool_call["arguments"])
        message["tool_calls"] = [
            {"id": "call_0", "type": "function", "function": {"name": tool_call["name"], "arguments": args}}
        ]
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_call else "stop"}],
        "usage": {"prompt_tokens": 123, "completion_tokens": 17, "total_tokens": 140},
    }


class FakeChatServer:
    """Answers POST /v1/chat/completions from a script of (status, body, headers, delay_s) steps."""

    def __init__(self, script: list[dict]) -> None:
        self.script, self.requests = list(script), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                step = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                time.sleep(step.get("delay_s", 0.0))
                payload = step.get("body", {})
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(step.get("status", 200))
                    for name, value in {
                        "Content-Type": "application/json",
                        **step.get("headers", {}),
                    }.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def serve(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    servers = []

    def start(*script: dict) -> FakeChatServer:
        servers.append(FakeChatServer(list(script)))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def make_client(server_or_url, **overrides) -> tuple[OpenAICompatibleCloud, list[float]]:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    settings = {"base_url": url, "model": "fake-model", "api_key_env": KEY_ENV, "timeout_s": 2.0}
    settings |= {"backoff_base_s": 0.5, "jitter_fraction": 0.0, **overrides}
    sleeps: list[float] = []
    return OpenAICompatibleCloud(CloudClientConfig(**settings), sleep=sleeps.append), sleeps


def test_tool_call_request_and_response(serve):
    task = TASKS[0]
    server = serve({"body": chat_response(task.gold)})
    client, sleeps = make_client(server, tool_choice="required")
    (proposal,) = client.propose([task])
    assert proposal.agent == "cloud" and proposal.tool_call == task.gold and proposal.score == 1.0
    assert (proposal.n_input_tokens, proposal.n_output_tokens) == (123, 17) and proposal.latency_ms > 0
    assert parse_tool_call(proposal.completion) == task.gold
    assert check_completion(proposal.completion, task.tools, task.gold).correct
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert request["body"]["model"] == "fake-model" and request["body"]["messages"] == task.messages
    assert request["body"]["tools"] == task.tools and request["body"]["tool_choice"] == "required"
    assert sleeps == [] and client.failures == []


def test_content_fallback_and_offschema_score(serve):
    task = TASKS[1]
    text = f"Calling the tool.\n<tool_call>{json.dumps(task.gold)}</tool_call>"
    bad = {"name": task.gold["name"], "arguments": {"no_such_argument": 1}}
    server = serve({"body": chat_response(content=text)}, {"body": chat_response(bad)})
    client, _ = make_client(server)
    first, second = client.propose([task, task])
    assert first.completion == text and first.tool_call == task.gold and first.score == 1.0
    assert second.tool_call == bad and second.score == 0.0  # parsed, but not valid for the schema


def test_malformed_arguments_are_a_schema_failure_not_a_crash(serve):
    task = TASKS[0]
    server = serve({"body": chat_response(task.gold, arguments='{"site": "harbor", ')})
    client, _ = make_client(server)
    (proposal,) = client.propose([task])
    assert proposal.tool_call is None and proposal.score == 0.0 and proposal.completion
    assert check_completion(proposal.completion, task.tools, task.gold).error_type == "unparseable"
    assert client.failures == []  # the request itself succeeded


def test_429_honours_retry_after(serve):
    server = serve(
        {"status": 429, "headers": {"Retry-After": "3"}, "body": {"error": {"message": "rate limited"}}},
        {"body": chat_response(TASKS[0].gold)},
    )
    client, sleeps = make_client(server)
    reply = client.complete(TASKS[0].messages, TASKS[0].tools)
    assert reply.tool_call == TASKS[0].gold and reply.attempts == 2
    assert sleeps == [3.0] and len(server.requests) == 2


def test_5xx_backoff_schedule_and_final_error(serve):
    server = serve({"status": 500, "body": {"error": {"message": "boom"}}})
    client, sleeps = make_client(server, max_retries=3, backoff_base_s=0.5, backoff_max_s=1.5)
    with pytest.raises(CloudRequestError, match=r"failed after 4 attempt\(s\): HTTP 500") as info:
        client.complete(TASKS[0].messages, TASKS[0].tools)
    assert info.value.attempts == 4 and info.value.status == 500
    assert sleeps == [0.5, 1.0, 1.5] and len(server.requests) == 4  # doubling, capped at backoff_max_s


def test_seeded_jitter():
    def schedule(seed: int) -> list[float]:
        client, _ = make_client("http://127.0.0.1:9/v1", jitter_fraction=0.5, seed=seed)
        return [client.backoff_s(k) for k in range(4)]

    assert schedule(1) == schedule(1) and schedule(1) != schedule(2)
    for k, delay in enumerate(schedule(1)):
        assert 0.5 * 2**k <= delay <= 1.5 * 0.5 * 2**k


def test_timeout_is_retried_then_reported(serve):
    server = serve({"delay_s": 0.6, "body": chat_response(TASKS[0].gold)})
    client, sleeps = make_client(server, timeout_s=0.15, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(CloudRequestError, match=r"after 2 attempt\(s\).*timed out") as info:
        client.complete(TASKS[0].messages, TASKS[0].tools)
    assert info.value.status is None and sleeps == [0.5] and time.perf_counter() - start < 2.0


def test_connection_refused_is_retried():
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, sleeps = make_client(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(CloudRequestError, match=r"after 3 attempt\(s\)"):
        client.complete(TASKS[0].messages, TASKS[0].tools)
    assert sleeps == [0.5, 1.0]


def test_client_errors_are_not_retried_and_key_is_redacted(serve):
    server = serve({"status": 401, "body": {"error": {"message": f"bad key {SECRET}"}}})
    client, sleeps = make_client(server)
    with pytest.raises(CloudRequestError, match=r"after 1 attempt\(s\): HTTP 401") as info:
        client.complete(TASKS[0].messages, TASKS[0].tools)
    assert SECRET not in str(info.value) and "***" in str(info.value)
    assert sleeps == [] and len(server.requests) == 1


def test_invalid_json_body_fails_clearly(serve):
    server = serve({"body": "<html>not json</html>"})
    client, _ = make_client(server)
    with pytest.raises(CloudRequestError, match="invalid JSON response"):
        client.complete(TASKS[0].messages, TASKS[0].tools)


def test_propose_degrades_visibly_and_never_leaks_the_key(serve, caplog):
    server = serve({"status": 503, "headers": {"Retry-After": "0"}, "body": {"error": {"message": "down"}}})
    client, _ = make_client(server, max_retries=1)
    with caplog.at_level(logging.DEBUG, logger="netgpt_lite.agents.cloud_openai"):
        proposals = client.propose(TASKS[:2])
    assert [(p.tool_call, p.score, p.completion) for p in proposals] == [(None, 0.0, "")] * 2
    assert [f.task_id for f in client.failures] == [t.task_id for t in TASKS[:2]]
    assert all(f.attempts == 2 and "HTTP 503" in f.error for f in client.failures)
    assert TASKS[0].task_id in caplog.text and "retrying" in caplog.text
    texts = [
        caplog.text,
        str(client),
        repr(client),
        str(client.config),
        repr(client.config),
        str(client.failures),
    ]
    assert all(SECRET not in text for text in texts)
    assert len(server.requests) == 4


def test_no_key_sends_no_authorization(serve, monkeypatch):
    server = serve({"body": chat_response(TASKS[0].gold)})
    monkeypatch.delenv(KEY_ENV)
    client, _ = make_client(server)
    client.complete(TASKS[0].messages, TASKS[0].tools)
    assert "Authorization" not in server.requests[0]["headers"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "api.openai.com/v1"),
        ("model", " "),
        ("api_key_env", "MY KEY"),
        ("timeout_s", 0),
        ("max_retries", -1),
        ("backoff_base_s", -0.1),
        ("backoff_max_s", 0.1),
        ("jitter_fraction", 1.5),
        ("tool_choice", "always"),
        ("temperature", 3.0),
        ("max_tokens", 0),
    ],
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        CloudClientConfig(**{field: value})


def test_helpers():
    assert retry_after_s("1.5") == 1.5 and retry_after_s("-3") == 0.0 and retry_after_s("") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    with pytest.raises(KeyError):
        parse_chat_response({"choices": [{}]})
    completion, call = parse_chat_response(chat_response({"name": "f", "arguments": {"x": 1}}))
    assert call == {"name": "f", "arguments": {"x": 1}} and completion.startswith('{"name":')
