"""The shipped artifacts: what made each, how to regenerate it, and whether its code changed since.

Staleness is a *report*, never a failure: an artifact made by a 49-minute command stays useful after a
docstring edit.  An artifact is stale when the code it depends on changed since it was made: the import
closure (:func:`~netgpt_lite.provenance.code.import_closure`) of the module that produced it.  A
manifest that records ``code_entry`` and ``code_hash`` (written by
:class:`~netgpt_lite.provenance.manifest.Recorder` when given ``entry``) is checked by hashing that
closure today; an older manifest is checked with git (the closure's files changed since its
``git_commit``?), and is "unknown" where git cannot tell.  Whether an artifact's *numbers* still hold
is what ``tests/test_artifact_drift*.py`` check: they recompute a small sample of each with today's code.

A shipped artifact is stale, too, when its manifest's command is none of its stage's commands
(:mod:`~netgpt_lite.provenance.registry`): a sweep that now trains three seeds per setting is not fresh
because its code is unchanged.  The comparison leaves out where a command writes (``--out``'s value) and
the folders under ``runs/`` its inputs were found in (their names count), and ``--quiet``
(:func:`normalised_command`).

Example:
    >>> s = ArtifactStatus("data/x", "netgpt-lite x", "abc", ("a.py",), ("a.py",), ())
    >>> s.stale, s.state
    (True, 'stale')
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.provenance.code import PACKAGE_DIR, changed_files, code_hash, import_closure, source_hash_at
from netgpt_lite.provenance.manifest import (
    DATA_DIR,
    MANIFEST_FILE,
    REQUIRED_FIELDS,
    read_manifest,
    scrub_path,
)
from netgpt_lite.provenance.registry import STAGES

SHIPPED = {out: (st.entry, st.command()) for st in STAGES for out in st.outs}
"""Each shipped artifact's producing module (whose import closure is the code it depends on) and the
command that regenerates it (also recorded in its manifest), from the stages of
:mod:`netgpt_lite.provenance.registry`."""

STAGE_COMMANDS = {out: st.commands for st in STAGES for out in st.outs}
"""Each shipped artifact's stage's commands (argument lists): its manifest's command must be one of them."""

QUIET_FLAGS = frozenset({"--quiet"})
"""Flags that change what a command prints, never what it writes."""


def normalised_command(command: str | Sequence[str]) -> tuple[str, ...]:
    """A command's arguments with what cannot change its artifact left out: ``--out``'s value (where it
    writes), the folders of paths under ``runs/`` (scratch space; the file or folder name stays) and
    :data:`QUIET_FLAGS`.

    Example:
        >>> normalised_command("python s.py --out runs/a --models runs/adapters/n1600 --quiet --seeds 0,1")
        ('python', 's.py', '--out', '<out>', '--models', 'runs/.../n1600', '--seeds', '0,1')
        >>> normalised_command(["netgpt-lite", "e5", "--out=runs/pipeline/e5"])
        ('netgpt-lite', 'e5', '--out', '<out>')
    """
    words = shlex.split(command) if isinstance(command, str) else list(command)
    words = [part for w in words for part in (w.split("=", 1) if w.startswith("--") and "=" in w else [w])]
    out: list[str] = []
    for i, word in enumerate(words):
        if i and words[i - 1] == "--out":
            out.append("<out>")
        elif word.startswith("runs/"):
            out.append(f"runs/.../{Path(word).name}")
        elif word not in QUIET_FLAGS:
            out.append(word)
    return tuple(out)


def made_by_its_stage(command: str | None, commands: Sequence[Sequence[str]]) -> bool:
    """Whether ``command`` (a manifest's) is one of a stage's ``commands``, compared normalised
    (:func:`normalised_command`).

    Example:
        >>> made_by_its_stage("x --out runs/a --n 3", [("y",), ("x", "--n", "3", "--out", "runs/b")])
        False
        >>> made_by_its_stage("x --out runs/a --n 3 --quiet", [("x", "--out", "runs/b", "--n", "3")])
        True
    """
    return command is not None and normalised_command(command) in {normalised_command(c) for c in commands}


@dataclass(frozen=True)
class ArtifactStatus:
    """One artifact and whether the code it depends on changed since it was made.

    Attributes:
        path: Relative to the package folder, e.g. ``"data/edge_model"``.
        command: The command that made it (from its manifest).
        git_commit: The commit it was made at, or None.
        code_files: The files of its producing module's import closure today (empty when unknown).
        changed: Which of them changed since it was made; ``None`` when that cannot be told.
        missing_fields: Required manifest fields it lacks.
        other_command: True when a shipped artifact was made by none of its stage's commands
            (:func:`made_by_its_stage`).
    """

    path: str
    command: str | None
    git_commit: str | None
    code_files: tuple[str, ...]
    changed: tuple[str, ...] | None
    missing_fields: tuple[str, ...]
    other_command: bool = False

    @property
    def stale(self) -> bool:
        """True when the code it depends on is known to have changed since it was made, or its stage's
        command is another."""
        return bool(self.changed) or self.other_command

    @property
    def state(self) -> str:
        """``"fresh"``, ``"stale"`` or ``"unknown"`` (no git history and no recorded code hash)."""
        if self.stale:
            return "stale"
        return "unknown" if self.changed is None else "fresh"

    @property
    def why_stale(self) -> str:
        """Why it is stale, in words (empty when it is not).

        Example:
            >>> ArtifactStatus("data/x", "x", None, ("a.py", "b.py"), ("a.py",), (), True).why_stale
            '1 of its 2 code files changed (a.py); its stage runs another command'
        """
        parts = []
        if self.changed:
            shown = ", ".join(self.changed[:3]) + (", ..." if len(self.changed) > 3 else "")
            parts.append(f"{len(self.changed)} of its {len(self.code_files)} code files changed ({shown})")
        if self.other_command:
            parts.append("its stage runs another command")
        return "; ".join(parts)


def artifact_paths(root: str | Path = DATA_DIR) -> list[Path]:
    """Every artifact under ``root``: folders with a ``manifest.json`` and JSON files with a ``manifest`` key.

    A JSON file that does not parse is listed too (it may be a truncated artifact), so that
    :func:`check_artifacts` names it instead of skipping it.

    Example:
        >>> import tempfile
        >>> from netgpt_lite.provenance.manifest import atomic_write_json
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


def artifact_status(path: str | Path, manifest: dict | None = None) -> ArtifactStatus:
    """The provenance of one artifact (a folder with a manifest, or a JSON file with one); ``manifest``:
    its manifest when the caller has read it already.

    Raises:
        ValueError: naming the file, when its manifest cannot be read.
    """
    path = Path(path)
    m = read_manifest(path) if manifest is None else manifest
    try:
        rel = path.resolve().relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        rel = scrub_path(str(path))
    entries = m.get("code_entry") or ([SHIPPED[rel][0]] if rel in SHIPPED else None)
    files: tuple[str, ...] = ()
    changed = None
    if entries:
        try:
            files = tuple(import_closure(entries))
        except ValueError:  # the producing module was renamed or removed: its code changed
            changed = tuple(entries)
        if changed is None and m.get("code_hash"):
            changed = () if code_hash(files) == m["code_hash"] else _which_changed(m, files)
        elif changed is None and m.get("git_commit") and made_by_commit(m):
            found = changed_files(m["git_commit"], files)
            changed = None if found is None else tuple(found)
    other = rel in STAGE_COMMANDS and not made_by_its_stage(m.get("command"), STAGE_COMMANDS[rel])
    return ArtifactStatus(rel, m.get("command"), m.get("git_commit"), files, changed,
                          tuple(sorted(REQUIRED_FIELDS - set(m))), other)  # fmt: skip


def _which_changed(manifest: dict, files: tuple[str, ...]) -> tuple[str, ...]:
    """The hash differs: the changed files by git when it can tell for a clean commit (none, when only the
    closure's definition changed since: a narrower closure hashes other files), else the whole closure."""
    found = changed_files(manifest["git_commit"], files) if manifest.get("git_commit") else None
    if found is not None and made_by_commit(manifest):
        return tuple(found)
    return tuple(found) if found else files


def made_by_commit(manifest: dict) -> bool:
    """Whether the code that made an artifact is exactly its manifest's ``git_commit``: the checkout was clean,
    or the recorded ``source_hash`` equals that commit's (:func:`~netgpt_lite.provenance.code.source_hash_at`;
    manifests written before the shipped data stopped counting as uncommitted changes say ``git_dirty``)."""
    if manifest.get("git_dirty") is False:
        return True
    commit, recorded = manifest.get("git_commit"), manifest.get("source_hash")
    return bool(commit and recorded) and source_hash_at(commit) == recorded


def check_artifacts(root: str | Path = DATA_DIR) -> list[ArtifactStatus]:
    """The provenance of every artifact under ``root`` (default: the shipped data); reports, never raises
    for staleness.  An unreadable manifest raises ``ValueError`` naming the file.

    Example:
        >>> import tempfile
        >>> from netgpt_lite.provenance.manifest import Recorder, write_manifest
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = write_manifest(root / "model", Recorder(seed=0, entry=["netgpt_lite.stats"]).finish())
        >>> [(s.path.endswith("model"), s.state, s.missing_fields) for s in check_artifacts(root)]
        [(True, 'fresh', ())]
    """
    return [artifact_status(p) for p in artifact_paths(root)]


def describe_artifact(rel: str) -> str:
    """One sentence for a chapter that loads a shipped artifact: which command made it, at which commit
    and when, and whether the code it depends on changed since.

    Args:
        rel: The artifact's path under the package, e.g. ``"data/results/results.json"``.

    Example:
        >>> describe_artifact("data/rl/e5.json").startswith("Loaded from netgpt_lite/data/rl/e5.json, made by")
        True
    """
    m = read_manifest(PACKAGE_DIR / rel)
    status = artifact_status(PACKAGE_DIR / rel, m)
    when = (m.get("finished_utc") or "")[:10] or "an unrecorded date"
    commit = f"commit {status.git_commit[:7]}" if status.git_commit else "an unrecorded commit"
    if status.git_commit and not made_by_commit(m):
        commit += " plus uncommitted changes"
    head = f"Loaded from netgpt_lite/{rel}, made by `{status.command}` at {commit} on {when}"
    n = len(status.code_files)
    if status.state == "fresh":
        return f"{head}; the {n} library files it depends on are unchanged since."
    checked = "its numbers are checked against today's code by the test suite's drift samples."
    if status.other_command and not status.changed:
        code = ("the {n} library files it depends on are unchanged since" if status.changed == () else
                "whether the code it depends on changed since cannot be told here")
        return (f"{head}; {code.format(n=n)}, but the command that regenerates it is now `{SHIPPED[rel][1]}`, "
                f"so it is due to be remade: {checked}")
    if status.state == "stale" and not made_by_commit(m):  # git cannot say which of them changed after it was made
        return (f"{head}; the {n} library files it depends on differ from the code that made it (their hash "
                f"changed): {checked}")
    if status.state == "stale":
        shown = ", ".join(status.changed[:4]) + (", ..." if len(status.changed) > 4 else "")
        return (f"{head}; {len(status.changed)} of the {n} library files it depends on changed since ({shown}): "
                f"{checked}")
    return f"{head}; whether the code it depends on changed since cannot be told here (no git history)."
