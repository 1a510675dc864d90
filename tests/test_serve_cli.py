"""``netgpt-lite serve`` on the command line: --help, every bad flag stopped in the check phase, and a real
process that serves the official SDK on 127.0.0.1, shuts down on SIGINT and leaves its log committed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from netgpt_lite.cli import main
from netgpt_lite.network.traces import EXAMPLE_TRACE_CSV
from netgpt_lite.service.upstream import ScriptedUpstream

URL = ["--cloud-base-url", "http://127.0.0.1:9/v1", "--cloud-model", "m"]


def test_help_lists_the_flags(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--port", "--cloud-base-url", "--cloud-model", "--cloud-key-env", "--network-trace", "--mahimahi",
                 "--edge", "--log-dir"):
        assert flag in out


@pytest.mark.parametrize(("args", "needle"), [
    (["--port", "70000", *URL], "argument --port"),
    (["--cloud-model", "m"], "--cloud-base-url"),
    (["--cloud-base-url", "ftp://x/v1", "--cloud-model", "m"], "argument --cloud-base-url"),
    ([*URL, "--cloud-key-env", "NOT A NAME"], "argument --cloud-key-env"),
    ([*URL, "--upstream-timeout-s", "inf"], "argument --upstream-timeout-s"),
    ([*URL, "--edge", "gpt5"], "argument --edge"),
    ([*URL, "--network-trace", "no_such.csv"], "argument --network-trace"),
    ([*URL, "--network-trace", str(EXAMPLE_TRACE_CSV), "--mahimahi", str(EXAMPLE_TRACE_CSV)], "not allowed with"),
])
def test_bad_flags_stop_before_any_work(capsys, args, needle):
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_unparseable_trace_and_foreign_log_dir(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,bandwidth_mbps,rtt_ms\n0,fast,20\n")
    assert main(["serve", *URL, "--network-trace", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
    bad_mm = tmp_path / "bad.mahimahi"
    bad_mm.write_text("10\n5\n")
    assert main(["serve", *URL, "--mahimahi", str(bad_mm)]) == 2
    assert "argument --mahimahi" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text(json.dumps({"config": {}, "log_shards": []}))
    assert main(["serve", *URL, "--log-dir", str(tmp_path / "run")]) == 2
    assert "argument --log-dir" in capsys.readouterr().err


def test_a_port_in_use_is_a_usage_error(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", *URL, "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert "argument --port: cannot listen on 127.0.0.1:" in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_serve_process(tmp_path):
    openai = pytest.importorskip("openai")
    from netgpt_lite.synergy.loop import load_log
    from netgpt_lite.tasks.generate import generate_tasks

    tasks = generate_tasks("validation", 4, seed=2)
    port = _free_port()
    with ScriptedUpstream(answers={t.messages[-1]["content"]: t.gold for t in tasks}) as upstream:
        env = {k: v for k, v in os.environ.items() if k != "NETGPT_LITE_TEST_KEY"}
        process = subprocess.Popen(
            [sys.executable, "-m", "netgpt_lite", "serve", "--port", str(port), "--cloud-base-url", upstream.base_url,
             "--cloud-model", "upstream-model", "--cloud-key-env", "NETGPT_LITE_TEST_KEY",
             "--log-dir", str(tmp_path / "log")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stdout.read()
                try:
                    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read())
                    break
                except OSError:
                    assert time.monotonic() < deadline, "serve did not start within 60 s"
                    time.sleep(0.2)
            assert health["status"] == "ok" and health["network"] == "measured"
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=20)
            routes = []
            for task in tasks:
                raw = client.chat.completions.with_raw_response.create(model="m", messages=task.messages,
                                                                       tools=task.tools)
                assert raw.parse().choices[0].message.tool_calls
                routes.append(raw.headers["x-netgpt-route"])
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "NETGPT_LITE_TEST_KEY is not set" in output  # warned once, before serving
    assert len(load_log(tmp_path / "log")) == routes.count("cloud")  # the shutdown flushed every cloud answer
