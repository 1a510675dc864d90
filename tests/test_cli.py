"""The command line as a whole: --version, shared flag spellings, usage vs internal errors, provenance.

Nothing here trains or evaluates a model: every invalid command must stop in the check phase,
before the work starts (several tests would take minutes if it did not).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import netgpt_lite
from netgpt_lite.cli import COMMANDS, UsageError, basics, build_parser, main
from netgpt_lite.cli.arguments import flag_errors
from netgpt_lite.network.traces import EXAMPLE_TRACE_CSV
from netgpt_lite.provenance import REQUIRED_FIELDS, source_hash


def _err(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def _subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


# --- version, help, imports ------------------------------------------------------------------------------
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"netgpt-lite {netgpt_lite.__version__}\n"
    done = subprocess.run([sys.executable, "-m", "netgpt_lite", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"netgpt-lite {netgpt_lite.__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: netgpt-lite") and all(name in out for name in COMMANDS)


def test_importing_the_cli_and_parsing_stay_light():
    """`netgpt-lite --help` and every usage error must not import torch (or the other heavy packages)."""
    code = ("import sys; from netgpt_lite.cli import build_parser, main; build_parser(); "
            "rc = main(['train-edge', '--out', 'x', '--epochs', '0']); "
            "rc2 = main(['rl', '--steps', '1', '--out', 'x', '--beta', '-1']); "
            "rc3 = main(['train-edge', '--out', 'x', '--hidden-size', '30']); "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'sympy', 'datasets') if m in sys.modules]; "
            "print(rc, rc2, rc3, ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "2", "2"], done.stdout


# --- one spelling per concept ------------------------------------------------------------------------------
def test_shared_spellings():
    visible = {name: {s for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}
               for name, p in _subparsers().items()}
    for name, flags in visible.items():
        assert not flags & {"--model-dir", "--model-path", "--from", "--seeds"}, name
    assert "--model" in visible["rl"] and "--model" in visible["eval-edge"]
    assert "--n-seeds" in visible["frontier"]
    assert {n for n, flags in visible.items() if "--fast" in flags} == {"synergy", "reproduce"}
    assert all("--no-fast" in visible[n] for n in ("synergy", "reproduce"))


def test_old_spellings_are_gone():
    for argv in (["frontier", "--seeds", "2"], ["rl", "--from", "x", "--steps", "1", "--out", "o"]):
        with pytest.raises(UsageError, match="unrecognized arguments"):
            build_parser().parse_args(argv)


@pytest.mark.parametrize("command", ["synergy", "reproduce"])
def test_fast_flag_wins_over_the_environment(command, monkeypatch, tmp_path):
    def plan(*flags):
        argv = [command, "--out", str(tmp_path / "o"), *flags] + (["--rounds", "2"] if command == "synergy" else [])
        args = build_parser().parse_args(argv)
        p = args.check(args)
        return p["config"].requests_per_round == 96 if command == "synergy" else p["fast"]

    monkeypatch.delenv("NETGPT_LITE_FAST", raising=False)
    assert plan() is False and plan("--fast") is True
    monkeypatch.setenv("NETGPT_LITE_FAST", "1")
    assert plan() is True and plan("--no-fast") is False


# --- usage errors: exit 2, one line naming the flag and the allowed range ------------------------------
@pytest.mark.parametrize("argv, flag, allowed", [
    (["tasks", "--n", "0"], "--n", "in [1, 100000]"),
    (["tasks", "--seed", "-1"], "--seed", "in [0, 4294967295]"),
    (["tasks", "--variety", "wide"], "--variety", "invalid choice: 'wide'"),
    (["train-edge", "--base", "smollm2", "--dropout", "1", "--out", "o"], "--dropout", "in [0, 1)"),
    (["train-edge", "--out", "OUT", "--epochs", "0"], "--epochs", "in (0, 100]"),
    (["train-edge", "--out", "OUT", "--lr", "2"], "--lr", "in (0, 1)"),
    (["train-edge", "--out", "OUT", "--hidden-size", "30"], "--hidden-size", "n_heads must divide hidden_size"),
    (["train-edge", "--out", "OUT", "--n-test", "1"], "--n-test", "in [2, 50000]"),
    (["eval-edge", "--n", "1"], "--n", "in [2, 50000]"),
    (["eval-edge", "--n-logs", "3"], "--n-logs", ">= 10"),
    (["eval-edge", "--split", "dev"], "--split", "choose from"),
    (["frontier", "--n-seeds", "0"], "--n-seeds", "in [1, 100]"),
    (["rl", "--steps", "0", "--out", "OUT"], "--steps", "in [1, 10000]"),
    (["rl", "--steps", "1", "--beta", "-1", "--out", "OUT"], "--beta", ">= 0"),
    (["rl", "--steps", "1", "--epsilon", "1", "--out", "OUT"], "--epsilon", "in (0, 1)"),
    (["rl", "--steps", "1", "--group-size", "1", "--out", "OUT"], "--group-size", "in [2, 256]"),
    (["rl", "--steps", "many", "--out", "OUT"], "--steps", "integer"),
    (["synergy", "--rounds", "801", "--out", "OUT"], "--rounds", "in [1, 800]"),
    (["synergy", "--rounds", "1", "--requests-per-round", "4", "--out", "OUT"], "--requests-per-round", "in [8, 10000]"),
    (["synergy", "--rounds", "1", "--pricing", "free", "--out", "OUT"], "--pricing", "peak_offpeak"),
    (["synergy", "--rounds", "1", "--trace", "moon", "--out", "OUT"], "--trace", "trace must be"),
    (["reproduce", "--out", "OUT", "--seed", "-2"], "--seed", "in [0, 4294967295]"),
])
def test_usage_errors_name_the_flag_and_the_allowed_range(argv, flag, allowed, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = _err(capsys)
    assert err.startswith(f"netgpt-lite {argv[0]}: error: argument {flag}: "), err
    assert allowed in err and err.count("\n") == 1
    assert not out.exists()  # nothing was written: the check comes before the work


def test_missing_and_unknown_arguments(capsys):
    assert main(["train-edge"]) == 2
    assert _err(capsys) == ("netgpt-lite train-edge: error: the following arguments are required: --out "
                            "(see 'netgpt-lite train-edge --help')\n")
    assert main(["tasks", "--bogus", "3"]) == 2
    assert "netgpt-lite tasks: error: unrecognized arguments: --bogus 3" in _err(capsys)
    assert main(["bogus"]) == 2
    assert _err(capsys).startswith("netgpt-lite: error: argument COMMAND: invalid choice: 'bogus'")


def test_output_paths_are_checked(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["tasks", "--out", str(tmp_path / "missing" / "t.jsonl")]) == 2
    err = _err(capsys)
    assert "argument --out:" in err and "does not exist" in err and "mkdir -p" in err
    assert main(["train-edge", "--out", str(a_file)]) == 2
    assert "argument --out:" in _err(capsys)
    assert main(["rl", "--steps", "1", "--out", str(a_file / "sub")]) == 2
    assert "is a file" in _err(capsys)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["synergy", "--rounds", "1", "--out", str(locked / "run")]) == 2
        assert "permission denied" in _err(capsys)
    finally:
        locked.chmod(0o700)


def test_model_folders_are_checked(tmp_path, capsys):
    assert main(["eval-edge", "--model", str(tmp_path)]) == 2
    err = _err(capsys)
    assert "argument --model:" in err and "no config.json" in err and "omit --model" in err
    assert main(["rl", "--model", str(tmp_path / "nope"), "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    assert "argument --model: no model folder" in _err(capsys)
    args = build_parser().parse_args(["eval-edge", "--model", "Qwen/Qwen2.5-0.5B-Instruct"])  # a Hub id
    assert args.model == "Qwen/Qwen2.5-0.5B-Instruct"


def test_trace_files_are_parsed_before_the_run(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,bandwidth_mbps,rtt_ms\n0,10,40\n1,ten,40\n")
    assert main(["synergy", "--rounds", "1", "--trace", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = _err(capsys)
    assert "argument --trace: the trace file does not parse" in err and "line 3" in err and "bandwidth_mbps" in err
    args = build_parser().parse_args(["synergy", "--rounds", "1", "--trace", str(EXAMPLE_TRACE_CSV),
                                      "--out", str(tmp_path / "o")])
    assert args.check(args)["config"].trace == str(EXAMPLE_TRACE_CSV)


def test_an_existing_synergy_run_needs_resume_with_the_same_settings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NETGPT_LITE_FAST", "1")
    out = tmp_path / "run"
    args = build_parser().parse_args(["synergy", "--rounds", "2", "--out", str(out)])
    config = args.check(args)["config"]
    out.mkdir()
    (out / "state.json").write_text(json.dumps({"config": dataclasses.asdict(config)}))
    assert main(["synergy", "--rounds", "2", "--out", str(out)]) == 2
    assert "argument --out:" in (err := _err(capsys)) and "pass --resume" in err
    assert main(["synergy", "--rounds", "3", "--seed", "4", "--out", str(out), "--resume"]) == 2
    err = _err(capsys)
    assert "argument --seed: the run being resumed" in err and "made with seed=0, this run: 4" in err
    args = build_parser().parse_args(["synergy", "--rounds", "3", "--out", str(out), "--resume"])
    assert args.check(args)["config"].rounds == 3  # only rounds may grow
    (out / "state.json").write_text("{not json")
    assert main(["synergy", "--rounds", "3", "--out", str(out), "--resume"]) == 2
    assert "not a readable synergy state" in _err(capsys)


def test_reproduce_refuses_an_out_made_with_other_settings(tmp_path, capsys):
    run = tmp_path / "repro" / "E4" / "reachable-seed0"
    run.mkdir(parents=True)
    (run / "state.json").write_text(json.dumps({"config": {"seed": 0, "requests_per_round": 300}}))
    assert main(["reproduce", "--out", str(tmp_path / "repro"), "--fast"]) == 2
    err = _err(capsys)
    assert "argument --out:" in err and "requests_per_round=300" in err and "--fast" in err
    # a run saved before a setting existed reads as the value it ran with, as a resume reads it
    from netgpt_lite.experiments.reproduce_config import ReproduceConfig
    from netgpt_lite.experiments.synergy_experiments import synergy_runs

    config = dataclasses.asdict(synergy_runs(ReproduceConfig.preset(fast=True))["reachable-seed0"][0])
    del config["calibration"]
    (run / "state.json").write_text(json.dumps({"config": config}))
    assert main(["reproduce", "--out", str(tmp_path / "repro"), "--fast"]) == 2
    assert "E4/reachable-seed0) was made with calibration='isotonic', this run: 'auto'" in _err(capsys)


def test_reproduce_summary_reads_a_results_file_and_refuses_others(tmp_path, capsys):
    last = {"cloud_calls_saved_vs_always_cloud": 0.6, "success_gap_vs_always_cloud": -0.02, "schema_valid_rate": 1.0,
            "edge_exact_match": 0.55}
    results = {"E4": {"traces": {t: {"seeds": [0, 1], "last_round": last} for t in ("reachable", "mixed")},
                      "arms": {"rl_off": {"run": "reachable-seed0-rl_off", "last_round": last}}},
               "manifest": {"git_commit": "abc", "split": "test"}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    assert main(["reproduce", "--summary", "--json", "--results", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["E4"]) == {"reachable", "mixed"} and out["E4"]["reachable"].items() >= {**last, "n_seeds": 2}.items()
    assert out["E4"]["reachable"]["intervals"] is None  # a file made before per-request values were kept
    assert out["E4_arms"]["rl_off"]["run"] == "reachable-seed0-rl_off" and out["manifest"]["git_commit"] == "abc"
    path.write_text(json.dumps({"E4": {"rounds": []}, "manifest": {}}))  # an old results file
    assert main(["reproduce", "--summary", "--results", str(path)]) == 2
    assert "no per-trace E4" in _err(capsys)
    assert main(["reproduce"]) == 2 and "argument --out: required" in _err(capsys)


# --- internal errors: exit 1, one line, traceback only on request -------------------------------------
def _broken(*args, **kwargs):
    raise ValueError("an internal check failed\nwith a second line")


def test_internal_errors_are_not_usage_errors(tmp_path, capsys, monkeypatch):


    monkeypatch.setattr(basics, "generate_tasks", _broken)
    monkeypatch.delenv("NETGPT_LITE_DEBUG", raising=False)
    assert main(["tasks", "--n", "3", "--out", str(tmp_path / "t.jsonl")]) == 1
    assert _err(capsys) == ("netgpt-lite tasks: internal error: ValueError: an internal check failed with a "
                            "second line (set NETGPT_LITE_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("NETGPT_LITE_DEBUG", "1")
    assert main(["tasks", "--n", "3", "--out", str(tmp_path / "t.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "_broken" in err
    assert err.rstrip().endswith("netgpt-lite tasks: internal error: ValueError: an internal check failed with "
                                 "a second line")


def test_keyboard_interrupt_exits_130_quietly(tmp_path, capsys, monkeypatch):


    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(basics, "generate_tasks", interrupted)
    assert main(["tasks", "--out", str(tmp_path / "t.jsonl")]) == 130
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_reader_that_closes_the_pipe_first_ends_the_command_quietly():
    """`netgpt-lite claims | head -1`: the command's later lines meet a closed pipe; it stops with 141, no trace."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; from netgpt_lite.cli import main; "
                             "time.sleep(1); sys.exit(main(['threshold', '--regime', '4g']))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""


def test_usage_error_is_a_value_error_with_a_prog():
    err = UsageError("argument --n: must be an integer >= 1; got 0", prog="netgpt-lite tasks")
    assert isinstance(err, ValueError) and err.prog == "netgpt-lite tasks"
    flags = flag_errors({"learning_rate": "--lr", "seed": "--seed"})
    with pytest.raises(UsageError, match=r"^argument --lr: learning_rate must be"), flags:
        raise ValueError("learning_rate must be in (0, 1), got 2.0; seed is fine")


# --- provenance ------------------------------------------------------------------------------------------
def test_provenance_json_lists_every_shipped_artifact(capsys):
    assert main(["provenance", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source_hash"] == source_hash()
    assert report["n_artifacts"] == len(report["artifacts"])
    assert report["n_stale"] == sum(a["state"] == "stale" for a in report["artifacts"])
    for a in report["artifacts"]:
        assert set(a) == {"path", "command", "git_commit", "state", "n_code_files", "changed", "other_command",
                          "missing_fields"}
        assert a["path"].startswith("data/") and a["state"] in ("fresh", "stale", "unknown")
        assert (a["state"] == "stale") == (bool(a["changed"]) or a["other_command"]) and a["n_code_files"] > 0
    assert main(["provenance"]) == 0  # staleness is a report: exit 0 whatever the state
    assert "artifacts under ./netgpt_lite/data:" in capsys.readouterr().out


def _manifest(**fields) -> dict:
    return {**dict.fromkeys(REQUIRED_FIELDS), "command": "netgpt-lite tasks --n 3", "source_hash": source_hash(),
            **fields}


def test_provenance_reports_stale_artifacts_and_strict_fails(tmp_path, capsys):
    from netgpt_lite.provenance import code_hash, import_closure

    entry = ["netgpt_lite.stats"]
    (tmp_path / "fresh").mkdir()
    fresh_manifest = _manifest(code_entry=entry, code_hash=code_hash(import_closure(entry)))
    (tmp_path / "fresh" / "manifest.json").write_text(json.dumps(fresh_manifest))
    assert main(["provenance", "--json", "--root", str(tmp_path), "--strict"]) == 0
    [fresh] = json.loads(capsys.readouterr().out)["artifacts"]
    assert fresh["state"] == "fresh" and fresh["missing_fields"] == [] and fresh["command"] == "netgpt-lite tasks --n 3"

    old = {"manifest": {"command": "netgpt-lite frontier", "code_entry": entry, "code_hash": "0" * 16}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(["provenance", "--json", "--root", str(tmp_path)]) == 0  # it reports, it does not fail
    report = json.loads(capsys.readouterr().out)
    old = next(a for a in report["artifacts"] if a["path"].endswith("old.json"))
    assert old["state"] == "stale" and "stats.py" in old["changed"] and "wall_s" in old["missing_fields"]
    assert report["n_stale"] == 1 and report["n_incomplete"] == 1
    assert main(["provenance", "--root", str(tmp_path), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "stale  " in out and "old.json" in out and "manifest lacks" in out


def test_provenance_bad_root(tmp_path, capsys):
    assert main(["provenance", "--root", str(tmp_path / "nope")]) == 2
    assert "argument --root:" in _err(capsys)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    assert main(["provenance", "--root", str(tmp_path)]) == 2
    err = _err(capsys)
    assert err.startswith("netgpt-lite provenance: error: argument --root:") and "not valid JSON" in err


# --- the SmolLM2 edge: train-edge --base smollm2, eval-edge --model / --tasks -----------------------------
def test_smollm2_training_flags_are_checked_before_work(tmp_path, capsys):
    assert main(["train-edge", "--base", "smollm2", "--rank", "0", "--out", str(tmp_path / "a")]) == 2
    assert "argument --rank: must be an integer in [1, 256]" in _err(capsys)
    assert main(["train-edge", "--base", "smollm2", "--tool-format", "xml", "--out", str(tmp_path / "a")]) == 2
    assert "--tool-format" in _err(capsys)
    assert not (tmp_path / "a").exists()


def test_eval_edge_rejects_a_bad_request_file_with_its_line_numbers(tmp_path, capsys):
    bad = tmp_path / "reqs.jsonl"
    bad.write_text('{"request": "latency of cell-3", "tools": ["get_cell_kpi"], '
                   '"gold": {"name": "get_cell_kpi", "arguments": {"cell_id": "cell-3", "metric": "latency"}}}\n'
                   "{not json\n")
    assert main(["eval-edge", "--tasks", str(bad)]) == 2
    err = _err(capsys)
    assert "argument --tasks" in err and "line 2: not valid JSON" in err and "line 1" not in err
    assert main(["eval-edge", "--tasks", str(tmp_path / "missing.jsonl")]) == 2
    assert "is not an existing file" in _err(capsys)
    assert main(["eval-edge", "--model", str(tmp_path), "--n", "2"]) == 2  # a folder with no model in it
    assert "not a model or adapter folder" in _err(capsys)
    assert main(["eval-edge", "--n-logs", "5"]) == 2
    assert "--n-logs" in _err(capsys)


def test_eval_edge_on_a_request_file_prints_the_documented_json(tmp_path, capsys):
    path = Path(__file__).parent / "data" / "handwritten_requests.jsonl"
    rows = path.read_text().splitlines()[:4]
    (tmp_path / "four.jsonl").write_text("\n".join(rows) + "\n")
    assert main(["eval-edge", "--model", "tiny", "--tasks", str(tmp_path / "four.jsonl"), "--n-logs", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 4 and out["split"] == "user"
    assert {"exact_match", "schema_valid", "by_difficulty", "error_types", "scores"} <= set(out)
    assert 0.0 <= out["exact_match"] <= out["schema_valid"] + 1e-9 <= 1.0 + 1e-9
    assert sum(out["error_types"].values()) == 4 and set(out["scores"]) == {"self_mean", "self_min"}


def test_eval_edge_baseline_adds_a_paired_comparison_and_saves_verdicts(tmp_path, capsys):
    """Two models on the same requests: the paired object, both files, and `paired` recomputing it."""
    shipped = str(Path(__file__).parents[1] / "netgpt_lite" / "data" / "edge_model")  # the tiny model by path
    out = tmp_path / "eval"
    assert main(["eval-edge", "--model", "tiny", "--baseline", shipped, "--n", "12", "--json", "--quiet",
                 "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    paired = result["paired"]
    assert {"n", "a_exact_match", "b_exact_match", "difference", "ci_low", "ci_high", "mcnemar_p", "a_only",
            "b_only", "model", "baseline"} <= set(paired)
    assert paired["n"] == 12 and paired["difference"] == 0.0 and paired["a_only"] == paired["b_only"] == 0
    assert result["baseline"]["exact_match"] == result["exact_match"]  # the same weights, the same verdicts
    assert sorted(p.name for p in out.iterdir()) == ["edge_model.jsonl", "result.json", "tiny.jsonl"]
    assert main(["paired", str(out / "tiny.jsonl"), str(out / "edge_model.jsonl"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: again[k] for k in ("n", "difference", "ci_low", "ci_high", "mcnemar_p")} == \
        {k: paired[k] for k in ("n", "difference", "ci_low", "ci_high", "mcnemar_p")}
    assert main(["eval-edge", "--model", "tiny", "--baseline", "tiny"]) == 2
    assert "--baseline" in _err(capsys)


def test_paired_refuses_files_of_different_requests(tmp_path, capsys):
    from netgpt_lite.edge.evaluation import write_records

    write_records(tmp_path / "a.jsonl", [{"request": "r1", "correct": True}], {"model": "a"})
    write_records(tmp_path / "b.jsonl", [{"request": "r2", "correct": False}], {"model": "b"})
    (tmp_path / "c.jsonl").write_text("not json\n")
    assert main(["paired", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]) == 2
    assert "not on the same requests" in _err(capsys)
    assert main(["paired", str(tmp_path / "a.jsonl"), str(tmp_path / "c.jsonl")]) == 2
    assert "c.jsonl:1: not JSON" in _err(capsys)
