"""The checks before a synergy run starts or continues in a folder: it is what ``state.json`` says, or it is refused.

:func:`~netgpt_lite.synergy.loop.run_synergy` calls these before any work.  A new run needs a folder with
no run in it (:func:`check_new_run`): a ``log/`` or ``checkpoints/`` holding files without a ``state.json``
is someone's data (a run whose state was deleted, another program's logs), and is neither used nor deleted.
A resumed run needs a folder whose ``state.json`` adds up (:func:`check_resumable`): its fields agree with
each other and with the settings, every shard and checkpoint it lists is there with the sizes and hashes it
recorded, the shards load and hold exactly the logged request ids, and nothing else lies in ``log/`` or
``checkpoints/`` but the library's temporaries and what a killed attempt at the next round wrote (which the
loop reuses).  Every refusal is a :class:`~netgpt_lite.runtime.RunFolderError`: one line, naming the file
and the fix.

Example:
    >>> import tempfile
    >>> check_new_run(Path(tempfile.mkdtemp()) / "new")  # a missing or empty folder may start a run
    >>> check_no_run_to_resume(Path(tempfile.mkdtemp()) / "nowhere")
    Traceback (most recent call last):
    netgpt_lite.runtime.RunFolderError: ...nowhere: no such folder, so nothing to resume; drop --resume to start a new run there
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from netgpt_lite.runtime import RunFolderError
from netgpt_lite.synergy.config import saved_setting
from netgpt_lite.synergy.run_files import STATE_FILE, check_files, is_temporary, read_shard

SUBFOLDERS = ("log", "checkpoints")
_STATE_FIX = "restore state.json from a backup, or pass a new --out to start over (nothing was deleted)"
_FIELDS = {
    "config": dict,
    "last_completed_round": int,
    "logged_ids": list,
    "log_shards": list,
    "checkpoints": list,
    "rounds": list,
}


def shard_name(r: int) -> str:
    """Round ``r``'s log shard, relative to the run folder."""
    return f"log/round_{r:03d}"


def checkpoint_name(r: int) -> str:
    """Round ``r``'s checkpoint, relative to the run folder."""
    return f"checkpoints/round_{r:03d}"


def damaged_fix(r: int) -> str:
    """The fix for a damaged file of round ``r``: restore it, or start over (keeping rounds ``0..r-1``)."""
    keep = f" (fork_run(out, new_out, at_round={r - 1}, config=...) keeps rounds 0-{r - 1})" if r >= 1 else ""
    return f"restore it from a backup, or pass a new --out to start over{keep}"


def run_entries(out: Path) -> list[str]:
    """The entries of ``out/log`` and ``out/checkpoints`` (relative paths), the library's temporaries left out."""
    return [
        f"{sub}/{p.name}"
        for sub in SUBFOLDERS
        if (out / sub).is_dir()
        for p in sorted((out / sub).iterdir())
        if not is_temporary(p.name)
    ]


def _summary(entries: list[str]) -> str:
    if not entries:
        return "no entries"
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''})"


def check_new_run(out: Path) -> None:
    """A new run may start in ``out``: it is missing, or holds no ``state.json`` and nothing in ``log/`` or
    ``checkpoints/`` (other files, e.g. notes, are left alone).

    Raises:
        RunFolderError: when ``out`` holds a run or files a run would be mixed with.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: a file, not a folder; pass a new --out")
    if (out / STATE_FILE).exists():
        raise RunFolderError(
            f"{out / STATE_FILE}: {out} already holds a synergy run; pass --resume to continue it, "
            "or a new --out to start over"
        )
    entries = run_entries(out)
    if entries:
        raise RunFolderError(
            f"{out / STATE_FILE} is missing, but {out} holds {_summary(entries)}: files of a run "
            "whose state.json was deleted, or of another program; restore state.json and pass "
            "--resume to continue, or pass a new --out to start over (nothing was deleted)"
        )


def check_no_run_to_resume(out: Path) -> None:
    """``--resume`` where there is no ``state.json``: always refused, saying why (a usage error)."""
    out = Path(out)
    if not out.exists():
        raise RunFolderError(
            f"{out}: no such folder, so nothing to resume; drop --resume to start a new run there"
        )
    entries = run_entries(out)
    if entries:
        raise RunFolderError(
            f"{out / STATE_FILE} is missing, but {out} holds {_summary(entries)}; the run cannot "
            "continue without its state: restore state.json and --resume, or pass a new --out to "
            "start over (nothing was deleted)"
        )
    raise RunFolderError(
        f"{out}: holds no synergy run (no {STATE_FILE}), so nothing to resume; drop --resume to "
        "start a new run there"
    )


def check_resumable(out: Path, state: dict, config) -> None:
    """Check everything a resume of ``out`` relies on, before any work (see the module docstring).

    Raises:
        RunFolderError: naming the file (or ``state.json``'s field) and the fix.
    """
    out, path = Path(out), Path(out) / STATE_FILE
    if "kind" in state and "config" not in state:
        raise RunFolderError(f"{path}: {out} holds {state['kind']!r}, not a synergy run; pass a new --out")
    for name, kind in _FIELDS.items():
        value = state.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RunFolderError(
                f"{path}: field {name!r} is {type(value).__name__}, not {kind.__name__}; {_STATE_FIX}"
            )
    _check_settings(path, state["config"], config)
    last = state["last_completed_round"]
    _check_rounds(path, state, last)
    if config.rounds < last:
        raise RunFolderError(
            f"{path}: last_completed_round={last} but rounds={config.rounds}; resume with --rounds "
            f">= {last} (rounds may only grow), or pass a new --out to start over"
        )
    files = state.get("files") or {}
    for r, rel in enumerate(state["checkpoints"]):
        check_files(out, rel, files.get(rel), damaged_fix(r))
    for r, rel in enumerate(state["log_shards"], start=1):
        check_files(out, rel, files.get(rel), damaged_fix(r))
    ids = []
    # each shard loads (catches a truncation where an older state kept no fingerprints)
    for r, rel in enumerate(state["log_shards"], start=1):
        shard = read_shard(out, rel, damaged_fix(r))
        ids += list(shard["request_id"]) if shard is not None and len(shard) else []
    if ids != state["logged_ids"]:
        raise RunFolderError(
            f"{path}: logged_ids lists {len(state['logged_ids'])} requests but the log shards "
            f"hold {len(ids)} (or others); {_STATE_FIX}"
        )
    _check_leftovers(out, state, last + 1)
    _check_start_edge(path, state, config)


START_ADAPTER = "edge_adapter/adapter_model.safetensors"
"""The SmolLM2 round-0 checkpoint's adapter weights: the shipped adapter the run started from, re-saved."""


def _check_start_edge(path: Path, state: dict, config) -> None:
    """A SmolLM2 run continues only while the package ships the adapter it started from: its seeds, forks and
    rounds must share one round-0 edge, and its results name the shipped adapter as their start.  A state from
    before checkpoints were fingerprinted is not checked."""
    recorded = (state.get("files") or {}).get(checkpoint_name(0), {}).get(START_ADAPTER)
    if config.edge != "smollm2" or not recorded:
        return
    from netgpt_lite.edge.lora import shipped_adapter_path
    from netgpt_lite.provenance import file_sha256

    shipped = shipped_adapter_path() / "adapter_model.safetensors"
    now = file_sha256(shipped)
    if now != recorded[1]:
        raise RunFolderError(
            f"{path}: the run started from an adapter whose weights have sha256 {recorded[1][:12]}..., but "
            f"{shipped} is now {str(now)[:12]}... (the shipped adapter was remade); pass a new --out to run "
            "from today's adapter, or restore the one the run started from"
        )


def _check_settings(path: Path, saved: dict, config) -> None:
    for name, value in asdict(config).items():
        if name != "rounds" and saved_setting(saved, name) != value:
            raise RunFolderError(
                f"{path}: {name}={value!r} differs from the run being resumed "
                f"({saved_setting(saved, name)!r}); resume with the same settings (only rounds may grow), "
                "or pass a new --out to start over"
            )


def _check_rounds(path: Path, state: dict, last: int) -> None:
    """The round counter, the shard and checkpoint lists and the metrics agree (rounds 0..last, in order)."""
    n_ckpts, n_shards, n_metrics = len(state["checkpoints"]), len(state["log_shards"]), len(state["rounds"])
    if last < -1 or (n_ckpts, n_shards, n_metrics) != (last + 1, max(last, 0), last + 1):
        raise RunFolderError(
            f"{path}: last_completed_round={last} does not match the {n_ckpts} checkpoints, "
            f"{n_shards} log_shards and {n_metrics} round metrics it lists (rounds 0-{last} need "
            f"{last + 1}, {max(last, 0)} and {last + 1}); {_STATE_FIX}"
        )
    for name, want in (
        ("log_shards", [shard_name(r) for r in range(1, last + 1)]),
        ("checkpoints", [checkpoint_name(r) for r in range(last + 1)]),
    ):
        for i, (got, expected) in enumerate(zip(state[name], want)):
            if got != expected:
                raise RunFolderError(f"{path}: {name}[{i}] is {got!r}, expected {expected!r}; {_STATE_FIX}")
    if len(state["logged_ids"]) != len(set(state["logged_ids"])):
        raise RunFolderError(f"{path}: logged_ids lists a request twice; {_STATE_FIX}")


def _check_leftovers(out: Path, state: dict, next_round: int) -> None:
    """Only the committed entries, and what a killed attempt at ``next_round`` wrote, may lie in the subfolders."""
    committed = set(state["log_shards"]) | set(state["checkpoints"])
    shard, checkpoint = shard_name(next_round), checkpoint_name(next_round)
    for rel in run_entries(out):
        if rel in committed or rel in (shard, checkpoint):
            continue
        raise RunFolderError(
            f"{out / rel}: not part of the run {STATE_FILE} records (rounds 0-{next_round - 1}); "
            "move it out of the folder, then --resume (nothing was deleted)"
        )
    move = f"move it out of the folder, then --resume to redo round {next_round}"
    if next_round >= 1 and (out / checkpoint).exists() and not (out / shard).exists():
        raise RunFolderError(
            f"{out / checkpoint}: a checkpoint of round {next_round} without its log shard {shard}; {move}"
        )
    if next_round >= 1 and (out / shard).exists():
        read_shard(out, shard, move)  # a killed attempt's shard is reused: it must load
