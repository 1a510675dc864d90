"""Tests for the Mahimahi trace reader in netgpt_lite.network.traces: capacity per second, the RTT model,
looping, and bad files named by line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.network import (
    BASE_RTT_MS,
    MIN_BANDWIDTH_MBPS,
    looped,
    modelled_rtt_ms,
    read_mahimahi,
    technology_of,
)


def _write(tmp_path, stamps, name="trace-LTE.up"):
    path = tmp_path / name
    path.write_text("".join(f"{s}\n" for s in stamps))
    return path


def test_capacity_is_packets_per_second_times_1500_bytes(tmp_path):
    # 1000 opportunities in second 0 (12 Mbps), 250 in second 1 (3 Mbps), none in second 2, one in second 3
    stamps = list(range(0, 1000)) + [1000 + 4 * k for k in range(250)] + [3500]
    trace = read_mahimahi(_write(tmp_path, stamps))
    assert trace.t_s.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.allclose(trace.bandwidth_mbps, [12.0, 3.0, MIN_BANDWIDTH_MBPS, MIN_BANDWIDTH_MBPS])  # 0.012 Mbps: floored
    assert np.allclose(trace.rtt_ms, modelled_rtt_ms(trace.bandwidth_mbps, BASE_RTT_MS["lte"]))


@settings(max_examples=50, deadline=None)
@given(bw=st.lists(st.floats(0.01, 1000.0), min_size=2, max_size=20), base=st.floats(1.0, 500.0))
def test_rtt_falls_as_capacity_rises_and_never_below_the_base(bw, base):
    bw = np.sort(np.asarray(bw))
    rtt = modelled_rtt_ms(bw, base)
    assert (np.diff(rtt) <= 1e-9).all() and (rtt >= base).all() and (rtt <= base + 3000.0 + 1e-9).all()


def test_technology_and_base_rtt_override(tmp_path):
    assert technology_of("Verizon-EVDO-driving.down") == "evdo" and technology_of("TMobile-UMTS.up") == "umts"
    assert technology_of("mystery.trace") == "lte"
    stamps = list(range(0, 1000, 2))
    umts = read_mahimahi(_write(tmp_path, stamps, "x-UMTS.up"))
    override = read_mahimahi(_write(tmp_path, stamps, "x-UMTS.up"), base_rtt_ms=10.0)
    assert umts.rtt_ms[0] - override.rtt_ms[0] == pytest.approx(BASE_RTT_MS["umts"] - 10.0)


def test_a_short_trace_loops(tmp_path):
    trace = read_mahimahi(_write(tmp_path, list(range(0, 3000, 3))))
    long = looped(trace, 10)
    assert len(long) == 10 and np.array_equal(long.bandwidth_mbps[:3], long.bandwidth_mbps[3:6])


@pytest.mark.parametrize("lines, message", [
    (["0", "5", "x"], "line 3: 'x' is not a timestamp"),
    (["0", "-4"], "line 2: '-4' is not a timestamp"),
    (["10", "5"], "line 2: timestamp 5 ms is before the previous one"),
    (["1.5"], "line 1: '1.5' is not a timestamp"),
    ([], "no timestamps"),
])
def test_bad_files_name_the_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        read_mahimahi(_write(tmp_path, lines))
    with pytest.raises(ValueError, match="technology must be one of"):
        read_mahimahi(_write(tmp_path, ["0"]), technology="wifi")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(0.1, 40.0), min_size=2, max_size=12), st.integers(0, 2**16))
def test_write_then_read_gives_each_seconds_capacity_back(tmp_path_factory, capacities, seed):
    from netgpt_lite.network import write_mahimahi

    path = write_mahimahi(np.array(capacities + [1.0]), tmp_path_factory.mktemp("mm") / "x-LTE.up", seed=seed)
    back = read_mahimahi(path).bandwidth_mbps[: len(capacities)]
    assert np.allclose(back, np.maximum(capacities, MIN_BANDWIDTH_MBPS), atol=0.0061)  # half a packet per second


def test_shipped_example_is_the_documented_self_made_drive():
    from netgpt_lite.network import EXAMPLE_MAHIMAHI, synthetic_drive

    trace = read_mahimahi(EXAMPLE_MAHIMAHI)
    assert np.allclose(trace.bandwidth_mbps, synthetic_drive(300, seed=0, mean_mbps=4.0), atol=0.0061)
    assert (trace.bandwidth_mbps < 0.3).sum() >= 10  # the dead zones are there: the RTT model sees them
