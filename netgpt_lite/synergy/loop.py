"""The synergy loop: the router and the edge model improved together, round by round.

Round ``r`` routes a stream of requests under a network trace and a pricing schedule, appends
the requests the cloud answered to an append-only log, then improves the system (refresh the
scorer every ``k`` rounds, SFT + SFT-anchored RL of the edge on the logged cloud answers, refit
the calibration map and the thresholds) and measures it on a fixed held-out stream, so rounds
are compared on the same requests.  The loop itself only orchestrates; what happens in each step is a
plain function in :class:`SynergyStages`, so the loop is tested with cheap fake stages and run
with the real ones from :mod:`netgpt_lite.synergy.stages`.

Nothing is lost when a run is killed.  A new run first commits a ``state.json`` with its settings
(round -1: nothing done yet); then each round writes, in this order, a log shard ``log/round_RRR`` (a
``datasets.Dataset`` saved to disk), a checkpoint ``checkpoints/round_RRR`` and finally ``state.json``,
which also records every file's size and SHA-256.  Every write goes to a temporary sibling, is fsync'ed
and then renamed into place (:mod:`netgpt_lite.synergy.run_files`), so a reader sees the old file or the
new one, never half of one.  ``state.json`` is the commit point: a round whose state was not written did
not happen, and ``resume=True`` runs it again from the previous checkpoint, reusing the shard and
checkpoint a killed attempt already renamed into place (they are what the rerun would write: each round's
request stream depends only on ``(seed, round)``), so no request is logged twice or dropped.

The library never deletes a file it did not write: before any work, a resume checks that the folder is
the run ``state.json`` describes and a new run that the folder holds none (:mod:`netgpt_lite.synergy.run_folder`);
anything else is refused with a :class:`~netgpt_lite.runtime.RunFolderError` naming the file and the fix.

Example:
    >>> result = run_synergy(SynergyConfig(rounds=3), "runs/syn")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netgpt_lite.provenance import atomic_write_json, peak_rss_mb
from netgpt_lite.runtime import RunFolderError, release_freed_memory
from netgpt_lite.synergy.config import (  # noqa: F401 - the settings, re-exported where they always were
    CALIBRATION_CHOICES,
    EDGES,
    MIXED,
    POLICIES,
    REACHABLE,
    SynergyConfig,
)
from netgpt_lite.synergy.run_files import (  # noqa: F401 - EMPTY_MARKER, HOOK_ENV_VAR, load_log: re-exported API
    EMPTY_MARKER,
    HOOK_ENV_VAR,
    STATE_FILE,
    atomic_write_dir,
    check_files,
    folder_files,
    hook,
    load_log,
    read_shard,
    read_shards,
    read_state,
    remove_temporaries,
    save_shard,
)
from netgpt_lite.synergy.run_folder import (
    SUBFOLDERS,
    check_new_run,
    check_no_run_to_resume,
    check_resumable,
    checkpoint_name,
    damaged_fix,
    run_entries,
    shard_name,
)


@dataclass(frozen=True)
class SynergyStages:
    """The steps of a round as plain functions (``system`` is whatever ``init`` returns).

    Attributes:
        init: ``(config) -> system``, the round-0 system (edge, scorer, calibration, policy).
        route: ``(system, config, round) -> list[dict]``: one record per cloud-answered request (``request_id``).
        improve: ``(system, log, config, round) -> system``: learn from the whole log so far.
        evaluate: ``(system, config) -> dict[str, float]``: metrics on the held-out stream.
        save, load: ``(system, folder) -> None`` writes a checkpoint; ``(folder, config) -> system`` reads it.
        mix: ``(edge_from, routing_from) -> system``: one system's edge, another's routing (decomposition).
    """

    init: Callable[[SynergyConfig], Any]
    route: Callable[[Any, SynergyConfig, int], list[dict]]
    improve: Callable[[Any, Any, SynergyConfig, int], Any]
    evaluate: Callable[[Any, SynergyConfig], dict]
    save: Callable[[Any, Path], None]
    load: Callable[[Path, SynergyConfig], Any]
    mix: Callable[[Any, Any], Any]


@dataclass
class SynergyResult:
    """What a run leaves behind: per-round metrics (round 0 first) and where things are on disk."""

    config: SynergyConfig
    out_dir: Path
    rounds: list[dict] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    n_logged: int = 0
    seconds_per_round: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)


# --- the loop -----------------------------------------------------------------------------------
def _load(stages: SynergyStages, out: Path, rel: str, config: SynergyConfig, fix: str) -> Any:
    """``stages.load`` of checkpoint ``rel``; a checkpoint that does not load is named, with ``fix``."""
    try:
        return stages.load(out / rel, config)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - safetensors, transformers, json: each raises its own kind
        message = " ".join(str(err).split())[:200]
        raise RunFolderError(f"{out / rel}: the checkpoint does not load ({type(err).__name__}: {message}); "
                             f"{fix}") from None


def _commit(out: Path, state: dict) -> dict:
    """Fingerprint every committed folder not fingerprinted yet, then write ``state.json`` (the commit point)."""
    files = dict(state.get("files") or {})
    for rel in state["log_shards"] + state["checkpoints"]:
        if rel not in files:
            files[rel] = folder_files(out / rel)
    state = {**state, "files": files}
    atomic_write_json(out / STATE_FILE, state)
    return state


def _peaks(state: dict, r: int) -> list:
    """``state``'s peak resident memory per round (MiB; None for rounds of runs made before it was kept) with
    round ``r``'s appended: this process's peak so far, which is the round's own when the round ran in a
    process of its own (as E4's do)."""
    kept = list(state.get("peak_rss_mb") or [])[:r]
    return kept + [None] * (r - len(kept)) + [peak_rss_mb()]


def _new_state(config: SynergyConfig) -> dict:
    return {"config": asdict(config), "last_completed_round": -1, "logged_ids": [], "log_shards": [],
            "checkpoints": [], "rounds": [], "seconds_per_round": [], "peak_rss_mb": [], "files": {}}


def _round_zero(config: SynergyConfig, stages: SynergyStages, out: Path, state: dict) -> dict:
    """Round 0: build, checkpoint and evaluate the initial system; commit it (a killed attempt's checkpoint
    is reused)."""
    rel = checkpoint_name(0)
    if not (out / rel).exists():
        built = stages.init(config)
        atomic_write_dir(out / rel, lambda d: stages.save(built, d))
        del built  # freed before the checkpoint is read back: one model in memory, not two
        release_freed_memory()
    system = _load(stages, out, rel, config, "move it out of the folder, then --resume to redo round 0")
    metrics = {"round": 0, "n_logged": 0, **stages.evaluate(system, config)}
    del system
    state = {**state, "last_completed_round": 0, "checkpoints": [rel], "rounds": [metrics],
             "peak_rss_mb": _peaks(state, 0)}
    return _commit(out, state)


def run_synergy(config: SynergyConfig, out_dir: str | Path, *, stages: SynergyStages,
                resume: bool = False, progress: bool = False, until_round: int | None = None) -> SynergyResult:
    """Run (or resume) the synergy loop, writing the log, checkpoints and ``state.json`` in ``out_dir``.

    Args:
        config: the run's settings.
        out_dir: output folder; it must hold no run unless ``resume`` is True, and a run if it is.
        stages: the round's steps; the real ones are :func:`netgpt_lite.synergy.stages.default_stages`.
        resume: continue a killed (or shorter) run from its last completed round.
        progress: show a tqdm bar over rounds.
        until_round: stop once this round is committed (None: ``config.rounds``); a later call with
            ``resume=True`` goes on from there, computing what one call would have (each round reads its
            start from disk).  E4 runs each round in a process of its own this way.

    Returns a :class:`SynergyResult` whose ``rounds[r]`` holds round ``r``'s held-out metrics.

    Raises:
        RunFolderError: before any work, when ``out_dir`` holds a run (or a run's files) and ``resume`` is
            False, or holds no run or a damaged one and ``resume`` is True, or the settings differ.
    """
    out = Path(out_dir)
    state = read_state(out) if out.is_dir() else None
    if not resume:
        check_new_run(out)
    elif state is None:
        check_no_run_to_resume(out)
    if state is None:
        for sub in SUBFOLDERS:
            (out / sub).mkdir(parents=True, exist_ok=True)
        state = _commit(out, _new_state(config))
    else:
        check_resumable(out, state, config)
        state = {**state, "config": asdict(config)}
    for folder in (out, *(out / sub for sub in SUBFOLDERS)):
        remove_temporaries(folder)
    last = config.rounds if until_round is None else min(until_round, config.rounds)
    if state["last_completed_round"] < 0:
        state = _round_zero(config, stages, out, state)
    from tqdm.auto import tqdm

    first = state["last_completed_round"] + 1
    for r in tqdm(range(first, last + 1), desc="synergy rounds", disable=not progress):
        state = run_round(state, config, stages, out, r)
    return SynergyResult(config=config, out_dir=out, rounds=state["rounds"], checkpoints=state["checkpoints"],
                         n_logged=len(state["logged_ids"]), seconds_per_round=state.get("seconds_per_round", []),
                         peak_rss_mb=state.get("peak_rss_mb", []))


def run_round(state: dict, config: SynergyConfig, stages: SynergyStages, out: Path, r: int) -> dict:
    """One round: load -> route -> log shard -> improve -> checkpoint -> reload -> evaluate -> commit state.

    Called by :func:`run_synergy` for each round; public so that chapter 7 can show it.  Each
    write is atomic and ``state.json`` is written last: it is the commit point, so a round killed
    anywhere before it is rerun on resume, from the shard and checkpoint it had renamed into place
    (checked by :func:`~netgpt_lite.synergy.run_folder.check_resumable`) or else from its start.
    It starts from the last committed checkpoint and evaluates its own, both read from disk (a resumed run
    computes what an uninterrupted one does), one system in memory at a time.  Returns the committed state.
    """
    start = time.perf_counter()
    shard, ckpt = out / shard_name(r), out / checkpoint_name(r)
    redo = f"move it out of the folder, then --resume to redo round {r}"
    records = None
    if shard.exists():  # a killed attempt's log: the very answers this round routes (never deleted)
        logged = read_shard(out, shard_name(r), redo)
        records = logged.to_list() if logged is not None else []
    done = records is not None and ckpt.exists()  # killed after its checkpoint: only the evaluation is left
    system = None if done else _load(stages, out, state["checkpoints"][-1], config, damaged_fix(r - 1))
    if records is None:
        records = stages.route(system, config, r)
    ids = [rec["request_id"] for rec in records]
    if len(set(ids)) != len(ids) or set(state["logged_ids"]).intersection(ids):
        raise RuntimeError(f"round {r} would log a request twice; request ids must be unique across rounds")
    hook("routed", r)
    if not shard.exists():
        atomic_write_dir(shard, lambda d: save_shard(records, d))
    hook("logged", r)
    new_state = {**state, "logged_ids": state["logged_ids"] + ids,
                 "log_shards": state["log_shards"] + [shard_name(r)]}
    if not ckpt.exists():
        improved = stages.improve(system, read_shards(out, new_state["log_shards"]), config, r)
        atomic_write_dir(ckpt, lambda d: stages.save(improved, d))
        del improved
    del system  # freed before the checkpoint is read back: one model in memory, not two
    release_freed_memory()
    system = _load(stages, out, checkpoint_name(r), config, redo)  # go on from what is on disk (= what resume sees)
    hook("checkpointed", r)
    metrics = {"round": r, "n_logged": len(new_state["logged_ids"]), **stages.evaluate(system, config)}
    new_state["checkpoints"] = state["checkpoints"] + [checkpoint_name(r)]
    new_state["rounds"] = state["rounds"] + [metrics]
    new_state["last_completed_round"] = r
    new_state["seconds_per_round"] = state.get("seconds_per_round", []) + [round(time.perf_counter() - start, 2)]
    new_state["peak_rss_mb"] = _peaks(state, r)
    new_state = _commit(out, new_state)
    hook("committed", r)
    return new_state


def fork_run(src_dir: str | Path, out_dir: str | Path, at_round: int, config: SynergyConfig) -> Path:
    """Copy a run's committed rounds ``0..at_round`` into ``out_dir`` under new settings ``config``, so that
    ``run_synergy(config, out_dir, resume=True)`` continues from there (a what-if branch).  Exact when the
    two settings behave the same up to ``at_round`` (e.g. scorer refresh on/off up to round 1).

    Every copied file is checked against the source's fingerprints first; a fork killed while copying is
    completed by calling it again (folders already copied intact are kept).
    """
    src, out, state = Path(src_dir), Path(out_dir), read_state(src_dir)
    if state is None or not 0 <= at_round <= state.get("last_completed_round", -1):
        raise ValueError(f"at_round must be a committed round of {str(src)!r}; got {at_round}")
    if read_state(out) is not None:
        raise RunFolderError(f"{out / STATE_FILE}: {out} already holds a synergy run; pick a new folder to fork into")
    shards, ckpts = state["log_shards"][:at_round], state["checkpoints"][: at_round + 1]
    files = state.get("files") or {}
    for rel in shards + ckpts:
        check_files(src, rel, files.get(rel), f"fork from an earlier round (at_round < {at_round})")
    for sub in SUBFOLDERS:
        remove_temporaries(out / sub)
    stray = [rel for rel in run_entries(out) if rel not in shards + ckpts]
    if stray:
        raise RunFolderError(f"{out / stray[0]}: not part of the fork of {src} at round {at_round}; move it out of "
                             "the folder or pick a new folder to fork into (nothing was deleted)")
    for rel in shards + ckpts:
        if not (out / rel).exists():
            atomic_write_dir(out / rel, lambda d, rel=rel: shutil.copytree(src / rel, d, dirs_exist_ok=True))
        elif folder_files(out / rel) != folder_files(src / rel):  # a killed fork's copy: reused only if identical
            raise RunFolderError(f"{out / rel}: differs from {src / rel}; move it out of the folder or pick a new "
                                 "folder to fork into (nothing was deleted)")
    log = read_shards(out, shards)
    _commit(out, {
        "config": asdict(config), "last_completed_round": at_round, "logged_ids": list(log["request_id"]) if len(log)
        else [], "log_shards": shards, "checkpoints": ckpts, "rounds": state["rounds"][: at_round + 1],
        "seconds_per_round": state.get("seconds_per_round", [])[:at_round],
        "peak_rss_mb": state.get("peak_rss_mb", [])[: at_round + 1],
        "files": {rel: files[rel] for rel in shards + ckpts if rel in files}})
    return out


def decompose_gain(out_dir: str | Path, config: SynergyConfig, *, stages: SynergyStages,
                   round_a: int = 0, round_b: int | None = None) -> list[dict]:
    """Separate a better edge from moved thresholds: evaluate every (edge, routing) pairing.

    Loads the checkpoints of rounds ``round_a`` and ``round_b`` (default: the last one) and
    evaluates the 2 x 2 table edge in {a, b} x routing (scorer, calibration, thresholds) in {a, b}.

    Returns:
        Four rows ``{"edge_round", "routing_round", **metrics}``.
    """
    state = read_state(out_dir)
    if state is None or state.get("last_completed_round", -1) < 0:
        raise RunFolderError(f"{Path(out_dir) / STATE_FILE}: no committed synergy round in {out_dir}; run the loop "
                             "there first (or pass the folder of a finished run)")
    last = state["last_completed_round"]
    round_b = last if round_b is None else round_b
    for name, value in (("round_a", round_a), ("round_b", round_b)):
        if not 0 <= value <= last:
            raise ValueError(f"{name}={value} is not a committed round of {out_dir}; pass a round in 0..{last}")
    systems = {r: load_round(out_dir, config, r, stages=stages, state=state) for r in (round_a, round_b)}
    rows = []
    for edge_round in (round_a, round_b):
        for routing_round in (round_a, round_b):
            same = edge_round == routing_round  # a committed round: evaluated already, on the same requests
            metrics = ({k: v for k, v in state["rounds"][edge_round].items() if k != "round"} if same else
                       stages.evaluate(stages.mix(systems[edge_round], systems[routing_round]), config))
            rows.append({"edge_round": edge_round, "routing_round": routing_round, **metrics})
    return rows


def load_round(out_dir: str | Path, config: SynergyConfig, r: int, *, stages: SynergyStages, state=None):
    """The system checkpointed at committed round ``r`` of a run folder; its files are checked first, and a
    damaged or unloadable checkpoint is named with its fix (``state``: the folder's, when already read)."""
    state = read_state(out_dir) if state is None else state
    out, rel = Path(out_dir), state["checkpoints"][r]
    check_files(out, rel, (state.get("files") or {}).get(rel), damaged_fix(r))
    return _load(stages, out, rel, config, damaged_fix(r))
