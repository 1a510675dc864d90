"""Provenance written only by code: manifests, the code an artifact depends on, and the staleness report.

- :mod:`~netgpt_lite.provenance.manifest`: the one manifest writer (:class:`Recorder`), atomic JSON
  writes, reading manifests, CPU seconds and peak memory.
- :mod:`~netgpt_lite.provenance.code`: the library's source hash (caches key on it), an entry module's
  import closure and its hash, git state.
- :mod:`~netgpt_lite.provenance.artifacts`: the shipped artifacts, the command that regenerates each,
  and whether the code each depends on changed since it was made (``netgpt-lite provenance``).
- :mod:`~netgpt_lite.provenance.registry`: each artifact's stage (commands, copies, what it is made from);
  :mod:`~netgpt_lite.provenance.pipeline` reruns the stale ones in order (``netgpt-lite regenerate``).
"""

import importlib

from netgpt_lite.provenance.code import (
    changed_files,
    code_hash,
    git_state,
    import_closure,
    same_code,
    source_hash,
    source_hash_at,
)
from netgpt_lite.provenance.manifest import (
    DATA_DIR,
    MANIFEST_FILE,
    PACKAGE_DIR,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    TIME_FORMAT,
    VERSIONED_PACKAGES,
    Recorder,
    atomic_write_json,
    atomic_write_text,
    command_line,
    cpu_seconds,
    file_sha256,
    machine,
    package_versions,
    peak_rss_mb,
    read_manifest,
    scrub_path,
    write_manifest,
)

# The reporting half (artifacts, registry, pipeline) is resolved on first use, by name: a run that only
# writes a manifest imports ``manifest`` and ``code``, so the code its artifact depends on (its import
# closure, :func:`import_closure`) does not include the pipeline that regenerates artifacts.
_LAZY = {
    **dict.fromkeys(("SHIPPED", "ArtifactStatus", "artifact_paths", "artifact_status", "check_artifacts",
                     "describe_artifact"), "artifacts"),
    **dict.fromkeys(("PlannedStage", "make_plan", "regenerate", "run_stage"), "pipeline"),
    **dict.fromkeys(("STAGES", "Stage", "stage"), "registry"),
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "SHIPPED", "ArtifactStatus", "artifact_paths", "artifact_status", "check_artifacts", "describe_artifact",
    "PlannedStage", "make_plan", "regenerate", "run_stage", "STAGES", "Stage", "stage",
    "changed_files", "code_hash", "git_state", "import_closure", "same_code", "source_hash", "source_hash_at",
    "DATA_DIR", "MANIFEST_FILE", "PACKAGE_DIR", "REQUIRED_FIELDS", "SCHEMA_VERSION", "TIME_FORMAT",
    "VERSIONED_PACKAGES", "Recorder", "atomic_write_json", "atomic_write_text", "command_line", "cpu_seconds",
    "file_sha256", "machine", "package_versions", "peak_rss_mb", "read_manifest", "scrub_path", "write_manifest",
]
