"""How well do the book's checkers agree with BFCL's rules on 400 real BFCL cases?

For every case, calls are derived from the first acceptable value of each parameter
(:func:`netgpt_lite.tasks.bfcl.bfcl_variants`): variants BFCL must accept and corruptions it must
reject.  The script reports, per variant kind:

(a)/(b) how often :func:`check_bfcl` judges the call as expected (accepted, or rejected with the
        expected error type);
(c)     how often the generic :func:`netgpt_lite.tasks.checker.check_completion` -- given the case as
        OpenAI tools and the first acceptable values as its single gold call -- reaches the same
        accept/reject decision, and the same error type.

Usage:
    .venv/bin/python scripts/bfcl_agreement.py [--bfcl-dir PATH] [--show N]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from netgpt_lite.tasks.bfcl import (
    ACCEPT_VARIANTS,
    REJECT_VARIANTS,
    bfcl_case_to_tools,
    bfcl_gold_call,
    bfcl_variants,
    check_bfcl,
    default_bfcl_dir,
    load_bfcl_cases,
    openai_name,
)
from netgpt_lite.tasks.checker import check_completion


def measure(cases: list[dict]) -> tuple[dict[str, dict[str, int]], list[tuple]]:
    """Counts per variant kind, and the cases where the two checkers disagree."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    disagreements = []
    for case in cases:
        tools, gold = bfcl_case_to_tools(case), bfcl_gold_call(case, openai_names=True)
        for kind, call, allowed in bfcl_variants(case):
            bfcl = check_bfcl(case, call)
            as_openai = {"name": openai_name(call["name"]), "arguments": call["arguments"]}
            generic = check_completion(f"<tool_call>{json.dumps(as_openai)}</tool_call>", tools, gold)
            row = counts[kind]
            row["n"] += 1
            row["bfcl_as_expected"] += bfcl.error_type in allowed
            row["same_decision"] += bfcl.correct == generic.correct
            row["same_error_type"] += bfcl.error_type == generic.error_type
            if bfcl.correct != generic.correct:
                disagreements.append((case["id"], kind, bfcl.error_type, generic.error_type, generic.detail))
    return counts, disagreements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bfcl-dir", type=Path, default=None, help="folder with simple.jsonl, multiple.jsonl"
    )
    parser.add_argument("--show", type=int, default=8, help="how many disagreements to print")
    args = parser.parse_args()
    folder = args.bfcl_dir or default_bfcl_dir()
    if folder is None:
        raise SystemExit("BFCL data not found: pass --bfcl-dir or set NETGPT_LITE_BFCL_DIR")
    cases = load_bfcl_cases(folder)
    counts, disagreements = measure(cases)
    print(f"{len(cases)} BFCL cases from {folder}\n")
    header = (
        f"{'variant':<16}{'expect':>8}{'n':>6}{'BFCL ok %':>11}{'same decision %':>17}{'same error %':>14}"
    )
    print(header + "\n" + "-" * len(header))
    for kind in (*ACCEPT_VARIANTS, *REJECT_VARIANTS):
        row = counts.get(kind)
        if not row:
            continue
        n = row["n"]
        expect = "accept" if kind in ACCEPT_VARIANTS else "reject"
        print(
            f"{kind:<16}{expect:>8}{n:>6}{100 * row['bfcl_as_expected'] / n:>11.1f}"
            f"{100 * row['same_decision'] / n:>17.1f}{100 * row['same_error_type'] / n:>14.1f}"
        )
    total = {k: sum(row[k] for row in counts.values()) for k in ("n", "bfcl_as_expected", "same_decision")}
    print("-" * len(header))
    print(
        f"{'all':<16}{'':>8}{total['n']:>6}{100 * total['bfcl_as_expected'] / total['n']:>11.1f}"
        f"{100 * total['same_decision'] / total['n']:>17.1f}"
    )
    by_kind: dict[str, int] = defaultdict(int)
    for d in disagreements:
        by_kind[d[1]] += 1
    print(f"\n{len(disagreements)} accept/reject disagreements, by variant: {dict(by_kind)}")
    for case_id, kind, bfcl_error, generic_error, detail in disagreements[: args.show]:
        print(f"  {case_id:<22}{kind:<15} BFCL={bfcl_error:<18} generic={generic_error:<18} {detail[:70]}")


if __name__ == "__main__":
    main()
