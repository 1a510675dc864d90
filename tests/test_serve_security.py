"""``netgpt-lite serve`` against hostile and careless clients: no fetch from a client's schema, one request never
fails another, a client key and the exposure rule, credentials redacted (the limits: ``test_serve_limits.py``).

Each test names the defect it reproduces (before the fix: 12 of 12 ``$ref`` URLs fetched, 0 of 20 valid
concurrent requests answered beside one poisoned request, ``--host 0.0.0.0`` accepted silently, the upstream
password in ``/health``)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")

from netgpt_lite.agents.redaction import redact_url  # noqa: E402
from netgpt_lite.cli import main  # noqa: E402
from netgpt_lite.service.auth import BearerKey, is_loopback  # noqa: E402
from netgpt_lite.service.batcher import EdgeBatcher  # noqa: E402
from netgpt_lite.service.limits import BadRequest  # noqa: E402
from netgpt_lite.tasks.generate import Task, generate_tasks  # noqa: E402

TASKS = generate_tasks("validation", 24, seed=11)
GOLD = {t.messages[-1]["content"]: t.gold for t in TASKS}
URL = ["--cloud-base-url", "http://127.0.0.1:9/v1", "--cloud-model", "m"]


@pytest.fixture
def serve(serve_router):
    """``serve(key=None, **config) -> (base_url, service)``; the scripted upstream answers the gold calls."""
    return lambda key=None, **overrides: serve_router(key, GOLD, **overrides)


def post(
    base_url: str, body, headers: dict | None = None, path: str = "/chat/completions"
) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path, data, {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def body_of(task: Task, tools=None, messages=None) -> dict:
    return {"model": "m", "messages": messages or task.messages, "tools": tools or task.tools}


def with_parameters(task: Task, parameters: dict) -> list[dict]:
    """The task's tools, the gold tool's ``parameters`` replaced (the edge names the gold tool)."""
    tools = json.loads(json.dumps(task.tools))
    for tool in tools:
        if tool["function"]["name"] == task.gold["name"]:
            tool["function"]["parameters"] = parameters
    return tools


# --- 1. a client's $ref never makes the service fetch or read ------------------------------------------------
def test_a_ref_in_a_client_schema_is_a_400_naming_the_tool_and_nothing_is_fetched(serve, tmp_path,
                                                                                   counting_listener):
    """Defect: the edge's call of a tool with ``{"$ref": "http://..."}`` made the checker fetch the URL."""
    listener = counting_listener
    schema_file = tmp_path / "schema.json"
    schema_file.write_text("{}")
    base_url, service = serve()
    try:
        for task in TASKS[:6]:
            for ref in (listener.url, schema_file.as_uri()):
                status, answer = post(base_url, body_of(task, with_parameters(task, {"$ref": ref})))
                assert status == 400, answer
                message = answer["error"]["message"]
                assert (
                    repr(task.gold["name"]) in message
                    and ref in message
                    and "only local references" in message
                )
    finally:
        listener.close()
    assert listener.connections == 0
    assert service.metrics.counter("netgpt_rejected_total", reason="bad_request") == 12


# --- 3. one request never fails another ------------------------------------------------------------------------
def _poison(kind: str) -> bytes:
    task = TASKS[0]
    if kind == "lone_surrogate":  # valid JSON ("\ud800"), not valid Unicode: the tokenizer cannot take it
        messages = [{"role": "user", "content": "ping cell-3 \ud800 now"}]
        return json.dumps(body_of(task, messages=messages)).encode()
    return json.dumps(
        body_of(task, with_parameters(task, {"$ref": "http://127.0.0.1:9/schema.json"}))
    ).encode()


@pytest.mark.parametrize("kind", ["lone_surrogate", "remote_ref"])
def test_one_poisoned_request_among_20_concurrent_fails_alone(serve, kind):
    """Defect: the edge's error was handed to the whole micro-batch (0 of 20 valid requests got a 200)."""
    base_url, service = serve(max_batch=32, max_wait_ms=500.0)  # all 21 requests in one batch
    bodies = [json.dumps(body_of(t)).encode() for t in TASKS[:20]] + [_poison(kind)]
    results: list = [None] * len(bodies)

    def send(i: int) -> None:
        results[i] = post(base_url, bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results[:20]] == [200] * 20
    status, answer = results[20]
    assert status == 400 and (
        "surrogate" in answer["error"]["message"] or "$ref" in answer["error"]["message"]
    )


class FragileEdge:
    """Fails any batch holding the task ``"bad"``; answers ``task * 2`` otherwise."""

    def run(self, tasks):
        if "bad" in tasks:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return [t * 2 for t in tasks]


def test_a_failing_batch_is_run_again_one_request_at_a_time():
    """Defect: one request's exception was set on every future of its batch."""

    def prepare(task):
        if task == "unprepared":
            raise BadRequest("refused alone")

    async def demo():
        batcher = EdgeBatcher(FragileEdge(), max_batch=8, max_wait_ms=200.0, prepare=prepare)
        await batcher.start()
        out = await asyncio.gather(
            *(batcher.submit(t) for t in ["a", "bad", "c", "unprepared", "e"]), return_exceptions=True
        )
        await batcher.stop()
        return out, batcher.stats

    out, stats = asyncio.run(demo())
    assert out[0] == "aa" and out[2] == "cc" and out[4] == "ee"
    assert isinstance(out[1], UnicodeEncodeError) and isinstance(out[3], BadRequest)
    assert stats.n_isolated_batches == 1 and stats.batch_sizes == [4]  # the unprepared one never joined


def test_admit_refuses_what_the_edge_cannot_render(serve):
    _, service = serve()
    task = Task(
        "t",
        "serve",
        "single_step",
        "medium",
        "serve",
        [{"role": "user", "content": "x\ud800"}],
        TASKS[0].tools,
        {},
    )
    with pytest.raises(BadRequest, match="cannot be rendered for the edge model"):
        service.admit(task)  # defence in depth: the body check refuses it first
    service.admit(Task("t", "serve", "single_step", "medium", "serve", TASKS[0].messages, TASKS[0].tools, {}))


# --- 2. exposure: a client key, the loopback rule, redaction -------------------------------------------------
def test_a_client_key_is_required_on_every_endpoint_but_health(serve):
    """Defect: there was no way to require a client key."""
    key = "k-" + "7" * 30
    base_url, service = serve(key=BearerKey(key))
    root = base_url.removesuffix("/v1")
    body = body_of(TASKS[0])
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": key},
        {"Authorization": f"Basic {key}"},
    ):
        status, answer = post(base_url, body, headers)
        assert (
            status == 401 and answer["error"]["code"] == "invalid_api_key" and key not in json.dumps(answer)
        )
    assert post(base_url, body, {"Authorization": f"Bearer {key}"})[0] == 200
    for path in ("/v1/models", "/metrics"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(root + path, timeout=10)
        assert info.value.code == 401
    health = urllib.request.urlopen(root + "/health", timeout=10).read().decode()
    assert json.loads(health)["client_key_required"] is True and key not in health
    assert service.metrics.counter("netgpt_rejected_total", reason="unauthorized") == 6


def test_bearer_key_compares_in_constant_time_and_hides_itself(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    key = BearerKey("abc")
    assert key.allows("bearer abc") and not key.allows("Bearer abd") and calls == [1, 1]
    assert "abc" not in repr(key)
    monkeypatch.delenv("NETGPT_TEST_CLIENT_KEY", raising=False)
    with pytest.raises(ValueError, match="NETGPT_TEST_CLIENT_KEY is not set"):
        BearerKey.from_env("NETGPT_TEST_CLIENT_KEY")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secretpw@127.0.0.1:8001/v1", "http://***@127.0.0.1:8001/v1"),
        ("https://sk-secret@api.example.com/v1", "https://***@api.example.com/v1"),
        ("https://h/v1?api_key=secret&model=m", "https://h/v1?api_key=***&model=m"),
        ("https://u:p@ss@h:1/v1?token=secret#f", "https://***@h:1/v1?token=***#f"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown and "secret" not in redact_url(url)


def test_upstream_credentials_are_redacted_in_health_metrics_logs_and_errors(serve, caplog, monkeypatch):
    """Defect: ``/health`` showed ``user:password@`` of the upstream URL."""
    from netgpt_lite.agents.cloud_http import CloudClientConfig, CloudRequestError
    from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud

    monkeypatch.delenv("NETGPT_TEST_UPSTREAM_KEY", raising=False)
    secret_url = "http://user:secretpw@127.0.0.1:9/v1"
    base_url, _ = serve(cloud_base_url=secret_url, cloud_key_env="NETGPT_TEST_UPSTREAM_KEY")
    root = base_url.removesuffix("/v1")
    health = urllib.request.urlopen(root + "/health", timeout=10).read().decode()
    metrics = urllib.request.urlopen(root + "/metrics", timeout=10).read().decode()
    assert json.loads(health)["upstream"] == "http://***@127.0.0.1:9/v1" and "secretpw" not in metrics
    cloud = OpenAICompatibleCloud(
        CloudClientConfig(
            base_url=secret_url,
            model="m",
            max_retries=0,
            timeout_s=1.0,
            api_key_env="NETGPT_TEST_UPSTREAM_KEY",
        )
    )
    with caplog.at_level("WARNING"), pytest.raises(CloudRequestError) as info:
        cloud.exchange({"model": "m", "messages": []})
    assert "***@127.0.0.1:9" in str(info.value)
    assert all("secretpw" not in text for text in (str(info.value), repr(cloud), caplog.text))


def test_serve_refuses_a_public_host_without_a_key(capsys, monkeypatch):
    """Defect: ``serve --host 0.0.0.0`` was accepted without a word."""
    assert main(["serve", *URL, "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument --host" in err and "--api-key-env" in err and "--allow-unauthenticated" in err
    monkeypatch.delenv("NETGPT_TEST_CLIENT_KEY", raising=False)
    assert (
        main(["serve", *URL, "--host", "0.0.0.0", "--port", "0", "--api-key-env", "NETGPT_TEST_CLIENT_KEY"])
        == 2
    )
    assert "argument --api-key-env" in capsys.readouterr().err


def test_allow_unauthenticated_warns_and_the_start_line_redacts(capsys, monkeypatch, tmp_path):
    import netgpt_lite.service.app as app_module

    served = []
    monkeypatch.setattr(app_module, "serve_forever", lambda config: served.append(config))
    args = [
        "serve",
        "--cloud-base-url",
        "http://user:secretpw@127.0.0.1:9/v1",
        "--cloud-model",
        "m",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--log-dir",
        str(tmp_path / "l"),
    ]
    assert main([*args, "--allow-unauthenticated"]) == 0
    err = capsys.readouterr().err
    assert "warning: listening on 0.0.0.0 without a client key" in err and "secretpw" not in err
    monkeypatch.setenv("NETGPT_TEST_CLIENT_KEY", "k" * 32)
    assert main([*args, "--api-key-env", "NETGPT_TEST_CLIENT_KEY", "--max-tools", "8"]) == 0
    assert "without a client key" not in capsys.readouterr().err
    assert served[-1].client_key_env == "NETGPT_TEST_CLIENT_KEY" and served[-1].limits.max_tools == 8
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("::")
