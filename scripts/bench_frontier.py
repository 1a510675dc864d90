"""Benchmark the vectorised frontier sweep: a 50 x 50 (bandwidth, RTT) grid x 101 thresholds x 2,000 requests.

The sweep sorts the scores once; each threshold's fallback set is then a prefix of the sorted requests,
so every mean over it is a cumulative-sum lookup, broadcast over the whole grid
(:func:`netgpt_lite.routing.simulator.frontier_grid`).  The script checks a few grid points against a direct
loop (route every request, average) and reports the best of ``--repeats`` timings.

Usage:
    OMP_NUM_THREADS=1 python scripts/bench_frontier.py [--n-requests 2000] [--grid 50] [--thresholds 101]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from netgpt_lite.network.pricing import request_cost_usd
from netgpt_lite.network.state import LatencyModel, cloud_time_ms, edge_time_ms
from netgpt_lite.routing.context import route
from netgpt_lite.routing.proposals import synthetic_table
from netgpt_lite.routing.simulator import frontier_grid
from netgpt_lite.theory.threshold import UtilityWeights


def direct_utility(table, bandwidth_mbps: float, rtt_ms: float, threshold: float) -> float:
    """Mean utility at one grid point by routing every request explicitly (the slow reference)."""
    w, lat = UtilityWeights(), LatencyModel()
    fallback = route(table.edge_score, threshold)
    out = table.cloud_output_tokens.mean(axis=1)
    cloud_ms = cloud_time_ms(bandwidth_mbps, rtt_ms, table.request_bytes, table.response_bytes.mean(axis=1), out, lat)
    latency = edge_time_ms(table.edge_output_tokens, lat) + np.where(fallback, cloud_ms, 0.0)
    cost = np.where(fallback, request_cost_usd(table.cloud_input_tokens, out, (0.003, 0.015)), 0.0)
    success = np.where(fallback, table.cloud_correct.mean(axis=1), table.edge_correct)
    return float(np.mean(w.reward * success - w.lambda_latency_per_ms * latency - w.lambda_cost_per_usd * cost))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-requests", type=int, default=2000)
    parser.add_argument("--grid", type=int, default=50)
    parser.add_argument("--thresholds", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    table = synthetic_table(args.n_requests, seed=0)  # synthetic table: only the timing matters here
    bw, rtt = np.geomspace(0.05, 300.0, args.grid), np.geomspace(10.0, 3000.0, args.grid)
    thresholds = np.linspace(0.0, 1.0, args.thresholds)
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        grid = frontier_grid(table, bw, rtt, thresholds)
        timings.append(time.perf_counter() - start)
    rng = np.random.default_rng(0)
    for _ in range(5):  # spot-check against the direct loop
        i, j, k = rng.integers(args.grid), rng.integers(args.grid), rng.integers(args.thresholds)
        assert np.isclose(grid["utility"][i, j, k], direct_utility(table, bw[i], rtt[j], thresholds[k]))
    start = time.perf_counter()
    direct_utility(table, bw[0], rtt[0], thresholds[0])
    one_point_s = time.perf_counter() - start
    report = {
        "grid": [args.grid, args.grid], "thresholds": args.thresholds, "requests": args.n_requests,
        "cells": int(grid["utility"].size), "best_s": round(min(timings), 4), "median_s": round(float(np.median(timings)), 4),
        "direct_loop_estimate_s": round(one_point_s * grid["utility"].size, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
