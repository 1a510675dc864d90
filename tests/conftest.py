"""Shared test settings: offline, deterministic, and light on the 2 CPU cores."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("NETGPT_LITE_FAST", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one thread per worker (set before torch is imported), else the workers'
    # threads oversubscribe the cores and spin-wait on each other (a fast chapter went 60 s -> 360 s+)
    os.environ["OMP_NUM_THREADS"] = "1"

try:
    from hypothesis import settings

    settings.register_profile("netgpt", deadline=None, max_examples=150)
    settings.load_profile("netgpt")
except ImportError:  # pragma: no cover
    pass


import pytest  # noqa: E402


class CountingListener:
    """A TCP listener on 127.0.0.1 that counts connections and closes them: where a fetched ``$ref`` lands."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.connections = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/schema.json"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_listener():
    """A :class:`CountingListener`, closed after the test."""
    listener = CountingListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def tiny_edge():
    """The shipped tiny edge agent (the service tests' fast edge)."""
    from netgpt_lite.edge.agent import EdgeAgent

    return EdgeAgent.from_pretrained("tiny", device="cpu")


@pytest.fixture
def serve_router(tiny_edge, tmp_path):
    """``serve_router(key=None, answers=None, **config) -> (base_url, service)``: the router on a free port in
    front of a scripted upstream (answering ``answers``: last user message -> call); all stopped after."""
    from netgpt_lite.service.app import BackgroundServer, ServeConfig, build_service, create_app
    from netgpt_lite.service.upstream import ScriptedUpstream

    stops = []

    def start(key=None, answers=None, **overrides):
        upstream = ScriptedUpstream(answers=answers).start()
        stops.append(upstream.stop)
        settings = {"cloud_base_url": upstream.base_url, "cloud_model": "m", "port": 0,
                    "log_dir": str(tmp_path / "l"), "upstream_timeout_s": 2.0, "circuit_failures": 1000,
                    **overrides}
        service = build_service(ServeConfig(**settings), agent=tiny_edge)
        server = BackgroundServer(create_app(service, flush_interval_s=60.0, key=key))
        base_url = server.__enter__()
        stops.append(lambda: server.__exit__(None, None, None))
        return base_url, service

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture(scope="module")
def smollm2_agent():
    """The shipped SmolLM2 edge (greedy, CPU), loaded once per test module: what the drift samples regenerate."""
    from netgpt_lite.edge.agent import EdgeAgent

    return EdgeAgent.from_pretrained("smollm2", device="cpu")
