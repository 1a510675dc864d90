"""Drift samples: a small, deterministic sample of every shipped artifact recomputed with today's code.

Staleness (``netgpt-lite provenance``) says whether the code an artifact depends on *changed*; these
tests say whether its *numbers* still hold.  Each recomputes a few rows, one cell or one step and compares
them with what the artifact stores; a failure names the artifact and the command that regenerates it
(``tests/drift.py``).  The training sweeps' samples are in ``tests/test_artifact_drift_training.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from drift import drifted

from netgpt_lite import provenance as pv
from netgpt_lite.edge.evaluation import evaluate
from netgpt_lite.routing import edge_outputs as eo
from netgpt_lite.tasks.checker import check_call

OUTPUTS = "data/edge_outputs/smollm2"


def test_every_shipped_artifact_has_a_drift_sample_and_a_command():
    covered = {"data/edge_outputs/smollm2", "data/smollm2_adapter", "data/edge_model", "data/rl/e5.json",
               "data/rl/smollm2_rl_adapter", "data/rl/deployment_day/e5.json", "data/rl/deployment_day/rl_adapter",
               "data/results/routing.json", "data/results/results.json", "data/serve",
               "data/results/paired_rl_sft/paired.json", "data/results/constrained_sft/summary.json",
               "data/results/sft_sweep/render.json", "data/results/sft_sweep/scaling.json",
               "data/results/rl_headroom/sft.json", "data/results/rl_headroom/rl.json",
               "data/results/rl_sweep/sweep.json",
               "data/results/public_lte/ATT-LTE-driving.json", "data/results/public_lte/TMobile-LTE-short.json"}
    assert set(pv.SHIPPED) == covered, ("a new shipped artifact needs a drift sample, in this file or in "
                                        "test_artifact_drift_training.py")
    assert {s.path for s in pv.check_artifacts()} == covered


def test_edge_outputs_verdicts_are_todays_checker_verdicts():
    """Every stored row (logs and test streams): today's checker gives the stored verdict."""
    from netgpt_lite.tasks.checker import parse_tool_call

    folder = pv.PACKAGE_DIR / OUTPUTS
    for stem in eo.stored_streams(folder):
        tasks, rows = eo.stream_tasks(folder, stem), eo.read_rows(folder / f"{stem}.jsonl")
        for task, row in zip(tasks, rows, strict=True):
            verdict = check_call(parse_tool_call(row["completion"]), task.tools, task.gold)
            stored = (row["correct"], row["error_type"])
            assert (verdict.correct, verdict.error_type) == stored, drifted(
                OUTPUTS, f"{stem} row {task.task_id} verdict", stored, (verdict.correct, verdict.error_type))


def test_edge_outputs_first_rows_regenerate(smollm2_agent):
    """The first three test-stream answers of SmolLM2 + the shipped adapter, generated again."""
    check = eo.recompute_sample(pv.PACKAGE_DIR / OUTPUTS, smollm2_agent, n=3)
    assert check["same_completion"] == 1.0, drifted(OUTPUTS, "share of identical completions (3 rows)", 1.0,
                                                    check["same_completion"])
    assert check["max_score_diff"] < 1e-3, drifted(OUTPUTS, "largest score difference (3 rows)", 0.0,
                                                   check["max_score_diff"])


@pytest.mark.parametrize("rel, weights, key", [
    ("data/smollm2_adapter", "adapter_model.safetensors", "sha256_adapter_safetensors"),
    ("data/rl/smollm2_rl_adapter", "adapter_model.safetensors", "sha256_adapter_safetensors"),
    ("data/rl/deployment_day/rl_adapter", "adapter_model.safetensors", "sha256_adapter_safetensors"),
    ("data/edge_model", "model.safetensors", "sha256_model_safetensors"),
])
def test_shipped_weights_are_the_bytes_their_manifest_names(rel, weights, key):
    manifest = pv.read_manifest(pv.PACKAGE_DIR / rel)
    today = pv.file_sha256(pv.PACKAGE_DIR / rel / weights)
    assert today == manifest[key], drifted(rel, f"sha256 of {weights}", manifest[key], today)


@pytest.mark.slow  # 600 greedy answers of the tiny model: ~30 s on one idle core
def test_tiny_edge_model_test_metrics_recompute():
    """The tiny model's recorded test metrics (600 requests), recomputed through today's evaluator."""
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.tasks.generate import generate_tasks

    rel = "data/edge_model"
    stored = pv.read_manifest(pv.PACKAGE_DIR / rel)["metrics"]
    report = evaluate(EdgeAgent.from_pretrained("tiny", device="cpu"),
                      generate_tasks(stored["split"], stored["n_test"], seed=stored["seed"])).report()
    for key in ("exact_match", "schema_valid", "error_types"):
        assert report[key] == stored["accuracy"][key], drifted(rel, f"test {key}", stored["accuracy"][key], report[key])
    assert json.loads(json.dumps(report["by_difficulty"])) == stored["accuracy"]["by_difficulty"]
    assert np.isclose(report["exact_match"], stored["test_exact_match"])


@pytest.fixture(scope="module")
def shipped_tables():
    """``logs -> (log_table, test_table)`` of the shipped SmolLM2 edge outputs, loaded once per log source."""
    cache = {}

    def tables(logs: str = "validation"):
        if logs not in cache:
            cache[logs] = eo.load_edge_tables(logs=logs)
        return cache[logs]

    return tables


def test_one_e3_cell_recomputes(shipped_tables):
    """E3's 5g_good / flat cell (every policy, every seed) recomputed from the shipped edge outputs and
    compared with both artifacts that hold E3 (routing.json, and results.json beside E4-E6)."""
    from netgpt_lite.experiments.frontier import aggregate, run_cell
    from netgpt_lite.experiments.routing_experiments import named_source

    cell, computed = "5g_good/flat", {}
    for rel in ("data/results/routing.json", "data/results/results.json"):
        shipped = json.loads((pv.PACKAGE_DIR / rel).read_text())
        config = shipped["E3"]["config"]
        logs = config.get("logs", "validation")  # made before E3 recorded its logs: validation ones
        key = (tuple(config["seeds"]), config["n_requests"], config["n_logs"],
               shipped["manifest"]["config"]["policynet_epochs"])
        if (logs, key) not in computed:  # artifacts that share E3's logs and settings: recompute once
            log_table, test_table = shipped_tables(logs)
            computed[logs, key] = aggregate(run_cell(test_table, log_table, named_source("5g_good"), "flat",
                                                     *key))["policies"]
        today, stored = computed[logs, key], shipped["E3"]["cells"][cell]["policies"]
        for policy in sorted(stored):
            for metric in ("task_success", "offload_rate", "mean_utility", "cost_per_1k_requests_usd"):
                a, b = stored[policy][metric]["mean"], today[policy][metric]["mean"]
                assert np.isclose(a, b, rtol=1e-6, atol=1e-9), drifted(rel, f"E3 {cell} {policy} {metric}", a, b)


def test_e4_round_zero_recomputes(tmp_path):
    """Round 0 of E4's first SmolLM2 synergy run (the shipped adapter, its calibrated router, the held-out
    stream): built, checkpointed, reloaded and evaluated as the loop does."""
    from netgpt_lite.synergy.config import SETTINGS_BEFORE_RECORDED, SynergyConfig
    from netgpt_lite.synergy.stages import default_stages

    rel = "data/results/results.json"
    e4 = json.loads((pv.PACKAGE_DIR / rel).read_text())["E4"]
    trace = sorted(e4["traces"])[0]
    run = e4["traces"][trace]["runs"][str(e4["traces"][trace]["seeds"][0])]
    # the settings the run was made with: one saved before a setting existed ran with its value then
    config, stages = SynergyConfig(**{**SETTINGS_BEFORE_RECORDED, **run["config"]}), default_stages()
    stages.save(stages.init(config), tmp_path)
    today, stored = stages.evaluate(stages.load(tmp_path, config), config), run["rounds"][0]
    for key in ("edge_exact_match", "edge_schema_valid_rate", "offload_rate", "task_success", "mean_threshold",
                "cost_per_1k_requests_usd"):
        assert np.isclose(stored[key], today[key], rtol=1e-6, atol=1e-9), drifted(
            rel, f"E4 {trace} seed {config.seed} round 0 {key}", stored[key], today[key])
    # today's evaluation also keeps its per-request values and their intervals, the same numbers paired
    assert len(today["per_request"]["fallback"]) == config.eval_requests
    for key in ("offload_rate", "task_success"):
        row = today["intervals"][key]
        assert row["mean"] == pytest.approx(today[key]) and row["ci_low"] <= row["mean"] <= row["ci_high"]
    gap = today["vs_always_cloud"]["task_success"]["mean"]
    assert gap == pytest.approx(today["task_success"] - today["always_cloud_task_success"])


@pytest.mark.parametrize("rel", ["data/rl/e5.json", "data/rl/deployment_day/e5.json"])
def test_e5_summary_recomputes_from_its_runs(rel):
    """E5's per-arm summary and paired contrasts, recomputed from the stored runs by today's code; the
    deployment day's run records beside it are the runs its artifact holds."""
    from netgpt_lite.experiments.rl_comparison import contrasts, read_e5, summarise

    e5 = read_e5(pv.PACKAGE_DIR / rel)
    assert contrasts(e5["runs"]) == e5["contrasts"], drifted(rel, "paired contrasts", "stored", "recomputed")
    stored_runs = (pv.PACKAGE_DIR / rel).parent / "run_records"
    for run in e5["runs"] if rel.startswith("data/rl/deployment_day") else []:
        name = "sft" if run["seed"] is None else f"{run['arm']}-seed{run['seed']}"  # the start has no seed
        record = json.loads((stored_runs / f"{name}.json").read_text())
        assert record["eval"] == run["eval"], drifted(rel, f"{run['arm']} seed {run['seed']} run record",
                                                      "its runs/ file", "the artifact's")
    today = summarise(e5["runs"])
    for arm, stored in e5["summary"].items():
        for key, value in stored.items():
            same = value == today[arm][key] or (value is not None and np.isclose(value, today[arm][key]))
            assert same, drifted(rel, f"summary {arm} {key}", value, today[arm][key])


def test_rl_logprob_pass_reproduces_the_stored_generation_scores(smollm2_agent):
    """One RL step's log-prob pass (the pass the clipped objective and both KL terms use), run on the
    first two stored SmolLM2 answers, gives the token log-probs the edge had when it generated them:
    their exp(mean) and exp(min) are the stored ``score_mean`` and ``score_min``."""
    import torch

    from netgpt_lite.rl.logprobs import completion_logprobs

    rel, folder = "data/rl/e5.json", pv.PACKAGE_DIR / OUTPUTS
    agent, tok = smollm2_agent, smollm2_agent.tokenizer
    tasks, rows = eo.stream_tasks(folder, "test")[:2], eo.read_rows(folder / "test.jsonl")[:2]
    for task, row in zip(tasks, rows):
        prompt = tok(agent.prompts([task])[0], add_special_tokens=False, return_tensors="pt")
        completion = tok(row["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert len(completion) == row["n_output_tokens"]
        ids = torch.tensor([completion])
        with torch.no_grad():
            logp, _ = completion_logprobs(agent.model, prompt["input_ids"], prompt["attention_mask"], ids,
                                          torch.ones_like(ids))  # fmt: skip
        mean, low = float(logp.mean().exp()), float(logp.min().exp())
        assert abs(mean - row["score_mean"]) < 1e-3, drifted(rel, f"RL log-prob pass, {task.task_id} exp(mean)",
                                                             row["score_mean"], mean)
        assert abs(low - row["score_min"]) < 1e-3, drifted(rel, f"RL log-prob pass, {task.task_id} exp(min)",
                                                           row["score_min"], low)


def test_serve_funcdyn_for_smollm2_refits():
    """The service's shipped FuncDyn for SmolLM2, refitted on the shipped edge outputs' exploration logs."""
    from netgpt_lite.service.policy_file import fit_serve_policy, load_serve_policy

    rel = "data/serve"
    stored, today = load_serve_policy("smollm2"), fit_serve_policy("smollm2")
    for key in ("q_cloud", "cloud_output_tokens", "response_bytes", "penalty_scale", "temperature"):
        a, b = getattr(stored, key), getattr(today, key)
        assert np.isclose(a, b, rtol=1e-6), drifted(rel, f"funcdyn_smollm2 {key}", a, b)
    for probe in (0.5, 0.9, 0.97, 0.99):  # the calibration map, where the scores live
        a, b = float(stored.calibration(np.array([probe]))[0]), float(today.calibration(np.array([probe]))[0])
        assert np.isclose(a, b, atol=1e-9), drifted(rel, f"funcdyn_smollm2 calibration at {probe}", a, b)


def _recheck_paired_records(rel: str, names: tuple[str, str], file_of) -> tuple[dict, dict]:
    """A shipped paired comparison's two verdict files (``file_of(name)``): every stored verdict is today's
    checker's on the stored answer; returns ``({name: records}, compare_records(a, b))`` with today's code."""
    from netgpt_lite.edge.evaluation import compare_records, read_records, request_key
    from netgpt_lite.tasks.checker import parse_tool_call
    from netgpt_lite.tasks.generate import generate_tasks

    files = {name: read_records(file_of(name)) for name in names}
    header = files[names[0]][0]
    tasks = {request_key(t): t for t in generate_tasks(header["split"], header["n"], seed=header["seed"])}
    for name, (_, records) in files.items():
        for r in records:
            v = check_call(parse_tool_call(r["completion"]), tasks[r["request"]].tools, tasks[r["request"]].gold)
            assert (v.correct, v.error_type) == (r["correct"], r["error_type"]), drifted(
                rel, f"{name} verdict of {r['task_id']}", (r["correct"], r["error_type"]), (v.correct, v.error_type))
    records = {name: recs for name, (_, recs) in files.items()}
    return records, compare_records(records[names[0]], records[names[1]])


def test_paired_rl_sft_verdicts_and_comparison_recompute():
    """The shipped RL-vs-SFT comparison: every stored verdict is today's checker's on the stored answer, and
    the paired statistics are what today's code computes from the two verdict files."""
    rel = "data/results/paired_rl_sft/paired.json"
    folder = (pv.PACKAGE_DIR / rel).parent
    stored = json.loads((pv.PACKAGE_DIR / rel).read_text())["paired"]
    _, today = _recheck_paired_records(rel, ("rl", "sft"), lambda name: folder / f"{name}.jsonl")
    for key, value in today.items():
        assert np.isclose(stored[key], value), drifted(rel, f"paired {key}", stored[key], value)


def test_paired_rl_sft_first_answers_regenerate():
    """The first two answers of the shipped RL adapter, generated again through the one evaluator."""
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.evaluation import read_records
    from netgpt_lite.tasks.generate import generate_tasks

    rel = "data/results/paired_rl_sft/paired.json"
    header, records = read_records((pv.PACKAGE_DIR / rel).parent / "rl.jsonl")
    by_id = {r["task_id"]: r for r in records}
    tasks = generate_tasks(header["split"], 2, seed=header["seed"])
    today = evaluate(EdgeAgent.from_pretrained("rl", device="cpu"), tasks).records()
    for r in today:
        assert r["completion"] == by_id[r["task_id"]]["completion"], drifted(
            rel, f"RL adapter's answer to {r['task_id']}", by_id[r["task_id"]]["completion"], r["completion"])


def test_constrained_vs_greedy_verdicts_and_comparison_recompute():
    """The shipped constrained-decoding comparison: every stored verdict is today's checker's on the stored
    answer, and the paired statistics are what today's code computes from the two verdict files."""
    rel = "data/results/constrained_sft/summary.json"
    folder = (pv.PACKAGE_DIR / rel).parent
    stored = json.loads((pv.PACKAGE_DIR / rel).read_text())
    records, today = _recheck_paired_records(rel, ("constrained", "greedy"), lambda name: folder / f"sft-{name}.jsonl")
    for name, recs in records.items():
        rate = float(np.mean([r["schema_valid"] for r in recs]))
        assert np.isclose(rate, stored[name]["schema_valid"]), drifted(rel, f"{name} schema_valid",
                                                                      stored[name]["schema_valid"], rate)
    for key, value in today.items():
        assert np.isclose(stored["paired"][key], value), drifted(rel, f"paired {key}", stored["paired"][key], value)


def test_constrained_first_answers_regenerate():
    """The first two constrained answers of the shipped SFT adapter, generated again under today's mask."""
    pytest.importorskip("llguidance")
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.evaluation import read_records
    from netgpt_lite.tasks.generate import generate_tasks

    rel = "data/results/constrained_sft/summary.json"
    header, records = read_records((pv.PACKAGE_DIR / rel).parent / "sft-constrained.jsonl")
    by_id = {r["task_id"]: r for r in records}
    tasks = generate_tasks(header["split"], 2, seed=header["seed"])
    agent = EdgeAgent.from_pretrained("smollm2", device="cpu", decoding="constrained")
    for r in evaluate(agent, tasks).records():
        assert r["completion"] == by_id[r["task_id"]]["completion"], drifted(
            rel, f"constrained answer to {r['task_id']}", by_id[r["task_id"]]["completion"], r["completion"])


@pytest.mark.parametrize("name", ["ATT-LTE-driving", "TMobile-LTE-short"])
def test_public_lte_cell_is_the_listed_trace_and_recomputes(name, shipped_tables):
    """A public-trace frontier: made from the listed file (its sha256), and, where the trace has been fetched
    into runs/traces (it is GPL, not shipped), recomputed now with the artifact's settings."""
    from netgpt_lite.experiments.frontier import TraceSource, run_frontier
    from netgpt_lite.network.mahimahi import read_mahimahi
    from netgpt_lite.network.public_traces import public_trace_list

    rel = f"data/results/public_lte/{name}.json"
    shipped = json.loads((pv.PACKAGE_DIR / rel).read_text())
    listed = {t["name"]: t["sha256"] for t in public_trace_list()}
    assert shipped["config"]["trace_sha256"] == listed[f"{name}.down"], drifted(
        rel, "trace sha256", shipped["config"]["trace_sha256"], listed[f"{name}.down"])
    trace = Path(__file__).resolve().parents[1] / "runs" / "traces" / f"{name}.down"
    if pv.file_sha256(trace) != listed[f"{name}.down"]:
        pytest.skip(f"{trace} not fetched: python -m netgpt_lite.network.public_traces --out runs/traces")
    cfg = shipped["config"]
    log_table, test_table = shipped_tables(cfg["logs"])
    today = run_frontier(test_table, log_table, TraceSource(Path(cfg["mahimahi"]).name,
                                                            read_mahimahi(trace, base_rtt_ms=cfg["base_rtt_ms"])),
                         cfg["pricing"], seeds=tuple(cfg["seeds"]), n_requests=cfg["n_requests"],
                         n_logs=cfg["n_logs"], policynet_epochs=cfg["policynet_epochs"])
    for policy in ("fixed_logs", "fixed_hindsight", "funcdyn", "policynet", "threshold_oracle"):
        a, b = (r["policies"][policy]["mean_utility"]["mean"] for r in (shipped, today))
        assert np.isclose(a, b, rtol=1e-6, atol=1e-9), drifted(rel, f"{policy} mean utility", a, b)
