"""``netgpt-lite regenerate``: the stage registry is consistent with the CLI and the shipped data, and the
planner reruns exactly the missing, stale and behind stages, in order, resumably."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

import netgpt_lite.provenance as pv
from netgpt_lite.cli.main import build_parser, main
from netgpt_lite.provenance.pipeline import TIMES_FILE, make_plan, read_times, run_stage
from netgpt_lite.provenance.registry import Stage

REPO = Path(__file__).resolve().parents[1]


def test_registry_is_ordered_and_owns_every_shipped_artifact():
    names = [s.name for s in pv.STAGES]
    assert len(names) == len(set(names))
    outs = [o for s in pv.STAGES for o in s.outs]
    assert len(outs) == len(set(outs)), "an artifact belongs to one stage"
    assert set(pv.SHIPPED) == set(outs)
    for k, st in enumerate(pv.STAGES):
        assert set(st.after) <= set(names[:k]), f"{st.name} runs after what it is made from"
        for dst in (d for _, d in st.copies):
            assert any(dst == o or dst.startswith(o.rsplit("/", 1)[0] + "/") for o in st.outs), (st.name, dst)


def test_every_command_parses_and_every_script_exists(monkeypatch):
    from netgpt_lite.cli.arguments import UsageError

    monkeypatch.chdir(REPO)
    parser = build_parser()
    for st in pv.STAGES:
        for command in st.commands:
            if command[0] == "netgpt-lite":
                try:  # raises UsageError on an unknown flag or value
                    assert parser.parse_args(list(command[1:])).command == command[1]
                except UsageError as err:  # only an input an earlier command of the stage writes (or, for a
                    # stage that downloads, fetches) may be absent, or an output folder run_stage creates
                    written = "runs/pipeline/" in str(err) or (st.network and "runs/traces/" in str(err))
                    assert written and ("not an existing file" in str(err) or "create it first" in str(err)), err
            else:
                assert command[0] == "python"
                target = command[1] if command[1] != "-m" else command[2].replace(".", "/") + ".py"
                assert (REPO / target).is_file(), f"{st.name}: {target} does not exist"


def test_stage_validates_its_fields():
    with pytest.raises(ValueError, match="data/ folder"):
        Stage("x", ("runs/x",), "netgpt_lite.stats", (("python", "-c", "0"),))
    with pytest.raises(ValueError, match="non-empty"):
        Stage("x", ("data/x",), "netgpt_lite.stats", ())
    with pytest.raises(ValueError, match="the stages are"):
        pv.stage("nope")


def _artifact(root: Path, rel: str, started: str = "2026-01-01T00:00:00Z", entry: str = "netgpt_lite.stats"):
    m = pv.Recorder(seed=0, entry=[entry]).finish()
    m.update(started_utc=started, finished_utc=started)
    pv.write_manifest(root / rel, m)


def _stages(monkeypatch, stages):
    import netgpt_lite.provenance.pipeline as pipeline

    monkeypatch.setattr(pipeline, "STAGES", stages)
    monkeypatch.setattr(pipeline, "stage", lambda name: next(s for s in stages if s.name == name))


def test_plan_reruns_missing_broken_and_behind_stages(tmp_path, monkeypatch):
    cmd = (("python", "-c", "0"),)
    a = Stage("a", ("data/a",), "netgpt_lite.stats", cmd)
    b = Stage("b", ("data/b",), "netgpt_lite.stats", cmd, after=("a",))
    c = Stage("c", ("data/c",), "netgpt_lite.stats", cmd, after=("b",))
    _stages(monkeypatch, (a, b, c))
    for rel, t in (("data/a", "2026-01-01T00:00:00Z"), ("data/b", "2026-01-02T00:00:00Z"),
                   ("data/c", "2026-01-03T00:00:00Z")):  # fmt: skip
        _artifact(tmp_path, rel, t)
    assert [p.run for p in make_plan(root=tmp_path)] == [False, False, False]
    plan = make_plan(root=tmp_path, force=True, only=["b"])  # --only: the others are kept, and say why
    assert [p.run for p in plan] == [False, True, False]
    assert plan[2].reason == "kept: b (which it is made from) is remade first: kept if that comes out the same"
    _artifact(tmp_path, "data/a", "2026-01-05T00:00:00Z")  # a remade after b and c were made from it
    plan = make_plan(root=tmp_path)
    assert [p.run for p in plan] == [False, True, True]
    assert "made before a" in plan[1].reason and plan[2].reason.startswith("b (which it is made from) is remade")
    (tmp_path / "data/b/manifest.json").write_text("{not json")
    plan = make_plan(root=tmp_path, only=["b"])
    assert [p.run for p in plan] == [False, True, False] and "broken manifest" in plan[1].reason
    assert "data/b" in plan[1].reason and plan[2].reason.startswith("kept: b (which it is made from) is remade")
    import shutil

    shutil.rmtree(tmp_path / "data/a")
    assert make_plan(root=tmp_path)[0].reason == "data/a is missing"


def test_run_stage_copies_records_time_and_names_a_failure(tmp_path):
    (tmp_path / "netgpt_lite" / "data").mkdir(parents=True)
    write = ("from netgpt_lite.provenance import Recorder, write_manifest; "
             "write_manifest('runs/x/art', Recorder(seed=0, entry=['netgpt_lite.stats']).finish())")  # fmt: skip
    st = Stage("x", ("data/art",), "netgpt_lite.stats", (("python", "-c", write),),
               copies=(("runs/x/art", "data/art"),))  # fmt: skip
    done = run_stage(st, checkout=tmp_path)
    assert (tmp_path / "netgpt_lite/data/art/manifest.json").is_file()
    assert done["wall_s"] >= 0 and done["cpus"] >= 1 and done["cpu_s"] > 0  # the command's own CPU (os.wait4)
    assert read_times(tmp_path / "netgpt_lite")["x"]["wall_s"] == done["wall_s"]
    assert json.loads((tmp_path / "netgpt_lite" / TIMES_FILE).read_text())["x"]["cpu_s"] == done["cpu_s"]
    failing = Stage("y", ("data/y",), "netgpt_lite.stats", (("python", "-c", "raise SystemExit(3)"),))
    with pytest.raises(RuntimeError, match=r"stage y: .* exited with status 3; its output is in .*y\.log"):
        run_stage(failing, checkout=tmp_path)
    silent = Stage("z", ("data/z",), "netgpt_lite.stats", (("python", "-c", "0"),), copies=(("runs/none", "data/z"),))
    with pytest.raises(RuntimeError, match="runs/none does not exist"):
        run_stage(silent, checkout=tmp_path)


def test_plan_prefers_the_pipelines_own_times(tmp_path, monkeypatch):
    st = Stage("a", ("data/a",), "netgpt_lite.stats", (("python", "-c", "0"),))
    untimed = Stage("b", ("data/b",), "netgpt_lite.stats", (("python", "-c", "0"),), timed=False)
    _stages(monkeypatch, (st, untimed))
    _artifact(tmp_path, "data/a")
    _artifact(tmp_path, "data/b")
    plan = make_plan(root=tmp_path)
    assert plan[0].last_wall_s is not None and plan[1].last_wall_s is None  # a summary's seconds say nothing
    pv.atomic_write_json(tmp_path / TIMES_FILE, {"b": {"wall_s": 7200.0, "cpu_s": 14000.0, "cpus": 2}})
    plan = make_plan(root=tmp_path)
    assert (plan[1].last_wall_s, plan[1].last_cpus) == (7200.0, 2) and "2.0 h wall" in plan[1].line()


def test_cli_prints_the_plan_and_refuses_bad_flags(capsys):
    assert main(["regenerate", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["stage"] for s in plan["stages"]] == [s.name for s in pv.STAGES]
    assert plan["n_run"] == sum(s["run"] for s in plan["stages"])
    assert main(["regenerate", "--json"]) == 2
    assert "needs --dry-run" in capsys.readouterr().err
    assert main(["regenerate", "--only", "nope", "--dry-run"]) == 2
    assert main(["regenerate", "--dry-run", "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
    assert main(["regenerate", "--dry-run", "--only", "serve"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(("0 of", "1 of")) and "serve" in out


def test_commands_run_with_this_interpreter():
    from netgpt_lite.provenance.pipeline import _argv

    assert _argv(("netgpt-lite", "e5"))[:3] == [sys.executable, "-m", "netgpt_lite"]
    assert _argv(("python", "scripts/x.py")) == [sys.executable, "scripts/x.py"]
    assert shlex.split(pv.stage("serve").command())[0] == "python"


def test_a_resumed_runs_time_comes_from_its_totals():
    from netgpt_lite.provenance.pipeline import _last_time, _manifest_time

    assert _manifest_time({"wall_s": 100.0, "cpu_s": 150.0}) == (100.0, 150.0)
    assert _manifest_time({"wall_s": 60.0, "cpu_s": 55.0, "runs_seconds_total": 9000.0}) == (9000.0, 9000.0)
    e4 = {"wall_s": 600.0, "cpu_s": 900.0, "seconds_per_step": {"tables": {"wall_s": 100.0},
                                                                "E4+E6": {"wall_s": 500.0, "rounds_wall_s": 7000.0}}}
    assert _manifest_time(e4) == (7100.0, None)  # the rounds computed before a resume count, CPU unknown
    e4["seconds_per_step"]["E4+E6"]["workers"] = 2  # two runs at a time: their rounds' sum took half as long
    assert _manifest_time(e4) == (3600.0, None)
    st = pv.stage("e5")
    resumed = {"e5": {"wall_s": 30.0, "cpu_s": 30.0, "cpus": 2}}  # the pipeline only assembled finished runs
    assert _last_time(st, {"runs_seconds_total": 9000.0}, resumed)[0] == 9000.0
    assert _last_time(st, {"wall_s": 10.0}, {"e5": {"wall_s": 50.0, "cpu_s": 90.0, "cpus": 4}}) == (50.0, 90.0, 4)


def test_a_missing_smollm2_is_refused_before_any_stage_runs(monkeypatch, capsys):
    import netgpt_lite.cli.files as files

    monkeypatch.setattr(files, "model_problem", lambda text: "the SmolLM2 weights are not installed")
    ran = []
    monkeypatch.setattr(pv.pipeline, "run_stage", lambda *a, **k: ran.append(a))
    assert main(["regenerate", "--only", "e5", "--force"]) == 2
    err = capsys.readouterr().err
    assert "the stages e5 load SmolLM2: the SmolLM2 weights are not installed" in err and ran == []
    assert not pv.stage("serve").smollm2 and pv.stage("results").smollm2


def test_a_claim_that_cannot_be_written_after_the_stages_names_the_fix(monkeypatch, capsys):
    """The stages' artifacts are in place; a malformed artifact's sentence fails with a message, not a crash."""
    import netgpt_lite.cli.basics as basics

    monkeypatch.setattr(basics, "regenerate", lambda *a, **k: [])
    monkeypatch.setattr(basics.claims, "write", lambda: (_ for _ in ()).throw(KeyError("E4")))
    assert main(["regenerate", "--only", "serve"]) == 1
    err = capsys.readouterr().err
    assert "artifacts are in place" in err and "KeyError: 'E4'" in err and "claims --write" in err


def _writer(rel: str, value: int) -> tuple:
    """A stage command that writes the artifact ``runs/<rel>`` holding ``value`` (and a fresh manifest)."""
    code = ("import sys; from netgpt_lite.provenance import Recorder, atomic_write_json; "
            f"atomic_write_json('runs/{rel}.json', {{'manifest': Recorder(seed=0, entry=['netgpt_lite.stats'])"
            f".finish(), 'value': {value}}})")
    return (("python", "-c", code),)


def test_a_remake_that_comes_out_the_same_leaves_what_is_made_from_it_fresh(tmp_path, monkeypatch):
    import netgpt_lite.provenance.pipeline as pipeline

    (tmp_path / "netgpt_lite" / "data").mkdir(parents=True)
    a = Stage("a", ("data/a.json",), "netgpt_lite.stats", _writer("a", 1), copies=(("runs/a.json", "data/a.json"),))
    b = Stage("b", ("data/b.json",), "netgpt_lite.stats", _writer("b", 2), copies=(("runs/b.json", "data/b.json"),),
              after=("a",))
    _stages(monkeypatch, (a, b))
    root = tmp_path / "netgpt_lite"
    run_stage(a, checkout=tmp_path)
    run_stage(b, checkout=tmp_path)
    assert [p.run for p in make_plan(root=root)] == [False, False]
    since = read_times(root)["a"]["content_since_utc"]
    run_stage(a, checkout=tmp_path)  # remade after b started, with the same numbers
    assert read_times(root)["a"]["content_since_utc"] == since
    assert [p.run for p in make_plan(root=root)] == [False, False]
    a2 = Stage("a", a.outs, a.entry, _writer("a", 3), copies=a.copies)  # now it changes
    _stages(monkeypatch, (a2, b))
    monkeypatch.setattr(pipeline.time, "strftime", lambda fmt, t=None: "2999-01-01T00:00:00Z")  # after b started
    run_stage(a2, checkout=tmp_path)
    plan = make_plan(root=root)
    assert [p.run for p in plan] == [False, True] and "made before a" in plan[1].reason


def test_stages_run_side_by_side_and_a_failure_stops_only_what_is_made_from_it():
    import threading
    from types import SimpleNamespace

    from netgpt_lite.provenance.schedule import run_all

    def planned(name, after=()):
        return SimpleNamespace(stage=SimpleNamespace(name=name, after=after, command=lambda: name))

    todo = [planned("a"), planned("b", ("a",)), planned("c"), planned("d", ("b",)), planned("e", ("c",))]
    both, lines, at_once = threading.Barrier(2, timeout=10), [], []

    def run_one(st):
        if st.name in ("a", "c"):  # the two without inputs start together
            at_once.append(both.wait())
        if st.name == "b":
            raise RuntimeError("boom")
        return {"stage": st.name, "wall_s": 1.0, "cpu_s": 1.0}

    with pytest.raises(RuntimeError, match=r"2 of 5 stages failed: b \(boom\); d \(not run: b failed\)"):
        run_all(todo, 2, lines.append, run_one)
    assert len(at_once) == 2 and any("e done" in line for line in lines)
    assert not any(line.endswith(": d") for line in lines)  # d never started


def test_regenerate_judges_a_stage_again_when_its_turn_comes(monkeypatch):
    import netgpt_lite.provenance.pipeline as pipeline

    a = Stage("a", ("data/a",), "netgpt_lite.stats", (("python", "-c", "0"),))
    b = Stage("b", ("data/b",), "netgpt_lite.stats", (("python", "-c", "0"),), after=("a",))
    first = [pipeline.PlannedStage(a, True, "stale"), pipeline.PlannedStage(b, True, "a is remade first")]
    calls = []

    def plan(only=None, force=False, root=None):
        calls.append(only)
        if only == ["b"]:  # a came out the same
            return [pipeline.PlannedStage(a, False, "kept"), pipeline.PlannedStage(b, False, "kept: fresh")]
        return first if only is None else first[:1]

    monkeypatch.setattr(pipeline, "make_plan", plan)
    ran, lines = [], []
    done = pipeline.regenerate(jobs=2, echo=lines.append, run=lambda st, threads=None: ran.append((st.name, threads))
                               or {"stage": st.name, "wall_s": 1.0, "cpu_s": 1.0})
    assert [name for name, _ in ran] == ["a"] and [d["stage"] for d in done] == ["a"]
    assert any("b kept: fresh" in line for line in lines) and ["b"] in calls
    assert any(line.startswith("2 at a time: about") for line in lines)
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        pipeline.regenerate(jobs=0)


def test_an_adapter_saved_again_has_the_same_content(tmp_path):
    from netgpt_lite.provenance.content import content_digest

    for name, order in (("a", ["q_proj", "v_proj"]), ("b", ["v_proj", "q_proj"])):  # a set, saved in any order
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": order}))
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"weights")
        (tmp_path / name / "manifest.json").write_text(json.dumps({"finished_utc": name}))
    assert content_digest(tmp_path / "a") == content_digest(tmp_path / "b")
    (tmp_path / "b" / "adapter_model.safetensors").write_bytes(b"other weights")
    assert content_digest(tmp_path / "a") != content_digest(tmp_path / "b")
