"""Tests of ``netgpt-lite reproduce``: the experiments on synthetic tables, the report, the CLI wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netgpt_lite.cli import build_parser
from netgpt_lite.cli.arguments import UsageError
from netgpt_lite.experiments import report
from netgpt_lite.experiments import reproduce as rp
from netgpt_lite.experiments.frontier import exploration_logs, fit_policies
from netgpt_lite.experiments.synergy_experiments import synergy_runs
from netgpt_lite.provenance import REQUIRED_FIELDS, source_hash
from netgpt_lite.routing.proposals import synthetic_table
from netgpt_lite.routing.simulator import SimulationConfig
from netgpt_lite.synergy.config import SETTINGS_BEFORE_RECORDED
from netgpt_lite.synergy.loop import SynergyConfig

CFG = rp.ReproduceConfig(fast=True, seeds=(0, 1), n_test=200, n_logs=200, n_requests=200, policynet_epochs=10,
                         regimes=("5g_good", "near_outage"), traces=("mixed", "lte_drive"), pricings=("flat", "surge"))


@pytest.fixture(scope="module")
def experiments():
    log_table, test_table = synthetic_table(300, 1), synthetic_table(300, 0)
    e3 = rp.run_e3(CFG, test_table, log_table)
    policies = rp.exploration_policies(CFG, log_table)
    return {"E3": e3, "E1": rp.run_e1(CFG, test_table, policies, e3["cells"]),
            "E2": rp.run_e2(CFG, test_table, policies), "tables": {"test_source": test_table.source}}


def test_config_validates_and_presets_differ():
    with pytest.raises(ValueError, match="seeds"):
        rp.ReproduceConfig(seeds=())
    with pytest.raises(ValueError, match="rl_steps"):
        rp.ReproduceConfig(rl_steps=0)
    fast, full = rp.ReproduceConfig.preset(True), rp.ReproduceConfig.preset(False)
    assert fast.fast and not full.fast and len(full.seeds) >= 3
    assert fast.n_requests < full.n_requests and fast.synergy_rounds <= full.synergy_rounds
    # the full preset's SmolLM2 rounds each run in a process of its own; --workers picks how many runs at once
    assert full.round_processes and not fast.round_processes and full.workers == 2
    assert rp.ReproduceConfig.preset(False, workers=1).workers == 1
    with pytest.raises(ValueError, match="workers must be >= 1"):
        rp.ReproduceConfig.preset(False, workers=0)


def test_e3_has_every_cell_policy_and_mean_std(experiments):
    e3 = experiments["E3"]
    assert set(e3["cells"]) == {f"{r}/{p}" for r in (*CFG.traces, *CFG.regimes) for p in CFG.pricings}
    assert e3["config"]["threshold_oracle_bins"] == 3 and e3["config"]["traces"] == ["mixed", "lte_drive"]
    rows = e3["rows"]
    assert {r["policy"] for r in rows} >= {"always_cloud", "fixed_logs", "funcdyn", "policynet", "threshold_oracle",
                                           "oracle"}
    assert all("±" in r["task_success"] for r in rows)
    cloud = e3["cells"]["5g_good/flat"]["policies"]["always_cloud"]
    assert cloud["offload_rate"]["mean"] == 1.0


def test_e1_sweeps_span_edge_to_cloud(experiments):
    for regime, e1 in experiments["E1"].items():
        offload = np.array(e1["sweep"]["offload"])
        assert offload[0] == 0.0 and offload[-1] >= 0.99, regime  # tau = 0 keeps all, tau = 1 sends all
        assert np.all(np.diff(offload) >= 0)
        assert e1["points"]["always_edge"]["offload"] == 0.0


def test_e2_funcdyn_threshold_is_monotone_and_utility_has_one_peak(experiments):
    e2 = experiments["E2"]
    for axis in ("bandwidth_mbps", "rtt_ms", "price_multiplier"):
        assert e2[axis]["funcdyn_monotone"], axis
        tau = np.array(e2[axis]["curves"]["funcdyn"]["threshold"])
        offload = np.array(e2[axis]["curves"]["funcdyn"]["offload"])
        assert np.all((tau >= 0) & (tau <= 1)) and np.all((offload >= 0) & (offload <= 1))
    assert e2["bandwidth_mbps"]["curves"]["funcdyn"]["threshold"][-1] > e2["bandwidth_mbps"]["curves"]["funcdyn"][
        "threshold"][0]  # better network -> offload more
    assert e2["utility_vs_threshold"]["n_local_maxima"] >= 1


def test_report_is_self_contained_with_plotly_once(experiments, tmp_path):
    rounds = [{"round": r, "offload_rate": 0.9 - 0.2 * r, "task_success": 0.95, "schema_valid_rate": 1.0,
               "kl_to_sft": 0.01 * r, "always_cloud_task_success": 0.96} for r in range(3)]
    decomposition = [{"edge_round": e, "routing_round": k, "offload_rate": 0.9 - 0.2 * e - 0.1 * k}
                     for e in (0, 2) for k in (0, 2)]
    history = [{"step": 0, "kl_k3_to_sft": 0.0}, {"step": 1, "kl_k3_to_sft": 0.02}, {"step": 2}]
    e5_runs = [{"arm": "sft", "seed": None, "eval": {"test": {"exact_match": 0.5, "schema_valid": 0.9}}},
               {"arm": "rl", "seed": 0, "history": history, "eval": {"test": {"exact_match": 0.55, "schema_valid": 0.9}}}]
    from netgpt_lite.experiments.rl_comparison import summarise
    run = {"rounds": rounds, "decomposition": decomposition}
    e4 = {"traces": {t: {"seeds": [0], "runs": {"0": run}} for t in ("reachable", "mixed")}}
    results = {**experiments, "E4": e4,
               "E5": {"runs": e5_runs, "summary": summarise(e5_runs)},
               "E6": {"refresh_on": rounds, "refresh_off": rounds},
               "manifest": rp.manifest(CFG, rp.run_recorder(CFG), {"E3": {"wall_s": 1.0, "cpu_s": 0.5}})}
    results = json.loads(json.dumps(results, default=rp._jsonable))
    page = report.write_report(results, tmp_path / "report.html").read_text()
    assert page.count("plotly.js v") == 1  # the library is inlined exactly once
    assert "cdn.plot.ly" not in page.split("</script>", 1)[1]  # figures do not fetch it again
    for title in report.report_figures(results):
        assert title in page
    assert "E4 synergy rounds, reachable trace (seed 0)" in page and "E4 synergy rounds, mixed trace (seed 0)" in page
    assert "E3 main table" in page and "funcdyn" in page


def test_manifest_is_written_by_the_recorder():
    m = rp.manifest(CFG, rp.run_recorder(CFG), {"E3": {"wall_s": 1.0, "cpu_s": 0.5}})
    assert not REQUIRED_FIELDS - set(m)
    assert (m["mode"], m["seed"], m["split"], m["source_hash"]) == ("fast", CFG.seed, "test", source_hash())
    assert m["sizes"]["n_seeds"] == len(CFG.seeds) and m["config"]["seeds"] == list(CFG.seeds)
    assert m["seconds_per_step"] == {"E3": {"wall_s": 1.0, "cpu_s": 0.5}} and m["peak_rss_mb"] > 0
    assert m["wall_s"] >= 0 and m["cpu_s"] >= 0


def test_run_experiments_times_each_step_and_runs_e5_in_its_resumable_folder(tmp_path, monkeypatch):
    calls = []
    table = type("T", (), {"source": "synthetic", "__len__": lambda self: 0})()
    monkeypatch.setattr(rp, "routing_tables", lambda cfg: (table, table))
    monkeypatch.setattr(rp, "run_e3", lambda cfg, test, logs: {"cells": {}, "rows": []})
    monkeypatch.setattr(rp, "exploration_policies", lambda cfg, logs: {})
    monkeypatch.setattr(rp, "run_e1", lambda cfg, t, p, e3: {})
    monkeypatch.setattr(rp, "run_e2", lambda cfg, t, p: {})
    monkeypatch.setattr(rp, "run_e4_e6", lambda cfg, out, *cloud: ({"traces": {}, "rounds_wall_s": 5.0},
                                                                    {"refresh_on": [], "refresh_off": []}))
    monkeypatch.setattr(rp, "run_e5_experiment", lambda config, out, progress: calls.append((config, out)) or {"manifest": {}})
    first = rp.run_experiments(CFG, tmp_path, progress=False)["manifest"]
    assert not REQUIRED_FIELDS - set(first) and len(calls) == 1
    assert calls[0][1] == tmp_path / "E5" and calls[0][0].edge == "tiny"  # fast mode: the tiny edge
    steps = first["seconds_per_step"]
    assert set(steps) == {"tables", "policies", "E3", "E1", "E2", "E4+E6", "E5"}
    assert all(v["wall_s"] >= 0 and v["cpu_s"] >= 0 for v in steps.values())
    assert steps["E4+E6"]["rounds_wall_s"] == 5.0
    only = rp.run_experiments(rp.ReproduceConfig(**{**CFG.__dict__, "only": ("E3",)}), tmp_path, progress=False)
    assert set(only) == {"tables", "E3", "manifest"} and only["manifest"]["sizes"]["experiments"] == ["E3"]
    assert len(calls) == 1  # E5 was not selected


def test_cli_parses_reproduce_and_synergy():
    args = build_parser().parse_args(["reproduce", "--out", "x", "--fast"])
    assert args.fast and args.out == "x" and args.func.__name__ == "_run_reproduce"
    assert args.only == rp.EXPERIMENTS
    assert build_parser().parse_args(["reproduce", "--out", "x", "--only", "e1,E3"]).only == ("E1", "E3")
    with pytest.raises(UsageError, match="argument --only: must list experiments among E1,E2"):
        build_parser().parse_args(["reproduce", "--out", "x", "--only", "E9"])
    args = build_parser().parse_args(["synergy", "--rounds", "3", "--trace", "4g", "--pricing", "surge",
                                      "--out", "y", "--resume"])
    assert (args.rounds, args.trace, args.pricing, args.resume) == (3, "4g", "surge", True)


def test_synergy_cli_rejects_bad_trace_with_one_line(capsys, tmp_path):
    from netgpt_lite.cli import main

    assert main(["synergy", "--rounds", "1", "--trace", "moon", "--out", str(tmp_path / "o")]) == 2
    assert "trace must be" in capsys.readouterr().err


def test_policies_fit_on_synthetic_logs_cover_e2_inputs():
    table = synthetic_table(200, 3)
    logs = exploration_logs(table, SimulationConfig(), 300, seed=0)
    policies = fit_policies(table, logs, seed=0, policynet_epochs=5)
    assert {"funcdyn", "policynet"} <= set(policies)


def test_shipped_results_were_made_by_the_reproduce_preset_with_the_code_it_ships_with():
    """The shipped results.json: its config is the full preset (for the experiments it holds), its E4 runs
    are the preset's synergy runs, its split is the one the code evaluates on, and its manifest is complete.
    Whether the code changed since is a report (``netgpt-lite provenance``), not a failure; whether its
    numbers still hold is tests/test_artifact_drift.py's question."""
    import dataclasses
    from importlib.resources import files

    from netgpt_lite.provenance import check_artifacts
    from netgpt_lite.provenance.manifest import _jsonable
    from netgpt_lite.synergy.stages import deployment_tasks

    shipped = json.loads((files("netgpt_lite") / "data" / "results" / "results.json").read_text())
    m = shipped["manifest"]
    preset = rp.ReproduceConfig.preset(fast=False, seed=m["seed"], only=tuple(m["sizes"]["experiments"]))
    def same(stored: dict, today: dict, cls, made_with: dict | None = None) -> bool:
        """Equal, where a field added since the artifact was made counts as equal at its default value (the
        behaviour the artifact was made with), and a field in ``made_with`` at the value given there."""
        made_with = made_with or {}
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        added = set(today) - set(stored)
        return all(k in made_with or (k in defaults and today[k] == _jsonable(defaults[k])) for k in added) and all(
            stored[k] == today.get(k) for k in stored)

    assert m["mode"] == "full" and same(m["config"], _jsonable(preset), rp.ReproduceConfig)
    assert not REQUIRED_FIELDS - set(m) and m["git_dirty"] is False
    assert m["split"] == rp.run_recorder(preset).split == "test"
    runs = synergy_runs(preset)
    head = f"{preset.synergy_traces[0]}-seed{preset.synergy_seeds[0]}"
    # E4/E6 made before the calibration map became a setting fitted the isotonic map in every round; the preset
    # now chooses it per round ("auto"), and results.json follows when `regenerate --only results` remakes it.
    # Until then the difference is exactly this, and visible:
    before = {k: v for k, v in SETTINGS_BEFORE_RECORDED.items() if k not in shipped["E4"]["config"]}
    assert all(getattr(runs[head][0], k) != v for k, v in before.items())
    assert same(shipped["E4"]["config"], dataclasses.asdict(runs[head][0]), SynergyConfig, before)
    for trace, t in shipped["E4"]["traces"].items():
        for seed in t["seeds"]:
            assert same(t["runs"][str(seed)]["config"], dataclasses.asdict(runs[f"{trace}-seed{seed}"][0]),
                        SynergyConfig, before)
    assert set(shipped["E4"]["traces"]) == set(preset.synergy_traces) == {"reachable", "mixed"}
    config = runs[head][0]  # the synergy runs route and evaluate requests of the test split's phrasings
    assert {t.task_id.split("-")[0] for t in deployment_tasks(config, 900, 4)} == {"test"}
    assert shipped["E3"]["config"]["edge"] == preset.edge and shipped["tables"]["edge"] == preset.edge
    status = {s.path: s for s in check_artifacts()}["data/results/results.json"]
    assert not status.missing_fields and status.state in ("fresh", "stale", "unknown")


def test_e3_fits_on_deployment_logs_and_reports_the_shift_arm():
    """``log_source="deployment"``: E3's policies are fitted on the test split's traffic of another day, and the
    validation-logs fit of the same time-varying cells is reported beside it as the distribution-shift arm."""
    from netgpt_lite.experiments.routing_experiments import routing_tables, run_e3

    cfg = rp.ReproduceConfig(fast=True, edge="tiny", log_source="deployment", traces=("mixed",), regimes=("4g",),
                             pricings=("flat",), seeds=(0,), n_requests=120, n_test=40, n_logs=40,
                             policynet_epochs=5, only=("E3",))
    log_table, test_table = routing_tables(cfg)
    if test_table.source == "synthetic":
        pytest.skip("no shipped tiny edge")
    assert {str(t).split("-")[0] for t in log_table.task_id} == {"test"}
    assert not set(log_table.task_id) & set(test_table.task_id)  # another day's requests
    e3 = run_e3(cfg, test_table, log_table)
    assert e3["config"]["logs"] == "deployment" and set(e3["cells"]) == {"mixed/flat", "4g/flat"}
    assert e3["shift"]["logs"] == "validation" and set(e3["shift"]["cells"]) == {"mixed/flat"}
    room = e3["shift"]["cells"]["mixed/flat"]["room"]
    assert room["room"]["ci_low"] <= room["room"]["mean"] <= room["room"]["ci_high"]
    with pytest.raises(ValueError, match="log_source must be"):
        rp.ReproduceConfig(log_source="yesterday")
