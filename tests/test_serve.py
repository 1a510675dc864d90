"""``netgpt-lite serve`` over real HTTP on 127.0.0.1: the official ``openai`` SDK as its client, a scripted
upstream (:class:`netgpt_lite.service.upstream.ScriptedUpstream`) as its cloud, the tiny edge."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

from netgpt_lite.network.state import REGIMES, NetworkState  # noqa: E402
from netgpt_lite.routing.policies import AlwaysCloud  # noqa: E402
from netgpt_lite.service.app import BackgroundServer, ServeConfig, build_service, create_app  # noqa: E402
from netgpt_lite.service.upstream import ScriptedUpstream  # noqa: E402
from netgpt_lite.synergy.loop import load_log  # noqa: E402
from netgpt_lite.tasks.generate import generate_tasks  # noqa: E402

TASKS = generate_tasks("validation", 24, seed=11)
GOLD = {t.messages[-1]["content"]: t.gold for t in TASKS}


class SetNetwork:
    """A network source the test sets by hand."""

    source = "test"

    def __init__(self, state: NetworkState) -> None:
        self.current = state

    def state(self) -> NetworkState:
        return self.current

    def observe_rtt(self, rtt_ms: float) -> None:
        pass

    def observe_transfer(self, n_bytes: int, elapsed_s: float) -> None:
        pass

    def needs_probe(self) -> bool:
        return False


@pytest.fixture(scope="module")
def edge():
    from netgpt_lite.edge.agent import EdgeAgent

    agent = EdgeAgent.from_pretrained("tiny", device="cpu")
    parses = [o.tool_call is not None for o in agent.run(TASKS)]
    assert all(parses), "the fault tests need edge answers that parse"
    return agent


@pytest.fixture
def stack(edge, tmp_path):
    """``start(script, policy=..., **config) -> (sdk client, service, upstream)``; everything stopped after."""
    stops = []

    def start(script=(), policy=None, network=REGIMES["5g_good"].state, **overrides):
        upstream = ScriptedUpstream(list(script), answers=GOLD).start()
        stops.append(upstream.stop)
        settings = {"cloud_base_url": upstream.base_url, "cloud_model": "upstream-model", "port": 0,
                    "log_dir": str(tmp_path / "log"), "upstream_timeout_s": 0.5, "upstream_retries": 1,
                    "backoff_max_s": 0.05, "circuit_failures": 50, **overrides}
        service = build_service(ServeConfig(**settings), agent=edge, policy=policy)
        service.monitor = SetNetwork(network)
        server = BackgroundServer(create_app(service, flush_interval_s=60.0))
        base_url = server.__enter__()
        stops.append(lambda: server.__exit__(None, None, None))
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=10.0)
        return client, service, upstream

    yield start
    for stop in reversed(stops):
        stop()


def ask(client, task, **kwargs):
    raw = client.chat.completions.with_raw_response.create(model="any", messages=task.messages, tools=task.tools,
                                                           **kwargs)
    return raw.parse(), raw.headers


def test_cloud_answers_go_through_whole_and_are_logged(stack, tmp_path):
    client, service, upstream = stack(policy=AlwaysCloud())
    for task in TASKS[:3]:
        completion, headers = ask(client, task)
        (call,) = completion.choices[0].message.tool_calls
        assert headers["x-netgpt-route"] == "cloud" and headers["x-netgpt-degraded"] == "0"
        assert call.function.name == task.gold["name"] and json.loads(call.function.arguments) == task.gold["arguments"]
        assert completion.model_extra["netgpt"]["route"] == "cloud"
    chats = [r for r in upstream.requests if r["body"] is not None]
    assert len(chats) == 3 and chats[0]["body"]["model"] == "upstream-model" and chats[0]["body"]["tools"]
    service.traffic_log.flush()
    log = load_log(tmp_path / "log")
    assert len(log) == 3 and [json.loads(c) for c in log["cloud_call"]] == [t.gold for t in TASKS[:3]]
    assert set(log.column_names) >= {"task", "cloud_call", "edge_score", "threshold", "rtt_ms", "scorer_holdout"}


def test_text_and_empty_name_cloud_answers_are_logged_with_their_kind(stack, tmp_path):
    """Every answer a client got is in the log, marked; training reads only the tool calls."""
    text = {"id": "x", "object": "chat.completion", "created": 0, "model": "upstream-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "I cannot do that."}}]}
    empty = {**text, "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c0", "type": "function", "function": {"name": "", "arguments": "{}"}}]}}]}
    client, service, _ = stack([{"body": text}, {"body": empty}], policy=AlwaysCloud())
    for task in TASKS[:3]:  # the third is a normal tool call
        raw = client.chat.completions.with_raw_response.create(model="any", messages=task.messages, tools=task.tools)
        assert raw.http_response.status_code == 200
    service.traffic_log.flush()
    log = load_log(tmp_path / "log")
    assert len(log) == 3
    kinds = dict(zip(log["request_id"], log["answer_kind"], strict=True))
    assert sorted(kinds.values()) == ["malformed_call", "text", "tool_call"]
    assert "I cannot do that." in log["cloud_text"]


def test_decisions_follow_the_network(stack):
    client, service, _ = stack()  # the shipped FuncDyn of the tiny edge
    routes = {}
    for name in ("5g_good", "near_outage"):
        service.monitor.current = REGIMES[name].state
        routes[name] = [ask(client, t)[1]["x-netgpt-route"] for t in TASKS[:12]]
    assert routes["near_outage"] == ["edge"] * 12  # a dying link keeps everything on the edge
    assert routes["5g_good"].count("cloud") >= 3  # a good link sends the doubtful ones to the cloud
    _, headers = ask(client, TASKS[0])
    assert float(headers["x-netgpt-rtt-ms"]) == REGIMES["near_outage"].state.rtt_ms


def test_parallel_tool_calls_reach_the_client(stack):
    second = {"name": TASKS[0].tools[-1]["function"]["name"], "arguments": {}}
    client, _, _ = stack(script=[{"tool_calls": [TASKS[0].gold, second]}], policy=AlwaysCloud())
    completion, headers = ask(client, TASKS[0])
    assert [c.function.name for c in completion.choices[0].message.tool_calls] == [TASKS[0].gold["name"],
                                                                                   second["name"]]
    assert headers["x-netgpt-route"] == "cloud"


FAULTS = {
    "429_retry_after_a_day": ([{"status": 429, "headers": {"Retry-After": "86400"}}], "cloud"),
    "429_retry_after_year_9999": ([{"status": 429, "headers": {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}}],
                                  "cloud"),
    "408_then_ok": ([{"status": 408}], "cloud"),
    "500_twice": ([{"status": 500}] * 2, "degraded"),
    "slow": ([{"delay_s": 1.5}] * 2, "degraded"),
    "truncated_twice": ([{"truncate": True}] * 2, "degraded"),
    "malformed_json": ([{"body": '{"choices": [{"message": '}], "degraded"),
    "html_200": ([{"body": "<html>oops</html>"}], "degraded"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_give_valid_completions(stack, fault):
    script, expected = FAULTS[fault]
    client, service, _ = stack(script=script, policy=AlwaysCloud())
    start = time.perf_counter()
    completion, headers = ask(client, TASKS[1])
    assert time.perf_counter() - start < 5.0  # a day-long Retry-After is capped (backoff_max_s)
    calls = completion.choices[0].message.tool_calls
    assert calls and calls[0].function.name  # a valid completion with a tool call, every time
    if expected == "cloud":
        assert headers["x-netgpt-route"] == "cloud" and headers["x-netgpt-degraded"] == "0"
    else:
        assert headers["x-netgpt-route"] == "edge" and headers["x-netgpt-degraded"] == "1"
        assert completion.model_extra["netgpt"]["reason"].startswith("upstream_")
        assert service.metrics.counter("netgpt_degraded_total", reason=completion.model_extra["netgpt"]["reason"]) == 1


def test_circuit_opens_after_repeated_failures(stack):
    client, service, upstream = stack(script=[{"status": 500}] * 100, policy=AlwaysCloud(), circuit_failures=2,
                                      upstream_retries=0)
    reasons = [ask(client, t)[0].model_extra["netgpt"]["reason"] for t in TASKS[:4]]
    assert reasons == ["upstream_error", "upstream_error", "circuit_open", "circuit_open"]
    assert len([r for r in upstream.requests if r["body"] is not None]) == 2  # no call while open


@pytest.mark.parametrize(("extra", "needle"), [({"stream": True}, "stream"), ({"n": 2}, "n=2"),
                                              ({"tool_choice": "none"}, "tool_choice")])
def test_unsupported_requests_get_a_clear_400(stack, extra, needle):
    client, _, _ = stack()
    with pytest.raises(openai.BadRequestError, match=needle):
        client.chat.completions.create(model="any", messages=TASKS[0].messages, tools=TASKS[0].tools, **extra)
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(model="any", messages=TASKS[0].messages)
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    with pytest.raises(openai.BadRequestError, match="content parts"):
        client.chat.completions.create(model="any", messages=parts, tools=TASKS[0].tools)


def test_models_health_and_metrics(stack):
    client, service, _ = stack(policy=AlwaysCloud())
    assert [m.id for m in client.models.list()] == ["netgpt-lite-router"]
    ask(client, TASKS[0])
    base = str(client.base_url).rstrip("/").removesuffix("/v1")
    health = json.loads(urllib.request.urlopen(base + "/health", timeout=5).read())
    assert health["status"] == "ok" and health["circuit"] == "closed"
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    for needle in ('netgpt_requests_total{degraded="false",route="cloud"} 1', "netgpt_fallbacks_total{",
                   "netgpt_request_seconds_bucket{", "netgpt_threshold ", "netgpt_rtt_ms ", "netgpt_bandwidth_mbps ",
                   "netgpt_measured_rtt_ms ", "# TYPE netgpt_request_seconds histogram"):
        assert needle in text, needle


class SlowEdge:
    """The tiny edge, 0.3 s slower per batch (to fill the queue)."""

    def __init__(self, agent) -> None:
        self.agent, self.score = agent, agent.score

    def run(self, tasks):
        time.sleep(0.3)
        return self.agent.run(tasks)


def test_full_queue_answers_503_with_retry_after(edge, tmp_path):
    with ScriptedUpstream(answers=GOLD) as upstream:
        config = ServeConfig(cloud_base_url=upstream.base_url, cloud_model="m", port=0, max_batch=1, max_queue=1,
                             log_dir=str(tmp_path / "log"))
        service = build_service(config, agent=SlowEdge(edge), policy=AlwaysCloud())
        with BackgroundServer(create_app(service)) as base_url:
            body = json.dumps({"model": "m", "messages": TASKS[0].messages, "tools": TASKS[0].tools}).encode()
            results = []

            def post():
                request = urllib.request.Request(base_url + "/chat/completions", body,
                                                 {"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        results.append((response.status, None))
                except urllib.error.HTTPError as err:
                    results.append((err.code, err.headers.get("Retry-After")))

            threads = [threading.Thread(target=post) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    statuses = sorted(s for s, _ in results)
    assert 503 in statuses and 200 in statuses and set(statuses) <= {200, 503}
    assert all(retry == "1" for s, retry in results if s == 503)


def test_trace_replay_moves_the_threshold(edge, tmp_path):
    from netgpt_lite.network.traces import NetworkTrace, write_trace_csv

    trace = NetworkTrace(np.array([0.0, 10.0]), np.array([200.0, 0.05]), np.array([20.0, 2500.0]))
    path = write_trace_csv(trace, tmp_path / "degrading.csv")
    now = [0.0]
    with ScriptedUpstream(answers=GOLD) as upstream:
        config = ServeConfig(cloud_base_url=upstream.base_url, cloud_model="m", port=0, trace=str(path),
                             log_dir=str(tmp_path / "log"))
        service = build_service(config, agent=edge, clock=lambda: now[0])
        with BackgroundServer(create_app(service)) as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
            good = [ask(client, t)[1] for t in TASKS[:8]]
            now[0] = 12.0  # the trace has degraded to a near outage
            bad = [ask(client, t)[1] for t in TASKS[:8]]
    assert {h["x-netgpt-route"] for h in bad} == {"edge"}
    assert max(float(h["x-netgpt-threshold"]) for h in bad) < min(float(h["x-netgpt-threshold"]) for h in good)
    assert float(bad[0]["x-netgpt-rtt-ms"]) == 2500.0


def test_measured_network_from_probes_and_upstream_calls(edge, tmp_path):
    step = {"delay_s": 0.06, "headers": {"openai-processing-ms": "50"}}  # 50 of its ~60 ms were the server's own
    with ScriptedUpstream([step], answers=GOLD) as upstream:
        config = ServeConfig(cloud_base_url=upstream.base_url, cloud_model="m", port=0, log_dir=str(tmp_path / "l"))
        service = build_service(config, agent=edge, policy=AlwaysCloud())
        with BackgroundServer(create_app(service)) as base_url:
            assert service.monitor.n_rtt_samples == 1  # the probe at start (GET /v1/models)
            client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
            ask(client, TASKS[0])  # its reply reports the server's own time: elapsed - 50 ms is an RTT sample
            ask(client, TASKS[1])  # no header: a throughput sample only
            text = urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=5).read().decode()
        paths = [r["path"] for r in upstream.requests]
    assert paths[0] == "/v1/models" and paths.count("/v1/chat/completions") == 2
    assert service.monitor.n_rtt_samples == 2 and service.monitor.n_throughput_samples == 2
    state = service.monitor.state()
    assert state.bandwidth_mbps > 0 and state.rtt_ms < 1000.0  # loopback, not the 4G default any more
    assert f"netgpt_measured_rtt_ms {state.rtt_ms!r}" in text


class GarbageEdge:
    """An edge whose answers never parse (score 0)."""

    score = "mean"

    def run(self, tasks):
        from netgpt_lite.edge.agent import EdgeOutput

        return [EdgeOutput("prompt", "I am not sure.", None, False, np.zeros(0), 10, 0, 0.0) for _ in tasks]


def test_no_parseable_answer_anywhere_is_a_502_not_a_fake_call(tmp_path):
    with ScriptedUpstream([{"status": 500}] * 2, answers=GOLD) as upstream:
        config = ServeConfig(cloud_base_url=upstream.base_url, cloud_model="m", port=0, log_dir=str(tmp_path / "l"),
                             backoff_max_s=0.05)
        service = build_service(config, agent=GarbageEdge())  # the shipped FuncDyn: score 0 falls back
        with BackgroundServer(create_app(service)) as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
            with pytest.raises(openai.InternalServerError, match="edge answer does not parse") as info:
                client.chat.completions.create(model="m", messages=TASKS[0].messages, tools=TASKS[0].tools)
            completion, headers = ask(client, TASKS[1])  # the upstream is back: the cloud answers
    assert info.value.status_code == 502
    assert headers["x-netgpt-route"] == "cloud" and completion.model_extra["netgpt"]["reason"] == "edge_call_invalid"


class InvalidCallEdge:
    """An edge whose call parses but names no offered tool (schema-invalid), with a confident score."""

    score = "mean"

    def run(self, tasks):
        from netgpt_lite.edge.agent import EdgeOutput

        call = {"name": "no_such_tool", "arguments": {}}
        return [EdgeOutput("prompt", json.dumps(call), call, False, np.zeros(4), 10, 4, 0.0) for _ in tasks]


def test_an_invalid_call_never_reaches_the_client(tmp_path):
    """Even a policy that keeps every edge answer (an outage's threshold) sends an invalid call to the cloud,
    and when the cloud cannot answer the client gets a 502 naming why, not the invalid call."""
    from netgpt_lite.routing.policies import AlwaysEdge

    with ScriptedUpstream([{"status": 500}] * 2, answers=GOLD) as upstream:
        config = ServeConfig(cloud_base_url=upstream.base_url, cloud_model="m", port=0, log_dir=str(tmp_path / "l"),
                             backoff_max_s=0.05)
        service = build_service(config, agent=InvalidCallEdge(), policy=AlwaysEdge())
        with BackgroundServer(create_app(service)) as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
            with pytest.raises(openai.InternalServerError, match="not a valid call of the offered tools") as info:
                client.chat.completions.create(model="m", messages=TASKS[0].messages, tools=TASKS[0].tools)
            completion, headers = ask(client, TASKS[1])  # the upstream is back: the cloud answers instead
    assert info.value.status_code == 502
    assert headers["x-netgpt-route"] == "cloud" and completion.model_extra["netgpt"]["reason"] == "edge_call_invalid"
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == TASKS[1].gold["name"]


def test_serve_config_checks_the_decoding_rule():
    with pytest.raises(ValueError, match="edge_decoding='beam' is invalid: use 'greedy' or 'retry'"):
        ServeConfig(cloud_base_url="http://127.0.0.1:1/v1", cloud_model="m", edge_decoding="beam")
    assert ServeConfig(cloud_base_url="http://127.0.0.1:1/v1", cloud_model="m").edge_decoding == "retry"
