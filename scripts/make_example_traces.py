"""Write the shipped, self-made example traces (seeded; no third-party trace is vendored).

    python scripts/make_example_traces.py

writes ``netgpt_lite/data/traces/example-lte-drive.mahimahi``: :func:`netgpt_lite.network.synthetic_drive`
(300 s, seed 0, mean 4 Mbps) as Mahimahi delivery opportunities (:func:`netgpt_lite.network.write_mahimahi`).
"""

from __future__ import annotations

from netgpt_lite.network import EXAMPLE_MAHIMAHI, read_mahimahi, synthetic_drive, write_mahimahi


def main() -> None:
    capacity = synthetic_drive(300, seed=0, mean_mbps=4.0)
    write_mahimahi(capacity, EXAMPLE_MAHIMAHI, seed=0)
    trace = read_mahimahi(EXAMPLE_MAHIMAHI)
    print(f"{EXAMPLE_MAHIMAHI.name}: {len(trace)} s, {EXAMPLE_MAHIMAHI.stat().st_size / 1e3:.0f} kB, "
          f"capacity {trace.bandwidth_mbps.min():.2f}-{trace.bandwidth_mbps.max():.1f} Mbps "
          f"(median {float(sorted(trace.bandwidth_mbps)[len(trace) // 2]):.1f}), "
          f"RTT {trace.rtt_ms.min():.0f}-{trace.rtt_ms.max():.0f} ms")


if __name__ == "__main__":
    main()
