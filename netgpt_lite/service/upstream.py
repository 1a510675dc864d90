"""A scripted OpenAI-compatible upstream on 127.0.0.1: the stand-in cloud of the tests and the book page.

:class:`ScriptedUpstream` is a real HTTP server (standard library, one thread per connection) that
answers ``POST /v1/chat/completions`` with a schema-valid tool call and ``GET /v1/models`` with one
model.  The call is the one :attr:`ScriptedUpstream.answers` holds for the request's last user
message (e.g. the gold calls of generated tasks, so the stand-in cloud is right), else the first
offered tool with its required arguments filled from the schema.

A *script* of faults is played one step per chat request, then the server answers normally.  A step
is a dict with any of:

* ``status`` (int) and ``headers`` (dict): e.g. ``{"status": 429, "headers": {"Retry-After": "86400"}}``;
* ``delay_s``: wait before answering (slow upstream; a client timeout);
* ``body``: a dict (sent as JSON) or a string (sent raw: malformed JSON, HTML);
* ``truncate``: send only the first half of the body, with the full ``Content-Length``, then close;
* ``tool_calls``: a list of calls to answer with (parallel tool calls).

Every request is recorded in :attr:`ScriptedUpstream.requests` (path, headers, body).

Example:
    >>> with ScriptedUpstream([{"status": 500}]) as upstream:   # doctest: +SKIP
    ...     upstream.base_url
    'http://127.0.0.1:54321/v1'
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the listen backlog: the default 5 drops connections under 32 concurrent clients


def filler_call(tools: list[dict]) -> dict | None:
    """The first offered tool, its required arguments filled with schema-valid values (None: no tools).

    Example:
        >>> tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object",
        ...     "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]}}}
        >>> filler_call([tool])
        {'name': 'f', 'arguments': {'n': 3}}
    """
    if not tools:
        return None
    function = tools[0].get("function", tools[0])
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    values = {"integer": lambda p: p.get("minimum", 1), "number": lambda p: p.get("minimum", 1.0),
              "boolean": lambda p: True, "array": lambda p: [], "object": lambda p: {}}
    arguments = {}
    for name in params.get("required", []):
        prop = props.get(name, {})
        if "enum" in prop:
            arguments[name] = prop["enum"][0]
        elif "pattern" in prop:
            arguments[name] = "12:00"
        else:
            arguments[name] = values.get(prop.get("type"), lambda p: "all")(prop)
    return {"name": function.get("name"), "arguments": arguments}


def completion_body(calls: list[dict], model: str, n_prompt_tokens: int = 100) -> dict:
    """A ``chat.completion`` body with ``calls`` as ``tool_calls`` (the real wire format)."""
    tool_calls = [{"id": f"call_{i}", "type": "function",
                   "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                  for i, c in enumerate(calls)]
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    n_out = sum(len(t["function"]["arguments"]) for t in tool_calls) // 4 + 5
    return {"id": "chatcmpl-upstream", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": n_prompt_tokens, "completion_tokens": n_out,
                      "total_tokens": n_prompt_tokens + n_out}}


def _last_user_text(messages) -> str:
    users = [m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""


class ScriptedUpstream:
    """A fake OpenAI-compatible cloud on ``127.0.0.1:<free port>`` (see the module docstring).

    Args:
        script: Fault steps, one per chat request, played in order; afterwards normal answers.
        answers: Last user message -> the call to answer with.
        model: Model name in answers and in ``/v1/models``.
        delay_s: Delay of every normal answer, seconds (a far-away cloud).
    """

    def __init__(self, script: list[dict] | None = None, answers: dict[str, dict] | None = None,
                 model: str = "upstream-model", delay_s: float = 0.0) -> None:
        self.script, self.answers, self.model, self.delay_s = list(script or []), dict(answers or {}), model, delay_s
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> ScriptedUpstream:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def next_step(self, body: dict) -> dict:
        """The step for this chat request: the next scripted fault, else a normal answer."""
        with self._lock:
            step = self.script.pop(0) if self.script else {}
        if "body" not in step and step.get("status", 200) >= 400:
            step = {**step, "body": {"error": {"message": f"scripted fault: HTTP {step['status']}",
                                               "type": "server_error", "code": None}}}
        if "body" not in step:
            calls = step.get("tool_calls")
            if calls is None:
                call = self.answers.get(_last_user_text(body.get("messages"))) or filler_call(body.get("tools") or [])
                calls = [call] if call else []
            step = {**step, "body": completion_body(calls, self.model)}
        return {"delay_s": self.delay_s, **step}

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, step: dict) -> None:
                time.sleep(step.get("delay_s", 0.0))
                payload = step.get("body", {})
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(step.get("status", 200))
                    for name, value in {"Content-Type": "application/json", **step.get("headers", {})}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    if step.get("truncate"):
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if step.get("truncate") else data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass
                if step.get("truncate"):
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
                upstream.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                if self.path.rstrip("/").endswith("/models"):
                    self._send({"body": {"object": "list", "data": [{"id": upstream.model, "object": "model"}]}})
                else:
                    self._send({"status": 404, "body": {"error": {"message": "not found"}}})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                upstream.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self._send(upstream.next_step(body if isinstance(body, dict) else {}))

            def log_message(self, *args) -> None:
                pass

        return Handler
