"""E5's files whatever version wrote them: run records and artifacts with the current metric names, and
the adapter an E5 run folder ships.

:func:`read_e5` loads an E5 artifact (default: the shipped ``netgpt_lite/data/rl/e5.json``) and
:func:`with_current_names` renames what earlier versions called by other names (:data:`STORED_NAMES`), so the
chapters and the summaries read one vocabulary.  :func:`ship_adapter` is the one place that writes a run
folder's ``rl_adapter/``: from the adapters E5 keeps in ``adapters/<arm>-seed<seed>/``.
:mod:`netgpt_lite.experiments.rl_comparison` re-exports all three.
"""

from __future__ import annotations

import json
import shutil
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


def kept_adapter(out: Path, arm: str, seed: int) -> Path:
    """Where E5 keeps the adapter of run ``(arm, seed)``: ``out/adapters/<arm>-seed<seed>``."""
    return Path(out) / "adapters" / f"{arm}-seed{seed}"


def ship_adapter(config, out: Path, runs: list) -> dict | None:
    """Copy the headline arm's kept adapter into ``out/rl_adapter`` and return its run record.

    The headline arm is SFT then anchored RL (``more_sft_rl``, its lowest seed with a kept adapter) when
    that arm kept one, else anchored RL from the start (``rl``, its lowest seed).  Run folders from before
    adapters were kept hold the first ``rl`` seed's adapter in ``rl_adapter`` itself (no manifest, or one
    naming that run): it is moved into ``adapters/`` first, so the copy and its label have one source.

    Args:
        config: the run's :class:`~netgpt_lite.experiments.rl_comparison.E5Config`.
        out: the run folder.
        runs: its run records (``arm``, ``seed``, ...).

    Returns:
        The shipped run's record, or None when no adapter was kept (the tiny edge keeps none).

    Example:
        >>> import tempfile
        >>> from types import SimpleNamespace
        >>> ship_adapter(SimpleNamespace(sft_rl_seeds=(0,), rl_seeds=(0,)), Path(tempfile.mkdtemp()), []) is None
        True
    """
    out = Path(out)
    legacy, weights = out / "rl_adapter", "adapter_model.safetensors"
    if config.rl_seeds and (legacy / weights).is_file() and not (kept_adapter(out, "rl", min(config.rl_seeds))
                                                                  / weights).is_file():
        label = {}
        if (legacy / "manifest.json").is_file():
            label = json.loads((legacy / "manifest.json").read_text()).get("run", {})
        if label.get("arm", "rl") == "rl" and label.get("seed", min(config.rl_seeds)) == min(config.rl_seeds):
            shutil.copytree(legacy, kept_adapter(out, "rl", min(config.rl_seeds)))
    candidates = [("more_sft_rl", s) for s in sorted(config.sft_rl_seeds)]
    candidates += [("rl", min(config.rl_seeds))] if config.rl_seeds else []
    chosen = next((c for c in candidates if (kept_adapter(out, *c) / weights).is_file()), None)
    if chosen is None:
        return None
    shutil.rmtree(legacy, ignore_errors=True)
    shutil.copytree(kept_adapter(out, *chosen), legacy)
    (legacy / "manifest.json").unlink(missing_ok=True)  # the caller writes the shipped run's own
    return next(r for r in runs if (r["arm"], r["seed"]) == chosen)
