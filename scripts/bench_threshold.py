"""Benchmark: the numeric fallback threshold on 1,000,000 network states, one core.

Times :func:`netgpt_lite.theory.threshold.optimal_threshold` (hand-written numpy) and the SymPy
closed form compiled with ``lambdify`` on the same random states (bandwidth 0.01-10,000 Mbps,
RTT 0.1-5,000 ms, prices 0-100 USD per 1M tokens), and prints the median of several runs.
Not a test: the number depends on the machine.  Target: under 0.1 s per million states.

Run:
    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_threshold.py [--n 1000000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core (set before numpy loads its BLAS)

import numpy as np  # noqa: E402

from netgpt_lite.theory.proofs import optimal_threshold_lambdified
from netgpt_lite.theory.threshold import optimal_threshold  # noqa: E402


def _median_seconds(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``fn()`` (CPU time is robust to a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of network states")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    bw = 10 ** rng.uniform(-2, 4, args.n)
    rtt = 10 ** rng.uniform(-1, np.log10(5000), args.n)
    p_in, p_out = rng.uniform(0, 0.1, args.n), rng.uniform(0, 0.1, args.n)
    tau = optimal_threshold(bw, rtt, p_in, p_out)
    lam = optimal_threshold_lambdified(bw, rtt, p_in, p_out)  # also compiles (cached) before timing
    assert np.allclose(tau, lam, rtol=1e-9, atol=1e-12)
    t_np = _median_seconds(lambda: optimal_threshold(bw, rtt, p_in, p_out), args.repeats)
    t_sp = _median_seconds(lambda: optimal_threshold_lambdified(bw, rtt, p_in, p_out), args.repeats)
    print(
        f"states: {args.n:,}  OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}  median of {args.repeats} runs"
    )
    for name, (wall, cpu) in [("numpy optimal_threshold", t_np), ("sympy lambdified closed form", t_sp)]:
        print(f"{name:30s} wall {wall:.4f} s   cpu {cpu:.4f} s   ({wall / args.n * 1e9:.0f} ns/state wall)")
    print(f"share of states with 0 < tau* < 1: {np.mean((tau > 0) & (tau < 1)):.3f}")


if __name__ == "__main__":
    main()
