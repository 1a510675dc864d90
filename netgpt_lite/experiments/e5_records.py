"""Reading E5's files whatever version wrote them: run records and artifacts with the current metric names.

:func:`read_e5` loads an E5 artifact (default: the shipped ``netgpt_lite/data/rl/e5.json``) and
:func:`with_current_names` renames what earlier versions called by other names (:data:`STORED_NAMES`), so the
chapters and the summaries read one vocabulary.  :mod:`netgpt_lite.experiments.rl_comparison` re-exports both.
"""

from __future__ import annotations

import json
from pathlib import Path

STORED_NAMES = {"kl_to_sft": "kl_k3_to_sft", "forward_kl": "anchor_nll_gap"}
"""RL history names before the renames -> now: the k3 KL to SFT on the samples (the synergy rounds' exact
``kl_to_sft`` keeps its name) and the SFT anchor, an NLL gap.  The shipped ``e5.json`` keeps the old ones."""


def with_current_names(record: dict) -> dict:
    """An E5 run record or artifact with :data:`STORED_NAMES` applied to its history rows and summary keys
    (``kl_to_sft_last_mean`` -> ``kl_k3_to_sft_last_mean``); current names pass unchanged, the manifest too.

    Example:
        >>> with_current_names({"arm": "rl", "history": [{"step": 0, "kl_to_sft": 0.0, "forward_kl": -0.1}]})
        {'arm': 'rl', 'history': [{'step': 0, 'kl_k3_to_sft': 0.0, 'anchor_nll_gap': -0.1}]}
    """

    def rename(row: dict) -> dict:
        old = {k: next((o for o in STORED_NAMES if k == o or k.startswith(o + "_")), None) for k in row}
        return {k if old[k] is None else STORED_NAMES[old[k]] + k[len(old[k]) :]: v for k, v in row.items()}

    record = dict(record)
    if isinstance(record.get("history"), list):  # RL runs; more_sft's history is {"loss": [...]}
        record["history"] = [rename(row) for row in record["history"]]
    if "runs" in record:
        record["runs"] = [with_current_names(run) for run in record["runs"]]
    if "summary" in record:
        record["summary"] = {arm: rename(row) for arm, row in record["summary"].items()}
    return record


def read_e5(path: str | Path | None = None) -> dict:
    """The E5 artifact (default: the shipped ``netgpt_lite/data/rl/e5.json``) with the current metric names."""
    shipped = Path(__file__).resolve().parents[1] / "data" / "rl" / "e5.json"
    return with_current_names(json.loads(Path(shipped if path is None else path).read_text()))
