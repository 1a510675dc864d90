"""The synergy loop: the router and the edge model improved together, round by round.

Round ``r`` routes a stream of requests under a network trace and a pricing schedule, appends
the requests the cloud answered to an append-only log, then improves the system (refresh the
scorer every ``k`` rounds, SFT + SFT-anchored RL of the edge on the logged cloud answers, refit
the calibration map and the thresholds) and measures it on a fixed held-out stream, so rounds
are compared on the same requests.  The loop itself only orchestrates; what happens in each step is a
plain function in :class:`SynergyStages`, so the loop is tested with cheap fake stages and run
with the real ones from :mod:`netgpt_lite.synergy.stages`.

Nothing is lost when a run is killed.  Each round writes, in this order, a log shard
``log/round_RRR`` (a ``datasets.Dataset`` saved to disk), a checkpoint ``checkpoints/round_RRR``
and finally ``state.json``; every write goes to a temporary sibling, is fsync'ed and then
renamed into place, so a reader sees the old file or the new one, never half of one.
``state.json`` is the commit point: a round whose state was not written did not happen, and
``resume=True`` deletes its leftovers and runs it again from the previous checkpoint.  Each
round's request stream depends only on ``(seed, round)``, so no request is logged twice or dropped.

Example:
    >>> result = run_synergy(SynergyConfig(rounds=3), "runs/syn")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.network.state import REGIMES
from netgpt_lite.provenance import atomic_write_json

STATE_FILE = "state.json"
EMPTY_MARKER = "EMPTY"
HOOK_ENV_VAR = "NETGPT_LITE_SYNERGY_HOOK"  # "point:round", e.g. "logged:2": block there (kill tests)
POLICIES = ("funcdyn", "policynet")
MIXED, REACHABLE = "mixed", "reachable"  # Markov chains over every regime / over the reachable ones only
EDGES = ("tiny", "smollm2")  # the edge models a run can improve (how each trains: synergy.edge_models.RECIPES)


@dataclass(frozen=True)
class SynergyConfig:
    """Settings of one synergy run (validated; vary with ``dataclasses.replace``).

    Attributes:
        rounds: improvement rounds after the round-0 evaluation, >= 1.
        requests_per_round: requests routed (and possibly logged) per round, >= 8.
        eval_requests: size of the fixed held-out evaluation stream, >= 8.
        calibration_tasks: labelled requests the calibration map and policy are refitted on, >= 16.
        scorer_refresh_every: refresh the learned scorer every k rounds; 0 never refreshes it.
        sft_epochs: SFT epochs of the edge on the accumulated cloud answers per round, >= 0.
        rl_steps: SFT-anchored RL steps per round after SFT, >= 0 (0 skips RL).
        seed: seed of everything random in the run, >= 0.
        trace: ``"mixed"`` (a Markov chain over every regime, outages and satellite included; ``"markov"``
            is the same), ``"reachable"`` (the chain over ``network.REACHABLE_REGIMES`` only: the cloud is
            always reachable in time, so the trade-off is cost and latency), a regime name from
            ``network.REGIMES``, or a path to a trace CSV.
        pricing: a schedule name from ``pricing.PRICING_SCHEDULES``.
        policy: routing policy, ``"funcdyn"`` or ``"policynet"``.
        edge: which edge model the run improves: ``"tiny"`` (the from-scratch lesson model) or ``"smollm2"``
            (SmolLM2-135M with the shipped LoRA adapter; ``initial_edge`` and ``warmup_*`` do not apply).
        initial_edge: the tiny round-0 edge: ``"shipped"`` (the packaged checkpoint; trained from scratch
            if none is shipped), ``"scratch"``, or a folder saved by ``edge_lm.save_edge_model``.
        warmup_tasks: SFT examples that train the round-0 edge from scratch, >= 16.
        warmup_epochs: SFT epochs of the round-0 edge, >= 1.

    Example:
        >>> SynergyConfig(rounds=2).rounds
        2
    """

    rounds: int = 4
    requests_per_round: int = 400
    eval_requests: int = 300
    calibration_tasks: int = 300
    scorer_refresh_every: int = 1
    sft_epochs: int = 3
    rl_steps: int = 4
    seed: int = 0
    trace: str = "markov"
    pricing: str = "flat"
    policy: str = "funcdyn"
    edge: str = "tiny"
    initial_edge: str = "shipped"
    warmup_tasks: int = 600
    warmup_epochs: int = 4

    def __post_init__(self) -> None:
        minimums = {"rounds": 1, "requests_per_round": 8, "eval_requests": 8, "calibration_tasks": 16,
                    "scorer_refresh_every": 0, "sft_epochs": 0, "rl_steps": 0, "seed": 0, "warmup_tasks": 16,
                    "warmup_epochs": 1}
        for name, low in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.rounds > 800:  # round seeds must not collide with the held-out streams' (synergy_stages)
            raise ValueError(f"rounds must be <= 800; got {self.rounds}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}; got {self.policy!r}")

        is_csv = self.trace.endswith(".csv") and Path(self.trace).is_file()
        if self.edge not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}; got {self.edge!r}")
        if self.trace not in REGIMES and self.trace not in ("markov", MIXED, REACHABLE) and not is_csv:
            raise ValueError(f"trace must be 'mixed', 'reachable', a regime in {sorted(REGIMES)} or an existing .csv "
                             f"file with columns t, bandwidth_mbps, rtt_ms; got {self.trace!r}")
        if self.initial_edge not in ("shipped", "scratch") and not (Path(self.initial_edge) / "config.json").exists():
            raise ValueError(f"initial_edge must be 'shipped', 'scratch' or a saved edge model folder; "
                             f"got {self.initial_edge!r} (no config.json there)")

        if self.pricing not in PRICING_SCHEDULES:
            raise ValueError(f"pricing must be one of {sorted(PRICING_SCHEDULES)}; got {self.pricing!r}")


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


# --- atomic writes ------------------------------------------------------------------------------
def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_dir(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Fill a new folder with ``write(tmp_folder)``, fsync every file, then rename it to ``path``.

    ``path`` must not exist yet (folders are never overwritten: a round's output is immutable).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; a finished round's output is never overwritten")
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for root, _dirs, files in os.walk(tmp):
        for name in files:
            _fsync(Path(root) / name)
    _hook("mid_write", path.name)
    os.rename(tmp, path)
    _fsync(path.parent)
    return path


def _hook(point: str, tag: object) -> None:
    """Test hook: when ``NETGPT_LITE_SYNERGY_HOOK == f"{point}:{tag}"``, announce it and block."""
    if os.environ.get(HOOK_ENV_VAR) == f"{point}:{tag}":
        print(f"HOOK {point}:{tag}", flush=True)
        while True:  # wait here to be killed
            time.sleep(0.05)


# --- the request log ----------------------------------------------------------------------------
def load_log(out_dir: str | Path):
    """The request log of a run as a ``datasets.Dataset``: the committed shards, in round order."""
    return _read_shards(Path(out_dir), (read_state(out_dir) or {}).get("log_shards", []))


def _read_shards(out: Path, shard_paths: list[str]):
    from datasets import Dataset, concatenate_datasets, load_from_disk

    shards = [load_from_disk(str(out / s)) for s in shard_paths if not (out / s / EMPTY_MARKER).exists()]
    return concatenate_datasets(shards) if shards else Dataset.from_dict({})


def read_state(out_dir: str | Path) -> dict | None:
    """The committed state of a run (``None`` when nothing was committed yet)."""
    path = Path(out_dir) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def save_shard(records: list[dict], folder: Path) -> None:
    """Save log records as one ``datasets`` shard in ``folder`` (quietly; an empty round leaves a marker file)."""
    from datasets import Dataset
    from datasets.utils import logging as ds_logging

    if not records:  # Arrow cannot save a table without columns: mark the round as logging nothing
        (folder / EMPTY_MARKER).write_text("this round routed no request to the cloud\n")
        return
    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        Dataset.from_list(records).save_to_disk(str(folder))
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def _clean_uncommitted(out: Path, state: dict) -> None:
    """Delete temporary files and every shard/checkpoint a killed round left uncommitted."""
    keep = set(state["log_shards"]) | set(state["checkpoints"])
    for sub in ("log", "checkpoints"):
        for entry in sorted((out / sub).glob("*")) if (out / sub).exists() else []:
            if f"{sub}/{entry.name}" not in keep:
                shutil.rmtree(entry, ignore_errors=True)
    for tmp in out.glob(".tmp-*"):
        tmp.unlink(missing_ok=True)


# --- the loop -----------------------------------------------------------------------------------
def _start(config: SynergyConfig, stages: SynergyStages, out: Path) -> tuple[Any, dict]:
    """Round 0: build, checkpoint and evaluate the initial system; commit it."""
    built = stages.init(config)
    ckpt = atomic_write_dir(out / "checkpoints" / "round_000", lambda d: stages.save(built, d))
    system = stages.load(ckpt, config)  # go on from what is on disk, exactly as a resumed run would
    metrics = {"round": 0, "n_logged": 0, **stages.evaluate(system, config)}
    state = {"config": asdict(config), "last_completed_round": 0, "logged_ids": [], "log_shards": [],
             "checkpoints": [str(ckpt.relative_to(out))], "rounds": [metrics]}
    atomic_write_json(out / STATE_FILE, state)
    return system, state


def _resume(config: SynergyConfig, stages: SynergyStages, out: Path, state: dict) -> Any:
    saved = state["config"]
    for name, value in asdict(config).items():
        if name != "rounds" and saved.get(name) != value:
            raise ValueError(f"{name}={value!r} differs from the run being resumed ({saved.get(name)!r}); "
                             "resume with the same settings (only rounds may grow) or pick a new --out")
    _clean_uncommitted(out, state)
    return stages.load(out / state["checkpoints"][-1], config)


def run_synergy(config: SynergyConfig, out_dir: str | Path, *, stages: SynergyStages,
                resume: bool = False, progress: bool = False) -> SynergyResult:
    """Run (or resume) the synergy loop, writing the log, checkpoints and ``state.json`` in ``out_dir``.

    Args:
        config: the run's settings.
        out_dir: output folder; it must hold no run unless ``resume`` is True.
        stages: the round's steps; the real ones are :func:`netgpt_lite.synergy.stages.default_stages`.
        resume: continue a killed (or shorter) run from its last completed round.
        progress: show a tqdm bar over rounds.

    Returns a :class:`SynergyResult` whose ``rounds[r]`` holds round ``r``'s held-out metrics; raises
    ``ValueError`` when ``out_dir`` holds a run and ``resume`` is False, or the settings differ.
    """
    out = Path(out_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    state = read_state(out)
    if state is not None and not resume:
        raise ValueError(f"out_dir {str(out)!r} already holds a synergy run; pass --resume or a new --out")
    if state is None:
        _clean_uncommitted(out, {"log_shards": [], "checkpoints": []})
        system, state = _start(config, stages, out)
    else:
        system = _resume(config, stages, out, state)
        state["config"] = asdict(config)
    from tqdm.auto import tqdm

    first = state["last_completed_round"] + 1
    for r in tqdm(range(first, config.rounds + 1), desc="synergy rounds", disable=not progress):
        system, state = run_round(system, state, config, stages, out, r)
    return SynergyResult(config=config, out_dir=out, rounds=state["rounds"], checkpoints=state["checkpoints"],
                         n_logged=len(state["logged_ids"]), seconds_per_round=state.get("seconds_per_round", []))


def run_round(system: Any, state: dict, config: SynergyConfig, stages: SynergyStages, out: Path,
               r: int) -> tuple[Any, dict]:
    """One round: route -> log shard -> improve -> checkpoint -> evaluate -> commit state.

    Called by :func:`run_synergy` for each round; public so that chapter 7 can show it.  Each
    write is atomic and ``state.json`` is written last: it is the commit point, so a round killed
    anywhere before it is rerun from its start on resume and leaves no trace in the log.
    """
    start = time.perf_counter()
    records = stages.route(system, config, r)
    ids = [rec["request_id"] for rec in records]
    if len(set(ids)) != len(ids) or set(state["logged_ids"]).intersection(ids):
        raise RuntimeError(f"round {r} would log a request twice; request ids must be unique across rounds")
    _hook("routed", r)
    shard = atomic_write_dir(out / "log" / f"round_{r:03d}", lambda d: save_shard(records, d))
    _hook("logged", r)
    new_state = {**state, "logged_ids": state["logged_ids"] + ids,
                 "log_shards": state["log_shards"] + [str(shard.relative_to(out))]}
    improved = stages.improve(system, _read_shards(out, new_state["log_shards"]), config, r)
    ckpt = atomic_write_dir(out / "checkpoints" / f"round_{r:03d}", lambda d: stages.save(improved, d))
    system = stages.load(ckpt, config)  # evaluate and continue from what is on disk (= what resume sees)
    _hook("checkpointed", r)
    metrics = {"round": r, "n_logged": len(new_state["logged_ids"]), **stages.evaluate(system, config)}
    new_state["checkpoints"] = state["checkpoints"] + [str(ckpt.relative_to(out))]
    new_state["rounds"] = state["rounds"] + [metrics]
    new_state["last_completed_round"] = r
    new_state["seconds_per_round"] = state.get("seconds_per_round", []) + [round(time.perf_counter() - start, 2)]
    atomic_write_json(out / STATE_FILE, new_state)
    _hook("committed", r)
    return system, new_state


def fork_run(src_dir: str | Path, out_dir: str | Path, at_round: int, config: SynergyConfig) -> Path:
    """Copy a run's committed rounds ``0..at_round`` into ``out_dir`` under new settings ``config``, so that
    ``run_synergy(config, out_dir, resume=True)`` continues from there (a what-if branch).  Exact when the
    two settings behave the same up to ``at_round`` (e.g. scorer refresh on/off up to round 1)."""
    src, out, state = Path(src_dir), Path(out_dir), read_state(src_dir)
    if state is None or not 0 <= at_round <= state["last_completed_round"]:
        raise ValueError(f"at_round must be a committed round of {str(src)!r}; got {at_round}")
    if read_state(out) is not None:
        raise ValueError(f"out_dir {str(out)!r} already holds a synergy run; pick a new one")
    shards, ckpts = state["log_shards"][:at_round], state["checkpoints"][: at_round + 1]
    for rel in shards + ckpts:
        if not (out / rel).exists():
            atomic_write_dir(out / rel, lambda d, rel=rel: shutil.copytree(src / rel, d, dirs_exist_ok=True))
    ids = list(_read_shards(out, shards)["request_id"]) if shards and len(_read_shards(out, shards)) else []
    atomic_write_json(out / STATE_FILE, {
        "config": asdict(config), "last_completed_round": at_round, "logged_ids": ids, "log_shards": shards,
        "checkpoints": ckpts, "rounds": state["rounds"][: at_round + 1],
        "seconds_per_round": state.get("seconds_per_round", [])[:at_round]})
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
    if state is None:
        raise ValueError(f"out_dir {str(out_dir)!r} holds no committed synergy run")
    round_b = state["last_completed_round"] if round_b is None else round_b
    systems = {r: stages.load(Path(out_dir) / state["checkpoints"][r], config) for r in (round_a, round_b)}
    rows = []
    for edge_round in (round_a, round_b):
        for routing_round in (round_a, round_b):
            mixed = stages.mix(systems[edge_round], systems[routing_round])
            rows.append({"edge_round": edge_round, "routing_round": routing_round,
                         **stages.evaluate(mixed, config)})
    return rows
