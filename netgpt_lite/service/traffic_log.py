"""Every cloud answer the service returns, appended to a log dataset the synergy loop can train on.

A deployment's traffic becomes the next round's training data: each record has the fields of a
synergy round's log (:func:`netgpt_lite.synergy.stages.route_round`) -- the request as a task whose
gold call is the cloud's (the only answer a deployment has), the cloud call, the edge completion and
score, the threshold and the network state and price it was routed under -- plus ``cloud_calls``
(all of them, for parallel calls), ``received_utc``, ``cloud_text`` (the answer's text) and
``answer_kind``, set here: ``"tool_call"``, ``"text"`` (a plain-text answer, no call) or
``"malformed_call"`` (a call without a tool name or with arguments that do not parse).  Every answer is
logged; training keeps the tool calls (:func:`netgpt_lite.synergy.stages.trainable_rows`).

Nothing acknowledged is lost.  :meth:`TrafficLog.append` writes the record as one line of a journal
``log/journal_NNNNNN.jsonl`` (one ``write`` call) before it returns, so once the service has answered,
a killed process (SIGKILL, the OOM killer) cannot lose the record: the line is in the operating
system's hands.  :meth:`TrafficLog.flush` then writes the buffered records as an immutable shard
``log/shard_NNNNNN`` (a ``datasets.Dataset`` saved into a temporary folder, fsync'ed and renamed,
:func:`netgpt_lite.synergy.run_files.atomic_write_dir`) and commits it in ``state.json`` (written
atomically, with the shard's record count, file sizes and hashes); only then are the journals it covers
deleted.  Opening the log again replays the journals the state does not cover, and commits a shard a
killed flush had renamed into place but not committed.  The fsync policy: shards and ``state.json``
are fsync'ed at every flush, journals are not (``sync_each=True`` fsyncs each record), so a power loss
or kernel crash -- not a killed process -- can lose the records of the last ``flush_interval_s``.

The log never deletes a file it did not write: a ``--log-dir`` whose ``log/`` holds anything but this
log's shards, journals and temporaries, or whose ``state.json`` does not match its shards, is refused
with a :class:`~netgpt_lite.runtime.RunFolderError` naming the file and the fix.
:func:`netgpt_lite.synergy.loop.load_log` reads the folder.

Example:
    >>> import tempfile
    >>> log = TrafficLog(tempfile.mkdtemp(), shard_size=2)           # doctest: +SKIP
    >>> log.append(record); log.flush(); len(load_log(log.folder))    # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from netgpt_lite.provenance import atomic_write_json
from netgpt_lite.runtime import RunFolderError
from netgpt_lite.synergy.run_files import (
    STATE_FILE,
    atomic_write_dir,
    check_files,
    folder_files,
    hook,
    is_temporary,
    read_shard,
    read_state,
    remove_temporaries,
    save_shard,
)

LOG_KIND = "netgpt-lite/serve-traffic/v1"
_JOURNAL = re.compile(r"journal_(\d{6})\.jsonl")
_FIX = "restore it from a backup, or choose another --log-dir (nothing was deleted)"


def answer_kind(cloud_call: str | None) -> str:
    """``"tool_call"``, ``"text"`` or ``"malformed_call"`` for a record's ``cloud_call`` (JSON or None).

    Example:
        >>> [answer_kind(c) for c in ('{"name": "f", "arguments": {}}', "null", '{"name": "", "arguments": "{"}')]
        ['tool_call', 'text', 'malformed_call']
    """
    try:
        call = json.loads(cloud_call) if isinstance(cloud_call, str) else cloud_call
    except ValueError:
        return "malformed_call"
    if call is None:
        return "text"
    ok = (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and call["name"]
        and isinstance(call.get("arguments"), dict)
    )
    return "tool_call" if ok else "malformed_call"


def _journal_name(k: int) -> str:
    return f"journal_{k:06d}.jsonl"


def _read_journal(path: Path) -> list[dict]:
    """The records of one journal; a last line without its newline was cut by a crash mid-write (its
    ``append`` never returned), so it is left out."""
    lines = path.read_text().split("\n")
    records = []
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: "" or the cut line
        try:
            records.append(json.loads(line))
        except ValueError as err:
            raise RunFolderError(f"{path}: line {number} is not a JSON record ({err}); {_FIX}") from None
    return records


class TrafficLog:
    """Journaled, crash-safe writer of cloud answers (see the module docstring).

    Args:
        folder: The log folder (created; an existing log is continued, after its files are checked).
        shard_size: Records per shard; a full buffer is written at once (>= 1).
        sync_each: fsync the journal after every record (a power loss then loses nothing either; costs a
            disk flush per answer).

    Raises:
        RunFolderError: naming the file and the fix, when ``folder`` holds something else or a damaged log.
    """

    def __init__(self, folder: str | Path, shard_size: int = 256, sync_each: bool = False) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1; got {shard_size}")
        self.folder, self.shard_size, self.sync_each = Path(folder), shard_size, sync_each
        self._buffer: list[dict] = []
        self._lock = threading.Lock()  # guards the buffer and the journal being appended to
        self._write_lock = threading.Lock()  # one shard write + commit at a time
        self._fd: int | None = None
        self._state = self._open()
        recovered = self._replay()  # also sets the journal new records go to (never an old one)
        self.n_committed = int(self._state["n_records"])
        if recovered:
            self._buffer = recovered
            self.flush()  # what a killed process acknowledged is committed before anything new

    # --- opening: check the folder, then replay what the state does not cover -----------------------------
    def _open(self) -> dict:
        log = self.folder / "log"
        state = read_state(self.folder) if self.folder.is_dir() else None
        if state is None:
            entries = (
                sorted(p.name for p in log.iterdir() if not is_temporary(p.name)) if log.is_dir() else []
            )
            if entries:
                raise RunFolderError(
                    f"{self.folder / STATE_FILE} is missing, but {log} holds {len(entries)} entries "
                    f"({', '.join(entries[:3])}): a traffic log whose state.json was deleted, or "
                    "another program's files; restore state.json, or choose another --log-dir "
                    "(nothing was deleted)"
                )
            log.mkdir(parents=True, exist_ok=True)
            state = {
                "kind": LOG_KIND,
                "log_shards": [],
                "n_records": 0,
                "shard_records": [],
                "files": {},
                "next_journal": 0,
            }
            atomic_write_json(self.folder / STATE_FILE, state)
        if state.get("kind") != LOG_KIND:
            raise RunFolderError(
                f"{self.folder / STATE_FILE}: belongs to something else (kind={state.get('kind')!r}), "
                "not a traffic log; choose another --log-dir"
            )
        log.mkdir(parents=True, exist_ok=True)
        self._check_state(state)
        for folder in (self.folder, log):
            remove_temporaries(folder)
        return state

    def _check_state(self, state: dict) -> None:
        path, shards = self.folder / STATE_FILE, state.get("log_shards")
        fix = "restore state.json from a backup, or choose another --log-dir (nothing was deleted)"
        if not isinstance(shards, list) or shards != [f"log/shard_{i:06d}" for i in range(len(shards))]:
            raise RunFolderError(
                f"{path}: log_shards must list log/shard_000000, log/shard_000001, ... in order; "
                f"got {str(shards)[:120]}; {fix}"
            )
        counts = state.setdefault("shard_records", [None] * len(shards))  # (None: a state from before counts)
        files = state.setdefault("files", {})
        state.setdefault("next_journal", 0)
        if (
            not isinstance(counts, list)
            or len(counts) != len(shards)
            or not all(c is None or (isinstance(c, int) and c >= 0) for c in counts)
        ):
            raise RunFolderError(
                f"{path}: log_shards lists {len(shards)} shards but shard_records counts "
                f"{len(counts) if isinstance(counts, list) else counts!r}; {fix}"
            )
        for i, rel in enumerate(shards):
            check_files(self.folder, rel, files.get(rel), _FIX)
            if rel not in files or counts[i] is None:  # no fingerprint (an older state): it must load
                shard = read_shard(self.folder, rel, _FIX)
                counts[i] = 0 if shard is None else len(shard)
        if sum(counts) != state.get("n_records"):
            raise RunFolderError(
                f"{path}: n_records={state.get('n_records')} but its shards hold {sum(counts)} records; {fix}"
            )
        committed = set(shards)
        for entry in sorted((self.folder / "log").iterdir()):
            name = entry.name
            if f"log/{name}" in committed or is_temporary(name) or _JOURNAL.fullmatch(name):
                continue
            if name == f"shard_{len(shards):06d}":  # a killed flush's shard: committed by _replay
                continue
            raise RunFolderError(
                f"{entry}: not listed in {path} ({len(shards)} shards committed); restore "
                "state.json if it lost it, else move it out of the folder, or choose another "
                "--log-dir (nothing was deleted)"
            )

    def _replay(self) -> list[dict]:
        """Commit a killed flush's shard, delete journals already committed, and return the others' records."""
        log, start = self.folder / "log", self._state["next_journal"]
        journals = sorted(
            (int(m.group(1)), log / m.group(0)) for m in map(_JOURNAL.fullmatch, os.listdir(log)) if m
        )
        for k, path in journals:
            if k < start:  # committed in a shard; a kill came before its deletion
                path.unlink()
        pending = [(k, path, _read_journal(path)) for k, path in journals if k >= start]
        self._journal = max([start] + [k + 1 for k, _, _ in pending])
        shard = log / f"shard_{len(self._state['log_shards']):06d}"
        if shard.exists():
            pending = self._adopt(shard, pending)
        return [record for _, _, records in pending for record in records]

    def _adopt(self, shard: Path, pending: list) -> list:
        """Commit ``shard`` (renamed into place by a killed flush) if it holds exactly the first journals'
        records; return the journals it does not cover."""
        rel = f"log/{shard.name}"
        data = read_shard(self.folder, rel, "move it out of the folder, or choose another --log-dir")
        ids = list(data["request_id"]) if data is not None and len(data) else []
        covered, journal_ids = 0, []
        while covered < len(pending) and len(journal_ids) < len(ids):
            journal_ids += [r.get("request_id") for r in pending[covered][2]]
            covered += 1
        if pending and journal_ids != ids:
            raise RunFolderError(
                f"{shard}: not committed and not the records of the journals after it; move it out "
                "of the folder, or choose another --log-dir (nothing was deleted)"
            )
        next_journal = pending[covered - 1][0] + 1 if covered else self._state["next_journal"]
        self._commit(rel, len(ids), next_journal)
        return pending[covered:]

    # --- writing ----------------------------------------------------------------------------------------
    @property
    def n_pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def append(self, record: dict) -> bool:
        """Journal one record (durable against a killed process when this returns) and buffer it; True when
        the buffer is full and should be flushed (:meth:`flush`)."""
        record = {
            **record,
            "cloud_text": record.get("cloud_text") or "",
            "answer_kind": answer_kind(record.get("cloud_call")),
        }
        line = (json.dumps(record) + "\n").encode()
        with self._lock:
            if self._fd is None:
                path = self.folder / "log" / _journal_name(self._journal)
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            view = memoryview(line)
            while view:  # one write() for a line this size; the loop only guards against a short write
                view = view[os.write(self._fd, view) :]
            if self.sync_each:
                os.fsync(self._fd)
            self._buffer.append(record)
            return len(self._buffer) >= self.shard_size

    def flush(self) -> int:
        """Write the buffered records as one shard and commit it; returns how many were written."""
        with self._write_lock:
            with self._lock:
                records, self._buffer = self._buffer, []
                if not records:
                    return 0
                # journals < covered hold exactly these records (and already committed ones)
                covered = self._journal + 1
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                self._journal = covered  # later records go to a new journal
            rel = f"log/shard_{len(self._state['log_shards']):06d}"
            try:
                atomic_write_dir(self.folder / rel, lambda d: save_shard(records, d))
            except BaseException:
                # nothing was committed: keep the records (their journals stay) for the next flush
                with self._lock:
                    self._buffer[:0] = records
                raise
            hook("logged", rel.split("/")[1])
            self._commit(rel, len(records), covered)
            return len(records)

    def _commit(self, rel: str, n: int, next_journal: int) -> None:
        """Commit shard ``rel`` of ``n`` records in ``state.json``, then delete the journals it covers."""
        old = self._state
        state = {
            **old,
            "log_shards": old["log_shards"] + [rel],
            "n_records": old["n_records"] + n,
            "shard_records": old["shard_records"] + [n],
            "next_journal": next_journal,
            "files": {**old["files"], rel: folder_files(self.folder / rel)},
        }
        atomic_write_json(self.folder / STATE_FILE, state)
        self._state, self.n_committed = state, state["n_records"]
        for k in range(old["next_journal"], next_journal):  # (older ones were deleted by earlier commits)
            (self.folder / "log" / _journal_name(k)).unlink(missing_ok=True)

    def close(self) -> None:
        """Flush what is buffered and close the journal."""
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
