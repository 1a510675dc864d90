"""The public Mahimahi trace list: fetched files are kept only with their listed checksum, retries are capped,
and a fetched trace reads like any other (no network: the downloads are faked)."""

from __future__ import annotations

import hashlib

import pytest

from netgpt_lite.network import public_traces as pt
from netgpt_lite.network import read_mahimahi


def _fake_list(tmp_path, monkeypatch, body: bytes):
    import json

    entry = {"name": "demo.down", "url": "https://example.invalid/demo.down", "bytes": len(body),
             "sha256": hashlib.sha256(body).hexdigest()}
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"traces": [entry]}))
    monkeypatch.setattr(pt, "LIST_FILE", path)
    return entry


def test_the_shipped_list_pins_urls_and_checksums():
    traces = pt.public_trace_list()
    assert len(traces) >= 2 and all(t["url"].startswith("https://raw.githubusercontent.com/ravinet/mahimahi/")
                                    and len(t["sha256"]) == 64 and t["bytes"] > 0 for t in traces)
    assert any("LTE" in t["name"] for t in traces)


def test_a_good_download_is_kept_and_read(tmp_path, monkeypatch):
    body = b"".join(f"{t}\n".encode() for t in range(1, 4001, 2))  # a packet every 2 ms for 4 s
    _fake_list(tmp_path, monkeypatch, body)
    calls = []
    (path,) = pt.fetch_public_traces(tmp_path / "out", download=lambda url, timeout: calls.append(url) or body)
    assert path.read_bytes() == body and len(calls) == 1
    assert pt.fetch_public_traces(tmp_path / "out", download=lambda *a: pytest.fail("downloaded again")) == [path]
    trace = read_mahimahi(path, base_rtt_ms=40)
    assert trace.bandwidth_mbps.mean() > 0


def test_a_wrong_checksum_or_a_dead_network_writes_nothing(tmp_path, monkeypatch):
    _fake_list(tmp_path, monkeypatch, b"1\n2\n")
    with pytest.raises(RuntimeError, match="sha256 .* differs .* nothing was written"):
        pt.fetch_public_traces(tmp_path / "out", download=lambda *a: b"1\n3\n")
    attempts = []

    def offline(url, timeout):
        attempts.append(url)
        raise OSError("Network is unreachable")

    with pytest.raises(RuntimeError, match="could not be fetched .* in 3 attempts .* unreachable"):
        pt.fetch_public_traces(tmp_path / "out", download=offline, sleep=lambda s: None)
    assert len(attempts) == pt.MAX_ATTEMPTS and not list((tmp_path / "out").iterdir())
    with pytest.raises(ValueError, match="unknown trace"):
        pt.fetch_public_traces(tmp_path / "out", ["nope.down"])
