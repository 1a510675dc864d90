"""Load on ``netgpt-lite serve``: 32 concurrent SDK clients, zero errors, nothing lost from the log.

Runs :mod:`scripts/bench_serve.py` (a real ``serve`` process, the scripted upstream, ``openai.AsyncOpenAI``
clients).  Fast mode: 32 clients x 3 requests; full mode: the benchmark's 32 x 200.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from netgpt_lite.runtime import pick

pytest.importorskip("openai")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_serve.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_serve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_concurrent_clients_no_errors_nothing_lost(capsys):
    report = _bench().main(["--clients", "32", "--requests", str(pick(fast=3, full=200))])
    assert report["n"] == 32 * pick(fast=3, full=200)
    assert report["errors"] == 0, report["first_errors"]
    assert report["log"]["lost"] == 0 and report["log"]["records"] == report["routes"]["cloud"] > 0
    assert report["routes"]["edge"] > 0  # the 4G replay keeps the confident answers on the edge
    assert report["server_exit_code"] == 0  # SIGINT: a clean shutdown that flushed the log
    assert report["routing_overhead_ms"]["p50"] <= report["overhead_target_p50_ms"]
