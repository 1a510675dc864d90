"""Issue 13's targets, measured: how much of the threshold oracle's gain each network-aware rule recovers.

For every time-varying trace (Markov mixed, the commute replay, the shipped self-made Mahimahi LTE drive) x
pricing schedule (flat, peak/off-peak, surge) x 3 seeds, on the shipped SmolLM2 proposal tables (validation
logs, test-split evaluation), it prints per cell: the utility of ``fixed_logs``, ``fixed_hindsight``,
``funcdyn`` (tuned), ``funcdyn_plugin``, ``policynet`` and ``threshold_oracle`` (3 bins; 4 and 6 beside it),
``oracle_gain_share`` = (U - U_fixed_logs) / (U_threshold_oracle - U_fixed_logs), and PolicyNet / FuncDyn.
Static regimes follow as the sanity check (there a fixed threshold is the dynamic rule).

Usage:
    python scripts/bench_network_routing.py [--seeds 3] [--n-requests 2000] [--n-logs 8000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

from netgpt_lite.experiments.frontier import LTE_DRIVE, main_table, named_source
from netgpt_lite.network.state import REGIMES
from netgpt_lite.provenance import Recorder, cpu_seconds
from netgpt_lite.routing.edge_outputs import load_edge_tables

SHOWN = ("fixed_logs", "fixed_hindsight", "funcdyn_plugin", "funcdyn", "policynet", "threshold_oracle",
         "threshold_oracle_4", "threshold_oracle_6")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-requests", type=int, default=2000)
    parser.add_argument("--n-logs", type=int, default=8000)
    parser.add_argument("--static", action="store_true", help="also the static regimes (sanity check)")
    parser.add_argument("--json", default=None, help="write the cells and a manifest here")
    args = parser.parse_args()
    recorder = Recorder(seed=0, split="test", sizes={"n_seeds": args.seeds, "n_requests": args.n_requests,
                                                     "n_logs": args.n_logs}, config=vars(args))
    log_table, test_table = load_edge_tables()
    traces = ["mixed", "commute", LTE_DRIVE] + (list(REGIMES) if args.static else [])
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    cells = main_table(test_table, log_table, [named_source(t) for t in traces], ("flat", "peak_offpeak", "surge"),
                       seeds=tuple(range(args.seeds)), n_requests=args.n_requests, n_logs=args.n_logs)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    print(f"{'cell':28s} " + " ".join(f"{n[:14]:>14s}" for n in SHOWN) + "   fd_share  pn_share  pn/fd")
    table = {}
    for cell, res in cells.items():
        u = {n: res["policies"][n]["mean_utility"]["mean"] for n in SHOWN}
        share = {n: res["policies"][n]["oracle_gain_share"]["mean"] for n in ("funcdyn", "policynet")}
        ratio = u["policynet"] / u["funcdyn"]
        table[cell] = {"utility": u, "oracle_gain_share": share, "policynet_over_funcdyn": ratio}
        print(f"{cell:28s} " + " ".join(f"{u[n]:14.4f}" for n in SHOWN)
              + f"   {share['funcdyn']:8.3f}  {share['policynet']:8.3f}  {ratio:5.3f}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cells": table, "manifest": recorder.finish(wall_s_table=round(wall, 1))}, fh, indent=1)


if __name__ == "__main__":
    main()
