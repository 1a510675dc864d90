"""Rewrite the shipped artifacts' schema-1 manifests into the schema of ``netgpt_lite.provenance`` (by code).

The artifacts under ``netgpt_lite/data`` (the edge checkpoint, ``results/results.json``, ``rl/ablation.json``)
were made before :class:`netgpt_lite.provenance.Recorder` existed, each with its own ad-hoc manifest.
Regenerating them takes 20-60 CPU-minutes each, so this script converts what those manifests recorded:

* derived from the old record: ``command`` (machine paths scrubbed), ``seed``, ``split``, ``sizes``,
  ``config``, ``versions`` (keys renamed to distribution names: ``netgpt_lite`` -> ``netgpt-lite``,
  ``sklearn`` -> ``scikit-learn``), ``machine`` (parsed where code wrote it), ``started_utc`` (recorded, or
  finish time minus wall time), ``finished_utc`` (recorded; the edge's ``date``), ``wall_s`` (recorded);
* never recorded, so ``None``: ``git_commit``, ``git_dirty``, ``source_hash`` (the artifact therefore shows as
  *stale* in ``netgpt-lite provenance`` until it is regenerated), ``cpu_s``, and the edge's ``started_utc`` and
  ``wall_s`` (its old manifest timed only the SFT part, kept as ``training_time_s``);
* added: ``schema_version`` 2, ``upgraded_from_schema`` 1, ``upgrade_command`` (this script's command line)
  and ``upgraded_utc``;
* kept under their old names: fields a command computed (the edge's test ``metrics``, ``loss_curve``,
  ``n_parameters``, ``training_time_s``, ... and its flat recipe fields ``data_seed``, ``n_train_tasks``,
  ``n_epochs``, ``sft_settings``, ``model_config``, ``bpe_vocab_size``, also copied into ``config`` / ``sizes``
  as ``train-edge`` now writes them; the ablation's ``settings`` and ``seeds``; the results' ``mode``,
  ``peak_rss_mb`` and ``seconds_per_step``, now ``{step: {"wall_s", "cpu_s"}}``);
* dropped: fields typed by hand, i.e. prose (the edge's ``note`` and hand-added ``metrics_validation``; the
  ablation's ``how_it_was_run``, ``machine`` and a ``model_dir`` other than the code-written ``"shipped"``).
  What they said is in git history and, for the ablation, in ``netgpt_lite/data/rl/README.md``.

Idempotent: a manifest already at the current schema is left alone, so a second run changes nothing.  The
nested E5 manifest inside ``results.json`` is upgraded too.

Example:
    $ python scripts/upgrade_manifests.py            # rewrite the shipped files in place
    $ python scripts/upgrade_manifests.py --dry-run  # say what would change, write nothing
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from netgpt_lite.experiments.reproduce import run_recorder
from netgpt_lite.experiments.reproduce_config import ReproduceConfig
from netgpt_lite.provenance import (
    DATA_DIR,
    MANIFEST_FILE,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    TIME_FORMAT,
    artifact_paths,
    atomic_write_json,
    command_line,
    scrub_path,
    write_manifest,
)

OLD_SCHEMA = 1
VERSION_KEYS = {"netgpt_lite": "netgpt-lite", "sklearn": "scikit-learn"}  # old module name -> distribution name
ARCHES = ("x86_64", "amd64", "aarch64", "arm64", "i686", "ppc64le", "s390x")
EDGE_KEPT = ("data_seed", "n_train_tasks", "n_epochs", "n_steps", "training_time_s", "train_runtime_s", "threads",
             "sft_settings", "model_config", "n_parameters", "bpe_vocab_size", "vocab_size", "loss_curve", "metrics",
             "sha256_model_safetensors")  # fmt: skip
"""Edge-manifest fields written by ``train-edge`` itself, kept under their old names for the code that reads
them (the recipe is also under ``config`` and ``sizes``, where a newly trained checkpoint has it only)."""


# --- pieces of the old records ------------------------------------------------------------------------
def _utc(text: str | None) -> str | None:
    """An ISO time (``...Z`` or ``...+00:00``) in the manifest's format, or None."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).strftime(TIME_FORMAT)


def _minus(finished: str | None, seconds: float | None) -> str | None:
    """``finished`` minus ``seconds`` (the start of a run that recorded only its end and its wall time)."""
    if finished is None or seconds is None:
        return None
    start = datetime.strptime(finished, TIME_FORMAT).replace(tzinfo=timezone.utc) - timedelta(seconds=seconds)
    return start.strftime(TIME_FORMAT)


def _versions(old: dict | None) -> dict:
    return {VERSION_KEYS.get(k, k): v for k, v in (old or {}).items()}


def _machine(old) -> dict | None:
    """The machine as code wrote it: ``platform.platform()`` + cpus (reproduce), or ``"<arch> <system>, <device>"``
    (train-edge).  Anything else (a sentence) was typed by hand: None."""
    if isinstance(old, dict) and isinstance(old.get("platform"), str):
        tokens = old["platform"].split("-")
        arch = next((t for t in tokens if t in ARCHES), None)
        return {"platform": arch, "system": tokens[0], "cpus": old.get("cpus"), "omp_num_threads": None}
    if isinstance(old, str) and (match := re.fullmatch(r"(\S+) (\S+), (\S+)", old)) and match[1] in ARCHES:
        return {"platform": match[1], "system": match[2], "cpus": None, "omp_num_threads": None, "device": match[3]}
    return None


def _common(old: dict, upgrade_command: str, upgraded_utc: str) -> dict:
    """The fields every upgraded manifest has; the code that made it is unknown (so it reads as stale)."""
    return {"schema_version": SCHEMA_VERSION, "command": scrub_path(old["command"]) if old.get("command") else None,
            "git_commit": None, "git_dirty": None, "source_hash": None, "versions": _versions(old.get("versions")),
            "cpu_s": None, "upgraded_from_schema": OLD_SCHEMA, "upgrade_command": upgrade_command,
            "upgraded_utc": upgraded_utc}  # fmt: skip


# --- one converter per kind of artifact -------------------------------------------------------------------
def upgrade_edge(old: dict, upgrade_command: str, upgraded_utc: str) -> dict:
    """The edge checkpoint's ``manifest.json`` (written by ``netgpt-lite train-edge``), in the layout that
    ``netgpt_lite.edge.sft.train_edge_checkpoint`` now writes (``config``: data seed, SFT settings, model
    shape, BPE size; ``sizes``: train / test tasks, scorer logs); the old flat fields stay as well."""
    settings, metrics = old.get("sft_settings") or {}, old.get("metrics") or {}
    sizes = {"n_train_tasks": old.get("n_train_tasks"), "n_test_tasks": metrics.get("n_test"),
             "n_logs": metrics.get("n_scorer_logs")}
    config = {"data_seed": old.get("data_seed"), "sft_settings": settings, "model_config": old.get("model_config"),
              "bpe_vocab_size": old.get("bpe_vocab_size")}
    machine = _machine(old.get("machine"))
    device = machine.pop("device", None) if machine else None
    return {**_common(old, upgrade_command, upgraded_utc),
            "seed": settings.get("seed", old.get("data_seed")), "split": "train",
            "sizes": {k: v for k, v in sizes.items() if v is not None}, "config": config, "machine": machine,
            "device": device, "started_utc": None, "finished_utc": _utc(old.get("date")), "wall_s": None,
            **{k: old[k] for k in EDGE_KEPT if k in old}}  # fmt: skip


def upgrade_ablation(old: dict, variants: list[str], upgrade_command: str, upgraded_utc: str) -> dict:
    """E5's manifest (``run_ablation``: ``rl/ablation.json`` and the ``E5`` entry of ``results.json``)."""
    settings, seeds = old.get("settings") or {}, old.get("seeds") or []
    finished = _utc(old.get("finished_utc"))
    start_model = {"model_dir": "shipped", "sha256_model_safetensors": None} if old.get("model_dir") == "shipped" else None
    sizes = {"n_variants": len(variants), "n_seeds": len(seeds), "steps": settings.get("steps"),
             "n_prompts": old.get("n_prompts"), "n_logged": old.get("n_prompts"), "n_eval": old.get("n_eval")}
    return {**_common(old, upgrade_command, upgraded_utc), "seed": None, "split": "train",
            "sizes": {k: v for k, v in sizes.items() if v is not None},
            "config": {"trainer": "minimal", "variants": list(variants), "eval_split": "test", "start_model": start_model},
            "machine": _machine(old.get("machine")), "started_utc": _minus(finished, old.get("wall_s")),
            "finished_utc": finished, "wall_s": old.get("wall_s"), "settings": settings, "seeds": seeds}  # fmt: skip


def upgrade_results(old: dict, upgrade_command: str, upgraded_utc: str) -> dict:
    """``results.json``'s manifest (``netgpt-lite reproduce``)."""
    config = old.get("config") or {}
    cfg = ReproduceConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    steps = {}
    for name, seconds in (old.get("seconds_per_step") or {}).items():
        if name.startswith("E5 (reused"):
            steps.setdefault("E5", {}).update({"reused_from": "E5.json", "computed_wall_s": seconds, "computed_cpu_s": None})
        elif name.startswith("E4+E6 (sum"):
            steps.setdefault("E4+E6", {})["rounds_wall_s"] = seconds
        else:
            steps.setdefault(name, {}).update({"wall_s": seconds, "cpu_s": None})
    return {**_common(old, upgrade_command, upgraded_utc), "seed": old.get("seed", cfg.seed), "split": "test",
            "sizes": run_recorder(cfg).sizes, "config": config, "machine": _machine(old.get("machine")),
            "started_utc": _utc(old.get("started_utc")), "finished_utc": _utc(old.get("finished_utc")),
            "wall_s": old.get("wall_s"), "mode": old.get("mode"), "peak_rss_mb": old.get("peak_rss_mb"),
            "seconds_per_step": steps}  # fmt: skip


def _current(manifest: dict | None) -> bool:
    return isinstance(manifest, dict) and manifest.get("schema_version") == SCHEMA_VERSION


# --- the files ----------------------------------------------------------------------------------------------
def upgrade_artifact(path: Path, upgrade_command: str, upgraded_utc: str, dry_run: bool = False) -> list[str]:
    """Upgrade the manifest(s) of one artifact (a folder with ``manifest.json`` or a JSON with a ``manifest``);
    return what was (or, with ``dry_run``, would be) upgraded."""
    done = []
    if path.is_dir():
        old = json.loads((path / MANIFEST_FILE).read_text())
        if not _current(old):
            new = upgrade_edge(old, upgrade_command, upgraded_utc)
            done.append(f"{path / MANIFEST_FILE}: edge manifest")
            if not dry_run:
                write_manifest(path, new)
        return done
    data = json.loads(path.read_text())
    if "variants" in data and not _current(data["manifest"]):  # an E5 ablation
        data["manifest"] = upgrade_ablation(data["manifest"], list(data["variants"]), upgrade_command, upgraded_utc)
        done.append(f"{path}: ablation manifest")
    if "E1" in data and not _current(data["manifest"]):  # reproduce's results
        data["manifest"] = upgrade_results(data["manifest"], upgrade_command, upgraded_utc)
        done.append(f"{path}: results manifest")
    e5 = data.get("E5")
    if isinstance(e5, dict) and isinstance(e5.get("manifest"), dict) and not _current(e5["manifest"]):
        e5["manifest"] = upgrade_ablation(e5["manifest"], list(e5.get("variants", {})), upgrade_command, upgraded_utc)
        done.append(f"{path}: nested E5 manifest")
    for manifest in (data["manifest"], (e5 or {}).get("manifest")):
        if manifest is not None and REQUIRED_FIELDS - set(manifest):
            raise ValueError(f"{path}: upgraded manifest lacks {sorted(REQUIRED_FIELDS - set(manifest))}")
    if done and not dry_run:
        atomic_write_json(path, data)
    return done


def main(argv: list[str] | None = None) -> list[str]:
    """Upgrade every artifact under ``--root`` (default: the shipped data); print and return what changed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(DATA_DIR), help="folder of artifacts (default: netgpt_lite/data)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be upgraded, write nothing")
    args = parser.parse_args(argv)
    command = command_line(None if argv is None else ["scripts/upgrade_manifests.py", *argv])
    upgraded_utc = datetime.now(timezone.utc).strftime(TIME_FORMAT)
    done = [line for path in artifact_paths(args.root)
            for line in upgrade_artifact(Path(path), command, upgraded_utc, args.dry_run)]  # fmt: skip
    print("\n".join(scrub_path(line) for line in done) or "every manifest is already at schema 2: nothing to do")
    return done


if __name__ == "__main__":
    main()
