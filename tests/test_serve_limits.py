"""``netgpt-lite serve`` bounds every size a client controls: the body (413, not read past the limit), the tools,
their names and sizes, the messages and the rendered prompt (a clear 400 naming the limit and its value), each a
validated ``serve`` flag.

Defects reproduced: a 100,000-character tool name held the edge for minutes (1.67 GB); a 300 MB body was read
whole (+880 MB resident; +16.8 GB once the edge rendered it)."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")

from netgpt_lite.cli import main  # noqa: E402
from netgpt_lite.service.limits import RequestLimits  # noqa: E402
from netgpt_lite.tasks.generate import Task, generate_tasks  # noqa: E402

TASKS = generate_tasks("validation", 4, seed=11)
URL = ["--cloud-base-url", "http://127.0.0.1:9/v1", "--cloud-model", "m"]


@pytest.fixture
def serve(serve_router):
    """``serve(**config) -> (base_url, service)``: the router before a scripted upstream."""
    return serve_router


def post(base_url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base_url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def body_of(task: Task, tools=None, messages=None) -> dict:
    return {"model": "m", "messages": messages or task.messages, "tools": tools or task.tools}


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-tools", "0"),
        ("--max-body-bytes", str(10**12)),
        ("--max-prompt-tokens", "many"),
        ("--max-tool-name-chars", "1000"),
    ],
)
def test_limit_flags_are_validated(capsys, flag, value):
    assert main(["serve", *URL, flag, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "must be an integer in [" in err


def test_request_limits_name_the_field_and_its_range():
    with pytest.raises(
        ValueError, match=r"max_tools=0 is invalid: use an integer in \[1, 1024\] \(serve --max-tools\)"
    ):
        RequestLimits(max_tools=0)
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        RequestLimits(max_prompt_tokens=True)


def _tool(name: str, extra: int = 0) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "d" * extra,
            "parameters": {"type": "object", "properties": {}},
        },
    }


OVER = {  # limit -> (serve overrides, body) over it; the tiny edge's own tools elsewhere
    "max_tools": (
        {"limits": RequestLimits(max_tools=4)},
        lambda t: body_of(t, [_tool(f"t{i}") for i in range(5)]),
    ),
    "max_tool_bytes": ({}, lambda t: body_of(t, [*t.tools, _tool("big", 20_000)])),
    "max_tool_name_chars": ({}, lambda t: body_of(t, [*t.tools, _tool("x" * 100_000)])),
    "name_pattern": ({}, lambda t: body_of(t, [*t.tools, _tool("get weather; rm -rf")])),
    "max_messages": (
        {"limits": RequestLimits(max_messages=3)},
        lambda t: body_of(t, messages=t.messages * 4),
    ),
    "max_message_chars": ({}, lambda t: body_of(t, messages=[{"role": "user", "content": "a" * 70_000}])),
    "max_prompt_tokens": ({"limits": RequestLimits(max_prompt_tokens=16)}, lambda t: body_of(t)),
}


@pytest.mark.parametrize("limit", sorted(OVER))
def test_a_request_over_a_limit_is_a_clear_400(serve, limit):
    """Defect: a 100,000-character tool name held the edge ~10 minutes (1.67 GB); nothing was bounded."""
    overrides, make = OVER[limit]
    base_url, _ = serve(**overrides)
    start = time.perf_counter()
    status, answer = post(base_url, make(TASKS[0]))
    assert status == 400 and time.perf_counter() - start < 5.0
    message = answer["error"]["message"]
    assert (
        (limit in message and "(serve --" in message)
        if limit != "name_pattern"
        else "^[a-zA-Z0-9_-]+$" in message
    )
    if limit != "max_prompt_tokens":
        assert post(base_url, body_of(TASKS[1]))[0] == 200  # the next request is served as usual


def _raw_request(base_url: str, headers: str) -> socket.socket:
    host, port = base_url.split("//")[1].split("/")[0].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{headers}\r\n".encode()
    )
    return sock


def _status(sock: socket.socket) -> tuple[int, str]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload.decode(errors="replace")


def test_a_body_over_the_limit_is_a_413_and_is_not_read(serve):
    """Defect: a 300 MB body was accepted and read whole (+880 MB resident)."""
    import psutil

    base_url, service = serve(limits=RequestLimits(max_body_bytes=64 * 1024))
    process = psutil.Process()
    rss_before = process.memory_info().rss
    # a declared 300 MB: refused on Content-Length before a single body byte is sent
    with _raw_request(base_url, "Content-Length: 300000000\r\n") as sock:
        status, payload = _status(sock)
    assert status == 413 and "max_body_bytes=65536 (serve --max-body-bytes)" in payload
    # chunked, no length: read only up to the limit, answered before the body ends
    frame = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    with _raw_request(base_url, "Transfer-Encoding: chunked\r\n") as sock:
        for _ in range(3):  # 96 kB of a body that never ends
            sock.sendall(frame)
        status, payload = _status(sock)
    assert status == 413 and "max_body_bytes" in payload

    # load: 6 clients each pushing 300 MB chunked at once; each is cut off soon after the limit
    sent = [0] * 6
    peak = [rss_before]

    def push(i: int) -> None:
        with _raw_request(base_url, "Transfer-Encoding: chunked\r\n") as sock:
            big = (b"10000\r\n" + b" " * 0x10000 + b"\r\n") * 16  # 1 MB per send
            try:
                while sent[i] < 300_000_000:
                    sock.sendall(big)
                    sent[i] += 16 * 0x10000
                    if select.select([sock], [], [], 0)[0]:
                        break
            except OSError:  # the server answered 413 and closed: the rest is never read
                pass

    def sample(stop: threading.Event) -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.01)

    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(stop,))
    sampler.start()
    pushers = [threading.Thread(target=push, args=(i,)) for i in range(6)]
    for thread in pushers:
        thread.start()
    for thread in pushers:
        thread.join()
    stop.set()
    sampler.join()
    assert max(sent) < 64_000_000, sent  # socket buffers at most, never the 300 MB
    assert peak[0] - rss_before < 200_000_000 and peak[0] < 3_000_000_000
    assert service.metrics.counter("netgpt_rejected_total", reason="too_large") >= 2
    assert post(base_url, body_of(TASKS[0]))[0] == 200  # and the service still answers
