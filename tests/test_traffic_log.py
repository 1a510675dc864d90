"""The service's traffic log keeps every answer it acknowledged, through SIGKILLs and damaged folders.

A child process (this file run as a script) appends records through :class:`TrafficLog` and prints
``ACK i`` after each ``append`` returns -- the moment the service answers its client.  The tests kill it
with SIGKILL at chosen points (``NETGPT_LITE_SYNERGY_HOOK``) and count the records a reopened log holds
against the acknowledged ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from netgpt_lite.runtime import RunFolderError
from netgpt_lite.service.traffic_log import TrafficLog
from netgpt_lite.synergy.loop import HOOK_ENV_VAR, load_log, read_state


def _record(i: int, call: dict | None = None, text: str = "") -> dict:
    call = {"name": "get_weather", "arguments": {"city": f"c{i}"}} if call is None else call
    return {
        "request_id": f"serve-{i}",
        "round": 0,
        "task": "{}",
        "cloud_call": json.dumps(call),
        "cloud_text": text,
        "edge_score": 0.5,
        "scorer_holdout": False,
    }


def _ids(folder: Path) -> list[str]:
    log = load_log(folder)
    return list(log["request_id"]) if len(log) else []


# --- SIGKILL: nothing acknowledged is lost ----------------------------------------------------------------
def _spawn(
    folder: Path,
    n: int,
    *,
    shard_size: int = 256,
    flush_every: int = 0,
    hook: str | None = None,
    block: bool = True,
) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(HOOK_ENV_VAR, None)
    if hook:
        env[HOOK_ENV_VAR] = hook
    args = [sys.executable, __file__, str(folder), str(shard_size), str(n), str(flush_every), str(int(block))]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_after(proc: subprocess.Popen, last_line: str) -> list[int]:
    """Read the child's lines up to ``last_line``, SIGKILL it, and return the acknowledged record numbers."""
    acked = []
    for line in proc.stdout:
        if line.startswith("ACK "):
            acked.append(int(line.split()[1]))
        if line.strip() == last_line:
            break
    else:
        raise AssertionError(f"the child ended before {last_line!r}: {proc.stderr.read()}")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    return acked


@pytest.mark.parametrize(
    ("hook", "last_line"),
    [
        (None, "BLOCKED"),  # 5 answers buffered, no flush yet: the lost 5
        ("mid_write:shard_000000", "HOOK mid_write:shard_000000"),  # killed while the shard is written
        ("logged:shard_000000", "HOOK logged:shard_000000"),  # shard renamed into place, state.json not yet
    ],
)
def test_sigkill_loses_no_acknowledged_answer(tmp_path, hook, last_line):
    folder = tmp_path / "serve_log"
    proc = _spawn(folder, 5, flush_every=5 if hook else 0, hook=hook)
    acked = _kill_after(proc, last_line)
    assert acked == list(range(5))
    reopened = TrafficLog(folder)
    ids = _ids(folder)
    assert ids == [f"serve-{i}" for i in acked], "an acknowledged answer was lost or logged twice"
    assert reopened.n_committed == 5
    reopened.append(_record(5))
    reopened.flush()
    assert _ids(folder) == [f"serve-{i}" for i in range(6)]


def test_sigkill_at_a_random_time_while_appending_and_flushing(tmp_path):
    folder = tmp_path / "serve_log"
    rng = np.random.default_rng()
    for attempt in range(2):  # kills at random times: mid-append, mid-shard-write or mid-commit
        proc = _spawn(folder, 100_000, shard_size=7, flush_every=0, block=False)
        acked = [int(proc.stdout.readline().split()[1])]
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        for line in proc.stdout:
            acked.append(int(line.split()[1]))
            if time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        TrafficLog(folder)  # commits what the child's journals hold beyond its committed shards
        ids = _ids(folder)
        assert {f"serve-{i}" for i in acked} <= set(ids), f"kill {attempt}: an acknowledged answer was lost"
        assert ids == [f"serve-{i}" for i in range(len(ids))], f"kill {attempt}: logged twice or out of order"
        shutil.rmtree(folder)


# --- answers that are not tool calls are logged too ---------------------------------------------------------
def test_text_and_empty_name_answers_are_logged_and_marked(tmp_path):
    log = TrafficLog(tmp_path)
    log.append(_record(0))
    log.append({**_record(1), "cloud_call": json.dumps(None), "cloud_text": "It is sunny in Paris."})
    log.append(_record(2, call={"name": "", "arguments": "{}"}))
    log.flush()
    rows = load_log(tmp_path).to_list()
    assert [r["answer_kind"] for r in rows] == ["tool_call", "text", "malformed_call"]
    assert rows[1]["cloud_text"] == "It is sunny in Paris."
    from netgpt_lite.synergy.stages import trainable_rows

    assert [r["request_id"] for r in trainable_rows(rows)] == ["serve-0"]  # only real calls train the edge


def test_a_log_written_before_journals_and_answer_kinds_is_continued(tmp_path):
    from netgpt_lite.synergy.loop import save_shard
    from netgpt_lite.synergy.stages import trainable_rows

    old = {k: v for k, v in _record(0).items() if k != "cloud_text"}  # an older service's record
    (tmp_path / "log" / "shard_000000").mkdir(parents=True)
    save_shard([old], tmp_path / "log" / "shard_000000")
    state = {"kind": "netgpt-lite/serve-traffic/v1", "log_shards": ["log/shard_000000"], "n_records": 1}
    (tmp_path / "state.json").write_text(json.dumps(state))
    log = TrafficLog(tmp_path)
    log.append({**_record(1), "cloud_call": "null", "cloud_text": "hello"})
    log.flush()
    rows = load_log(tmp_path).to_list()
    assert [(r["request_id"], r["answer_kind"]) for r in rows] == [("serve-0", None), ("serve-1", "text")]
    assert [r["request_id"] for r in trainable_rows(rows)] == ["serve-0"]
    assert read_state(tmp_path)["shard_records"] == [1, 1]  # counts and fingerprints added from now on


# --- damaged or foreign folders: refused, nothing deleted ----------------------------------------------------
def _committed(folder: Path, n_shards: int = 2) -> Path:
    log = TrafficLog(folder, shard_size=3)
    for i in range(3 * n_shards):
        if log.append(_record(i)):
            log.flush()
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(folder: Path, match: str) -> str:
    before = _files(folder)
    with pytest.raises(RunFolderError, match=match) as info:
        TrafficLog(folder)
    assert "\n" not in str(info.value) and "--log-dir" in str(info.value)
    assert _files(folder) == before, "a refused open changed or deleted files"
    return str(info.value)


def test_log_dir_with_a_foreign_log_subfolder_is_refused(tmp_path):
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "app.log").write_text("someone else's log\n")
    (tmp_path / "log" / "old").mkdir()
    (tmp_path / "log" / "old" / "x.log").write_text("x\n")
    _refused(tmp_path, match="state.json")


def test_serve_cli_refuses_a_foreign_log_dir_with_exit_2(tmp_path, capsys, monkeypatch):
    import uvicorn

    from netgpt_lite.cli.main import main

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served from a foreign --log-dir"))
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "app.log").write_text("someone else's log\n")
    code = main(
        [
            "serve",
            "--cloud-base-url",
            "http://127.0.0.1:9/v1",
            "--cloud-model",
            "m",
            "--port",
            "0",
            "--log-dir",
            str(tmp_path),
        ]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and len(err) == 1 and "state.json" in err[0] and "--log-dir" in err[0], err
    assert (tmp_path / "log" / "app.log").read_text() == "someone else's log\n"


def test_deleted_state_json_is_refused(tmp_path):
    (_committed(tmp_path) / "state.json").unlink()
    _refused(tmp_path, match="state.json")


def test_empty_log_shards_is_refused(tmp_path):
    state = read_state(_committed(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({**state, "log_shards": []}))
    message = _refused(tmp_path, match="log_shards")
    assert "state.json" in message and "restore" in message
    assert len(list((tmp_path / "log").iterdir())) == 2


def test_truncated_or_missing_shard_is_refused_at_open(tmp_path):
    _committed(tmp_path)
    arrow = next((tmp_path / "log" / "shard_000001").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:64])
    _refused(tmp_path, match="shard_000001")
    shutil.rmtree(tmp_path / "log" / "shard_000001")
    _refused(tmp_path, match="shard_000001")


def test_a_stray_uncommitted_shard_is_refused_not_deleted(tmp_path):
    _committed(tmp_path)
    (tmp_path / "log" / "shard_000099").mkdir()
    _refused(tmp_path, match="shard_000099")


if __name__ == "__main__":  # the child of the SIGKILL tests: folder shard_size n flush_every block
    folder, shard_size, n, flush_every, block = sys.argv[1], *map(int, sys.argv[2:6])
    log = TrafficLog(folder, shard_size=shard_size)
    for i in range(n):
        if log.append(_record(i)):
            log.flush()
        print(f"ACK {i}", flush=True)
        if flush_every and (i + 1) % flush_every == 0:
            log.flush()
    if block:
        print("BLOCKED", flush=True)
        while True:
            time.sleep(0.05)
