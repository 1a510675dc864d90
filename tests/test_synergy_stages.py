"""Tests of the synergy loop's real stages (edge LM, simulated cloud, SFT, RL, scorer, FuncDyn), the traces
a run is routed under, its configuration, and what a SmolLM2 run keeps in its checkpoints.

The loop's machinery (persistence, resume after SIGKILL, determinism) is tested with fake stages in
``tests/test_synergy.py``; here the stages themselves run, on a tiny budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netgpt_lite.synergy.calibration import choose_calibration
from netgpt_lite.synergy.loop import SynergyConfig, decompose_gain, load_log, run_synergy


@pytest.mark.slow
def test_real_stages_one_small_round(tmp_path):
    from netgpt_lite.edge.tiny_lm import shipped_model_path

    if not (shipped_model_path() / "config.json").exists():
        pytest.skip("no shipped edge model")
    cfg = SynergyConfig(rounds=1, requests_per_round=32, eval_requests=16, calibration_tasks=24, sft_epochs=1,
                        rl_steps=1, trace="4g", seed=0)
    from netgpt_lite.synergy.stages import default_stages

    result = run_synergy(cfg, tmp_path / "run", stages=default_stages())
    log = load_log(tmp_path / "run")
    first, last = result.rounds
    assert len(log) == result.n_logged == last["n_logged"]
    assert all(s < t for s, t in zip(log["edge_score"], log["threshold"]))  # only fallbacks are logged
    for m in result.rounds:
        assert 0 <= m["offload_rate"] <= 1 and m["always_cloud_offload_rate"] == 1.0
        assert m["cost_per_1k_requests_usd"] <= m["always_cloud_cost_per_1k_requests_usd"] + 1e-12
    n_train = sum(not h for h in log["scorer_holdout"]) if len(log) else 0
    assert first["rl_log"] == []  # round 0 trains nothing
    assert first["scorer_choice"] == {}  # round 0 fits no scorer
    choice = last["scorer_choice"]  # the round's choice, when it fitted one: the kept scorer is the one reported
    assert last["scorer"] == (choice["candidates"][choice["kept"]] if choice else "self")
    for m in result.rounds:  # every round says which calibration map it chose and on what evidence
        calib = m["calibration_choice"]
        assert calib["chosen"] in ("platt", "isotonic") and calib["n"] == cfg.calibration_tasks
        labels = calib["calibration_set"]  # the set itself, for a cut chosen on it as a deployment would
        assert len(labels["score"]) == len(labels["edge_correct"]) == len(labels["cloud_correct"]) == calib["n"]
        assert sum(not y for y in labels["edge_correct"]) == calib["wrong"]
        if calib["cv_log_loss"]:
            losses = calib["cv_log_loss"]
            assert calib["chosen"] == ("isotonic" if losses["isotonic"] < losses["platt"] - 1e-9 else "platt")
        # the same edge routed with the map it did not choose, on the same requests: paired with the round's own
        other, values = m["other_calibration"], m["per_request_other_calibration"]
        assert {other["calibration"], calib["chosen"]} == {"platt", "isotonic"}
        assert len(values["fallback"]) == len(m["per_request"]["fallback"]) == cfg.eval_requests
        assert other["offload_rate"] == pytest.approx(np.mean(values["fallback"]))
        # the edge-only values: the round's own routing picks, request by request, the edge's or the cloud's
        edge, cloud, own = m["per_request_edge_only"], m["per_request_always_cloud"], m["per_request"]
        assert not any(edge["fallback"]) and len(edge["score"]) == cfg.eval_requests
        for key in ("success", "utility", "cost_usd"):
            assert np.allclose(own[key], np.where(own["fallback"], cloud[key], edge[key]))
    if n_train >= 8:  # RL ran after SFT: the edge moved away from its SFT model (a frozen copy bug gave 0.0)
        assert last["kl_to_sft"] > 0
        (step,) = last["rl_log"]  # the round's one RL step, with its step size and anchors
        assert step["update_to_weight"] > 0 and step["learning_rate"] > 0 and "clip_fraction" in step
    if len(log):  # SFT on the logged cloud answers changed the edge's weights
        from safetensors.numpy import load_file

        before, after = (load_file(str(tmp_path / "run" / c / "edge" / "model.safetensors")) for c in result.checkpoints)
        assert any(not np.array_equal(before[k], after[k]) for k in before)
    from netgpt_lite.synergy.loop import load_round

    stages = default_stages()
    for r, committed in ((0, first), (1, last)):  # checkpoints reproduce the run exactly (the decomposition's diagonal)
        again = stages.evaluate(load_round(tmp_path / "run", cfg, r, stages=stages), cfg)
        assert (again["offload_rate"], again["task_success"]) == (committed["offload_rate"], committed["task_success"])
    table = {(r["edge_round"], r["routing_round"]): r for r in decompose_gain(tmp_path / "run", cfg, stages=stages)}
    assert table[(0, 0)]["offload_rate"] == first["offload_rate"] and table[(1, 1)]["task_success"] == last["task_success"]
    from netgpt_lite.synergy.summary import write_summary
    from netgpt_lite.tasks.request_file import read_request_file

    hand = read_request_file(Path(__file__).parent / "data" / "handwritten_requests.jsonl")[:6]
    written = write_summary(result, stages=default_stages(), written={"hand": hand})["written"]["hand"]
    pair = written["last_minus_round_0"]  # the last edge against round 0's, paired on the same requests
    assert written["n"] == pair["n"] == 6 and written["last_round"] == 1
    assert pair["a_exact_match"] == written["last"]["exact_match"] == np.mean(written["correct"]["last"])
    assert pair["b_exact_match"] == written["round_0"]["exact_match"] == np.mean(written["correct"]["round_0"])


def test_reachable_trace_never_visits_outage_or_satellite_and_mixed_does():
    from netgpt_lite.network.state import REACHABLE_REGIMES
    from netgpt_lite.routing.proposals import synthetic_table
    from netgpt_lite.synergy.stages import synergy_config, world_stream

    table = synthetic_table(400)
    reach = world_stream(synergy_config(fast=True, trace="reachable"), table, segment=3)
    mixed = world_stream(synergy_config(fast=True, trace="mixed"), table, segment=3)
    assert set(reach.trace.regime.tolist()) == set(REACHABLE_REGIMES)  # all three visited, nothing else
    assert {"satellite", "near_outage"} <= set(mixed.trace.regime.tolist())
    assert reach.trace.rtt_ms.max() < 650.0 < mixed.trace.rtt_ms.max()
    again = world_stream(synergy_config(fast=True, trace="reachable"), table, segment=3)
    assert np.array_equal(again.trace.bandwidth_mbps, reach.trace.bandwidth_mbps)  # seeded by (seed, segment)


def test_synergy_config_names_the_edge_and_trace_it_accepts():
    assert SynergyConfig(edge="smollm2", trace="reachable").edge == "smollm2"
    with pytest.raises(ValueError, match=r"edge must be one of \('tiny', 'smollm2'\); got 'gpt'"):
        SynergyConfig(edge="gpt")
    with pytest.raises(ValueError, match="trace must be 'mixed', 'reachable'"):
        SynergyConfig(trace="moon")


def test_invalid_edge_call_scores_zero_under_self_confidence():
    from types import SimpleNamespace

    from netgpt_lite.synergy.scoring import edge_scores

    outputs = [SimpleNamespace(schema_valid=v, confidence=lambda score="mean": 0.97) for v in (True, False)]
    scores = edge_scores(SimpleNamespace(scorer=None), None, outputs)
    assert scores.tolist() == [0.97, 0.0]  # the edge checks its own call against the schema before trusting it


def test_smollm2_checkpoint_keeps_the_optimizer_states(tmp_path) -> None:
    """A SmolLM2 round's checkpoint holds the adapter and both optimisers' states, so the next round (or a
    resumed run, or a forked arm) continues Adam where this round left it."""
    import torch

    from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path
    from netgpt_lite.edge.optimizer_state import OptimizerState
    from netgpt_lite.synergy.edge_models import OPTIMIZER_DIR, load_edge, save_edge
    from netgpt_lite.synergy.system import EdgeCloudSystem

    model, tokenizer, template = load_adapter(shipped_adapter_path(), trainable=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-5)
    for p in params:
        p.grad = torch.full_like(p, 1e-3)
    optimizer.step()
    system = EdgeCloudSystem(model, tokenizer, None, None, template=template,
                             optimizers={"rl": OptimizerState().capture(optimizer, global_step=3)})
    save_edge(system, tmp_path)
    assert (tmp_path / OPTIMIZER_DIR / "rl" / "optimizer.safetensors").exists()
    _, _, again_template, optimizers = load_edge(tmp_path, SynergyConfig(edge="smollm2"))
    assert again_template == template and set(optimizers) == {"rl"} and optimizers["rl"].global_step == 3
    fresh = torch.optim.Adam(params, lr=1e-5)
    assert optimizers["rl"].restore(fresh) == 3
    assert torch.equal(fresh.state[params[0]]["exp_avg"], optimizer.state[params[0]]["exp_avg"])


def test_a_smollm2_run_resumes_only_from_the_adapter_it_started_from(tmp_path):
    from types import SimpleNamespace

    from netgpt_lite.edge.lora import shipped_adapter_path
    from netgpt_lite.provenance import file_sha256
    from netgpt_lite.runtime import RunFolderError
    from netgpt_lite.synergy.run_folder import START_ADAPTER, _check_start_edge

    shipped = file_sha256(shipped_adapter_path() / "adapter_model.safetensors")

    def state(sha):
        return {"files": {"checkpoints/round_000": {START_ADAPTER: [9824056, sha]}}}

    smollm2, tiny = SimpleNamespace(edge="smollm2"), SimpleNamespace(edge="tiny")
    _check_start_edge(tmp_path / "state.json", state(shipped), smollm2)  # the same adapter: resumes
    _check_start_edge(tmp_path / "state.json", state("0" * 64), tiny)  # the tiny edge ships no adapter
    _check_start_edge(tmp_path / "state.json", {"files": {}}, smollm2)  # no fingerprints: not checked
    with pytest.raises(RunFolderError, match=r"state\.json: the run started from an adapter .*000000000000"
                                             r".*was remade.*new --out"):
        _check_start_edge(tmp_path / "state.json", state("0" * 64), smollm2)


def test_a_learned_scorer_replaces_self_confidence_only_when_it_ranks_better_on_the_calibration_set(tmp_path):
    """A scorer fitted on a few dozen logged requests can be near chance (full-size E4's first run: AUROC 0.55-0.58
    against self-confidence's 0.91-0.93); ``choose_scorer`` keeps whichever ranks the edge's right answers above
    its wrong ones better on the labelled calibration set, records both AUROCs, and the record survives a save."""
    from netgpt_lite.synergy.stages import choose_scorer, default_stages, synergy_config
    from netgpt_lite.synergy.system import load_system, save_system

    class Inverted:  # ranks exactly backwards: what a scorer learned from noise can do
        def predict(self, features):
            return 1.0 - np.asarray(features)[:, -7]  # column -7: mean self-confidence (scorer_features)

    config = synergy_config(fast=True, edge="tiny", calibration_tasks=32)
    system = default_stages().init(config)
    inverted = Inverted()
    kept, record = choose_scorer(system, (None, inverted), config)
    assert kept is None and record["candidates"] == ["self", "learned"] and record["kept"] == 0
    assert record["n_requests"] == 32 and record["auroc"][0] > record["auroc"][1]
    kept, record = choose_scorer(system, (inverted, None), config)
    assert kept is None and record["kept"] == 1  # the order does not decide, the ranking does
    system.scorer_choice = record
    save_system(system, tmp_path / "ckpt")
    again = load_system(tmp_path / "ckpt", config)
    assert again.scorer_choice == record
    assert again.calibration_choice == system.calibration_choice and system.calibration_choice["chosen"]


def test_answering_hands_its_freed_memory_back_once_per_new_answer_set(monkeypatch):
    from types import SimpleNamespace

    from netgpt_lite.synergy import stages

    trims, computed = [], []
    monkeypatch.setattr(stages, "release_freed_memory", lambda: trims.append(1))
    monkeypatch.setattr(stages, "cached_answers", lambda model, agent, tasks, run: computed.append(1) or ["out"])
    system = SimpleNamespace(model=None, outputs={})
    tasks = [SimpleNamespace(task_id="a"), SimpleNamespace(task_id="b")]
    assert stages.answer(system, None, tasks) == ["out"] and (len(computed), len(trims)) == (1, 1)
    assert stages.answer(system, None, tasks) == ["out"] and (len(computed), len(trims)) == (1, 1)  # kept: no work


def test_a_round_with_fewer_answers_than_an_rl_step_draws_skips_rl():
    """A SmolLM2 round that logged 4-7 answers (an RL step draws 8 distinct prompts) keeps its SFT edge and
    logs no RL, instead of failing in the middle of the round."""
    from types import SimpleNamespace

    from datasets import Dataset

    from netgpt_lite.rl.settings import SMOLLM2_RL
    from netgpt_lite.synergy.edge_models import _train_smollm2

    model = object()  # untouched: no SFT (sft_epochs 0), and RL is skipped before the model is used
    system = SimpleNamespace(model=model, tokenizer=None, template={"tool_format": "compact"}, optimizers={})
    config = SynergyConfig(edge="smollm2", sft_epochs=0, rl_steps=2, seed=0)
    data = Dataset.from_dict({"prompt": ["p"] * (SMOLLM2_RL.prompts_per_step - 1)})
    assert _train_smollm2(system, data, config, 1) == (model, 0.0, [])


def test_choose_calibration_follows_the_shape_of_g_and_keeps_platt_when_it_cannot_tell():
    rng = np.random.default_rng(3)
    s = rng.random(400)
    smooth = rng.random(400) < 1 / (1 + np.exp(-8 * (s - 0.5)))  # a logistic g: Platt's shape
    step = rng.random(400) < np.where(s < 0.7, 0.3, 0.97)  # a jump no logistic curve follows: isotonic's
    assert choose_calibration(s, smooth, np.random.default_rng(0))[0] == "platt"
    method, record = choose_calibration(s, step, np.random.default_rng(0))
    assert method == "isotonic" and record["cv_log_loss"]["isotonic"] < record["cv_log_loss"]["platt"]
    assert record["n"] == 400 and record["wrong"] == int((~step).sum())
    # one wrong answer: nothing to cross-validate, so the two-parameter map, and the record says so
    one_wrong = np.arange(400) != 7
    assert choose_calibration(s, one_wrong, np.random.default_rng(0)) == (
        "platt", {"chosen": "platt", "cv_log_loss": {}, "folds": 8, "repeats": 5, "n": 400, "wrong": 1})
    a = choose_calibration(s, step, np.random.default_rng(5))[1]
    assert a == choose_calibration(s, step, np.random.default_rng(5))[1]  # seeded: the same folds, the same losses
    with pytest.raises(ValueError, match="one length"):
        choose_calibration(s, step[:10], np.random.default_rng(0))
    with pytest.raises(ValueError, match="folds must be >= 2"):
        choose_calibration(s, step, np.random.default_rng(0), folds=1)
