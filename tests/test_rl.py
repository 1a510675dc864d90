"""Tests for the RL trainers on a tiny (untrained) edge model: settings, data, loop mechanics, CLI, figures."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from netgpt_lite.edge.tiny_lm import (
    EdgeModelConfig,
    build_model,
    save_edge_model,
    tokenizer_corpus,
    train_tokenizer,
)
from netgpt_lite.experiments.rl_ablation import ABLATIONS
from netgpt_lite.rl.data import encode_pairs, judge, rl_dataset
from netgpt_lite.rl.logprobs import completion_logprobs
from netgpt_lite.rl.minimal import METRICS, RLSettings, train_minimal
from netgpt_lite.rl.objective import AnchoredRLSettings
from netgpt_lite.rl.trl_trainer import to_grpo_config
from netgpt_lite.tasks.generate import format_completion, generate_tasks

TINY = EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
FAST = {"prompts_per_step": 2, "group_size": 4, "max_completion_tokens": 12, "sft_batch_size": 4}


@pytest.fixture(scope="module")
def tiny():
    tasks = generate_tasks("train", 24, seed=0)
    tokenizer = train_tokenizer(tokenizer_corpus(tasks), vocab_size=400)
    return tasks, tokenizer, rl_dataset(tasks, tokenizer)


def _model(tokenizer, seed: int = 0):
    return build_model(tokenizer, TINY, seed=seed)


@pytest.mark.parametrize(
    ("field", "value"),
    [("steps", 0), ("group_size", 1), ("learning_rate", 0.0), ("temperature", 0.0), ("device", "tpu")],
)
def test_settings_validation_names_the_field(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        RLSettings(**{field: value})


def test_replace_routes_objective_weights() -> None:
    s = RLSettings().replace(beta=0.0, gamma=0.5, steps=3)
    assert (s.objective.beta, s.objective.gamma, s.steps) == (0.0, 0.5, 3)
    with pytest.raises(ValueError, match="gamma"):
        RLSettings().replace(gamma=-1.0)
    assert ABLATIONS["plain_pg"] == {"beta": 0.0, "gamma": 0.0}


def test_rl_dataset_and_judge(tiny) -> None:
    tasks, tokenizer, ds = tiny
    assert {"prompt", "completion", "tools", "gold"} <= set(ds.column_names)
    assert ds[0]["completion"] == format_completion(tasks[0].gold)
    scores = judge([ds[0]["completion"], "no call here"], ds["tools"][:2], ds["gold"][:2])
    assert scores["reward"].tolist() == [1.0, -0.5]
    assert scores["exact_match"].tolist() == [1.0, 0.0] and scores["schema_valid"].tolist() == [1.0, 0.0]


def test_encode_pairs_masks_padding_and_ends_with_eos(tiny) -> None:
    _, tokenizer, ds = tiny
    p_ids, p_mask, c_ids, c_mask = encode_pairs(tokenizer, ds["prompt"][:3], ds["completion"][:3])
    assert bool((p_ids[p_mask == 0] == tokenizer.pad_token_id).all())
    assert bool((p_mask[:, -1] == 1).all())  # left padding: the prompt ends at the last column
    last = c_mask.sum(1) - 1
    assert bool((c_ids[torch.arange(3), last] == tokenizer.eos_token_id).all())
    logp, entropy = completion_logprobs(_model(tokenizer), p_ids, p_mask, c_ids, c_mask)
    assert logp.shape == c_ids.shape == entropy.shape and bool((logp <= 0).all())


def test_without_reward_signal_dynamic_sampling_skips_the_update(tiny) -> None:
    _, tokenizer, ds = tiny
    model = _model(tokenizer)
    before = [p.detach().clone() for p in model.parameters()]
    model, history = train_minimal(model, tokenizer, ds, ds, RLSettings(steps=2, **FAST))
    assert all(h["frac_zero_std"] == 1.0 for h in history[:-1])  # an untrained model is always invalid
    assert all(set(METRICS) <= set(h) for h in history[:-1])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_sft_anchor_alone_is_sft_toward_logged_answers(tiny) -> None:
    _, tokenizer, ds = tiny
    model = _model(tokenizer)
    batch = encode_pairs(tokenizer, ds["prompt"][:8], ds["completion"][:8])
    with torch.no_grad():
        logp_before = completion_logprobs(model, *batch)[0][batch[3].bool()].sum()
    settings = RLSettings(steps=3, dynamic_sampling=False, learning_rate=3e-3, **FAST).replace(beta=0.0, gamma=1.0)
    model, history = train_minimal(model, tokenizer, ds, ds, settings)
    with torch.no_grad():
        logp_after = completion_logprobs(model, *batch)[0][batch[3].bool()].sum()
    assert float(logp_after) > float(logp_before)
    assert history[1]["kl_k3_to_sft"] > 0  # the policy has moved away from its starting point


def test_same_seed_same_history(tiny) -> None:
    _, tokenizer, ds = tiny
    settings = RLSettings(steps=1, dynamic_sampling=False, **FAST)
    runs = [train_minimal(_model(tokenizer), tokenizer, ds, ds, settings)[1] for _ in range(2)]
    def timeless(h):
        return {k: v for k, v in h.items() if not k.startswith(("seconds", "cpu_s"))}

    assert [timeless(h) for h in runs[0]] == [timeless(h) for h in runs[1]]
    assert {"cpu_s_sampling", "cpu_s_rewards", "cpu_s_update", "update_to_weight"} <= set(runs[0][0])


def test_grpo_config_avoids_the_cpu_pitfalls() -> None:
    s = RLSettings(steps=5, prompts_per_step=4, group_size=8, updates_per_step=2, device="cpu").replace(beta=0.1)
    cfg = to_grpo_config(s, "/tmp/netgpt_rl_cfg_test")
    assert cfg.bf16 is False and cfg.use_cpu is True
    assert cfg.num_generations == 8 and cfg.per_device_train_batch_size == 32
    assert cfg.beta == 0.1 and cfg.num_iterations == 2 and cfg.max_steps == 10
    assert cfg.learning_rate == s.learning_rate and cfg.max_completion_length == 64
    assert cfg.disable_dropout is True and cfg.loss_type == "grpo" and cfg.scale_rewards == "group"
    cfg = to_grpo_config(s.replace(warmup_steps=3, scale_rewards="none"), "/tmp/netgpt_rl_cfg_test")
    assert cfg.warmup_steps == 6 and cfg.scale_rewards == "none"  # warm-up counted in sampled batches
    with pytest.raises(ValueError, match="k3"):
        to_grpo_config(s.replace(kl_estimator="k2"), "/tmp/netgpt_rl_cfg_test")


@pytest.mark.slow
def test_trl_trainer_runs_and_logs_the_metrics(tiny, tmp_path) -> None:
    from netgpt_lite.rl.trl_trainer import train_trl

    _, tokenizer, ds = tiny
    save_edge_model(_model(tokenizer), tokenizer, tmp_path / "sft")
    settings = RLSettings(steps=2, updates_per_step=1, device="cpu", learning_rate=3e-3, **FAST)
    _, history = train_trl(tmp_path / "sft", ds, ds, settings.replace(beta=0.04, gamma=1.0))
    assert len(history) == 2 and all(set(METRICS) <= set(h) for h in history)
    assert history[0]["anchor_nll_gap"] == 0.0  # before the first update the policy is the SFT model
    # an untrained model earns no reward signal: only the anchor moves it, toward the logged answers
    assert history[1]["anchor_nll_gap"] < 0.0 and history[1]["kl_k3_to_sft"] > 0.0


def test_cli_writes_checkpoint_metrics_and_manifest(tiny, tmp_path) -> None:
    from netgpt_lite.cli import main

    _, tokenizer, _ = tiny
    save_edge_model(_model(tokenizer), tokenizer, tmp_path / "sft")
    out = tmp_path / "rl"
    argv = ["rl", "--model", str(tmp_path / "sft"), "--steps", "1", "--prompts-per-step", "2", "--group-size", "2",
            "--n-prompts", "4", "--n-eval", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "eval_exact_match" in metrics[0] and "reward" in metrics[0]
    assert json.loads((out / "manifest.json").read_text())["settings"]["steps"] == 1
    assert (out / "model.safetensors").exists()
    assert main(["rl", "--steps", "1", "--beta", "-1", "--out", str(out)]) == 2  # invalid input: exit 2


def test_figures_draw_histories() -> None:
    from netgpt_lite.viz.rl import training_curves_figure

    history = [{"step": i, "reward": 0.1 * i, "exact_match": 0.5, "schema_valid": 1.0, "kl_k3_to_sft": 0.01 * i}
               for i in range(3)]  # fmt: skip
    assert len(training_curves_figure(history).data) == 4


def test_experiment_data_practises_on_requests_sft_never_saw(tiny) -> None:
    from netgpt_lite.experiments.rl_ablation import experiment_data

    _, tokenizer, _ = tiny
    prompts, logged, eval_tasks = experiment_data(tokenizer, n_prompts=64, n_logged=64, n_eval=8)
    assert not set(prompts["task_id"]) & set(logged["task_id"])
    assert len(set(prompts["prompt"]) & set(logged["prompt"])) < 0.1 * len(prompts)  # a few easy repeats at most
    assert {t.split for t in eval_tasks} == {"test"}


def test_update_one_group_at_a_time_has_the_full_batch_gradient():
    """The update differentiates each kept group on its own (bounded memory) and each logged answer on its
    own; the gradients add up to the gradient of the composite loss over all kept completions at once.  On
    the first epoch the "old" log-probs are the pass's own, so the ratio is 1 and the terms match."""

    from netgpt_lite.experiments.rl_comparison import load_start
    from netgpt_lite.rl import minimal as m
    from netgpt_lite.rl.logprobs import completion_logprobs
    from netgpt_lite.rl.objective import anchor_nll_gap_per_token, anchored_loss, sequence_mean

    model, tok, tmpl = load_start("tiny")
    data = rl_dataset(generate_tasks("validation", 12, seed=3000), tok, **tmpl)
    settings = m.RLSettings(steps=1, seed=0, temperature=1.5, prompts_per_step=4, group_size=4,
                            dynamic_sampling=False, bf16=False, updates_per_step=1)
    run = m._start_run(model, tok, settings, None)
    batch, sample = m._sample_groups(run, data)
    scores, _ = m._rewards(batch, sample, settings, None)
    _, advantages, keep = m._advantages(run, scores)
    logp_ref = m._reference_logprobs(run, sample, keep)
    state = run.rng.bit_generator.state
    picks = run.rng.choice(len(data), min(settings.sft_batch_size, len(data)), replace=False).tolist()
    run.rng.bit_generator.state = state  # _update draws the same SFT batch
    G = settings.group_size  # noqa: N806
    model.eval()
    logp_new, _ = completion_logprobs(model, sample.prompt_ids[::G], sample.prompt_mask[::G], sample.completion_ids,
                                      sample.completion_mask, settings.temperature)
    policy_only = dataclasses.replace(settings.objective, gamma=0.0)
    loss, terms = anchored_loss(logp_new, logp_new.detach(), logp_ref, advantages, sample.completion_mask,
                                policy_only)
    gaps = []
    for i in picks:
        tensors = encode_pairs(tok, [data[i]["prompt"]], [data[i]["completion"]], run.device)
        theta, _ = completion_logprobs(model, *tensors)
        with torch.no_grad():
            ref, _ = completion_logprobs(run.ref_model, *tensors)
        gaps.append(sequence_mean(anchor_nll_gap_per_token(theta, ref), tensors[3]))
    gap = torch.stack(gaps).mean()
    loss = loss + settings.objective.gamma * gap
    model.zero_grad()
    loss.backward()
    full = {k: p.grad.clone() for k, p in m.trainable_parameters(model).items()}
    run.optimizer.step = lambda: None  # keep the weights: compare the gradients _update leaves behind
    clip = torch.nn.utils.clip_grad_norm_
    torch.nn.utils.clip_grad_norm_ = lambda params, norm: None
    try:
        chunked_terms = m._update(run, sample, advantages, keep, data)
    finally:
        torch.nn.utils.clip_grad_norm_ = clip
    for name, p in m.trainable_parameters(model).items():
        torch.testing.assert_close(p.grad, full[name], rtol=1e-4, atol=1e-7, msg=name)
    for key in ("clipped_pg", "reverse_kl"):  # both are 0 up to rounding in one epoch (ratio 1, centred
        # advantages): summed in another order they differ by float32 noise, ~1e-8, hence abs=1e-6
        assert chunked_terms[key] == pytest.approx(terms[key], rel=1e-4, abs=1e-6), key
    assert chunked_terms["anchor_nll_gap"] == pytest.approx(float(gap.detach()), rel=1e-4, abs=1e-8)
    assert chunked_terms["clip_fraction"] == 0.0  # one epoch: the ratio never leaves 1
    assert chunked_terms["update_to_weight"] == 0.0  # the optimiser step was switched off


def test_later_epochs_reuse_one_sampled_batch_so_clipping_acts():
    """With several epochs over one batch the ratio moves away from 1 and some tokens leave the clip range;
    the policy moves from the SFT model, which the first epoch's KL (zero at the start) does not see yet."""
    from netgpt_lite.experiments.rl_comparison import load_start
    from netgpt_lite.rl import minimal as m

    model, tok, tmpl = load_start("tiny")
    data = rl_dataset(generate_tasks("validation", 12, seed=3000), tok, **tmpl)
    settings = m.RLSettings(steps=1, seed=0, temperature=1.5, prompts_per_step=4, group_size=4,
                            dynamic_sampling=False, bf16=False, updates_per_step=4, learning_rate=3e-3,
                            objective=AnchoredRLSettings(epsilon=0.05))
    run = m._start_run(model, tok, settings, None)
    batch, sample = m._sample_groups(run, data)
    scores, _ = m._rewards(batch, sample, settings, None)
    _, advantages, keep = m._advantages(run, scores)
    terms = m._update(run, sample, advantages, keep, data)
    assert terms["kl_k3_to_sft"] == pytest.approx(0.0, abs=1e-6)
    assert terms["clip_fraction"] > 0.0
    assert terms["update_to_weight"] > 0.0


def test_progress_bar_shows_steps_and_time_left_on_stderr(tiny, capsys) -> None:
    _, tokenizer, ds = tiny
    train_minimal(_model(tokenizer), tokenizer, ds, ds, RLSettings(steps=2, **FAST), progress=True)
    err = capsys.readouterr().err
    assert "RL steps" in err and "2/2" in err and "<" in err  # tqdm's "[elapsed<left" is the time left
    train_minimal(_model(tokenizer), tokenizer, ds, ds, RLSettings(steps=1, **FAST))
    assert capsys.readouterr().err == ""  # quiet by default


def test_trl_and_minimal_paths_compute_the_same_loss(tiny, tmp_path) -> None:
    """On one off-policy batch (old log-probs away from the policy's, so clipping binds on some tokens) TRL's
    GRPO loss with the settings :func:`to_grpo_config` maps equals :func:`anchored_loss` without the anchor."""
    from netgpt_lite.rl.objective import anchored_loss
    from netgpt_lite.rl.sampling import sample_groups
    from netgpt_lite.rl.trl_trainer import (
        anchored_grpo_trainer_class,
        exact_match_reward,
        schema_valid_reward,
    )
    from netgpt_lite.tasks.checker import tool_call_reward

    _, tokenizer, ds = tiny
    save_edge_model(_model(tokenizer), tokenizer, tmp_path / "sft")
    settings = RLSettings(steps=1, updates_per_step=2, device="cpu", temperature=0.9, **FAST).replace(beta=0.3)
    trainer = anchored_grpo_trainer_class()(
        model=str(tmp_path / "sft"), reward_funcs=[tool_call_reward, exact_match_reward, schema_valid_reward], args=to_grpo_config(settings, str(tmp_path)),
        train_dataset=ds.select_columns(["prompt", "tools", "gold"]), processing_class=tokenizer,
        sft_examples=ds, gamma=0.0, sft_batch_size=2)
    model = trainer.model
    torch.manual_seed(0)
    s = sample_groups(model, tokenizer, list(ds["prompt"][:2]), 4, temperature=0.9, max_completion_tokens=12)
    with torch.no_grad():
        logp, _ = completion_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask, 0.9)
    g = torch.Generator().manual_seed(1)
    old = logp + 0.3 * torch.randn(logp.shape, generator=g)  # an earlier policy's log-probs
    ref = logp + 0.2 * torch.randn(logp.shape, generator=g)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 0.0, 1.5, -1.5, 0.0])
    inputs = {"prompt_ids": s.prompt_ids, "prompt_mask": s.prompt_mask, "completion_ids": s.completion_ids,
              "completion_mask": s.completion_mask, "advantages": advantages, "old_per_token_logps": old,
              "ref_per_token_logps": ref}
    model.eval()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop; one window here
    trl_loss = trainer._compute_loss(model, inputs)
    ours, _ = anchored_loss(logp, old, ref, advantages, s.completion_mask,
                            dataclasses.replace(settings.objective, gamma=0.0))
    assert float(trl_loss) == pytest.approx(float(ours), rel=1e-5, abs=1e-6)


def test_a_carried_optimizer_state_continues_adam_and_the_warm_up(tiny) -> None:
    """Two RL runs sharing an OptimizerState (two synergy rounds): the second continues the first's Adam
    (its step count adds up) and its warm-up position, instead of a fresh optimiser's sign step."""
    from netgpt_lite.edge.optimizer_state import OptimizerState

    _, tokenizer, ds = tiny
    settings = RLSettings(steps=1, dynamic_sampling=False, updates_per_step=2, warmup_steps=2, learning_rate=1e-3,
                          **FAST)  # fmt: skip
    state, model = OptimizerState(), _model(tokenizer)
    model, _ = train_minimal(model, tokenizer, ds, ds, settings, optimizer_state=state)
    assert state.global_step == 1 and state.state_dict["param_groups"][0]["lr"] == pytest.approx(5e-4)  # warming up
    assert all(int(s["step"]) == 2 for s in state.state_dict["state"].values())  # two epochs, two Adam steps
    train_minimal(model, tokenizer, ds, ds, settings.replace(seed=1), optimizer_state=state)
    assert state.global_step == 2 and state.state_dict["param_groups"][0]["lr"] == pytest.approx(1e-3)  # warmed up
    assert all(int(s["step"]) == 4 for s in state.state_dict["state"].values())
    with pytest.raises(ValueError, match="another model"):
        train_minimal(build_model(tokenizer, EdgeModelConfig(hidden_size=32, n_layers=2, n_heads=2,
                                                             intermediate_size=64)),
                      tokenizer, ds, ds, settings, optimizer_state=state)  # fmt: skip


@pytest.mark.parametrize("bf16", [False, True])
def test_sampling_runs_in_the_precision_the_update_scores_in(tiny, monkeypatch, bf16):
    """With bf16 the samples come from the bf16 policy the ratio and the KL score, not an fp32 twin."""
    from netgpt_lite.rl import minimal as m

    _, tokenizer, data = tiny
    seen = []
    real = m.sample_groups

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real(*args, **kwargs)

    monkeypatch.setattr(m, "sample_groups", spy)
    settings = RLSettings(steps=1, seed=0, bf16=bf16, device="cpu", **FAST)
    run = m._start_run(_model(tokenizer), tokenizer, settings, None)
    m._sample_groups(run, data)
    assert seen == [bf16]
