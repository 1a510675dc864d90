"""Provenance written only by code: the one manifest writer and the stale-artifact check.

Every artifact the library ships or a command writes (a trained model, an experiment's JSON, a
proposal table) carries a *manifest*: what ran (the command line), on what (seed, split, sizes,
settings), with which code (git commit and dirty flag, a hash of the library's source), with which
packages (versions), when and for how long (start/finish time, wall and CPU seconds).  A manifest
holds no absolute path of the machine that ran it.  Nothing in a manifest is typed by hand: what a
command did not write is not there.

:func:`source_hash` is a sha256 over the library's ``.py`` files (paths relative to the package, so
it is the same on every machine); when it differs from the one an artifact recorded, the artifact
was made by other code and is reported *stale* by :func:`check_artifacts` (``netgpt-lite
provenance``).  Caches key on it too, so a code change never serves an old result.

Example:
    >>> rec = Recorder(seed=0, split="test", sizes={"n_tasks": 3})
    >>> m = rec.finish(metrics={"exact_match": 1.0})
    >>> sorted(REQUIRED_FIELDS - set(m))
    []
    >>> m["seed"], m["sizes"]["n_tasks"], m["source_hash"] == source_hash()
    (0, 3, True)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
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
@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 (first 16 hex digits) of the library source: every ``netgpt_lite/**/*.py``, path and bytes.

    Shipped data (``netgpt_lite/data``) is not part of it: artifacts do not change the code's hash.
    Cached for the life of the process (the source does not change under a running program).
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] == "data":
            continue
        digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout the library runs from, or ``(None, None)`` outside git.

    ``dirty`` is True when tracked files under the library differ from the commit (so the commit
    alone does not say which code ran; :func:`source_hash` does).
    """
    root = PACKAGE_DIR.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "netgpt_lite"],
                                cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


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
    """

    seed: int | None = None
    split: str | None = None
    sizes: dict | None = None
    config: object = None
    command: str | None = None

    def __post_init__(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = cpu_seconds()
        self._started = datetime.now(timezone.utc)
        # The code that runs is the code at the start: a long run must not record edits made while it ran.
        self._git = git_state()
        self._source_hash = source_hash()

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
        }
        for key, value in fields.items():
            if key in manifest:
                raise ValueError(f"manifest field {key!r} is written by the recorder itself; pass it to Recorder()")
            manifest[key] = _jsonable(value)
        return manifest


def atomic_write_json(path: str | Path, payload: dict | list) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (temp file, fsync, ``os.replace``, fsync the folder).

    A reader sees the old file or the new one, never half of one, even if the writer is killed.

    Example:
        >>> import tempfile
        >>> json.loads(atomic_write_json(Path(tempfile.mkdtemp()) / "s.json", {"a": 1}).read_text())
        {'a': 1}
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


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


@dataclass(frozen=True)
class ArtifactStatus:
    """One shipped artifact and whether the current code is the code that made it."""

    path: str  # relative to the package folder, e.g. "data/edge_model"
    command: str | None
    recorded_source_hash: str | None
    current_source_hash: str
    missing_fields: tuple[str, ...]

    @property
    def stale(self) -> bool:
        """True when the recorded source hash is absent or differs from the current library's."""
        return self.recorded_source_hash != self.current_source_hash


def artifact_paths(root: str | Path = DATA_DIR) -> list[Path]:
    """Every artifact under ``root``: folders with a ``manifest.json`` and JSON files with a ``manifest`` key.

    A JSON file that does not parse is listed too (it may be a truncated artifact), so that
    :func:`check_artifacts` names it instead of skipping it.

    Example:
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = atomic_write_json(root / "result.json", {"manifest": {}, "value": 1})
        >>> _ = atomic_write_json(root / "table.json", {"value": 1})  # data, not an artifact
        >>> [p.name for p in artifact_paths(root)]
        ['result.json']
    """
    root = Path(root)
    found = {p.parent for p in root.rglob(MANIFEST_FILE)}
    for p in root.rglob("*.json"):
        if p.name == MANIFEST_FILE or any(parent in found for parent in p.parents):
            continue
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            found.add(p)
            continue
        if isinstance(data, dict) and isinstance(data.get("manifest"), dict):
            found.add(p)
    return sorted(found)


def check_artifacts(root: str | Path = DATA_DIR) -> list[ArtifactStatus]:
    """The provenance of every artifact under ``root`` (default: the shipped data); reports, never raises
    for staleness.  An unreadable manifest raises ``ValueError`` naming the file.

    Example:
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = write_manifest(root / "model", Recorder(seed=0).finish())
        >>> [(s.path.endswith("model"), s.stale, s.missing_fields) for s in check_artifacts(root)]
        [(True, False, ())]
    """
    current = source_hash()
    out = []
    for path in artifact_paths(root):
        m = read_manifest(path)
        try:
            rel = path.relative_to(PACKAGE_DIR).as_posix()
        except ValueError:
            rel = scrub_path(str(path))
        out.append(ArtifactStatus(path=rel, command=m.get("command"), recorded_source_hash=m.get("source_hash"),
                                  current_source_hash=current,
                                  missing_fields=tuple(sorted(REQUIRED_FIELDS - set(m)))))
    return out
