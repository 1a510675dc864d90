"""Network traces: a network state per time step, synthetic (seeded Markov chain) or replayed from CSV.

A :class:`NetworkTrace` holds arrays ``t_s, bandwidth_mbps, rtt_ms`` and the nearest regime's name
per step.  :func:`markov_trace` walks the illustrative regimes of :mod:`netgpt_lite.network.state`
with log-normal jitter; :func:`commute_trace` is a scripted commute; :func:`read_trace_csv` replays a
CSV file with columns ``t, bandwidth_mbps, rtt_ms`` and names the line and field of a malformed row.

Example:
    >>> trace = markov_trace(100, seed=0)
    >>> len(trace.t_s), bool((trace.bandwidth_mbps > 0).all())
    (100, True)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netgpt_lite.network.state import REGIMES, NetworkState, nearest_regime, positive_array


@dataclass(frozen=True)
class NetworkTrace:
    """A time series of network states (parallel numpy arrays of equal length).

    Attributes:
        t_s: sample times in seconds, non-decreasing.
        bandwidth_mbps: bandwidth at each sample (> 0).
        rtt_ms: round-trip time at each sample (> 0).
        regime: regime name at each sample (for CSV replays: the nearest named regime).
    """

    t_s: np.ndarray
    bandwidth_mbps: np.ndarray
    rtt_ms: np.ndarray
    regime: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        t = np.asarray(self.t_s, dtype=float)
        bw = positive_array("bandwidth_mbps", self.bandwidth_mbps)
        rtt = positive_array("rtt_ms", self.rtt_ms)
        if not (t.ndim == 1 and t.shape == bw.shape == rtt.shape):
            raise ValueError("t_s, bandwidth_mbps and rtt_ms must be 1-D arrays of equal length")
        if not np.isfinite(t).all() or (np.diff(t) < 0).any():
            raise ValueError("t_s must be finite and non-decreasing")
        regime = nearest_regime(bw, rtt) if self.regime is None else np.asarray(self.regime, dtype=str)
        if regime.shape != t.shape:
            raise ValueError("regime must have one name per sample")
        for name, value in (("t_s", t), ("bandwidth_mbps", bw), ("rtt_ms", rtt), ("regime", regime)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.t_s)

    def state_at(self, t_s: float) -> NetworkState:
        """The state in force at time ``t_s`` (sample-and-hold replay; before the start: the first)."""
        i = max(int(np.searchsorted(self.t_s, t_s, side="right")) - 1, 0)
        return NetworkState(float(self.bandwidth_mbps[i]), float(self.rtt_ms[i]))


def _jitter(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Mean-one log-normal factors exp(sigma * N - sigma^2 / 2)."""
    return np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma**2)


def markov_trace(
    n_steps: int,
    seed: int | np.random.Generator = 0,
    *,
    step_s: float = 1.0,
    regimes: tuple[str, ...] = tuple(REGIMES),
    stay_prob: float = 0.95,
    jitter: float = 0.2,
    start: str | None = None,
) -> NetworkTrace:
    """A seeded Markov chain over regimes: each step stays with ``stay_prob``, else jumps uniformly
    to another regime; bandwidth and RTT get independent mean-one log-normal jitter (sigma ``jitter``).

    Example:
        >>> tr = markov_trace(100, seed=0)
        >>> len(tr), bool((tr.bandwidth_mbps > 0).all())
        (100, True)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    if not 0.0 <= stay_prob <= 1.0:
        raise ValueError(f"stay_prob must be in [0, 1]; got {stay_prob}")
    if not (math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be finite and >= 0 (a log-normal sigma); got {jitter}")
    positive_array("step_s", step_s)
    unknown = [r for r in regimes if r not in REGIMES] + ([start] if start not in (None, *regimes) else [])
    if unknown or not regimes:
        raise ValueError(f"unknown regimes {unknown}; choose from {list(REGIMES)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = len(regimes)
    state = regimes.index(start) if start is not None else int(rng.integers(k))
    idx = np.empty(n_steps, dtype=int)
    moves = rng.random(n_steps) >= stay_prob  # step i leaves the current regime
    hops = rng.integers(1, max(k, 2), size=n_steps)  # offset to a different regime
    for i in range(n_steps):
        if i > 0 and moves[i] and k > 1:
            state = (state + hops[i]) % k
        idx[i] = state
    names = np.asarray(regimes)[idx]
    base_bw = np.array([REGIMES[n].bandwidth_mbps for n in names])
    base_rtt = np.array([REGIMES[n].rtt_ms for n in names])
    return NetworkTrace(
        t_s=step_s * np.arange(n_steps, dtype=float),
        bandwidth_mbps=base_bw * _jitter(rng, n_steps, jitter),
        rtt_ms=base_rtt * _jitter(rng, n_steps, jitter),
        regime=names,
    )


def commute_trace(seed: int = 0, *, step_s: float = 5.0, jitter: float = 0.15) -> NetworkTrace:
    """An illustrative 10-minute commute, 5G -> congested -> 4G (2, 4 and 4 minutes), with jitter.

    The shipped example ``netgpt_lite/data/traces/commute.csv`` is this trace with ``seed=0``,
    written by :func:`write_trace_csv` (values rounded to 4 decimals).
    """
    legs = [("5g_good", 120.0), ("congested", 240.0), ("4g", 240.0)]
    names = np.concatenate([[name] * int(round(secs / step_s)) for name, secs in legs])
    rng = np.random.default_rng(seed)
    n = len(names)
    bw = np.array([REGIMES[r].bandwidth_mbps for r in names]) * _jitter(rng, n, jitter)
    rtt = np.array([REGIMES[r].rtt_ms for r in names]) * _jitter(rng, n, jitter)
    return NetworkTrace(step_s * np.arange(n, dtype=float), bw, rtt, names)


EXAMPLE_TRACE_CSV = Path(__file__).resolve().parents[1] / "data" / "traces" / "commute.csv"
_CSV_FIELDS = ("t", "bandwidth_mbps", "rtt_ms")


def write_trace_csv(trace: NetworkTrace, path: str | Path, comment: str = "") -> Path:
    """Write ``t,bandwidth_mbps,rtt_ms,regime`` rows (``#`` lines on top hold ``comment``)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        for line in comment.splitlines():
            fh.write(f"# {line}\n")
        writer = csv.writer(fh)
        writer.writerow([*_CSV_FIELDS, "regime"])
        for row in zip(trace.t_s, trace.bandwidth_mbps, trace.rtt_ms, trace.regime):
            writer.writerow([f"{row[0]:g}", f"{row[1]:.4f}", f"{row[2]:.4f}", row[3]])
    return path


def read_trace_csv(path: str | Path = EXAMPLE_TRACE_CSV) -> NetworkTrace:
    """Replay a CSV trace with a header ``t,bandwidth_mbps,rtt_ms`` (an extra ``regime`` column is
    kept; ``#`` lines are comments).  ``t`` is in seconds and must not decrease.

    Raises:
        ValueError: ``<path> line N: field 'rtt_ms' ...`` for the first malformed row.

    Example:
        >>> tr = read_trace_csv()  # the shipped commute example
        >>> str(tr.regime[0])
        '5g_good'
    """
    path = Path(path)
    rows: dict[str, list] = {"t": [], "bandwidth_mbps": [], "rtt_ms": [], "regime": []}
    with path.open(newline="") as fh:
        lines = [(n, line) for n, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: empty trace; expected a header {','.join(_CSV_FIELDS)}")
    header_no, header = lines[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    missing = [f for f in _CSV_FIELDS if f not in columns]
    if missing:
        raise ValueError(f"{path} line {header_no}: header lacks field(s) {missing}; got {columns}")
    for line_no, line in lines[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) != len(columns):
            raise ValueError(f"{path} line {line_no}: expected {len(columns)} fields, got {len(cells)}")
        record = dict(zip(columns, cells))
        for name in _CSV_FIELDS:
            try:
                value = float(record[name])
            except ValueError:
                raise ValueError(
                    f"{path} line {line_no}: field '{name}' = {record[name]!r} is not a number"
                ) from None
            try:
                if name == "t":
                    if not math.isfinite(value) or (rows["t"] and value < rows["t"][-1]):
                        raise ValueError(f"t must be finite and >= the previous t; got {value}")
                else:
                    positive_array(name, value)
            except ValueError as err:
                raise ValueError(f"{path} line {line_no}: field '{name}': {err}") from None
            rows[name].append(value)
        rows["regime"].append(record.get("regime", ""))
    if not rows["t"]:
        raise ValueError(f"{path}: no data rows after the header")
    regime = np.asarray(rows["regime"]) if "regime" in columns else None
    return NetworkTrace(
        np.asarray(rows["t"]), np.asarray(rows["bandwidth_mbps"]), np.asarray(rows["rtt_ms"]), regime
    )


# --- Mahimahi link traces --------------------------------------------------------------------------
# A Mahimahi (mm-link) trace has one line per delivery opportunity: an integer timestamp in ms at which
# one MTU-sized (1500-byte) packet may leave; the file loops when it ends (Netravali et al., "Mahimahi:
# accurate record-and-replay for HTTP", USENIX ATC 2015).  Public cellular traces in this format (LTE,
# UMTS/3G and EVDO, recorded while driving; Winstein et al., "Stochastic forecasts achieve high throughput
# and low delay over cellular networks", NSDI 2013) carry only capacity, so the RTT is modelled: a base
# RTT per technology plus the queueing delay of a standing queue, which grows as capacity falls (cellular
# links keep large buffers: Jiang et al., "Tackling bufferbloat in 3G/4G networks", IMC 2012).  The base
# RTTs below are illustrative round numbers in the range those measurements report, not measurements.
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


def looped(trace: NetworkTrace, n_steps: int) -> NetworkTrace:
    """``trace`` repeated from its start until it has ``n_steps`` samples (mm-link replays a short trace).

    Example:
        >>> short = NetworkTrace(np.arange(3.0), np.array([1.0, 2.0, 3.0]), np.array([50.0, 60.0, 70.0]))
        >>> looped(short, 7).bandwidth_mbps.tolist()
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    idx = np.arange(n_steps) % len(trace)
    step = float(np.median(np.diff(trace.t_s))) if len(trace) > 1 else 1.0
    return NetworkTrace(step * np.arange(n_steps, dtype=float), trace.bandwidth_mbps[idx], trace.rtt_ms[idx],
                        trace.regime[idx])
