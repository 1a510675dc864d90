"""The request path of ``netgpt-lite serve``: the edge proposes and scores, the policy sets the threshold
from the network state and the price now, and the service answers with the edge or the upstream cloud.

:class:`RouterService` holds the parts (edge batcher, policy, monitor, upstream client, circuit
breaker, traffic log, metrics) and :meth:`RouterService.chat` turns one OpenAI chat-completions
body into ``(status, body, headers)``; :mod:`netgpt_lite.service.app` only wires it to HTTP.

Per request:

1. validate the body (:func:`validate_chat_body`; a 400 names what is not supported or which limit of
   :class:`~netgpt_lite.service.limits.RequestLimits` it breaks);
2. admit it alone: every tool schema usable without fetching anything (:meth:`RouterService.check_tools`),
   the prompt renders and tokenises within ``max_prompt_tokens`` (:meth:`RouterService.admit`, on the edge
   worker before the request joins a batch) -- else a 400 for this request only; then the edge answers
   in the micro-batching worker, its self-confidence is the score;
3. FuncDyn gives the threshold for the measured (or replayed) network state, the schedule's price
   now and the request's size (:class:`netgpt_lite.routing.context.RoutingContext`), and
   :func:`~netgpt_lite.routing.context.route` decides;
4. kept at the edge: the edge's call is returned.  Sent to the cloud: the request is forwarded
   upstream (the configured cloud model; the client's ``temperature``, ``max_tokens`` and
   ``tool_choice`` pass through) and the cloud's message -- every tool call of it -- is returned and
   logged (:mod:`netgpt_lite.service.traffic_log`).  If the upstream fails (after its retries), times
   out, or the circuit is open, the edge answer is returned flagged ``x-netgpt-degraded: 1``; only
   when that edge answer does not parse either is it a 502.

The decision is visible: headers ``x-netgpt-route`` (edge|cloud: who answered), ``x-netgpt-score``,
``x-netgpt-threshold``, ``x-netgpt-bandwidth-mbps``, ``x-netgpt-rtt-ms``, ``x-netgpt-degraded``,
``x-netgpt-reason``, and a ``netgpt`` object in the body with the same, the price, the edge's own
completion and ``timing_ms``: ``edge_wait`` (queue + generation), ``generation`` (the batch's wall
time), ``upstream`` and ``router`` (everything else: the routing overhead).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from netgpt_lite.agents.cloud_http import CloudRequestError
from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud
from netgpt_lite.network.pricing import PricingSchedule
from netgpt_lite.routing.context import RoutingContext, route
from netgpt_lite.service.batcher import EdgeBatcher, QueueFull
from netgpt_lite.service.circuit import CircuitBreaker
from netgpt_lite.service.limits import BadRequest, RequestLimits, check_request
from netgpt_lite.service.metrics import ServiceMetrics
from netgpt_lite.service.traffic_log import TrafficLog
from netgpt_lite.tasks.generate import Task
from netgpt_lite.tasks.schemas import schema_problem

CHARS_PER_TOKEN = 4.0  # the simulated cloud's token heuristic, for the request size the policy sees
SUPPORTED_TOOL_CHOICE = ("auto", "required")


def validate_chat_body(body, limits: RequestLimits | None = None) -> dict:
    """Check an OpenAI chat-completions body and its size (``limits``, default :class:`RequestLimits`);
    return it, or raise :class:`BadRequest` saying what is wrong.

    Example:
        >>> validate_chat_body({"messages": [{"role": "user", "content": "hi"}], "tools": [], "stream": True})
        Traceback (most recent call last):
        netgpt_lite.service.limits.BadRequest: stream=true is not supported: this router answers non-streaming requests
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if body.get("stream"):
        raise BadRequest("stream=true is not supported: this router answers non-streaming requests")
    n = body.get("n", 1)
    if n is not None and n != 1:
        raise BadRequest(f"n={n!r} is not supported: the router returns one choice (n=1)")
    messages = body.get("messages")
    if not (isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages)):
        raise BadRequest("messages must be a non-empty list of {role, content} objects")
    if any(not isinstance(m.get("content"), (str, type(None))) for m in messages):
        raise BadRequest("message content must be a string: content parts (images, audio) are not supported")
    tools = body.get("tools")
    if not (isinstance(tools, list) and tools and all(
            isinstance(t, dict) and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
            for t in tools)):
        raise BadRequest("tools must be a non-empty list of OpenAI function tools: this router answers tool calls")
    choice = body.get("tool_choice")
    if choice is not None and choice not in SUPPORTED_TOOL_CHOICE:
        raise BadRequest(f"tool_choice={choice!r} is not supported; use one of {list(SUPPORTED_TOOL_CHOICE)}")
    check_request(body, limits or RequestLimits())
    return body


def _finite(value: float):
    return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _message(calls: list[dict] | None, content: str | None) -> tuple[dict, str]:
    """An assistant message with ``calls`` as tool_calls (else the text) and its finish_reason."""
    if calls:
        tool_calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                       "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in calls]
        return {"role": "assistant", "content": None, "tool_calls": tool_calls}, "tool_calls"
    return {"role": "assistant", "content": content or ""}, "stop"


class RouterService:
    """Everything one ``serve`` process holds (see the module docstring).

    Args:
        agent: The edge (an :class:`~netgpt_lite.edge.agent.EdgeAgent`, or anything with ``run`` and ``score``).
        policy: A policy with ``thresholds(context)`` (FuncDyn by default in ``serve``).
        cloud: The upstream client.
        monitor: A :class:`~netgpt_lite.service.monitor.NetworkMonitor` or ``TraceReplay``.
        pricing: The price schedule (``price_at(t_s)``, seconds since midnight UTC).
        traffic_log: Where cloud answers go (None: not logged).
        batcher: The edge worker (default: :class:`EdgeBatcher` around ``agent``).
        circuit: The upstream circuit breaker (default: 5 failures, 30 s).
        model_name: Name the service answers as (``GET /v1/models``).
        upstream_workers: Threads for upstream calls (the client blocks; this bounds concurrency).
        limits: What one request may carry (default :class:`RequestLimits`).

    The batcher's ``prepare`` becomes :meth:`admit` unless it already has one.
    """

    def __init__(self, agent, policy, cloud: OpenAICompatibleCloud, monitor, pricing: PricingSchedule,
                 traffic_log: TrafficLog | None = None, batcher: EdgeBatcher | None = None,
                 circuit: CircuitBreaker | None = None, model_name: str = "netgpt-lite-router",
                 upstream_workers: int = 32, limits: RequestLimits | None = None) -> None:
        self.agent, self.policy, self.cloud, self.monitor, self.pricing = agent, policy, cloud, monitor, pricing
        self.traffic_log, self.model_name = traffic_log, model_name
        self.limits = limits or RequestLimits()
        self.batcher = batcher or EdgeBatcher(agent)
        if self.batcher.prepare is None:
            self.batcher.prepare = self.admit
        self.circuit = circuit or CircuitBreaker()
        self.metrics = ServiceMetrics()
        self._upstream_pool = ThreadPoolExecutor(max_workers=upstream_workers, thread_name_prefix="netgpt-upstream")
        self._admission_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="netgpt-admission")
        self._n_requests = 0

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        if self.traffic_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.traffic_log.flush)
        self._upstream_pool.shutdown(wait=False, cancel_futures=True)
        self._admission_pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def check_tools(tools: list[dict]) -> None:
        """Raise :class:`BadRequest` naming the first tool whose ``parameters`` the checker cannot use.

        A usable schema is a valid JSON Schema whose references all resolve inside it
        (:func:`~netgpt_lite.tasks.schemas.schema_problem`: nothing is ever fetched or read).  Checking a
        new schema costs ~12 ms per 9 kB (cached by content), so it runs on the admission threads, never
        on the event loop or the edge worker.
        """
        for i, tool in enumerate(tools):
            function = tool["function"]
            if problem := schema_problem(function.get("parameters")):
                raise BadRequest(f"tools[{i}] ({function['name']!r}): parameters cannot be used: {problem}")

    def admit(self, task: Task) -> None:
        """Raise :class:`BadRequest` when ``task`` alone cannot go through the edge (run before it joins a batch):
        its prompt must render and tokenise (an edge with ``prompts`` and ``tokenizer``) within ``max_prompt_tokens``.
        """
        prompts, tokenizer = getattr(self.agent, "prompts", None), getattr(self.agent, "tokenizer", None)
        if prompts is None or tokenizer is None:
            return
        try:
            n_tokens = len(tokenizer(prompts([task])[0], add_special_tokens=False)["input_ids"])
        except Exception as err:  # noqa: BLE001 - whatever the template or the tokenizer refuses is this request's
            raise BadRequest(f"the request cannot be rendered for the edge model: {type(err).__name__}: "
                             f"{str(err)[:200]}") from None
        if n_tokens > self.limits.max_prompt_tokens:
            raise BadRequest(self.limits.over("max_prompt_tokens", f"the rendered prompt ({n_tokens} tokens)"))

    # --- the decision ------------------------------------------------------------------------------
    def decide(self, score: float, request_bytes: int) -> dict:
        """Threshold and route for one edge score now: ``{"fallback", "threshold", "network", "price"}``."""
        state = self.monitor.state()
        now = datetime.now(timezone.utc)
        price = self.pricing.price_at(now.hour * 3600 + now.minute * 60 + now.second)
        context = RoutingContext.constant([score], state.bandwidth_mbps, state.rtt_ms, price,
                                          n_input_tokens=math.ceil(request_bytes / CHARS_PER_TOKEN),
                                          request_bytes=float(request_bytes))
        threshold = float(self.policy.thresholds(context)[0])
        return {"fallback": bool(route(score, threshold)), "threshold": threshold, "price": price,
                "network": {"bandwidth_mbps": state.bandwidth_mbps, "rtt_ms": state.rtt_ms,
                            "source": self.monitor.source}}

    async def chat(self, body) -> tuple[int, dict, dict]:
        """One chat-completions request: ``(HTTP status, JSON body, headers)``."""
        start = time.perf_counter()
        try:
            body = validate_chat_body(body, self.limits)
            await asyncio.get_running_loop().run_in_executor(self._admission_pool, self.check_tools, body["tools"])
        except BadRequest as err:
            return self.refuse(err)
        self._n_requests += 1
        request_id = f"serve-{uuid.uuid4().hex[:16]}"
        task = Task(request_id, "serve", "single_step", "medium", "serve", body["messages"], body["tools"], {})
        try:
            output, generation_s = await self.batcher.submit_timed(task)
        except QueueFull as err:
            self.metrics.count("netgpt_rejected_total", reason="queue_full")
            return 503, {"error": {"message": f"{err}; retry in 1 s", "type": "server_busy", "code": None}}, \
                {"Retry-After": "1"}
        except BadRequest as err:  # admit() refused this request alone
            return self.refuse(err)
        except Exception as err:  # noqa: BLE001 - the edge model failed on this request: say so, keep serving
            self.metrics.count("netgpt_rejected_total", reason="edge_error")
            return 500, {"error": {"message": f"the edge model failed: {type(err).__name__}: {err}",
                                   "type": "server_error", "code": None}}, {}
        edge_done = time.perf_counter()
        score = output.confidence(self.agent.score)
        request_bytes = len(json.dumps({"messages": body["messages"], "tools": body["tools"]}))
        decision = self.decide(score, request_bytes)
        info = {"route": "edge", "score": score, "threshold": _finite(decision["threshold"]), "degraded": False,
                "reason": "score_at_or_above_threshold", "network": decision["network"],
                "price": {"usd_per_1k_input": decision["price"].usd_per_1k_input,
                          "usd_per_1k_output": decision["price"].usd_per_1k_output},
                "edge": {"completion": output.completion, "generation_ms": 1000.0 * generation_s}}
        upstream_s = 0.0
        answer = None
        invalid = output.tool_call is None or not output.schema_valid
        if decision["fallback"] or invalid:  # an invalid call goes to the cloud whatever its score
            info["reason"] = "edge_call_invalid" if invalid else "low_score"
            self.metrics.count("netgpt_fallbacks_total", reason=info["reason"])
            t0 = time.perf_counter()
            answer, failure = await self._ask_cloud(body)
            upstream_s = time.perf_counter() - t0
            if answer is not None:
                info["route"] = "cloud"
                self._log(task, body, output, score, decision, answer)
            else:
                info.update(degraded=True, reason=failure)
                self.metrics.count("netgpt_degraded_total", reason=failure)
        total_s = time.perf_counter() - start
        router_s = max(total_s - (edge_done - start) - upstream_s, 0.0)
        info["timing_ms"] = {"total": 1000.0 * total_s, "edge_wait": 1000.0 * (edge_done - start),
                             "generation": 1000.0 * generation_s, "upstream": 1000.0 * upstream_s,
                             "router": 1000.0 * router_s}
        status, payload = self._respond(answer, output, info)
        self._record(info, total_s, generation_s, router_s)
        return status, payload, self._headers(info)

    def refuse(self, err: BadRequest) -> tuple[int, dict, dict]:
        """The ``(status, body, headers)`` of a refused request (400, or 413 for a body over the limit)."""
        self.metrics.count("netgpt_rejected_total", reason="too_large" if err.status == 413 else "bad_request")
        headers = {"Connection": "close"} if err.status == 413 else {}  # the unread rest of the body is not read
        return err.status, {"error": {"message": str(err), "type": "invalid_request_error", "code": None}}, headers

    # --- the cloud ---------------------------------------------------------------------------------
    async def _ask_cloud(self, body: dict):
        """``(reply, None)`` from the upstream, or ``(None, reason)`` when it failed or the circuit is open."""
        if not self.circuit.allow():
            self.metrics.count("netgpt_upstream_calls_total", outcome="skipped_circuit_open")
            return None, "circuit_open"
        request = self.cloud.chat_body(body["messages"], body["tools"], temperature=body.get("temperature"),
                                       max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
                                       tool_choice=body.get("tool_choice"))
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            done = await loop.run_in_executor(self._upstream_pool, self.cloud.exchange, request)
            reply = self.cloud.reply_of(done.data, done.attempts)
        except CloudRequestError as err:
            self.circuit.record(False)
            outcome = "timeout" if "timed out" in str(err) or "TimeoutError" in str(err) else "error"
            self.metrics.count("netgpt_upstream_calls_total", outcome=outcome)
            self.metrics.observe("netgpt_upstream_seconds", time.perf_counter() - t0)
            return None, f"upstream_{outcome}"
        self.circuit.record(True)
        self.metrics.count("netgpt_upstream_calls_total", outcome="ok")
        self.metrics.observe("netgpt_upstream_seconds", time.perf_counter() - t0)
        self.monitor.observe_transfer(done.request_bytes + done.response_bytes, done.elapsed_s)
        if done.processing_ms is not None:
            self.monitor.observe_rtt(1000.0 * done.elapsed_s - done.processing_ms)
        return (reply, done.data), None

    def _log(self, task: Task, body: dict, output, score: float, decision: dict, answer) -> None:
        reply, _ = answer
        if self.traffic_log is None:
            return
        from netgpt_lite.synergy.stages import is_scorer_holdout

        # every answer the client got is logged, text and malformed calls too: the log marks their kind
        # (answer_kind) and training reads only the tool calls
        calls = list(reply.tool_calls)
        usable = bool(calls) and isinstance(calls[0].get("arguments"), dict) and bool(calls[0].get("name"))
        logged = Task(task.task_id, "serve", "single_step", "medium", "serve", body["messages"], body["tools"],
                      calls[0] if usable else None)
        record = {"request_id": task.task_id, "round": 0, "task": json.dumps(logged.to_dict()),
                  "cloud_call": json.dumps(calls[0] if calls else None), "cloud_calls": json.dumps(calls),
                  "cloud_text": reply.completion or "", "edge_completion": output.completion, "edge_score": float(score),
                  "threshold": float(min(decision["threshold"], 1e9)),
                  "bandwidth_mbps": float(decision["network"]["bandwidth_mbps"]),
                  "rtt_ms": float(decision["network"]["rtt_ms"]),
                  "usd_per_1k_input": float(decision["price"].usd_per_1k_input),
                  "scorer_holdout": is_scorer_holdout(task.task_id),
                  "received_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        self.metrics.count("netgpt_logged_records_total")
        if self.traffic_log.append(record):
            asyncio.get_running_loop().run_in_executor(None, self.traffic_log.flush)

    # --- the answer --------------------------------------------------------------------------------
    def _respond(self, answer, output, info: dict) -> tuple[int, dict]:
        usage = {"prompt_tokens": output.n_input_tokens, "completion_tokens": output.n_output_tokens}
        if answer is not None:
            reply, data = answer
            message = data["choices"][0]["message"]
            finish = data["choices"][0].get("finish_reason") or ("tool_calls" if message.get("tool_calls") else "stop")
            usage = {"prompt_tokens": reply.n_input_tokens, "completion_tokens": reply.n_output_tokens}
        elif info["degraded"] and (output.tool_call is None or not output.schema_valid):
            # an invalid call never reaches a client: with the cloud unavailable it is a clear refusal instead
            what = "does not parse" if output.tool_call is None else "is not a valid call of the offered tools"
            error = {"message": f"the cloud is unavailable ({info['reason']}) and the edge answer {what}",
                     "type": "upstream_error", "code": None}
            return 502, {"error": error, "netgpt": info}
        else:
            message, finish = _message([output.tool_call] if output.tool_call else None, output.completion)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
                     "created": int(time.time()), "model": self.model_name,
                     "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                     "usage": usage, "netgpt": info}

    @staticmethod
    def _headers(info: dict) -> dict:
        net = info["network"]
        return {"x-netgpt-route": info["route"], "x-netgpt-score": f"{info['score']:.6f}",
                "x-netgpt-threshold": str(info["threshold"]), "x-netgpt-degraded": "1" if info["degraded"] else "0",
                "x-netgpt-bandwidth-mbps": f"{net['bandwidth_mbps']:.4f}", "x-netgpt-rtt-ms": f"{net['rtt_ms']:.3f}",
                "x-netgpt-reason": info["reason"]}

    def _record(self, info: dict, total_s: float, generation_s: float, router_s: float) -> None:
        m = self.metrics
        m.count("netgpt_requests_total", route=info["route"], degraded=str(info["degraded"]).lower())
        m.observe("netgpt_request_seconds", total_s, route=info["route"])
        m.observe("netgpt_edge_seconds", generation_s)
        m.observe("netgpt_routing_overhead_seconds", router_s)
        threshold = info["threshold"]
        m.set("netgpt_threshold", threshold if isinstance(threshold, float) else math.inf)
        m.set("netgpt_rtt_ms", info["network"]["rtt_ms"])
        m.set("netgpt_bandwidth_mbps", info["network"]["bandwidth_mbps"])
        m.set("netgpt_price_usd_per_1k_input", info["price"]["usd_per_1k_input"])

    def render_metrics(self) -> str:
        """``GET /metrics``: the counters plus the gauges read now."""
        measured = getattr(self.monitor, "measured", self.monitor)
        state = measured.state()
        self.metrics.set("netgpt_measured_rtt_ms", state.rtt_ms)
        self.metrics.set("netgpt_measured_bandwidth_mbps", state.bandwidth_mbps)
        current = self.monitor.state()
        self.metrics.set("netgpt_rtt_ms", current.rtt_ms)
        self.metrics.set("netgpt_bandwidth_mbps", current.bandwidth_mbps)
        self.metrics.set("netgpt_edge_queue_depth", self.batcher.queue_depth)
        self.metrics.set("netgpt_circuit_open", float(self.circuit.state == "open"))
        return self.metrics.render()

    async def probe(self, force: bool = False) -> None:
        """Send a light probe upstream when the monitor has been idle (or ``force``): an RTT sample; never raises."""
        if not (force or self.monitor.needs_probe()):
            return
        loop = asyncio.get_running_loop()
        try:
            rtt_ms = await loop.run_in_executor(self._upstream_pool, self.cloud.probe_ms)
        except OSError:
            self.metrics.count("netgpt_upstream_calls_total", outcome="probe_failed")
            return
        self.monitor.observe_rtt(rtt_ms)
        self.metrics.count("netgpt_upstream_calls_total", outcome="probe")
