"""Every cloud answer the service returns, appended to a log dataset the synergy loop can train on.

A deployment's traffic becomes the next round's training data: each record has the fields of a
synergy round's log (:func:`netgpt_lite.synergy.stages.route_round`) -- the request as a task whose
gold call is the cloud's (the only answer a deployment has), the cloud call, the edge completion and
score, the threshold and the network state and price it was routed under -- plus ``cloud_calls``
(all of them, for parallel calls) and ``received_utc``.

The discipline is chapter 7's: records are buffered and written as immutable shards
``log/shard_NNNNNN`` (a ``datasets.Dataset`` saved to disk into a temporary folder, fsync'ed and
renamed, :func:`netgpt_lite.synergy.loop.atomic_write_dir`), then ``state.json`` -- the commit
point -- is rewritten atomically with the shard appended.  A shard not in ``state.json`` did not
happen and is deleted when the log is opened again; a killed service loses at most its unflushed
buffer (``shard_size`` records or ``flush_interval_s`` of traffic), never a committed record, and a
reader never sees half a shard.  :func:`netgpt_lite.synergy.loop.load_log` reads the folder.

Example:
    >>> import tempfile
    >>> log = TrafficLog(tempfile.mkdtemp(), shard_size=2)           # doctest: +SKIP
    >>> log.append(record); log.flush(); len(load_log(log.folder))    # doctest: +SKIP
    1
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from netgpt_lite.provenance import atomic_write_json
from netgpt_lite.synergy.loop import STATE_FILE, atomic_write_dir, read_state, save_shard

LOG_KIND = "netgpt-lite/serve-traffic/v1"


class TrafficLog:
    """Buffered, crash-safe writer of cloud answers (see the module docstring).

    Args:
        folder: The log folder (created; an existing log is continued).
        shard_size: Records per shard; a full buffer is written at once (>= 1).
    """

    def __init__(self, folder: str | Path, shard_size: int = 256) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1; got {shard_size}")
        self.folder, self.shard_size = Path(folder), shard_size
        (self.folder / "log").mkdir(parents=True, exist_ok=True)
        self._buffer: list[dict] = []
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one shard write + commit at a time
        state = self._open_state()
        self._shards: list[str] = list(state["log_shards"])
        self.n_committed = int(state.get("n_records", 0))

    def _open_state(self) -> dict:
        try:
            state = read_state(self.folder)
        except ValueError as err:
            raise ValueError(f"{self.folder / STATE_FILE} is not a readable traffic-log state ({err}); "
                             "move it away or choose another --log-dir") from None
        state = state or {"kind": LOG_KIND, "log_shards": [], "n_records": 0}
        if state.get("kind") != LOG_KIND:
            raise ValueError(f"{self.folder / STATE_FILE} belongs to something else (kind={state.get('kind')!r}); "
                             "choose another --log-dir")
        keep = set(state["log_shards"])
        for entry in sorted((self.folder / "log").iterdir()):  # uncommitted leftovers of a killed writer
            if f"log/{entry.name}" not in keep:
                shutil.rmtree(entry, ignore_errors=True)
        for tmp in self.folder.glob(".tmp-*"):
            tmp.unlink(missing_ok=True)
        return state

    @property
    def n_pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def append(self, record: dict) -> bool:
        """Buffer one record; True when the buffer is full and should be flushed (:meth:`flush`)."""
        with self._lock:
            self._buffer.append(record)
            return len(self._buffer) >= self.shard_size

    def flush(self) -> int:
        """Write the buffered records as one shard and commit it; returns how many were written."""
        with self._write_lock:
            with self._lock:
                records, self._buffer = self._buffer, []
            if not records:
                return 0
            name = f"log/shard_{len(self._shards):06d}"
            try:
                atomic_write_dir(self.folder / name, lambda d: save_shard(records, d))
            except BaseException:
                with self._lock:  # nothing was committed: keep the records for the next flush
                    self._buffer[:0] = records
                raise
            self._shards.append(name)
            self.n_committed += len(records)
            atomic_write_json(self.folder / STATE_FILE,
                              {"kind": LOG_KIND, "log_shards": self._shards, "n_records": self.n_committed})
            return len(records)
