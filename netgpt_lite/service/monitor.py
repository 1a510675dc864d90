"""The network state the router sees: measured on its own upstream calls, or replayed from a trace.

:class:`NetworkMonitor` keeps an exponentially weighted moving average (EWMA) of two measurements:

* **RTT** from light probes (``GET {base_url}/models``, :meth:`OpenAICompatibleCloud.probe_ms`), one at
  start and one whenever no measurement came for ``probe_interval_s``, and from each chat call whose
  server reports its own time (``openai-processing-ms``, as OpenAI's API does): elapsed minus processing;
* **throughput** ``8 * bytes / elapsed`` of each upstream chat call (request + response bodies): a
  lower bound on the bandwidth, since the elapsed time includes the server's work.

``x <- (1 - alpha) * x + alpha * sample`` with ``alpha`` in (0, 1]; until the first sample the state
is ``initial`` (ordinary 4G).  :class:`TraceReplay` instead plays a
:class:`~netgpt_lite.network.traces.NetworkTrace` (a CSV trace or a Mahimahi link trace) against a
clock, ``speed`` trace seconds per wall second, looping at its end like mm-link -- for demos and tests.
Both are thread-safe and answer :meth:`state` with a :class:`~netgpt_lite.network.state.NetworkState`.

Example:
    >>> monitor = NetworkMonitor(alpha=0.5)
    >>> monitor.observe_rtt(100.0); monitor.observe_rtt(50.0)
    >>> monitor.state().rtt_ms
    75.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from netgpt_lite.network.state import REGIMES, NetworkState
from netgpt_lite.network.traces import NetworkTrace

MIN_BANDWIDTH_MBPS = 0.01
MIN_RTT_MS = 0.1


@dataclass(frozen=True)
class MonitorConfig:
    """Settings of :class:`NetworkMonitor`.

    Attributes:
        alpha: EWMA weight of a new sample, in (0, 1].
        probe_interval_s: Idle time after which a light probe is sent, seconds (> 0).
        initial: The state assumed before the first measurement.
    """

    alpha: float = 0.2
    probe_interval_s: float = 10.0
    initial: NetworkState = REGIMES["4g"].state

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha <= 1.0):
            raise ValueError(f"alpha must be in (0, 1] (the EWMA weight of a new sample); got {self.alpha}")
        if not (math.isfinite(self.probe_interval_s) and self.probe_interval_s > 0):
            raise ValueError(f"probe_interval_s must be a finite number > 0 seconds; got {self.probe_interval_s}")


class NetworkMonitor:
    """EWMA of RTT and throughput from measurements (see the module docstring)."""

    source = "measured"

    def __init__(self, alpha: float = 0.2, probe_interval_s: float = 10.0, initial: NetworkState | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = MonitorConfig(alpha, probe_interval_s, initial or REGIMES["4g"].state)
        self._clock = clock
        self._lock = threading.Lock()
        self._rtt_ms: float | None = None
        self._bandwidth_mbps: float | None = None
        self._last_activity = clock()
        self.n_rtt_samples = self.n_throughput_samples = 0

    def _ewma(self, old: float | None, sample: float) -> float:
        return sample if old is None else (1.0 - self.config.alpha) * old + self.config.alpha * sample

    def observe_rtt(self, rtt_ms: float) -> None:
        """Fold one RTT sample (ms) into the average (non-finite or negative samples are ignored)."""
        if math.isfinite(rtt_ms) and rtt_ms >= 0:
            with self._lock:
                self._rtt_ms = self._ewma(self._rtt_ms, max(rtt_ms, MIN_RTT_MS))
                self.n_rtt_samples += 1
                self._last_activity = self._clock()

    def observe_transfer(self, n_bytes: int, elapsed_s: float) -> None:
        """Fold one upstream exchange (bytes both ways, wall seconds) into the throughput average."""
        if n_bytes > 0 and math.isfinite(elapsed_s) and elapsed_s > 0:
            with self._lock:
                sample = max(8.0 * n_bytes / (elapsed_s * 1e6), MIN_BANDWIDTH_MBPS)
                self._bandwidth_mbps = self._ewma(self._bandwidth_mbps, sample)
                self.n_throughput_samples += 1
                self._last_activity = self._clock()

    def needs_probe(self) -> bool:
        """Whether the service has been idle (no measurement) for ``probe_interval_s``."""
        with self._lock:
            return self._clock() - self._last_activity >= self.config.probe_interval_s

    def state(self) -> NetworkState:
        """The current estimate (``initial`` for what was never measured)."""
        with self._lock:
            bw = self._bandwidth_mbps if self._bandwidth_mbps is not None else self.config.initial.bandwidth_mbps
            rtt = self._rtt_ms if self._rtt_ms is not None else self.config.initial.rtt_ms
        return NetworkState(float(bw), float(rtt))


class TraceReplay:
    """A trace played against a clock: ``state()`` is the trace's state at ``speed * (now - start)``, looped.

    Args:
        trace: The trace (e.g. :func:`~netgpt_lite.network.traces.read_trace_csv` or
            :func:`~netgpt_lite.network.traces.read_mahimahi`).
        speed: Trace seconds per wall second (> 0); 60 plays a 10-minute trace in 10 seconds.
        clock: Wall clock in seconds (inject one in tests).

    Measurements of the upstream still go on, into :attr:`measured` (a :class:`NetworkMonitor`,
    exported in ``/metrics`` beside the replayed state).

    Example:
        >>> import numpy as np
        >>> trace = NetworkTrace(np.array([0.0, 1.0]), np.array([50.0, 1.0]), np.array([20.0, 400.0]))
        >>> now = [0.0]
        >>> replay = TraceReplay(trace, clock=lambda: now[0])
        >>> now[0] = 1.5; replay.state().rtt_ms
        400.0
    """

    source = "trace"

    def __init__(self, trace: NetworkTrace, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a finite number > 0 (trace seconds per wall second); got {speed}")
        self.trace, self.speed, self._clock = trace, float(speed), clock
        self.measured = NetworkMonitor(clock=clock)
        self._start = clock()
        step = float(trace.t_s[1] - trace.t_s[0]) if len(trace) > 1 else 1.0
        self.duration_s = float(trace.t_s[-1] - trace.t_s[0]) + step  # the last sample holds for one step

    def trace_time_s(self) -> float:
        """Where in the trace the replay is now, seconds from its start (looped)."""
        return (self.speed * (self._clock() - self._start)) % self.duration_s

    def state(self) -> NetworkState:
        return self.trace.state_at(float(self.trace.t_s[0]) + self.trace_time_s())

    # measurements still go on (into ``measured``, exported in /metrics); the policy sees the trace
    def observe_rtt(self, rtt_ms: float) -> None:
        self.measured.observe_rtt(rtt_ms)

    def observe_transfer(self, n_bytes: int, elapsed_s: float) -> None:
        self.measured.observe_transfer(n_bytes, elapsed_s)

    def needs_probe(self) -> bool:
        return self.measured.needs_probe()
