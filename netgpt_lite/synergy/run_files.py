"""The files of a run folder: atomic writes, log shards, ``state.json`` and the fingerprints it keeps.

A run folder -- a synergy run's ``--out`` (:mod:`netgpt_lite.synergy.loop`) or the service's ``--log-dir``
(:mod:`netgpt_lite.service.traffic_log`) -- holds immutable folders (log shards, checkpoints) and one
``state.json``, the commit point that lists them.  Every folder is written by :func:`atomic_write_dir`
(a temporary sibling ``.tmp-NAME-PID``, fsync'ed, renamed), and ``state.json`` records each committed
folder's files with their sizes and SHA-256 (:func:`folder_files`), so a resume can tell a truncated or
edited file from a good one (:func:`check_files`) before it does any work.

The rule every writer follows: the library never deletes a file it did not write.  The only files it
removes on its own are its temporaries (:func:`remove_temporaries`), which hold no committed record, and
the service's journals once a committed shard holds their records.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> shard = atomic_write_dir(folder / "log" / "round_001", lambda d: save_shard([{"request_id": "a"}], d))
    >>> list(read_shards(folder, ["log/round_001"])["request_id"])
    ['a']
    >>> check_files(folder, "log/round_001", folder_files(shard), fix="restore it")  # silent when intact
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from netgpt_lite.provenance import file_sha256
from netgpt_lite.runtime import RunFolderError

STATE_FILE = "state.json"
EMPTY_MARKER = "EMPTY"
HOOK_ENV_VAR = "NETGPT_LITE_SYNERGY_HOOK"  # "point:tag", e.g. "logged:2": block there (kill tests)
_TEMPORARY = re.compile(r"\.tmp-.+-\d+")  # atomic_write_dir's and provenance.atomic_write_text's temporaries


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
    shutil.rmtree(tmp, ignore_errors=True)  # (only this process's own temporary has this name)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for root, _dirs, files in os.walk(tmp):
        for name in files:
            _fsync(Path(root) / name)
    hook("mid_write", path.name)
    os.rename(tmp, path)
    _fsync(path.parent)
    return path


def hook(point: str, tag: object) -> None:
    """Test hook: when ``NETGPT_LITE_SYNERGY_HOOK == f"{point}:{tag}"``, announce it and block."""
    if os.environ.get(HOOK_ENV_VAR) == f"{point}:{tag}":
        print(f"HOOK {point}:{tag}", flush=True)
        while True:  # wait here to be killed
            time.sleep(0.05)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary of :func:`atomic_write_dir` or ``atomic_write_text`` (``.tmp-NAME-PID``)."""
    return _TEMPORARY.fullmatch(name) is not None


def remove_temporaries(folder: Path) -> None:
    """Delete the library's temporaries in ``folder`` (half-written by a killed writer; never committed)."""
    for entry in folder.iterdir() if folder.is_dir() else []:
        if is_temporary(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


# --- state.json ---------------------------------------------------------------------------------
def read_state(out_dir: str | Path) -> dict | None:
    """The committed state of a run (``None`` when there is no ``state.json``).

    Raises:
        RunFolderError: naming the file, when it is not a JSON object.
    """
    path = Path(out_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict):
            raise ValueError(f"a JSON {type(state).__name__}, not an object")
    except (OSError, ValueError) as err:
        raise RunFolderError(
            f"{path}: not a readable run state ({err}); restore it from a backup, or start "
            "over in a new folder (--out / --log-dir)"
        ) from None
    return state


# --- fingerprints -------------------------------------------------------------------------------
def folder_files(folder: Path) -> dict[str, list]:
    """``{relative path: [size in bytes, sha256]}`` of every file under ``folder`` (what ``state.json`` keeps)."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): [p.stat().st_size, file_sha256(p)]
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_files(out: Path, rel: str, recorded: dict | None, fix: str) -> None:
    """Check that the committed folder ``out/rel`` exists and holds the files ``recorded`` by
    :func:`folder_files` (same sizes and hashes; extra files are ignored).  ``recorded=None`` (a state
    written before fingerprints were kept) checks that the folder exists and is not empty.

    Raises:
        RunFolderError: naming the first missing, truncated or changed file, and ``fix``.
    """
    folder = Path(out) / rel
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: missing, but {STATE_FILE} lists it as committed; {fix}")
    if recorded is None:
        if not any(folder.iterdir()):
            raise RunFolderError(f"{folder}: empty, but {STATE_FILE} lists it as committed; {fix}")
        return
    for name, (size, sha) in sorted(recorded.items()):
        path = folder / name
        if not path.is_file():
            raise RunFolderError(f"{path}: missing, but {STATE_FILE} lists it as committed; {fix}")
        if path.stat().st_size != size:
            raise RunFolderError(
                f"{path}: {path.stat().st_size} bytes, but {STATE_FILE} recorded {size} "
                f"(truncated or changed since it was committed); {fix}"
            )
        if file_sha256(path) != sha:
            raise RunFolderError(
                f"{path}: changed since it was committed (its SHA-256 differs from the one "
                f"{STATE_FILE} recorded); {fix}"
            )


# --- log shards ---------------------------------------------------------------------------------
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


def read_shard(out: Path, rel: str, fix: str):
    """One committed shard as a ``datasets.Dataset`` (None for an empty round's marker).

    Raises:
        RunFolderError: naming the shard and ``fix`` when it is missing or does not load.
    """
    from datasets import load_from_disk

    folder = Path(out) / rel
    if (folder / EMPTY_MARKER).exists():
        return None
    try:
        return load_from_disk(str(folder))
    except Exception as err:  # noqa: BLE001 - Arrow, datasets and the OS each raise their own kind
        message = " ".join(str(err).split())[:200]
        raise RunFolderError(
            f"{folder}: the log shard does not load ({type(err).__name__}: {message}); {fix}"
        ) from None


def read_shards(out: Path, shard_paths: list[str], fix: str = "restore it from a backup"):
    """The shards ``shard_paths`` of ``out`` as one ``datasets.Dataset``, in order.

    Shards written before a column existed get it with an empty value, so older logs still concatenate.
    """
    from datasets import Dataset, concatenate_datasets

    shards = [s for s in (read_shard(out, rel, fix) for rel in shard_paths) if s is not None]
    columns = {name: shard.features[name] for shard in shards for name in shard.column_names}
    aligned = []
    for shard in shards:  # e.g. answer_kind / cloud_text, added to the service's records later
        for name, feature in columns.items():
            if name not in shard.column_names:
                shard = shard.add_column(name, [None] * len(shard), feature=feature)
        aligned.append(shard.select_columns(list(columns)))
    return concatenate_datasets(aligned) if aligned else Dataset.from_dict({})


def load_log(out_dir: str | Path):
    """The request log of a run as a ``datasets.Dataset``: the committed shards, in order."""
    state = read_state(out_dir) or {}
    return read_shards(Path(out_dir), state.get("log_shards", []))
