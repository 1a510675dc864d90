"""The OpenAI-compatible HTTP face of the router (FastAPI + uvicorn), and how ``serve`` builds it.

Endpoints: ``POST /v1/chat/completions`` (:meth:`RouterService.chat`), ``GET /v1/models``,
``GET /health`` and ``GET /metrics`` (Prometheus text).  Handlers are async; the edge runs in the
micro-batching worker, upstream calls on a thread pool, so one process serves many clients at once.
Background tasks send a light upstream probe when idle and flush the traffic log every
``log_flush_interval_s``; shutdown flushes what is left.

With a client key (``client_key_env``, :mod:`netgpt_lite.service.auth`) every endpoint but ``/health``
answers 401 without ``Authorization: Bearer <key>``; listening beyond loopback without one is refused
unless ``allow_unauthenticated``.  A body is read only up to ``max_body_bytes``
(:func:`~netgpt_lite.service.limits.read_body`: 413 beyond), and ``/health`` shows the upstream URL
with its credentials masked (:func:`~netgpt_lite.agents.redaction.redact_url`).

:func:`build_service` assembles a :class:`~netgpt_lite.service.router.RouterService` from a
:class:`ServeConfig` (what the CLI flags become) and :func:`create_app` wraps it; :func:`serve_forever`
runs it with uvicorn.  FastAPI and uvicorn are imported inside these functions only.

Example:
    >>> config = ServeConfig(cloud_base_url="http://127.0.0.1:8001/v1", cloud_model="m", port=8000)
    >>> config.host
    '127.0.0.1'
"""

# no `from __future__ import annotations` here: FastAPI reads the handlers' annotations (Request) at runtime

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from netgpt_lite.agents.redaction import redact_url
from netgpt_lite.service.auth import BearerKey, KeyGate, is_loopback
from netgpt_lite.service.limits import BadRequest, RequestLimits, read_body
from netgpt_lite.service.router import RouterService
from netgpt_lite.synergy.loop import EDGES


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one ``serve`` process (validated; the CLI builds it from its flags).

    Attributes:
        cloud_base_url: The upstream OpenAI-compatible API root (``http(s)://host:port/v1``).
        cloud_model: Model name sent upstream.
        cloud_key_env: Environment variable holding the upstream key (read per request, never stored).
        host: Interface to listen on (127.0.0.1: this machine only).  Beyond loopback (``0.0.0.0``) it needs
            ``client_key_env`` or ``allow_unauthenticated``.
        port: TCP port, in [0, 65535] (0: any free port).
        client_key_env: Environment variable holding the key clients must send as ``Authorization: Bearer``
            (read once at start; None: no key required).
        allow_unauthenticated: Listen beyond loopback without a client key anyway (``serve`` warns).
        limits: What one request may carry (:class:`~netgpt_lite.service.limits.RequestLimits`).
        edge: ``"tiny"`` (fast, the tests' edge) or ``"smollm2"`` (the real edge, ~1 s a request on a CPU).
        edge_decoding: ``"retry"`` (default): greedy, and a schema-invalid call is generated again under the
            schema mask (llguidance), so no invalid call reaches a client when the cloud cannot answer (one that
            is still invalid then gets a 502); ``"greedy"``: the edge's first call as it is.  The synergy loop's
            rule too (:attr:`~netgpt_lite.synergy.loop.SynergyConfig.edge_decoding`).
        policy_file: FuncDyn JSON (default: the shipped one of ``edge``).
        pricing: Price schedule name (``flat``, ``peak_offpeak``, ``surge``).
        trace: CSV trace to replay instead of measuring (None: measure).
        mahimahi: Mahimahi link trace to replay instead of measuring (None: measure).
        trace_speed: Trace seconds per wall second of a replay (> 0).
        upstream_timeout_s: Socket timeout of one upstream attempt, seconds (finite, > 0).
        upstream_retries: Retries of a failed upstream call (>= 0).
        backoff_max_s: Longest wait between upstream retries, Retry-After included, seconds.
        circuit_failures: Consecutive upstream failures that open the circuit (>= 1).
        circuit_open_s: Seconds the circuit stays open before a trial call (> 0).
        edge_threads: Torch intra-op threads of the edge (>= 1).  1 by default: the tiny edge gains nothing
            from more, and on a busy machine OpenMP threads that spin for a core they do not get made a
            32-request batch 30x slower in our measurements (0.26 s with 1 thread, 8-10 s with 2).
        max_batch: Most requests the edge generates together (>= 1).
        max_wait_ms: How long a request waits for others to batch with, ms (>= 0).
        max_queue: Most requests waiting for the edge; more get 503 + Retry-After (>= 1).
        probe_interval_s: Idle seconds after which the upstream is probed for its RTT (> 0).
        ewma_alpha: Weight of a new network measurement, in (0, 1].
        log_dir: Folder of the traffic log (cloud answers as training data).
        log_shard_size: Records per log shard (>= 1).
        log_flush_interval_s: Seconds between flushes of a partial shard (> 0).
        model_name: Name the service answers as.
    """

    cloud_base_url: str
    cloud_model: str
    cloud_key_env: str = "OPENAI_API_KEY"
    host: str = "127.0.0.1"
    port: int = 8000
    client_key_env: str | None = None
    allow_unauthenticated: bool = False
    limits: RequestLimits = field(default_factory=RequestLimits)
    edge: str = "tiny"
    edge_decoding: str = "retry"
    policy_file: str | None = None
    pricing: str = "flat"
    trace: str | None = None
    mahimahi: str | None = None
    trace_speed: float = 1.0
    upstream_timeout_s: float = 10.0
    upstream_retries: int = 1
    backoff_max_s: float = 2.0
    circuit_failures: int = 5
    circuit_open_s: float = 30.0
    edge_threads: int = 1
    max_batch: int = 16
    max_wait_ms: float = 2.0
    max_queue: int = 256
    probe_interval_s: float = 10.0
    ewma_alpha: float = 0.2
    log_dir: str = "serve_log"
    log_shard_size: int = 256
    log_flush_interval_s: float = 5.0
    model_name: str = "netgpt-lite-router"

    def __post_init__(self) -> None:
        from netgpt_lite.network.pricing import PRICING_SCHEDULES

        positive = ("trace_speed", "upstream_timeout_s", "circuit_open_s", "probe_interval_s", "log_flush_interval_s")
        checks = [(0 <= self.port <= 65535, "port", "in [0, 65535]"),
                  (self.edge in EDGES, "edge", f"one of {list(EDGES)}"),
                  (self.edge_decoding in ("greedy", "retry"), "edge_decoding", "'greedy' or 'retry'"),
                  (self.pricing in PRICING_SCHEDULES, "pricing", f"one of {sorted(PRICING_SCHEDULES)}"),
                  (not (self.trace and self.mahimahi), "mahimahi", "not given together with trace (one replay)"),
                  (self.upstream_retries >= 0, "upstream_retries", ">= 0"),
                  (math.isfinite(self.backoff_max_s) and self.backoff_max_s >= 0, "backoff_max_s", "finite, >= 0"),
                  (self.circuit_failures >= 1, "circuit_failures", ">= 1"),
                  (self.max_batch >= 1, "max_batch", ">= 1"), (self.max_queue >= 1, "max_queue", ">= 1"),
                  (self.edge_threads >= 1, "edge_threads", ">= 1"),
                  (math.isfinite(self.max_wait_ms) and self.max_wait_ms >= 0, "max_wait_ms", "finite, >= 0"),
                  (0 < self.ewma_alpha <= 1, "ewma_alpha", "in (0, 1]"),
                  (self.log_shard_size >= 1, "log_shard_size", ">= 1"),
                  (bool(self.model_name.strip()), "model_name", "a non-empty name"),
                  (isinstance(self.limits, RequestLimits), "limits", "a netgpt_lite.service.limits.RequestLimits"),
                  (self.client_key_env is None or _env_name(self.client_key_env), "client_key_env",
                   "an environment variable name (letters, digits, '_'), or None for no client key"),
                  (is_loopback(self.host) or self.client_key_env or self.allow_unauthenticated, "host",
                   "a loopback address (127.0.0.1, ::1, localhost); to listen beyond this machine, require a "
                   "client key (client_key_env, serve --api-key-env NAME) or say allow_unauthenticated "
                   "(serve --allow-unauthenticated)")]
        checks += [(math.isfinite(getattr(self, n)) and getattr(self, n) > 0, n, "a finite number > 0") for n in positive]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(f"ServeConfig.{name}={getattr(self, name)!r} is invalid: use {allowed}")

    def cloud_config(self):
        """The upstream client's :class:`~netgpt_lite.agents.cloud_http.CloudClientConfig` (validated there)."""
        from netgpt_lite.agents.cloud_http import CloudClientConfig

        return CloudClientConfig(base_url=self.cloud_base_url, model=self.cloud_model, api_key_env=self.cloud_key_env,
                                 timeout_s=self.upstream_timeout_s, max_retries=self.upstream_retries,
                                 backoff_base_s=min(0.2, self.backoff_max_s), backoff_max_s=self.backoff_max_s)


def _env_name(name: str) -> bool:
    return bool(name) and name.replace("_", "").isalnum() and name.isascii() and not name[0].isdigit()


def network_source(config: ServeConfig, clock=None):
    """The monitor the policy reads: a :class:`TraceReplay` of ``trace``/``mahimahi``, else a measuring one."""
    import time

    from netgpt_lite.network import read_mahimahi, read_trace_csv
    from netgpt_lite.service.monitor import NetworkMonitor, TraceReplay

    clock = clock or time.monotonic
    if config.trace:
        return TraceReplay(read_trace_csv(config.trace), config.trace_speed, clock=clock)
    if config.mahimahi:
        return TraceReplay(read_mahimahi(config.mahimahi), config.trace_speed, clock=clock)
    return NetworkMonitor(config.ewma_alpha, config.probe_interval_s, clock=clock)


def build_service(config: ServeConfig, agent=None, policy=None, clock=None) -> RouterService:
    """The service of ``config``; ``agent`` / ``policy`` override the edge and the FuncDyn (tests)."""
    from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud
    from netgpt_lite.network.pricing import PRICING_SCHEDULES
    from netgpt_lite.service.batcher import EdgeBatcher
    from netgpt_lite.service.circuit import CircuitBreaker
    from netgpt_lite.service.policy_file import load_serve_policy
    from netgpt_lite.service.traffic_log import TrafficLog

    cloud = OpenAICompatibleCloud(config.cloud_config())
    traffic_log = TrafficLog(Path(config.log_dir), config.log_shard_size)  # a bad --log-dir fails before the model loads
    import torch

    torch.set_num_threads(config.edge_threads)  # process-wide: the edge worker is the only torch user here
    if agent is None:
        from netgpt_lite.edge.agent import EdgeAgent

        agent = EdgeAgent.from_pretrained(config.edge, device="cpu", decoding=config.edge_decoding)
    policy = policy or load_serve_policy(config.policy_file or config.edge)
    return RouterService(agent, policy, cloud, network_source(config, clock), PRICING_SCHEDULES[config.pricing],
                         traffic_log=traffic_log,
                         batcher=EdgeBatcher(agent, config.max_batch, config.max_wait_ms, config.max_queue),
                         circuit=CircuitBreaker(config.circuit_failures, config.circuit_open_s),
                         model_name=config.model_name, limits=config.limits)


async def _every(seconds: float, work) -> None:
    while True:
        await asyncio.sleep(seconds)
        with contextlib.suppress(Exception):  # a background chore must never kill the service
            await work()


def create_app(service: RouterService, flush_interval_s: float = 5.0, probe_check_s: float = 1.0,
               key: BearerKey | None = None):
    """The FastAPI application around ``service`` (endpoints in the module docstring); ``key``: the client key
    every endpoint but ``/health`` requires (None: none)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        loop = asyncio.get_running_loop()
        chores = [asyncio.create_task(_every(probe_check_s, service.probe))]
        if service.traffic_log is not None:
            log = service.traffic_log
            chores.append(asyncio.create_task(_every(flush_interval_s, lambda: loop.run_in_executor(None, log.flush))))
        with contextlib.suppress(Exception):
            await service.probe(force=True)  # a first RTT sample at start
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
            await service.stop()

    app = FastAPI(title="netgpt-lite router", lifespan=lifespan)
    if key is not None:
        app.add_middleware(KeyGate, key=key,
                           on_refused=lambda: service.metrics.count("netgpt_rejected_total", reason="unauthorized"))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            body = json.loads(await read_body(request, service.limits))  # never more than max_body_bytes read
        except BadRequest as err:
            status, payload, headers = service.refuse(err)
            return JSONResponse(payload, status_code=status, headers=headers)
        except (ValueError, RecursionError):
            return JSONResponse({"error": {"message": "the body is not valid JSON", "type": "invalid_request_error",
                                           "code": None}}, status_code=400)
        status, payload, headers = await service.chat(body)
        return JSONResponse(payload, status_code=status, headers=headers)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": service.model_name, "object": "model", "created": 0,
                                            "owned_by": "netgpt-lite"}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "circuit": service.circuit.state, "queue_depth": service.batcher.queue_depth,
                "network": service.monitor.source, "upstream": redact_url(service.cloud.config.base_url),
                "client_key_required": key is not None}

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(service.render_metrics(), media_type="text/plain; version=0.0.4")

    return app


def serve_forever(config: ServeConfig, service: RouterService | None = None) -> None:
    """Run the service with uvicorn until interrupted (Ctrl-C stops it and flushes the log)."""
    import uvicorn

    key = BearerKey.from_env(config.client_key_env) if config.client_key_env else None  # read once, never shown
    service = service or build_service(config)
    app = create_app(service, flush_interval_s=config.log_flush_interval_s, key=key)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)


class BackgroundServer:
    """Run an app with uvicorn on a background thread (the book page and the tests): ``with ... as url:``.

    Args:
        app: The ASGI application (:func:`create_app`).
        host: Interface (default 127.0.0.1).
        port: Port; 0 picks a free one (read it from :attr:`base_url`).

    Example:
        >>> with BackgroundServer(create_app(service)) as base_url:   # doctest: +SKIP
        ...     OpenAI(base_url=base_url, api_key="unused").models.list()
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.timeout_s = timeout_s
        self._thread = None

    @property
    def base_url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> str:
        import threading
        import time

        self._thread = threading.Thread(target=self.server.run, daemon=True, name="netgpt-serve")
        self._thread.start()
        deadline = time.monotonic() + self.timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start (see the log above)")
            time.sleep(0.02)
        return self.base_url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(self.timeout_s)
