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
