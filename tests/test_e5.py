"""The E5 experiment on the tiny edge: every arm, resume, broken run files, shards, the shipped RL adapter,
the deployment day, and the ``netgpt-lite e5`` command line."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest


def _tiny_config(**changes):
    from netgpt_lite.experiments.rl_comparison import E5Config

    base = {"edge": "tiny", "n_pool": 8, "n_replay": 4, "n_eval": 4, "n_curve": 2, "curve_every": 1, "seeds": (0,),
            "rl_seeds": (0,), "ablation_seeds": (0,), "raft_samples": 2,
            "rl": E5Config().rl.replace(steps=1, prompts_per_step=2, group_size=2, max_completion_tokens=16,
                                        sft_batch_size=2)}  # fmt: skip
    return E5Config(**{**base, **changes})


def test_e5_runs_every_arm_resumes_and_names_a_broken_run(tmp_path, capsys) -> None:
    from netgpt_lite.experiments.rl_comparison import RL_ARMS, run_e5

    config = _tiny_config(sft_rl_seeds=(0,))
    artifact = run_e5(config, tmp_path, progress=False)
    arms = [r["arm"] for r in artifact["runs"]]
    assert arms == ["sft", "rl", "more_sft", "raft", "more_sft_rl", *[a for a in RL_ARMS if a != "rl"]]
    sft_rl = next(r for r in artifact["runs"] if r["arm"] == "more_sft_rl")
    assert [r["step"] for r in sft_rl["history"] if "eval_exact_match" in r] == [0, 1]  # its own curve from SFT
    assert len(artifact["day"]["routed"]) == len(artifact["day"]["kept"]) == 4
    assert not set(artifact["day"]["routed"]) & set(artifact["day"]["kept"])
    assert artifact["manifest"]["sizes"]["n_pool"] == 8 and artifact["manifest"]["git_commit"] is not None
    s = artifact["summary"]
    rl = next(r for r in artifact["runs"] if r["arm"] == "rl")
    start = artifact["runs"][0]
    assert s["rl"]["test_exact_match_change_mean"] == pytest.approx(
        rl["eval"]["test"]["exact_match"] - start["eval"]["test"]["exact_match"])
    paired = artifact["paired"]["rl"]["test"]
    assert paired["per_seed"][0]["difference"] == pytest.approx(s["rl"]["test_exact_match_change_mean"])
    assert paired["mean_over_seeds"]["n"] == 4 and paired["mean_over_seeds"]["n_seeds"] == 1
    assert len(artifact["day"]["curve"]) == 2  # the least confident half of 2 n_curve validation requests
    assert [r["step"] for r in rl["history"] if "eval_exact_match" in r] == [0, 1]  # the learning curve
    raft = next(r for r in artifact["runs"] if r["arm"] == "raft")["raft"]
    assert raft["n_samples"] == 2 and raft["n_requests"] == 4 and 0 <= raft["n_accepted"] <= 8
    # by default raft draws as many rollouts as an RL run: steps x prompts x group over the routed requests
    assert _tiny_config(raft_samples=None).raft_samples_per_request() == 1  # 1 x 2 x 2 rollouts over 4 requests
    assert artifact["reward_model"] is None  # off by default: RL learns from the cloud's labels only
    # the contrasts: every pair that ran, A minus B on the same requests, equal to the accuracies' difference
    from netgpt_lite.experiments.rl_summary import CONTRASTS, contrast
    from netgpt_lite.viz.rl import e5_contrast_figure, e5_curve_figure

    assert [(c["a"], c["b"]) for c in artifact["contrasts"] if c["suite"] == "test"] == list(CONTRASTS)
    for c in artifact["contrasts"]:
        acc = {arm: np.mean([r["eval"][c["suite"]]["exact_match"] for r in artifact["runs"] if r["arm"] == arm])
               for arm in (c["a"], c["b"])}  # fmt: skip
        assert c["difference"] == pytest.approx(acc[c["a"]] - acc[c["b"]]) and c["ci_low"] <= c["ci_high"]
    assert contrast(artifact["contrasts"], "plain_pg", "rl")["n"] == 4
    assert contrast(artifact["contrasts"], "rl", "sft", "handwritten") is None  # no hand-written suite here
    assert len(e5_contrast_figure(artifact["contrasts"]).data) == 1
    assert len(e5_curve_figure(artifact).data) == len(RL_ARMS) + 1  # one line per RL run, more_sft_rl's too
    with pytest.raises(ValueError, match="suites present"):
        e5_contrast_figure(artifact["contrasts"], suite="handwritten")
    # a rerun reuses the finished runs; a broken run file is named and that run runs again
    (tmp_path / "runs" / "plain_pg-seed0.json").write_text("{truncated")
    again = run_e5(config, tmp_path, progress=False)
    assert "plain_pg-seed0.json" in capsys.readouterr().out
    assert [r["eval"] for r in again["runs"][:-1]] == [r["eval"] for r in artifact["runs"][:-1]]
    assert json.loads((tmp_path / "e5.json").read_text())["summary"] == again["summary"]


@pytest.mark.parametrize(("argv", "flag"), [(["--n-pool", "2"], "--n-pool"), (["--steps", "0"], "--steps"),
                                            (["--edge", "gpt"], "--edge"), (["--shard", "2/2"], "--shard"),
                                            (["--shard", "1/2"], "--shard"),
                                            (["--more-sft-learning-rate", "0"], "--more-sft-learning-rate")])
def test_e5_cli_rejects_bad_input_before_work(tmp_path, argv, flag, capsys) -> None:
    from netgpt_lite.cli.main import main

    assert main(["e5", "--out", str(tmp_path / "e5"), *argv]) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "e5").exists()


def test_e5_cli_carries_the_more_sft_rate_and_the_shipped_stage_sets_it(tmp_path) -> None:
    from netgpt_lite.cli.main import build_parser
    from netgpt_lite.cli.models import _check_e5
    from netgpt_lite.experiments.rl_comparison import E5Config
    from netgpt_lite.provenance.registry import stage

    argv = ["e5", "--edge", "tiny", "--out", str(tmp_path / "e5")]
    args = build_parser().parse_args([*argv, "--more-sft-learning-rate", "5e-5"])
    assert _check_e5(args)["config"].more_sft_learning_rate == 5e-5
    assert _check_e5(build_parser().parse_args(argv))["config"].more_sft_learning_rate == E5Config().more_sft_learning_rate
    assert "--more-sft-learning-rate 5e-5" in stage("e5").command()  # the test day's E5 continues at 5e-5
    assert "--more-sft-learning-rate" not in stage("e5_deployment_day").command()


def test_eval_edge_model_names_include_the_rl_adapter() -> None:
    from netgpt_lite.cli.arguments import model_source

    assert model_source("rl") == "rl" and model_source("sft") == "sft"


def test_e5_config_names_a_bad_ablation_arm() -> None:
    from netgpt_lite.experiments.rl_comparison import E5Config

    with pytest.raises(ValueError, match="ablation_arms"):
        E5Config(ablation_arms=("rl",))
    runs = E5Config(seeds=(0, 1), rl_seeds=(0, 1, 2), ablation_seeds=(0,), ablation_arms=("plain_pg",)).runs()
    assert runs == [("rl", 0), ("more_sft", 0), ("raft", 0), ("plain_pg", 0), ("rl", 1), ("more_sft", 1),
                    ("raft", 1), ("rl", 2)]
    assert E5Config().raft_samples_per_request() == 3  # 12 steps x 8 prompts x 8 samples over 256 routed requests
    with pytest.raises(ValueError, match="n_curve"):
        E5Config(n_curve=-1)


@pytest.mark.parametrize("rel", ["data/rl/smollm2_rl_adapter", None])  # None: the shipped `--model rl`
def test_the_shipped_rl_adapter_is_what_e5_wrote(rel) -> None:
    from netgpt_lite.edge.lora import shipped_rl_adapter_path
    from netgpt_lite.provenance import PACKAGE_DIR, file_sha256, read_manifest

    folder = shipped_rl_adapter_path() if rel is None else PACKAGE_DIR / rel
    assert rel is not None or folder.parent.name == "deployment_day"  # E5 on the deployment's own traffic
    assert (folder / "adapter_config.json").is_file() and (folder / "netgpt_prompt.json").is_file()
    m = read_manifest(folder)
    e5 = json.loads((folder.parent / "e5.json").read_text())
    headline = "more_sft_rl" if any(r["arm"] == "more_sft_rl" for r in e5["runs"]) else "rl"
    assert m["command"].startswith("netgpt-lite e5") and m["run"]["arm"] == headline
    assert m["sha256_adapter_safetensors"] == file_sha256(folder / "adapter_model.safetensors")
    run = next(r for r in e5["runs"] if (r["arm"], r["seed"]) == (headline, m["run"]["seed"]))
    assert m["run"]["eval"] == run["eval"]  # the adapter is that run of the shipped artifact, its headline arm


def test_ship_adapter_picks_the_headline_arms_lowest_kept_seed(tmp_path) -> None:
    from netgpt_lite.experiments.rl_comparison import E5Config, ship_adapter

    runs = [{"arm": a, "seed": s} for a, s in (("rl", 0), ("more_sft_rl", 0), ("more_sft_rl", 1), ("more_sft_rl", 2))]
    config = E5Config(rl_seeds=(0,), sft_rl_seeds=(0, 1, 2))
    assert ship_adapter(config, tmp_path, runs) is None  # nothing kept (the tiny edge keeps no adapter)
    (tmp_path / "rl_adapter").mkdir()  # a folder from before adapters were kept: rl seed 0 saved here itself
    (tmp_path / "rl_adapter" / "adapter_model.safetensors").write_bytes(b"rl seed 0")
    assert ship_adapter(config, tmp_path, runs) == {"arm": "rl", "seed": 0}  # no more_sft_rl adapter kept
    assert (tmp_path / "adapters" / "rl-seed0" / "adapter_model.safetensors").read_bytes() == b"rl seed 0"
    for seed in (2, 1):  # seed 0's run finished before its adapters were kept
        (tmp_path / "adapters" / f"more_sft_rl-seed{seed}").mkdir(parents=True)
        (tmp_path / "adapters" / f"more_sft_rl-seed{seed}" / "adapter_model.safetensors").write_bytes(b"%d" % seed)
    assert ship_adapter(config, tmp_path, runs) == {"arm": "more_sft_rl", "seed": 1}
    assert (tmp_path / "rl_adapter" / "adapter_model.safetensors").read_bytes() == b"1"
    (tmp_path / "rl_adapter" / "manifest.json").write_text('{"run": {"arm": "more_sft_rl", "seed": 1}}')
    shutil.rmtree(tmp_path / "adapters")  # the copy is not mistaken for the rl run's adapter, nor relabelled
    assert ship_adapter(config, tmp_path, runs) is None
    assert (tmp_path / "rl_adapter" / "adapter_model.safetensors").read_bytes() == b"1"


def test_e5_shards_share_the_runs_and_a_last_call_assembles_the_artifact(tmp_path, capsys) -> None:
    from netgpt_lite.experiments.rl_comparison import run_e5
    from netgpt_lite.runtime import RunFolderError

    config = _tiny_config(ablation_seeds=(), ablation_arms=(), raft_samples=None)  # raft: as many rollouts as RL
    with pytest.raises(RunFolderError, match="sft.json"):
        run_e5(config, tmp_path, progress=False, shard=(1, 2))  # the start is shard 0's
    first = run_e5(config, tmp_path, progress=False, shard=(0, 2))
    assert first["missing"] == ["more_sft-seed0"] and not (tmp_path / "e5.json").exists()
    second = run_e5(config, tmp_path, progress=False, shard=(1, 2))
    assert "missing" not in second and (tmp_path / "e5.json").exists()  # shard 0's runs were finished
    assert [r["arm"] for r in second["runs"]] == ["sft", "rl", "more_sft", "raft"]
    # other settings in the same folder: every run is named and run again, none is mixed in
    run_e5(dataclasses.replace(config, more_sft_learning_rate=1e-3), tmp_path, progress=False)
    assert capsys.readouterr().out.count("made with other settings") == 3


def test_a_deployment_day_holds_no_evaluation_request_and_a_validation_day_keeps_its_runs():
    """``day_split="test"``: the day is the deployment's own phrasings, never an evaluation request's text; the
    default validation day keeps the fingerprint its runs were made with (the field did not exist then)."""
    import hashlib

    from netgpt_lite.experiments.rl_comparison import E5Config, day_pools, run_fingerprint
    from netgpt_lite.tasks.generate import generate_tasks

    evaluation = generate_tasks("test", 200, seed=0)
    pool, curve = day_pools(E5Config(n_pool=300, n_curve=50, day_split="test"), evaluation)
    texts = {t.messages[-1]["content"] for t in evaluation}
    assert {t.task_id.split("-")[0] for t in pool + curve} == {"test"} and len(pool) <= 300
    assert not texts & {t.messages[-1]["content"] for t in pool + curve}
    assert len(day_pools(E5Config(n_pool=300, n_curve=50), evaluation)[0]) == 300  # validation: nothing dropped
    suites = {"test": evaluation}
    # as runs were made (neither field existed then)
    before = {k: v for k, v in dataclasses.asdict(E5Config()).items() if k not in ("day_split", "sft_rl_seeds")}
    settings = {k: v for k, v in before.items() if k not in ("seeds", "rl_seeds", "ablation_seeds", "ablation_arms")}
    old = hashlib.sha256(json.dumps({"config": settings, "suites": {"test": 200}}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
    assert run_fingerprint(E5Config(), suites) == old != run_fingerprint(E5Config(day_split="test"), suites)
    with pytest.raises(ValueError, match="day_split must be"):
        E5Config(day_split="train")


def test_the_deployment_day_sweep_runs_e5s_rl_arm_on_e5s_day(tmp_path) -> None:
    """``scripts/rl_sweep.py --day test`` reads E5's start record and runs each setting as E5's ``rl`` arm:
    with E5's own settings it reproduces that arm's history and learning curve exactly (so the steps chosen
    on its curve are the steps E5 would run), and its artifact draws as one line per setting."""
    import argparse
    import importlib.util
    from pathlib import Path

    from netgpt_lite.experiments.rl_comparison import run_e5
    from netgpt_lite.viz.rl import sweep_curve_figure

    config = _tiny_config(day_split="test", seeds=(), ablation_seeds=())
    run_e5(config, tmp_path / "e5", progress=False)
    spec = importlib.util.spec_from_file_location("rl_sweep", Path(__file__).parents[1] / "scripts" / "rl_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    args = argparse.Namespace(start_record=str(tmp_path / "e5" / "runs" / "sft.json"), seed=0, day="test",
                              summary=str(tmp_path / "sweep.json"), settings=["same:", "longer:steps=2"],
                              n_pool=config.n_pool, n_val=config.n_curve, eval_every=config.curve_every)  # fmt: skip
    runs = {"same": sweep.e5_settings({}, 0, base=config.rl),
            "longer": sweep.e5_settings({"steps": 2}, 0, base=config.rl)}  # fmt: skip
    sweep.deployment_day_sweep(args, runs, tmp_path / "sweep", config=config)
    art = json.loads((tmp_path / "sweep.json").read_text())
    e5_rl = json.loads((tmp_path / "e5" / "runs" / "rl-seed0.json").read_text())
    same = next(r for r in art["runs"] if r["name"] == "same")
    curve = [[h["step"], h["eval_exact_match"]] for h in e5_rl["history"] if "eval_exact_match" in h]
    assert same["summary"]["val_exact_match"] == curve
    drop = ("seconds", "seconds_sampling", "cpu_s_sampling", "cpu_s_reference", "cpu_s_rewards", "cpu_s_update")
    strip = lambda hs: [{k: v for k, v in h.items() if k not in drop} for h in hs]  # noqa: E731
    assert strip(same["history"]) == strip(e5_rl["history"])
    assert art["day"]["val"] == json.loads((tmp_path / "e5" / "runs" / "sft.json").read_text())["day"]["curve"]
    assert [p[0] for p in next(r for r in art["runs"] if r["name"] == "longer")["summary"]["val_exact_match"]] == [0, 1, 2]
    assert len(sweep_curve_figure(art).data) == 2 * len(art["runs"])
    # a longer run continues a finished one (its kept checkpoint) and ends where a straight run ends
    ext = argparse.Namespace(**{**vars(args), "summary": None, "extend_from": "same"})
    sweep.deployment_day_sweep(ext, {"ext": sweep.e5_settings({"steps": 2}, 0, base=config.rl)}, tmp_path / "sweep",
                               config=config)  # fmt: skip
    timing = ("seconds", "seconds_sampling", "cpu_s_sampling", "cpu_s_reference", "cpu_s_rewards", "cpu_s_update")
    hist = {n: [{k: v for k, v in h.items() if k not in timing} for h in json.loads(
        (tmp_path / "sweep" / f"{n}-seed0.json").read_text())["history"]] for n in ("ext", "longer")}  # fmt: skip
    assert hist["ext"] == hist["longer"]
    with pytest.raises(SystemExit, match="settings"):
        sweep.deployment_day_sweep(ext, {"other": sweep.e5_settings({"steps": 2, "learning_rate": 1e-3}, 0,
                                                                    base=config.rl)}, tmp_path / "sweep", config=config)
    with pytest.raises(SystemExit, match="start record"):
        sweep.deployment_day_sweep(argparse.Namespace(**{**vars(args), "start_record": None}), runs, tmp_path / "x")
