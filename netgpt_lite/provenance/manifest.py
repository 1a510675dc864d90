"""The one manifest writer: what ran, on what, with which code, and for how long; atomic writes.

Every artifact the library ships or a command writes (a trained model, an experiment's JSON, a
proposal table) carries a *manifest*: what ran (the command line), on what (seed, split, sizes,
settings), with which code (git commit and dirty flag, a hash of the library's source and, given the
producing module, ``code_entry`` and the ``code_hash`` of its import closure), with which packages
(versions), when and for how long (start/finish time, wall and CPU seconds).  A manifest holds no
absolute path of the machine that ran it.  Nothing in a manifest is typed by hand: what a command did
not write is not there.  Whether an artifact is stale is reported by
:func:`netgpt_lite.provenance.artifacts.check_artifacts`.

Example:
    >>> rec = Recorder(seed=0, split="test", sizes={"n_tasks": 3}, entry=["netgpt_lite.stats"])
    >>> m = rec.finish(metrics={"exact_match": 1.0})
    >>> sorted(REQUIRED_FIELDS - set(m))
    []
    >>> m["seed"], m["sizes"]["n_tasks"], m["source_hash"] == source_hash(), m["code_entry"]
    (0, 3, True, ['netgpt_lite.stats'])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from netgpt_lite.provenance.code import PACKAGE_DIR, code_hash, git_state, import_closure, source_hash

DATA_DIR = PACKAGE_DIR / "data"
MANIFEST_FILE = "manifest.json"
SCHEMA_VERSION = 2
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, to the second

REQUIRED_FIELDS = frozenset({
    "schema_version", "command", "seed", "split", "sizes", "git_commit", "git_dirty", "source_hash",
    "versions", "started_utc", "finished_utc", "wall_s", "cpu_s",
})
"""Fields every manifest has (a value may be ``None`` when it does not apply, e.g. ``split``)."""

VERSIONED_PACKAGES = ("netgpt-lite", "numpy", "torch", "transformers", "trl", "peft", "datasets", "tokenizers",
                      "scikit-learn", "sympy", "plotly")


# --- what produced it ---------------------------------------------------------------------------
def package_versions(names=VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (read from package metadata: nothing is imported), plus Python's."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process and its finished children have used so far.

    Every thread counts (torch's intra-op threads too), so on a multi-core machine it can exceed wall time.

    Example:
        >>> cpu_seconds() >= 0.0
        True
    """
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def peak_rss_mb() -> float:
    """Peak resident memory so far, in MiB: the larger of this process's and its largest child's.

    Example:
        >>> peak_rss_mb() > 0
        True
    """
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return round(kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024, 1)  # macOS reports bytes


def file_sha256(path: str | Path) -> str | None:
    """sha256 hex digest of a file's bytes, or ``None`` when there is no such file (e.g. a Hub model id).

    Example:
        >>> file_sha256(PACKAGE_DIR / "no-such-file") is None
        True
    """
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def machine() -> dict:
    """The machine, without names or paths: architecture, OS, CPU count and ``OMP_NUM_THREADS`` (None if unset).

    Example:
        >>> sorted(machine())
        ['cpus', 'omp_num_threads', 'platform', 'system']
    """
    return {"platform": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def scrub_path(text: str) -> str:
    """Replace this machine's absolute paths in ``text``: the checkout by ``.``, the home folder by ``~``,
    the temporary folder by ``$TMPDIR``.

    A prefix is replaced only as a whole path component at the start of a path (``/tmp`` in
    ``/tmp/x`` or ``--out=/tmp``, not in ``/tmpdata`` nor ``/data/tmp``).

    Example:
        >>> scrub_path(str(PACKAGE_DIR / "data"))
        './netgpt_lite/data'
        >>> scrub_path(f"--out={tempfile.gettempdir()}/tmpab12/run") == "--out=$TMPDIR/tmpab12/run"
        True
    """
    for prefix, short in ((str(PACKAGE_DIR.parent), "."), (tempfile.gettempdir(), "$TMPDIR"),
                          (os.path.expanduser("~"), "~")):
        prefix = prefix.rstrip("/")
        if prefix:
            pattern = rf"(?<![\w.~$/-]){re.escape(prefix)}(?![^/\s'\"`:;,=)\]}}])"
            text = re.sub(pattern, lambda _, short=short: short, text)
    return text


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as one line with machine paths scrubbed (``netgpt-lite ...`` for the CLI)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (Path(argv[0]).name in ("netgpt-lite", "__main__.py", "cli.py") or argv[0] == "-m"):
        argv[0] = "netgpt-lite"
    elif argv and argv[0].endswith(".py"):
        argv[0] = "python " + scrub_path(argv[0])
    elif argv and Path(argv[0]).name.startswith("pytest"):
        argv[0] = "pytest"
    return scrub_path(" ".join(argv))


def _jsonable(value):
    """Config values (dataclasses, paths, tuples, numpy scalars) as plain JSON, paths scrubbed."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return scrub_path(str(value))
    if isinstance(value, str):
        return scrub_path(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy array or scalar
        return _jsonable(value.tolist())
    return value


# --- writing -------------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Times a run (wall and CPU seconds from creation) and writes its manifest with :meth:`finish`.

    Args:
        seed: the run's seed (``None`` when nothing is random, or when the run repeats over several
            seeds: then they are a field of their own, e.g. ``seeds``).
        split: the task split it trained or evaluated on, or ``None``.
        sizes: counts that say how big the run was (``n_tasks``, ``n_steps``, ...).
        config: the settings (dataclasses are expanded).
        command: the command line; default: this process's, scrubbed.
        entry: the library module(s) that produce the artifact (e.g. ``["netgpt_lite.edge.lora"]``):
            the manifest then records them as ``code_entry`` and the hash of their import closure as
            ``code_hash``, so that only a change of that code marks the artifact stale.
    """

    seed: int | None = None
    split: str | None = None
    sizes: dict | None = None
    config: object = None
    command: str | None = None
    entry: list | tuple | None = None

    def __post_init__(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = cpu_seconds()
        self._started = datetime.now(timezone.utc)
        # The code that runs is the code at the start: a long run must not record edits made while it ran.
        self._git = git_state()
        self._source_hash = source_hash()
        self._code = None
        if self.entry:
            files = import_closure(self.entry)  # raises ValueError naming a module that is not the library's
            self._code = {"code_entry": list(self.entry), "code_hash": code_hash(files), "code_n_files": len(files)}

    def elapsed(self) -> tuple[float, float]:
        """``(wall_s, cpu_s)`` since the recorder was created, rounded to 0.01 s.

        Example:
            >>> wall, cpu = Recorder().elapsed()
            >>> wall >= 0 and cpu >= 0
            True
        """
        return round(time.perf_counter() - self._wall0, 2), round(max(cpu_seconds() - self._cpu0, 0.0), 2)

    def finish(self, **fields) -> dict:
        """The manifest: the required fields, then ``fields`` (metrics, steps, ...) as JSON values.

        Args:
            **fields: the run's own results and counts; a name the recorder writes itself
                (:data:`REQUIRED_FIELDS`, ``config``, ``machine``) raises ``ValueError``.

        Example:
            >>> m = Recorder(seed=1, command="netgpt-lite demo").finish(n_ok=2)
            >>> m["command"], m["n_ok"], m["wall_s"] >= 0
            ('netgpt-lite demo', 2, True)
        """
        commit, dirty = self._git
        wall_s, cpu_s = self.elapsed()
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "command": scrub_path(self.command) if self.command is not None else command_line(),
            "seed": self.seed,
            "split": self.split,
            "sizes": _jsonable(dict(self.sizes or {})),
            "config": _jsonable(self.config),
            "git_commit": commit,
            "git_dirty": dirty,
            "source_hash": self._source_hash,
            "versions": package_versions(),
            "machine": machine(),
            "started_utc": self._started.strftime(TIME_FORMAT),
            "finished_utc": datetime.now(timezone.utc).strftime(TIME_FORMAT),
            "wall_s": wall_s,
            "cpu_s": cpu_s,
            **(self._code or {}),
        }
        for key, value in fields.items():
            if key in manifest:
                raise ValueError(f"manifest field {key!r} is written by the recorder itself; pass it to Recorder()")
            manifest[key] = _jsonable(value)
        return manifest


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file, fsync, ``os.replace``, fsync the folder).

    A reader sees the old file or the new one, never half of one, even if the writer is killed.

    Example:
        >>> atomic_write_text(Path(tempfile.mkdtemp()) / "a.txt", "hi").read_text()
        'hi'
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def atomic_write_json(path: str | Path, payload: dict | list) -> Path:
    """Write ``payload`` as indented, key-sorted JSON to ``path`` atomically (:func:`atomic_write_text`).

    Example:
        >>> import tempfile
        >>> json.loads(atomic_write_json(Path(tempfile.mkdtemp()) / "s.json", {"a": 1}).read_text())
        {'a': 1}
    """
    return atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def write_manifest(folder: str | Path, manifest: dict) -> Path:
    """Write ``manifest`` as ``folder/manifest.json`` (atomically) and return the path.

    Raises:
        ValueError: when a required field is missing (a manifest comes from :meth:`Recorder.finish`).

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_manifest(folder, Recorder(seed=0).finish()).name
        'manifest.json'
        >>> read_manifest(folder)["seed"]
        0
    """
    missing = REQUIRED_FIELDS - set(manifest)
    if missing:
        raise ValueError(f"manifest lacks {sorted(missing)}: build it with Recorder(...).finish()")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(folder / MANIFEST_FILE, manifest)


# --- reading and checking ------------------------------------------------------------------------
def read_manifest(path: str | Path) -> dict:
    """Read a manifest: a ``manifest.json`` file, a folder holding one, or a JSON artifact with a
    top-level ``"manifest"`` key.

    Raises:
        ValueError: naming the file, when it is missing, not JSON, or has no manifest.

    Example:
        >>> path = Path(tempfile.mkdtemp()) / "result.json"
        >>> _ = path.write_text('{"manifest": {"seed": 3}, "numbers": [1, 2]}')
        >>> read_manifest(path)
        {'seed': 3}
        >>> _ = path.write_text('{"manifest": {"se')
        >>> read_manifest(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: .../result.json: not valid JSON ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no manifest here (expected {MANIFEST_FILE} or a JSON with a 'manifest' key)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); regenerate the artifact with its command") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a manifest must be a JSON object")
    if path.name != MANIFEST_FILE:
        if not isinstance(data.get("manifest"), dict):
            raise ValueError(f"{path}: this JSON artifact has no 'manifest' object")
        data = data["manifest"]
    return data
