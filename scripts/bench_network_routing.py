"""Does a network-aware threshold earn its keep? The routing targets, measured on every time-varying trace.

For every time-varying trace (Markov mixed, the commute replay, the shipped self-made Mahimahi LTE drive, and
any public Mahimahi trace given with ``--mahimahi``) x pricing schedule (flat, peak/off-peak, surge) x seeds, on
the shipped SmolLM2 proposal tables, with the policies fitted on the deployment's own logs (another day of the
same traffic) and, with ``--shift``, again on validation-phrasing logs (the distribution-shift arm), it prints
per cell:

* the utility of ``fixed_logs``, ``fixed_hindsight``, ``funcdyn``, ``funcdyn_online``, ``policynet`` and
  ``threshold_oracle``;
* the **room** above the best fixed threshold in hindsight (threshold oracle - fixed_hindsight, paired, 95%
  interval over the seeds' pooled requests) and whether it is resolvable (interval above 0);
* FuncDyn - fixed_hindsight with its interval, and FuncDyn's share of the room where the room resolves;
* the same room between the two limits *cross-fitted* (each half of the stream scored with the limit chosen on
  the other half), and FuncDyn against the cross-fitted fixed threshold;
* the checks: FuncDyn >= fixed_hindsight (where the room does not resolve: FuncDyn's shortfall is no larger
  than the room's upper bound), FuncDyn >= fixed_logs, PolicyNet within 2% of FuncDyn, and FuncDyn's share
  >= 0.9 where the room resolves.

Usage:
    python scripts/bench_network_routing.py [--seeds 3] [--n-requests 2000] [--n-logs 8000] [--shift]
        [--mahimahi FILE ...] [--base-rtt-ms MS] [--json OUT]

The public traces are not shipped (GPL); ``python -m netgpt_lite.network.public_traces --out DIR`` fetches
them where the network allows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from netgpt_lite.experiments.frontier import LTE_DRIVE, TraceSource, main_table, named_source
from netgpt_lite.network.mahimahi import read_mahimahi
from netgpt_lite.provenance import Recorder, cpu_seconds
from netgpt_lite.routing.edge_outputs import load_edge_tables

SHOWN = ("fixed_logs", "fixed_hindsight", "funcdyn", "funcdyn_online", "policynet", "threshold_oracle")
PRICINGS = ("flat", "peak_offpeak", "surge")
SHARE_TARGET = 0.9
POLICYNET_TOLERANCE = 0.02


def cross_fitted_view(res: dict) -> dict:
    """The room between the two limits scored out of sample (each half of the stream with the limit chosen on
    the other): what is left of the room once the limits cannot fit the stream's noise."""
    cv = res["room"]["cross_fitted"]
    fd = cv["policies"]["funcdyn"]["vs_fixed_hindsight_cv"]
    return {"room": {k: cv["room"][k] for k in ("mean", "ci_low", "ci_high")}, "resolvable": cv["resolvable"],
            "funcdyn_vs_fixed_hindsight_cv": {k: fd[k] for k in ("mean", "ci_low", "ci_high")},
            "funcdyn_share_of_room": cv["policies"]["funcdyn"]["share_of_room"],
            "funcdyn_ge_fixed_hindsight_cv": bool(fd["mean"] >= 0.0 or fd["ci_high"] >= 0.0)}


def cell_checks(res: dict) -> dict:
    """The targets on one cell (an ``aggregate`` dict): room, FuncDyn's paired difference, checks."""
    room, policies = res["room"], res["room"]["policies"]
    u = {n: res["policies"][n]["mean_utility"]["mean"] for n in SHOWN}
    fd = policies["funcdyn"]["vs_fixed_hindsight"]
    share = policies["funcdyn"]["share_of_room"]
    if room["resolvable"]:
        beats_hindsight = fd["mean"] >= 0.0
    else:  # the room cannot be told from 0: a shortfall within its upper bound is a tie
        beats_hindsight = fd["mean"] >= -room["room"]["ci_high"]
    return {
        "utility": u,
        "room": {k: room["room"][k] for k in ("mean", "ci_low", "ci_high")}, "resolvable": room["resolvable"],
        "funcdyn_vs_fixed_hindsight": {k: fd[k] for k in ("mean", "ci_low", "ci_high")},
        "funcdyn_online_vs_funcdyn": policies["funcdyn_online"]["vs_fixed_hindsight"]["mean"] - fd["mean"],
        "funcdyn_share_of_room": share,
        "cross_fitted": cross_fitted_view(res),
        "checks": {
            "funcdyn_ge_fixed_hindsight": bool(beats_hindsight),
            "funcdyn_ge_fixed_logs": bool(u["funcdyn"] >= u["fixed_logs"]),
            "policynet_within_2pct": bool(abs(u["policynet"] / u["funcdyn"] - 1.0) <= POLICYNET_TOLERANCE),
            "share_ge_0.9_where_resolvable": bool(share is None or share >= SHARE_TARGET),
        },
    }


def run_arm(logs: str, sources: list[TraceSource], args: argparse.Namespace) -> dict:
    log_table, test_table = load_edge_tables(logs=logs)
    cells = main_table(test_table, log_table, sources, PRICINGS, seeds=tuple(range(args.seeds)),
                       n_requests=args.n_requests, n_logs=args.n_logs)
    return {cell: cell_checks(res) for cell, res in cells.items()}


def print_arm(logs: str, table: dict) -> None:
    print(f"\n== policies fitted on {logs} logs")
    print(f"{'cell':34s} " + " ".join(f"{n[:13]:>13s}" for n in SHOWN)
          + "   room [95% CI]               FD-FH [95% CI]              share  checks")
    for cell, c in table.items():
        r, d = c["room"], c["funcdyn_vs_fixed_hindsight"]
        share = "  -  " if c["funcdyn_share_of_room"] is None else f"{c['funcdyn_share_of_room']:5.2f}"
        failed = [k for k, ok in c["checks"].items() if not ok]
        print(f"{cell:34s} " + " ".join(f"{c['utility'][n]:13.4f}" for n in SHOWN)
              + f"   {r['mean']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
              + f"  {d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]  {share}  "
              + ("ok" if not failed else "MISS " + ",".join(failed)))
    print("  cross-fitted limits (each half of the stream scored with the limit chosen on the other half):")
    for cell, c in table.items():
        cv = c["cross_fitted"]
        r, d = cv["room"], cv["funcdyn_vs_fixed_hindsight_cv"]
        share = "  -  " if cv["funcdyn_share_of_room"] is None else f"{cv['funcdyn_share_of_room']:5.2f}"
        print(f"  {cell:32s} room {r['mean']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]  FD-FH_cv "
              f"{d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]  share {share}  "
              + ("ok" if cv["funcdyn_ge_fixed_hindsight_cv"] else "below"))
    n_cells = len(table)
    for check in next(iter(table.values()))["checks"]:
        print(f"  {check}: {sum(c['checks'][check] for c in table.values())}/{n_cells} cells")
    n_cv = sum(c["cross_fitted"]["funcdyn_ge_fixed_hindsight_cv"] for c in table.values())
    print(f"  funcdyn_ge_fixed_hindsight_cv (or its interval reaches 0): {n_cv}/{n_cells} cells")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-requests", type=int, default=2000)
    parser.add_argument("--n-logs", type=int, default=8000)
    parser.add_argument("--shift", action="store_true", help="also fit on validation-phrasing logs (the shift arm)")
    parser.add_argument("--mahimahi", nargs="*", default=[], help="public Mahimahi traces to add (not shipped)")
    parser.add_argument("--base-rtt-ms", type=float, default=None,
                        help="base RTT of the --mahimahi traces (default: their technology's, LTE 50 ms)")
    parser.add_argument("--json", default=None, help="write the cells and a manifest here")
    args = parser.parse_args()
    recorder = Recorder(seed=0, split="test", sizes={"n_seeds": args.seeds, "n_requests": args.n_requests,
                                                     "n_logs": args.n_logs}, config=vars(args))
    sources = [named_source(t) for t in ("mixed", "commute", LTE_DRIVE)]
    sources += [TraceSource(Path(f).name, read_mahimahi(f, base_rtt_ms=args.base_rtt_ms)) for f in args.mahimahi]
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    arms = {logs: run_arm(logs, sources, args) for logs in (("deployment", "validation") if args.shift
                                                            else ("deployment",))}
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    for logs, table in arms.items():
        print_arm(logs, table)
    print(f"\nwall {wall:.1f} s, CPU {cpu:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"arms": arms, "manifest": recorder.finish(wall_s_table=round(wall, 1))}, fh, indent=1)


if __name__ == "__main__":
    main()
