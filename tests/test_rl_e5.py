"""The RL machinery E5 runs on, tested on the tiny edge: grouped log-prob passes, sampling log-probs,
resumable RL and the reward model (the E5 experiment itself: ``tests/test_e5.py``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from netgpt_lite.edge.tiny_lm import load_edge_model
from netgpt_lite.rl.data import rl_dataset
from netgpt_lite.rl.logprobs import completion_logprobs
from netgpt_lite.rl.minimal import RLSettings, train_minimal
from netgpt_lite.rl.sampling import sample_groups
from netgpt_lite.tasks.checker import INVALID_REWARD
from netgpt_lite.tasks.generate import generate_tasks


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer = load_edge_model(None)
    return model, tokenizer


def _samples(model, tokenizer, n_prompts=3, group=4, temperature=0.8):
    ds = rl_dataset(generate_tasks("validation", n_prompts, seed=5), tokenizer)
    torch.manual_seed(0)
    return ds, sample_groups(model, tokenizer, list(ds["prompt"]), group, temperature=temperature,
                             max_completion_tokens=40)


def test_grouped_log_probs_equal_the_plain_pass_on_repeated_prompts(shipped) -> None:
    model, tokenizer = shipped
    _, (p, pm, c, cm, _, _, _) = _samples(model, tokenizer)
    with torch.no_grad():
        plain, h_plain = completion_logprobs(model, p, pm, c, cm, 0.8)
        grouped, h_grouped = completion_logprobs(model, p[::4], pm[::4], c, cm, 0.8)
    assert torch.allclose(plain * cm, grouped * cm, atol=1e-4)
    assert torch.allclose(h_plain * cm, h_grouped * cm, atol=1e-4)


def test_grouped_gradients_equal_the_plain_pass(shipped) -> None:
    model, tokenizer = shipped
    _, (p, pm, c, cm, _, _, _) = _samples(model, tokenizer, n_prompts=2, group=3)
    grads = []
    for prompt_ids, prompt_mask in ((p, pm), (p[::3], pm[::3])):
        model.zero_grad()
        logp, _ = completion_logprobs(model, prompt_ids, prompt_mask, c, cm)
        (logp * cm).sum().backward()
        grads.append(torch.cat([q.grad.flatten() for q in model.parameters() if q.grad is not None]))
    model.zero_grad()
    assert torch.allclose(grads[0], grads[1], atol=1e-3, rtol=1e-3)


def test_sampling_log_probs_are_the_policys(shipped) -> None:
    model, tokenizer = shipped
    _, sample = _samples(model, tokenizer)
    p, pm, c, cm = sample.prompt_ids, sample.prompt_mask, sample.completion_ids, sample.completion_mask
    with torch.no_grad():
        logp, _ = completion_logprobs(model, p[::4], pm[::4], c, cm, 0.8)
    assert torch.allclose(sample.logp_old * cm, logp * cm, atol=1e-4)


def test_grouped_pass_rejects_mismatched_rows(shipped) -> None:
    model, tokenizer = shipped
    _, (p, pm, c, cm, _, _, _) = _samples(model, tokenizer)
    with pytest.raises(ValueError, match="multiple of prompt rows"):
        completion_logprobs(model, p[:5], pm[:5], c, cm)


def test_a_killed_rl_run_resumes_to_the_same_result(tmp_path, shipped, monkeypatch) -> None:
    import netgpt_lite.rl.minimal as minimal

    _, tokenizer = shipped
    ds = rl_dataset(generate_tasks("validation", 12, seed=1), tokenizer)
    settings = RLSettings(steps=3, prompts_per_step=2, group_size=4, max_completion_tokens=24, sft_batch_size=4)
    straight, h_straight = train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings)
    calls = {"n": 0}
    original = minimal.save_rl_checkpoint

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # killed right after the step-2 checkpoint
            raise KeyboardInterrupt

    monkeypatch.setattr(minimal, "save_rl_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, checkpoint_dir=tmp_path, checkpoint_every=1)
    assert (tmp_path / "checkpoint" / "state.json").exists()
    monkeypatch.setattr(minimal, "save_rl_checkpoint", original)
    resumed, h_resumed = train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, checkpoint_dir=tmp_path,
                                       checkpoint_every=1)
    assert not (tmp_path / "checkpoint").exists()  # removed when the run finished
    assert [r["reward"] for r in h_resumed[:-1]] == pytest.approx([r["reward"] for r in h_straight[:-1]])
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_kept_checkpoint_lets_a_longer_run_continue_a_finished_one(tmp_path, shipped) -> None:
    """``keep_checkpoint``: a finished 2-step run, continued to 3 steps, ends where a straight 3-step run ends,
    its learning curve included (the final evaluation of the shorter run is not carried over)."""

    _, tokenizer = shipped
    ds = rl_dataset(generate_tasks("validation", 12, seed=1), tokenizer)
    curve = generate_tasks("validation", 4, seed=2)
    settings = RLSettings(steps=3, prompts_per_step=2, group_size=4, max_completion_tokens=24, sft_batch_size=4)
    straight, h_straight = train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, eval_tasks=curve,
                                         eval_every=2)  # fmt: skip
    short = settings.replace(steps=2)
    train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, short, eval_tasks=curve, eval_every=2,
                  checkpoint_dir=tmp_path / "short", checkpoint_every=1, keep_checkpoint=True)  # fmt: skip
    assert (tmp_path / "short" / "checkpoint" / "state.json").exists()  # kept
    shutil.copytree(tmp_path / "short" / "checkpoint", tmp_path / "longer" / "checkpoint")
    longer, h_longer = train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, eval_tasks=curve,
                                     eval_every=2, checkpoint_dir=tmp_path / "longer", checkpoint_every=1)  # fmt: skip
    timing = ("seconds", "seconds_sampling", "cpu_s_sampling", "cpu_s_reference", "cpu_s_rewards", "cpu_s_update")
    strip = lambda hs: [{k: v for k, v in h.items() if k not in timing} for h in hs]  # noqa: E731
    a, b = strip(h_longer), strip(h_straight)
    assert [sorted(h) for h in a] == [sorted(h) for h in b] and [h["step"] for h in a] == [0, 1, 2, 3]
    for x, y in zip(a, b):
        assert all(x[k] == y[k] or x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-7) for k in x)
    for a, b in zip(straight.parameters(), longer.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_broken_rl_checkpoint_is_named(tmp_path, shipped) -> None:
    _, tokenizer = shipped
    ds = rl_dataset(generate_tasks("validation", 4, seed=1), tokenizer)
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.json").write_text("{not json")
    settings = RLSettings(steps=1, prompts_per_step=2, group_size=2, max_completion_tokens=8, sft_batch_size=2)
    with pytest.raises(ValueError, match="checkpoint.*unreadable"):
        train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, checkpoint_dir=tmp_path)


def test_reward_model_scores_invalid_calls_with_the_checkers_penalty(shipped) -> None:
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.rl.reward_model import RewardModel, sample_outputs

    model, tokenizer = shipped
    tasks = generate_tasks("validation", 40, seed=2)
    outputs = EdgeAgent(model, tokenizer).run(tasks)
    labels = [int(o.tool_call == t.gold) for o, t in zip(outputs, tasks)]
    assert 0 < sum(labels) < len(labels)
    rm = RewardModel.fit(model, tokenizer, outputs, labels)
    assert rm.fit_report["n"] == 40 and rm.fit_report["train_auroc"] > 0.5
    junk = sample_outputs([outputs[0].prompt], ["not a call"], [json.dumps(tasks[0].tools)], [np.array([-1.0])],
                          [outputs[0].n_input_tokens])  # fmt: skip
    assert rm.rewards(junk).tolist() == [INVALID_REWARD]
    valid = [o for o in outputs if o.schema_valid][:3]
    assert all(0.0 <= r <= 1.0 for r in rm.rewards(valid))


def test_rl_uses_the_reward_model_only_for_unlabelled_rows(shipped) -> None:
    _, tokenizer = shipped
    tasks = generate_tasks("validation", 8, seed=3)
    ds = rl_dataset(tasks, tokenizer, labelled=[False] * 8)

    class Constant:
        def rewards(self, outputs):
            return np.full(len(outputs), 0.25)

    settings = RLSettings(steps=1, prompts_per_step=2, group_size=2, max_completion_tokens=16, sft_batch_size=2)
    _, history = train_minimal(load_edge_model(None)[0], tokenizer, ds, ds, settings, reward_model=Constant())
    assert history[0]["reward"] == pytest.approx(0.25) and history[0]["rm_reward_unlabelled"] == pytest.approx(0.25)
    assert "checker_reward_unlabelled" in history[0]

