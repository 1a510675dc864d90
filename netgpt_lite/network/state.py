"""The network between the edge device and the cloud: states, regimes and the latency model.

A network state is ``z = (bandwidth_mbps, rtt_ms)``.  A cloud fallback costs time

    T_c(z) = RTT + 8 * (request_bytes + response_bytes) / (B * 1000) + queueing_ms
             + 1000 * output_tokens / cloud_tokens_per_s

in milliseconds (``B`` in Mbps is ``B * 1000`` bits per ms; tokens per second become ms through the 1000),
while the edge answer took ``T_e = 1000 * output_tokens / edge_tokens_per_s`` ms (the book's eq-cloud-time).  The regimes below are *illustrative* round numbers
in the range that public 5G/4G/GEO-satellite measurements report; they are not measurements.
States that change over time are traces (:mod:`netgpt_lite.network.traces`).

Example:
    >>> z = REGIMES["4g"]
    >>> round(float(cloud_time_ms(z.bandwidth_mbps, z.rtt_ms, 6000, 400, 40)), 1)
    511.7
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def positive_array(name: str, values, *, allow_zero: bool = False) -> np.ndarray:
    """Return ``values`` as a float array after checking it is finite and > 0 (or >= 0).

    Raises:
        ValueError: naming ``name`` and the allowed range, e.g. ``rtt_ms must be finite and > 0``.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return arr
    lo, hi = arr.min(), arr.max()  # NaN propagates into both: one fast pass each
    if not ((lo >= 0 if allow_zero else lo > 0) and hi < np.inf):
        ok = np.isfinite(arr) & ((arr >= 0) if allow_zero else (arr > 0))
        bad = arr[~ok].flat[0]
        bound = ">= 0, allowed range [0, inf)" if allow_zero else "> 0, allowed range (0, inf)"
        raise ValueError(f"{name} must be finite and {bound}; got {bad}")
    return arr


@dataclass(frozen=True)
class NetworkState:
    """One network state z = (bandwidth, round-trip time) between edge and cloud.

    Attributes:
        bandwidth_mbps: available throughput in megabits per second, finite and > 0.
        rtt_ms: round-trip time in milliseconds, finite and > 0.

    Example:
        >>> NetworkState(bandwidth_mbps=50.0, rtt_ms=40.0).rtt_ms
        40.0
    """

    bandwidth_mbps: float
    rtt_ms: float

    def __post_init__(self) -> None:
        positive_array("bandwidth_mbps", self.bandwidth_mbps)
        positive_array("rtt_ms", self.rtt_ms)


@dataclass(frozen=True)
class Regime:
    """A named, typical network condition (illustrative values, see the module docstring)."""

    name: str
    bandwidth_mbps: float
    rtt_ms: float
    description: str = ""

    def __post_init__(self) -> None:
        NetworkState(self.bandwidth_mbps, self.rtt_ms)  # validates both fields

    @property
    def state(self) -> NetworkState:
        return NetworkState(self.bandwidth_mbps, self.rtt_ms)


# name -> regime; ordered from best to worst for plots.  Illustrative round numbers, not measurements.
REGIMES: dict[str, Regime] = {
    "5g_good": Regime("5g_good", 200.0, 20.0, "good 5G coverage: wide pipe, short RTT"),
    "4g": Regime("4g", 30.0, 60.0, "ordinary 4G/LTE"),
    "congested": Regime(
        "congested", 1.0, 200.0, "crowded cell (stadium, rush hour): thin pipe, queueing RTT"
    ),
    "satellite": Regime("satellite", 20.0, 650.0, "geostationary satellite link: decent pipe, very long RTT"),
    "near_outage": Regime(
        "near_outage", 0.05, 2500.0, "edge of coverage: almost no throughput, RTT in seconds"
    ),
}


# where the cloud answers within seconds: no outage, no geostationary link (the "reachable" trace)
REACHABLE_REGIMES: tuple[str, ...] = ("5g_good", "4g", "congested")


@dataclass(frozen=True)
class LatencyModel:
    """The non-network parts of the latency model (defaults are illustrative).

    Attributes:
        queueing_ms: cloud-side queueing and time to first token in ms (>= 0).
        cloud_tokens_per_s: cloud decoding speed in output tokens per second (> 0).
        edge_tokens_per_s: edge decoding speed in output tokens per second (> 0); a tiny LM on a
            phone-class CPU is slower than a datacenter GPU even though it is much smaller.
    """

    queueing_ms: float = 50.0
    cloud_tokens_per_s: float = 100.0
    edge_tokens_per_s: float = 25.0

    def __post_init__(self) -> None:
        positive_array("queueing_ms", self.queueing_ms, allow_zero=True)
        positive_array("cloud_tokens_per_s", self.cloud_tokens_per_s)
        positive_array("edge_tokens_per_s", self.edge_tokens_per_s)


def transfer_time_ms(bandwidth_mbps, n_bytes) -> np.ndarray:
    """Serialisation time of ``n_bytes`` at ``bandwidth_mbps``: 8 * bytes / (B * 1000) ms."""
    b = positive_array("bandwidth_mbps", bandwidth_mbps)
    return 8.0 * positive_array("n_bytes", n_bytes, allow_zero=True) / (b * 1000.0)


def cloud_time_ms(
    bandwidth_mbps,
    rtt_ms,
    request_bytes,
    response_bytes,
    output_tokens,
    latency: LatencyModel = LatencyModel(),  # noqa: B008 - frozen, immutable default
) -> np.ndarray:
    """Time of a cloud fallback in ms, T_c = RTT + transfer + queueing + generation (broadcasts).

    Example:
        >>> float(cloud_time_ms(8.0, 100.0, 1000, 0, 0, LatencyModel(queueing_ms=0.0)))
        101.0
    """
    rtt = positive_array("rtt_ms", rtt_ms)
    n_bytes = positive_array("request_bytes", request_bytes, allow_zero=True) + positive_array(
        "response_bytes", response_bytes, allow_zero=True
    )
    tokens = positive_array("output_tokens", output_tokens, allow_zero=True)
    generation_ms = 1000.0 * tokens / latency.cloud_tokens_per_s
    return rtt + transfer_time_ms(bandwidth_mbps, n_bytes) + latency.queueing_ms + generation_ms


def edge_time_ms(output_tokens, latency: LatencyModel = LatencyModel()) -> np.ndarray:  # noqa: B008
    """Time of the edge answer in ms, T_e = output_tokens / edge_tokens_per_s (broadcasts)."""
    tokens = positive_array("output_tokens", output_tokens, allow_zero=True)
    return 1000.0 * tokens / latency.edge_tokens_per_s


def nearest_regime(bandwidth_mbps, rtt_ms) -> np.ndarray:
    """Name of the closest regime for each state, distance measured in log(bandwidth), log(RTT)."""
    bw = np.log(positive_array("bandwidth_mbps", bandwidth_mbps))[..., None]
    rtt = np.log(positive_array("rtt_ms", rtt_ms))[..., None]
    names = list(REGIMES)
    ref_bw = np.log([REGIMES[n].bandwidth_mbps for n in names])
    ref_rtt = np.log([REGIMES[n].rtt_ms for n in names])
    idx = np.argmin((bw - ref_bw) ** 2 + (rtt - ref_rtt) ** 2, axis=-1)
    return np.asarray(names)[idx]
