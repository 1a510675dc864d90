"""Mahimahi link traces: read (and write) the mm-link format, with a stated RTT model.

A Mahimahi (mm-link) trace has one line per delivery opportunity: an integer timestamp in ms at which
one MTU-sized (1500-byte) packet may leave; the file loops when it ends (Netravali et al., "Mahimahi:
accurate record-and-replay for HTTP", USENIX ATC 2015).  Public cellular traces in this format (LTE,
UMTS/3G and EVDO, recorded while driving; Winstein et al., "Stochastic forecasts achieve high throughput
and low delay over cellular networks", NSDI 2013) carry only capacity, so the RTT is modelled: a base
RTT per technology plus the queueing delay of a standing queue, which grows as capacity falls (cellular
links keep large buffers: Jiang et al., "Tackling bufferbloat in 3G/4G networks", IMC 2012).  The base
RTTs below are illustrative round numbers in the range those measurements report, not measurements.

:func:`read_mahimahi` gives a per-second :class:`~netgpt_lite.network.traces.NetworkTrace`;
:func:`write_mahimahi` writes capacities back as delivery opportunities; :func:`synthetic_drive` is the
self-made, seeded LTE drive behind the shipped example (no third-party trace is vendored).

Example:
    >>> trace = read_mahimahi(EXAMPLE_MAHIMAHI)
    >>> len(trace), bool(trace.bandwidth_mbps.min() < 1.0 < trace.bandwidth_mbps.max())
    (300, True)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from netgpt_lite.network.state import positive_array
from netgpt_lite.network.traces import NetworkTrace

MAHIMAHI_PACKET_BYTES = 1500
BASE_RTT_MS = {"lte": 50.0, "umts": 120.0, "evdo": 150.0}
STANDING_QUEUE_BYTES = 32_000  # bytes queued ahead of a request: delay = 8 * bytes / capacity
MAX_QUEUEING_MS = 3_000.0  # a queue this long means the link is practically out; cap it
MIN_BANDWIDTH_MBPS = 0.05  # a second with no delivery opportunity still needs a positive state


def modelled_rtt_ms(bandwidth_mbps, base_rtt_ms: float, queue_bytes: float = STANDING_QUEUE_BYTES) -> np.ndarray:
    """RTT = base RTT + 8 * queue_bytes / capacity (ms), the queueing term capped at :data:`MAX_QUEUEING_MS`.

    Example:
        >>> [round(float(x)) for x in modelled_rtt_ms([0.5, 5.0, 50.0], base_rtt_ms=50.0)]
        [562, 101, 55]
    """
    bw = positive_array("bandwidth_mbps", bandwidth_mbps)
    positive_array("base_rtt_ms", base_rtt_ms)
    return base_rtt_ms + np.minimum(8.0 * queue_bytes / (bw * 1000.0), MAX_QUEUEING_MS)


def technology_of(path: str | Path) -> str:
    """Guess the technology from a trace's file name (``Verizon-LTE-driving.up`` -> ``"lte"``); default lte."""
    name = Path(path).name.lower()
    for tech, words in (("evdo", ("evdo",)), ("umts", ("umts", "3g", "hspa")), ("lte", ("lte", "4g"))):
        if any(w in name for w in words):
            return tech
    return "lte"


def read_mahimahi(path: str | Path, *, technology: str | None = None, base_rtt_ms: float | None = None,
                  step_s: float = 1.0) -> NetworkTrace:
    """Read a Mahimahi link trace into a :class:`NetworkTrace` of one state per ``step_s`` seconds.

    Capacity per step = delivery opportunities in the step x 1500 bytes; RTT from :func:`modelled_rtt_ms`
    with the technology's base RTT (:data:`BASE_RTT_MS`; ``base_rtt_ms`` overrides it).  A request stream
    longer than the trace replays it from the start, as mm-link does: :func:`looped`.

    Raises:
        ValueError: ``<path> line N: ...`` for a line that is not a non-negative integer, or a timestamp
            smaller than the one before it; or when the file holds no timestamp.
    """
    path = Path(path)
    tech = technology or technology_of(path)
    if tech not in BASE_RTT_MS:
        raise ValueError(f"technology must be one of {sorted(BASE_RTT_MS)}; got {tech!r}")
    base = BASE_RTT_MS[tech] if base_rtt_ms is None else float(base_rtt_ms)
    positive_array("base_rtt_ms", base)
    positive_array("step_s", step_s)
    stamps: list[int] = []
    with path.open() as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if not text.isdigit():
                raise ValueError(f"{path} line {line_no}: {text[:40]!r} is not a timestamp (a non-negative "
                                 f"integer number of ms, one delivery opportunity per line)")
            value = int(text)
            if stamps and value < stamps[-1]:
                raise ValueError(f"{path} line {line_no}: timestamp {value} ms is before the previous one "
                                 f"({stamps[-1]} ms); Mahimahi traces never go back in time")
            stamps.append(value)
    if not stamps:
        raise ValueError(f"{path}: no timestamps (a Mahimahi trace has one integer ms timestamp per line)")
    step_ms = step_s * 1000.0
    n_steps = max(1, int(math.ceil((stamps[-1] + 1) / step_ms)))
    counts = np.bincount((np.asarray(stamps) // step_ms).astype(int), minlength=n_steps)[:n_steps]
    bandwidth = np.maximum(counts * MAHIMAHI_PACKET_BYTES * 8 / (step_s * 1e6), MIN_BANDWIDTH_MBPS)
    return NetworkTrace(step_s * np.arange(n_steps, dtype=float), bandwidth, modelled_rtt_ms(bandwidth, base))


EXAMPLE_MAHIMAHI = Path(__file__).resolve().parents[1] / "data" / "traces" / "example-lte-drive.mahimahi"


def synthetic_drive(seconds: int = 300, seed: int = 0, mean_mbps: float = 4.0) -> np.ndarray:
    """A SELF-MADE LTE drive: per-second capacity (Mbps), a log-space AR(1) around ``mean_mbps`` with
    two dead zones (a tunnel and a cell edge) where capacity falls below 0.3 Mbps for 10-20 s.

    Illustrative, seeded, not a measurement; it is what the shipped example trace holds.

    Example:
        >>> bw = synthetic_drive(120, seed=1)
        >>> bw.shape, bool(bw.min() > 0)
        ((120,), True)
    """
    if int(seconds) < 30:
        raise ValueError(f"seconds must be an integer >= 30; got {seconds}")
    positive_array("mean_mbps", mean_mbps)
    rng = np.random.default_rng(seed)
    n = int(seconds)
    log_bw = np.empty(n)
    log_bw[0] = 0.0
    for i in range(1, n):  # AR(1): capacity wanders over tens of seconds, as on a drive
        log_bw[i] = 0.93 * log_bw[i - 1] + 0.35 * rng.standard_normal()
    bw = mean_mbps * np.exp(log_bw - log_bw.mean())
    for start, length in ((int(0.3 * n), max(5, n // 20)), (int(0.75 * n), max(3, n // 30))):
        bw[start:start + length] = rng.uniform(0.05, 0.3, length)  # tunnel, cell edge
    return np.clip(bw, MIN_BANDWIDTH_MBPS, 100.0)


def write_mahimahi(bandwidth_mbps, path: str | Path, seed: int = 0) -> Path:
    """Write per-second capacities as a Mahimahi trace: ``round(capacity * 1e6 / 12000)`` delivery
    opportunities per second at seeded uniform ms within the second, one timestamp per line.

    :func:`read_mahimahi` reads back each second's capacity to within one packet (0.012 Mbps).
    """
    bw = positive_array("bandwidth_mbps", bandwidth_mbps)
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for second, mbps in enumerate(np.atleast_1d(bw)):
            k = int(round(mbps * 1e6 / (8 * MAHIMAHI_PACKET_BYTES)))
            stamps = np.sort(rng.integers(0, 1000, k)) + 1000 * second
            fh.write("".join(f"{t}\n" for t in stamps))
    return path
