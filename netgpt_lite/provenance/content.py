"""What an artifact holds, apart from the record of how it was made, and since when it has held it.

``regenerate`` reruns a stage whose artifact was made before an artifact it is made from was remade.  A
remade artifact often comes out byte for byte the same (training with one thread and fixed seeds is
deterministic here: the shipped adapter's loss curve repeats to the last digit), and then nothing made from
it needs remaking.  :func:`content_digest` hashes an artifact without its manifest (whose times always
differ); the pipeline keeps each stage's digests and the time that content first appeared
(:func:`content_record`), and :func:`content_since` is the time the planner compares against.

Example:
    >>> import tempfile
    >>> from netgpt_lite.provenance.manifest import atomic_write_json
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = atomic_write_json(root / "a.json", {"manifest": {"finished_utc": "1"}, "value": 1})
    >>> first = content_digest(root / "a.json")
    >>> _ = atomic_write_json(root / "a.json", {"manifest": {"finished_utc": "2"}, "value": 1})
    >>> content_digest(root / "a.json") == first  # remade, same numbers: the same content
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from netgpt_lite.provenance.manifest import MANIFEST_FILE


def content_digest(path: str | Path) -> str | None:
    """sha256 (16 hex digits) of an artifact's content: a folder's files but its ``manifest.json`` (paths and
    bytes, JSON files as data: :func:`_file_content`), or a JSON artifact's data but its ``"manifest"`` key
    (canonical JSON); None when it is missing or does not parse."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and p.relative_to(path).as_posix() != MANIFEST_FILE:
                digest.update(p.relative_to(path).as_posix().encode() + b"\0" + _file_content(p) + b"\0")
        return digest.hexdigest()[:16]
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "manifest"}
    digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


def _file_content(path: Path) -> bytes:
    """A file's bytes; a JSON file's data in canonical form (key order is not content), with PEFT's
    ``target_modules`` sorted: PEFT keeps it as a set, so each save lists the same modules in another order."""
    raw = path.read_bytes()
    if path.suffix != ".json":
        return raw
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw
    if isinstance(data, dict) and isinstance(data.get("target_modules"), list):
        data = {**data, "target_modules": sorted(map(str, data["target_modules"]))}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def digests(outs: Sequence[str], root: Path) -> dict[str, str | None]:
    """Each artifact of a stage (paths relative to the package folder ``root``) -> :func:`content_digest`."""
    return {rel: content_digest(root / rel) for rel in outs}


def content_since(record: dict | None, outs: Sequence[str], root: Path, finished_utc: str) -> str:
    """Since when a stage's artifacts have held what they hold: the pipeline's record (``record``, from
    :func:`content_record`) while its digests still describe the files, else ``finished_utc`` (its manifest's:
    made by hand, or changed since the record)."""
    record = record if isinstance(record, dict) else {}
    since, kept = record.get("content_since_utc"), record.get("content")
    if since and isinstance(kept, dict) and None not in kept.values() and kept == digests(outs, root):
        return since
    return finished_utc


def content_record(before: dict[str, str | None], after: dict[str, str | None], since_before: str,
                   now: str) -> dict:
    """What the pipeline keeps after remaking a stage: the new digests and since when that content exists,
    ``since_before`` when every artifact came out the same as ``before`` it was remade, else ``now``.

    Example:
        >>> content_record({"data/a": "x"}, {"data/a": "x"}, "2026-01-01", "2026-02-01")["content_since_utc"]
        '2026-01-01'
        >>> content_record({"data/a": "x"}, {"data/a": "y"}, "2026-01-01", "2026-02-01")["content_since_utc"]
        '2026-02-01'
    """
    same = bool(before) and None not in before.values() and before == after and bool(since_before)
    return {"content": after, "content_since_utc": since_before if same else now}
