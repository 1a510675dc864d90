"""The service's counters, gauges and latency histograms, written in the Prometheus text format.

No client library: a counter is a float per label set, a histogram keeps cumulative bucket counts,
a sum and a count (the exposition format 0.0.4 that ``GET /metrics`` returns, ``text/plain;
version=0.0.4``).  Names follow Prometheus conventions: ``_total`` for counters, base units
(seconds, bytes, megabits per second, milliseconds where the name says so).

Example:
    >>> m = ServiceMetrics()
    >>> m.count("netgpt_requests_total", route="edge")
    >>> m.observe("netgpt_request_seconds", 0.004)
    >>> 'netgpt_requests_total{route="edge"} 1' in m.render()
    True
"""

from __future__ import annotations

import bisect
import math
import threading

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HELP = {
    "netgpt_requests_total": ("counter", "Chat-completion requests answered, by route (edge|cloud) and degraded flag"),
    "netgpt_rejected_total": ("counter", "Requests refused, by reason "
                              "(bad_request|too_large|unauthorized|queue_full|edge_error)"),
    "netgpt_fallbacks_total": ("counter", "Requests the policy sent to the cloud, by reason"),
    "netgpt_degraded_total": ("counter", "Cloud fallbacks answered by the edge instead, by reason"),
    "netgpt_upstream_calls_total": ("counter", "Calls to the upstream cloud, by outcome"),
    "netgpt_logged_records_total": ("counter", "Cloud answers written to the traffic log"),
    "netgpt_request_seconds": ("histogram", "Wall time of a chat-completion request in the service"),
    "netgpt_edge_seconds": ("histogram", "Edge generation time of the batch a request ran in"),
    "netgpt_upstream_seconds": ("histogram", "Wall time of an upstream cloud call, retries included"),
    "netgpt_routing_overhead_seconds": ("histogram", "Request time minus edge and upstream time: the router's own"),
    "netgpt_threshold": ("gauge", "Fallback threshold of the last request (score < threshold -> cloud)"),
    "netgpt_rtt_ms": ("gauge", "Network round-trip time the policy used, ms"),
    "netgpt_bandwidth_mbps": ("gauge", "Network throughput the policy used, Mbit/s"),
    "netgpt_measured_rtt_ms": ("gauge", "EWMA of the RTT measured on upstream calls and probes, ms"),
    "netgpt_measured_bandwidth_mbps": ("gauge", "EWMA of the throughput measured on upstream calls, Mbit/s"),
    "netgpt_price_usd_per_1k_input": ("gauge", "Cloud price of 1,000 input tokens now, USD"),
    "netgpt_edge_queue_depth": ("gauge", "Requests waiting for the edge worker"),
    "netgpt_circuit_open": ("gauge", "1 while the upstream circuit is open (cloud calls skipped)"),
}


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in sorted(labels.items()))
    return "{" + body + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class ServiceMetrics:
    """Thread-safe metric store; :meth:`render` writes the exposition text."""

    def __init__(self, buckets_s: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets_s = tuple(sorted(buckets_s))
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple], float] = {}
        self._gauges: dict[tuple[str, tuple], float] = {}
        self._histograms: dict[tuple[str, tuple], list] = {}  # [bucket counts..., sum, count]

    def count(self, name: str, amount: float = 1.0, **labels) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = float(value)

    def observe(self, name: str, value_s: float, **labels) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            h = self._histograms.setdefault(key, [0] * len(self.buckets_s) + [0.0, 0])
            i = bisect.bisect_left(self.buckets_s, value_s)
            for j in range(i, len(self.buckets_s)):
                h[j] += 1
            h[-2] += value_s
            h[-1] += 1

    def counter(self, name: str, **labels) -> float:
        """The value of one counter (0 when never counted)."""
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format."""
        with self._lock:
            series: dict[str, list[str]] = {}
            for (name, labels), value in sorted(self._counters.items()) + sorted(self._gauges.items()):
                series.setdefault(name, []).append(f"{name}{_labels(dict(labels))} {_number(value)}")
            for (name, labels), h in sorted(self._histograms.items()):
                lines = series.setdefault(name, [])
                for bound, n in zip(self.buckets_s, h):
                    lines.append(f"{name}_bucket{_labels({**dict(labels), 'le': _number(bound)})} {n}")
                lines.append(f"{name}_bucket{_labels({**dict(labels), 'le': '+Inf'})} {h[-1]}")
                lines.append(f"{name}_sum{_labels(dict(labels))} {_number(h[-2])}")
                lines.append(f"{name}_count{_labels(dict(labels))} {h[-1]}")
        out = []
        for name in sorted(series):
            kind, text = HELP.get(name, ("untyped", name))
            out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *series[name]]
        return "\n".join(out) + "\n"
