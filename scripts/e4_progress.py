"""Where a running (or killed) E4/E6 stands: each run's committed rounds, each paired against round 0, and how
long the rest should take.

``netgpt-lite reproduce`` (and ``regenerate``'s ``results`` stage) commits one round of one run at a time in
``<out>/E4/<run>/state.json``; this reads those files and nothing else, so it is safe to run beside the job.
For each run it prints :func:`~netgpt_lite.experiments.synergy_findings.round_table` of its committed rounds,
every round's offload, success, cloud calls at equal success (:mod:`~netgpt_lite.experiments.equal_success`)
and cloud calls at the cut chosen on the calibration set (:mod:`~netgpt_lite.experiments.calibrated_cut`)
minus round 0's on the same held-out requests (paired, 95% intervals), the
wall time of its improvement rounds, and how far its next round got (from the files a round renames into
place: its log, then its checkpoint); then an estimate of the wall time left, from those means, if
``--workers`` runs share the machine as they do now.

Example:
    python scripts/e4_progress.py runs/pipeline/reproduce           # the regenerate stage's runs
    python scripts/e4_progress.py runs/reproduce --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from netgpt_lite.experiments import calibrated_cut, equal_success
from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.experiments.synergy_experiments import synergy_runs
from netgpt_lite.experiments.synergy_findings import points, round_table
from netgpt_lite.routing.metrics import summarize_intervals
from netgpt_lite.synergy.run_files import STATE_FILE, read_state
from netgpt_lite.synergy.run_folder import checkpoint_name, shard_name


def own_rounds() -> dict[str, tuple[int, int]]:
    """The full preset's runs: name -> (the round it starts from, its last round); a forked arm starts from its
    fork round (the RL-off arm round 0, the refresh-off arm round 1)."""
    return {name: (0 if fork is None else fork[1], config.rounds)
            for name, (config, fork) in synergy_runs(ReproduceConfig.preset(fast=False)).items()}


def run_report(name: str, state: dict) -> tuple[list[str], float | None]:
    """Lines describing one run, and the mean wall seconds of its improvement rounds (None before round 1)."""
    import pandas as pd

    rounds = state["rounds"]
    last = state["last_completed_round"]
    lines = [f"== {name}: " + (f"round {last} committed" if last >= 0 else "no round committed yet")]
    if not rounds:
        return lines, None
    with pd.option_context("display.width", 160, "display.max_columns", 12):
        lines.append(round_table(rounds).to_string())
    first = rounds[0]
    for m in rounds[1:]:
        if "per_request" not in m or "per_request" not in first:
            break
        d = summarize_intervals(m["per_request"], baseline=first["per_request"], n_bootstrap=2000)
        at_equal = equal_success.needed([m], [first], n_bootstrap=2000)  # None: rounds without edge-only values
        cut = calibrated_cut.measured([m], [first], n_bootstrap=2000)  # None: rounds without calibration sets
        lines.append(f"round {m['round']} - round 0 (n={d['offload_rate']['n']}): offload "
                     f"{points(d['offload_rate'])}, success {points(d['task_success'])}"
                     + (f", cloud calls at equal success {points(at_equal)}" if at_equal else "")
                     + (f", at the calibrated cut {points(cut['cloud_share'])}" if cut else ""))
    seconds = state.get("seconds_per_round") or []
    if seconds:
        lines.append(f"improvement rounds: {', '.join(f'{s / 60:.0f}' for s in seconds)} min wall")
    peaks = state.get("peak_rss_mb") or []
    if any(m is not None for m in peaks):  # each round's own when it ran in a process of its own
        lines.append("peak resident memory by round: " + ", ".join("?" if m is None else f"{m / 1024:.2f}"
                                                                   for m in peaks) + " GiB")
    return lines, (sum(seconds) / len(seconds)) if seconds else None


def in_progress(run_dir: Path, state: dict, now: float | None = None) -> str:
    """How far the round after the last committed one got (from the files it has renamed into place) and the
    minutes since ``state.json`` was last written: while the job runs, how long the round has taken so far."""
    import time

    r = state["last_completed_round"] + 1
    minutes = ((time.time() if now is None else now) - (run_dir / STATE_FILE).stat().st_mtime) / 60
    if r == 0:
        step = "evaluating" if (run_dir / checkpoint_name(0)).exists() else "building round 0"
    elif (run_dir / checkpoint_name(r)).exists():
        step = "checkpointed, evaluating on the held-out requests"
    elif (run_dir / shard_name(r)).exists():
        step = "routed and logged, improving the edge (SFT, RL, scorer)"
    else:
        step = "routing"
    return f"round {r} not committed, {minutes:.0f} min since the last commit: {step}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the reproduce output folder (holds E4/)")
    parser.add_argument("--workers", type=int, default=2, help="runs computed at once")
    args = parser.parse_args(argv)
    folder = args.out / "E4"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no E4 runs there yet; pass the folder given to reproduce --out")
    means, left = [], {}
    for name, (start, last) in own_rounds().items():
        state = read_state(folder / name)  # a damaged state.json is named (RunFolderError)
        if state is None:
            left[name] = last - start
            print(f"== {name}: not started")
            continue
        lines, mean = run_report(name, state)
        if state["last_completed_round"] < last:
            lines.append(in_progress(folder / name, state))
        print("\n".join(lines))
        if mean is not None:
            means.append(mean)
        left[name] = last - max(start, state["last_completed_round"])
    if means:
        per_round = sum(means) / len(means)
        total = sum(left.values())
        print(f"\nabout {total} run-rounds left at {per_round / 60:.0f} min each with {args.workers} sharing the "
              f"machine: about {total * per_round / args.workers / 3600:.1f} h wall (round 0 of unstarted runs, "
              "the decompositions and the written suites not counted)")


if __name__ == "__main__":
    main()
