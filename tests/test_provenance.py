"""Tests of ``netgpt_lite.provenance``: code-written manifests, the shipped artifacts' records, the stale check."""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest

from netgpt_lite import provenance as pv

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"edge_model", "results/results.json", "rl/e5.json"}  # paths under netgpt_lite/data
MACHINE_PATHS = ("/root", "/home", "/tmp", "/work")
PROSE_FIELDS = {"note", "how_it_was_run", "metrics_validation"}


def _no_machine_path(manifest: dict) -> list[str]:
    text = json.dumps(manifest)
    return [p for p in MACHINE_PATHS if p in text]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the shipped artifacts ----------------------------------------------------------------------------
def test_every_shipped_artifact_has_a_complete_manifest_without_machine_paths():
    found = {p.relative_to(pv.DATA_DIR).as_posix() for p in pv.artifact_paths()}
    assert found >= SHIPPED, f"artifacts without a manifest: {sorted(SHIPPED - found)}"
    models = {p.parent.relative_to(pv.DATA_DIR).as_posix() for p in pv.DATA_DIR.rglob("model.safetensors")}
    assert models <= found, "every shipped model folder carries a manifest.json"
    for rel in sorted(found):
        manifests = [pv.read_manifest(pv.DATA_DIR / rel)]
        if rel.endswith(".json"):  # a nested result (E5 inside results.json) carries its own manifest
            data = json.loads((pv.DATA_DIR / rel).read_text())
            manifests += [v["manifest"] for v in data.values() if isinstance(v, dict) and "manifest" in v]
        for m in manifests:
            assert not pv.REQUIRED_FIELDS - set(m), (rel, sorted(pv.REQUIRED_FIELDS - set(m)))
            assert m["schema_version"] == pv.SCHEMA_VERSION, rel
            assert not _no_machine_path(m), (rel, _no_machine_path(m))
            assert not PROSE_FIELDS & set(m), (rel, "hand-written prose belongs in docs, not a manifest")


def test_stale_check_reports_the_shipped_artifacts(capsys):
    statuses = pv.check_artifacts()
    assert {s.path for s in statuses} >= {f"data/{p}" for p in SHIPPED}
    for s in statuses:  # reported, never failed: a sample of each is checked by tests/test_artifact_drift*.py
        assert s.state in ("fresh", "stale", "unknown") and not s.missing_fields
        if s.path in pv.SHIPPED:  # the code it depends on is the import closure of the module that made it
            assert pv.SHIPPED[s.path][0].replace(".", "/").removeprefix("netgpt_lite/") + ".py" in s.code_files
        print(f"{s.state} {s.path}: {s.command}")
    assert "data/edge_model" in capsys.readouterr().out
    assert set(pv.SHIPPED) <= {s.path for s in statuses}, "every registered artifact is shipped"


def _fake_library(root: Path) -> Path:
    lib = root / "netgpt_lite"
    (lib / "sub").mkdir(parents=True)
    (lib / "__init__.py").write_text('"""lazy: imports nothing"""\n')
    (lib / "sub" / "__init__.py").write_text("")
    (lib / "sub" / "a.py").write_text("from netgpt_lite.sub import b\n\ndef f():\n    from . import c  # lazy\n")
    (lib / "sub" / "b.py").write_text("import json\n")
    (lib / "sub" / "c.py").write_text("from netgpt_lite.other import d\n")
    (lib / "other.py").write_text("X = 1\n")
    (lib / "elsewhere.py").write_text("import netgpt_lite.other\n")
    return lib


def test_import_closure_follows_lazy_and_relative_imports_and_nothing_else(tmp_path):
    lib = _fake_library(tmp_path)
    files = pv.import_closure(["netgpt_lite.sub.a"], root=lib)
    assert files == ["__init__.py", "other.py", "sub/__init__.py", "sub/a.py", "sub/b.py", "sub/c.py"]
    before = pv.code_hash(files, root=lib)
    (lib / "elsewhere.py").write_text("import netgpt_lite.other  # edited\n")
    assert pv.code_hash(files, root=lib) == before  # a change outside the closure does not mark it stale
    (lib / "sub" / "b.py").write_text('"""a docstring"""\nimport json\n')
    assert pv.code_hash(files, root=lib) != before
    with pytest.raises(ValueError, match="not a module"):
        pv.import_closure(["netgpt_lite.nothing"], root=lib)
    assert pv.changed_files("0" * 40, files) is None  # a commit git does not have: cannot tell


def test_a_re_exporting_parent_package_does_not_pull_its_siblings_into_the_closure(tmp_path):
    """Importing ``sub.a`` runs ``sub/__init__.py``; when that file only re-exports (imports, ``__all__``), the
    siblings it re-exports cannot change ``a``'s results, so they stay out of ``a``'s closure; a parent
    with code of its own, or a package named in an import, is followed in full."""
    lib = _fake_library(tmp_path)
    (lib / "sub" / "__init__.py").write_text('"""facade"""\nfrom netgpt_lite.sub.heavy import H\n__all__ = ["H"]\n')
    (lib / "sub" / "heavy.py").write_text("H = 1\n")
    assert "sub/heavy.py" not in pv.import_closure(["netgpt_lite.sub.a"], root=lib)
    assert "sub/__init__.py" in pv.import_closure(["netgpt_lite.sub.a"], root=lib)  # its own file counts
    assert "sub/heavy.py" in pv.import_closure(["netgpt_lite.sub"], root=lib)  # the package itself: in full
    (lib / "elsewhere.py").write_text("from netgpt_lite.sub import H\n")  # names the package: in full
    assert "sub/heavy.py" in pv.import_closure(["netgpt_lite.elsewhere"], root=lib)
    (lib / "sub" / "__init__.py").write_text("from netgpt_lite.sub.heavy import H\nH.setup = True\n")  # code
    assert "sub/heavy.py" in pv.import_closure(["netgpt_lite.sub.a"], root=lib)


def test_shipped_manifests_are_upgraded_already_and_the_upgrade_is_idempotent():
    upgrade = _load_script("upgrade_manifests")
    assert upgrade.main(["--root", str(pv.DATA_DIR), "--dry-run"]) == []


def test_upgrade_rewrites_a_schema_1_manifest_by_code(tmp_path):
    upgrade = _load_script("upgrade_manifests")
    old = {"command": "netgpt-lite train-edge --out /tmp/x", "data_seed": 0, "n_train_tasks": 10, "n_steps": 4,
           "training_time_s": 3.0, "machine": "x86_64 Linux, cpu", "versions": {"netgpt_lite": "0.1.0"},
           "date": "2026-01-02T03:04:05+00:00", "sft_settings": {"seed": 1}, "note": "typed by hand",
           "metrics": {"n_test": 6, "accuracy": {"exact_match": 0.5}}, "metrics_validation": {"n": 6}}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "manifest.json").write_text(json.dumps(old))
    assert len(upgrade.main(["--root", str(tmp_path)])) == 1
    m = pv.read_manifest(tmp_path / "model")
    assert not pv.REQUIRED_FIELDS - set(m) and not PROSE_FIELDS & set(m) and not _no_machine_path(m)
    assert (m["upgraded_from_schema"], m["seed"], m["split"], m["finished_utc"]) == (1, 1, "train", "2026-01-02T03:04:05Z")
    assert m["source_hash"] is None and m["cpu_s"] is None and m["versions"] == {"netgpt-lite": "0.1.0"}
    assert m["metrics"] == old["metrics"] and m["sizes"]["n_train_tasks"] == m["n_train_tasks"] == 10
    assert m["config"]["data_seed"] == 0 and m["device"] == "cpu" and m["machine"]["platform"] == "x86_64"
    assert m["upgrade_command"].startswith("python scripts/upgrade_manifests.py")
    assert [s.state for s in pv.check_artifacts(tmp_path)] == ["unknown"]  # no code recorded: cannot tell
    assert upgrade.main(["--root", str(tmp_path)]) == []  # idempotent


# --- writing --------------------------------------------------------------------------------------------
def test_recorder_manifest_has_the_fields_and_scrubbed_paths(tmp_path):
    home = Path(os.path.expanduser("~"))
    config = {"out": tmp_path / "run", "model": pv.PACKAGE_DIR / "data" / "edge_model", "cache": home / ".cache",
              "sizes": (1, 2)}  # fmt: skip
    rec = pv.Recorder(seed=3, split="validation", sizes={"n_tasks": 5}, config=config,
                      command=f"python {pv.PACKAGE_DIR.parent}/scripts/x.py --out {tmp_path}")
    m = rec.finish(metrics={"exact_match": 0.5}, where=str(tmp_path))
    assert not pv.REQUIRED_FIELDS - set(m) and not _no_machine_path(m)
    assert (m["seed"], m["split"], m["sizes"], m["schema_version"]) == (3, "validation", {"n_tasks": 5}, pv.SCHEMA_VERSION)
    assert m["config"]["model"] == "./netgpt_lite/data/edge_model" and m["config"]["sizes"] == [1, 2]
    assert m["command"].startswith("python ./scripts/x.py --out ")
    assert m["wall_s"] >= 0 and m["cpu_s"] >= 0 and m["source_hash"] == pv.source_hash()
    assert m["versions"]["python"] and m["started_utc"] <= m["finished_utc"]
    tmp = tempfile.gettempdir()
    assert pv.scrub_path(f"--out={tmp}/tmpab12/sft {tmp}") == "--out=$TMPDIR/tmpab12/sft $TMPDIR"  # whole components
    assert pv.scrub_path(f"{tmp}data/x /data{tmp}") == f"{tmp}data/x /data{tmp}"
    with pytest.raises(ValueError, match="written by the recorder"):
        rec.finish(seed=4)
    with pytest.raises(ValueError, match="lacks"):
        pv.write_manifest(tmp_path, {"seed": 0})


def test_a_shipped_artifact_made_by_another_command_than_its_stages_is_stale(monkeypatch):
    from netgpt_lite.provenance import artifacts

    path = pv.PACKAGE_DIR / "data" / "serve"  # a fresh artifact whose stage runs one command
    made = pv.read_manifest(path)
    # its code as it is today, so that only the command decides (a later change to the service's code would not)
    made = {**made, "code_hash": pv.code_hash(pv.import_closure(made["code_entry"]))}
    assert artifacts.artifact_status(path, made).state == "fresh"
    stage_command = " ".join(pv.stage("serve").commands[0])
    for same in (stage_command.replace("netgpt_lite/data/serve", "runs/elsewhere"), stage_command + " --quiet"):
        assert artifacts.artifact_status(path, {**made, "command": same}).state == "fresh", same
    for other in (stage_command + " --seed 3", None):
        status = artifacts.artifact_status(path, {**made, "command": other})
        assert status.state == "stale" and status.other_command and not status.changed
        assert status.why_stale == "its stage runs another command"
    # the chapters' provenance line says so, naming the command that remakes it
    monkeypatch.setattr(artifacts, "read_manifest", lambda path: {**made, "command": stage_command + " --seed 3"})
    line = artifacts.describe_artifact("data/serve")
    assert "are unchanged since, but the command that regenerates it is now `" + stage_command in line
    # an artifact that is not shipped has no stage to compare with
    assert artifacts.artifact_status(pv.PACKAGE_DIR / "data" / "not-shipped", made).state == "fresh"


def test_fresh_artifact_is_not_stale_and_goes_stale_when_its_code_changes(tmp_path, monkeypatch):
    from netgpt_lite.provenance import artifacts

    entry = ["netgpt_lite.stats"]
    pv.write_manifest(tmp_path / "model", pv.Recorder(seed=0, entry=entry).finish())
    pv.atomic_write_json(tmp_path / "result.json", {"manifest": pv.Recorder(seed=0, entry=entry).finish(), "value": 1})
    statuses = pv.check_artifacts(tmp_path)
    assert len(statuses) == 2 and [s.state for s in statuses] == ["fresh", "fresh"]
    assert not any(s.missing_fields for s in statuses) and "stats.py" in statuses[0].code_files
    monkeypatch.setattr(artifacts, "code_hash", lambda files: "0" * 16)  # its code changed after it was made
    monkeypatch.setattr(artifacts, "changed_files", lambda commit, files: list(files)[:1])  # and git says which
    assert all(s.stale and s.changed for s in pv.check_artifacts(tmp_path))
    # the hash differs but git, asked about a clean commit, finds no file of the closure changed: the closure's
    # definition changed (other files hashed), not its code; a dirty commit cannot tell, so the closure is stale
    monkeypatch.setattr(artifacts, "changed_files", lambda commit, files: [])
    made = {**pv.read_manifest(tmp_path / "model"), "git_commit": "a" * 40, "git_dirty": False}
    assert artifacts.artifact_status(tmp_path / "model", made).state == "fresh"
    assert artifacts.artifact_status(tmp_path / "model", {**made, "git_dirty": True}).state == "stale"
    with pytest.raises(ValueError, match="not a module"):
        pv.Recorder(entry=["netgpt_lite.no_such_module"])


def test_read_manifest_names_a_truncated_or_missing_file(tmp_path):
    path = tmp_path / "result.json"
    full = json.dumps({"manifest": pv.Recorder(seed=0).finish(), "value": 1})
    path.write_text(full[: len(full) // 2])
    with pytest.raises(ValueError, match="result.json: not valid JSON"):
        pv.read_manifest(path)
    with pytest.raises(ValueError, match="result.json: not valid JSON"):
        pv.check_artifacts(tmp_path)  # a truncated artifact is named, not skipped
    path.unlink()
    pv.write_manifest(tmp_path / "model", pv.Recorder(seed=0).finish())
    manifest = tmp_path / "model" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(ValueError, match="model/manifest.json: not valid JSON"):
        pv.check_artifacts(tmp_path)
    with pytest.raises(ValueError, match="nothing: no manifest here"):
        pv.read_manifest(tmp_path / "nothing")


def test_only_edits_that_change_what_the_code_computes_make_it_changed(tmp_path):
    """An artifact stays fresh when its code's comments, docstrings or layout are rewritten; a changed
    expression, a new file or a deleted one count."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    lib = tmp_path / "netgpt_lite"
    lib.mkdir()
    (lib / "a.py").write_text('"""Module."""\nX = 1\n"""X\'s meaning."""\n\n\ndef f(x):\n    return 2 * x\n')
    (lib / "b.py").write_text("Y = 2\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "made")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout.strip()
    # the library's source hash as committed, read from git: what a manifest's source_hash is checked against
    assert pv.source_hash_at(commit, root=tmp_path) == pv.code_hash(["a.py", "b.py"], root=lib)
    (lib / "a.py").write_text('"""Module, reworded."""\nX = 1  # why one\n\n\ndef f(x):\n    """Twice."""\n'
                              "    return 2*x\n")
    assert pv.changed_files(commit, ["a.py", "b.py"], root=tmp_path) == []
    (lib / "a.py").write_text("X = 1\n\n\ndef f(x):\n    return 3 * x\n")
    (lib / "b.py").unlink()
    (lib / "c.py").write_text("Z = 3\n")
    assert pv.changed_files(commit, ["a.py", "b.py", "c.py"], root=tmp_path) == ["a.py", "b.py", "c.py"]
    assert not pv.same_code("X = 1\n", "X = (\n")  # a file that does not parse counts as changed


def test_the_provenance_package_is_bookkeeping_not_code_an_artifact_depends_on():
    """``edge/lora.py`` writes its adapter's manifest with the provenance package; rewriting that package changes
    manifests (which content digests leave out), never an adapter, so it is not in the adapter's closure."""
    assert "netgpt_lite.provenance" in (pv.PACKAGE_DIR / "edge" / "lora.py").read_text()
    files = pv.import_closure(["netgpt_lite.edge.lora"])
    assert "edge/lora.py" in files and not any(f.startswith("provenance/") for f in files)


def test_a_manifest_flagged_dirty_is_made_by_its_commit_when_its_source_hash_is_the_commits():
    """Manifests written while a regenerate had remade shipped data (tracked files) say ``git_dirty``; their
    recorded source hash tells whether the code itself was the commit's."""
    from netgpt_lite.provenance.artifacts import made_by_commit

    head = pv.git_state()[0]
    if head is None:
        pytest.skip("not a git checkout")
    at_head = pv.source_hash_at(head)
    assert made_by_commit({"git_dirty": True, "git_commit": head, "source_hash": at_head})
    assert not made_by_commit({"git_dirty": True, "git_commit": head, "source_hash": "0" * 16})
    assert made_by_commit({"git_dirty": False, "git_commit": head, "source_hash": "0" * 16})
