"""Tests of the per-edge recipes (``synergy.edge_models.RECIPES``) and how a synergy round follows them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from netgpt_lite.synergy import stages
from netgpt_lite.synergy.edge_models import RECIPES, EdgeRecipe
from netgpt_lite.synergy.loop import EDGES, SynergyConfig
from netgpt_lite.synergy.system import EdgeCloudSystem
from netgpt_lite.tasks.generate import generate_tasks


def test_one_recipe_per_edge_and_invalid_recipes_name_the_field():
    assert tuple(RECIPES) == EDGES
    with pytest.raises(ValueError, match="train_on must be 'new' or 'all'"):
        EdgeRecipe(train_on="some")
    with pytest.raises(ValueError, match="sft_epochs"):
        EdgeRecipe(sft_epochs=0)
    with pytest.raises(ValueError, match="kl_examples"):
        EdgeRecipe(kl_examples=0)


class _Log(list):
    def to_list(self) -> list[dict]:
        return list(self)


def _trained_on(monkeypatch, edge: str, **settings) -> list[str] | None:
    """The request ids round 2 trains ``edge`` on (None: it trains nothing), logs of rounds 1 and 2."""
    seen = {}

    def fake_train(system, examples, config, r):
        seen["ids"] = [t.task_id for t, _ in examples]
        return system.model, 0.0, []

    monkeypatch.setattr(stages, "train_edge", fake_train)
    monkeypatch.setattr(stages, "fit_policy", lambda system, config, cloud=None: ("policy", {}))
    tasks = [t for t in generate_tasks("test", 40, seed=1) if not stages.is_scorer_holdout(t.task_id)][:4]
    log = _Log({"task": json.dumps(t.to_dict()), "cloud_call": json.dumps({"name": "x", "arguments": {}}),
                "round": 1 + i % 2, "scorer_holdout": False, "request_id": t.task_id} for i, t in enumerate(tasks))
    system = EdgeCloudSystem(SimpleNamespace(), None, scorer=None, policy=None)
    stages.improve(system, log, SynergyConfig(edge=edge, **settings), r=2)
    return seen.get("ids")


def test_the_round_trains_each_edge_on_what_its_recipe_picks(monkeypatch):
    every = _trained_on(monkeypatch, "tiny")
    new = _trained_on(monkeypatch, "smollm2")
    assert len(every) == 4 and new == every[1::2]  # the tiny edge: the whole log; SmolLM2: round 2's answers
    assert _trained_on(monkeypatch, "tiny", sft_epochs=0, rl_steps=2) is None  # tiny RL follows its SFT
    assert _trained_on(monkeypatch, "smollm2", sft_epochs=0, rl_steps=2) == new  # SmolLM2's RL runs alone
    assert _trained_on(monkeypatch, "smollm2", sft_epochs=0, rl_steps=0) is None


def test_a_smollm2_round_rehearses_the_adapters_own_data_in_sft_and_runs_rl_on_the_new_answers(monkeypatch):
    from netgpt_lite.synergy import edge_models

    seen = {}

    def fake_dataset(tasks, tokenizer, answers, **template):
        return {"prompt": [t.task_id for t in tasks], "completion": [json.dumps(a) for a in answers]}

    def fake_train(system, data, config, r, sft_data=None):
        seen["rl"], seen["sft"] = data["prompt"], (sft_data or data)["prompt"]
        return system.model, 0.0, []

    monkeypatch.setattr(edge_models, "rl_dataset", fake_dataset)
    monkeypatch.setattr(edge_models, "_train_smollm2", fake_train)
    monkeypatch.setitem(edge_models.RECIPES, "smollm2", EdgeRecipe(train_on="new", replay_per_answer=3))
    new = [(t, t.gold) for t in generate_tasks("test", 5, seed=3)]
    system = EdgeCloudSystem(SimpleNamespace(), None, scorer=None, policy=None, template={"tool_format": "compact"})
    config = SynergyConfig(edge="smollm2", sft_epochs=1, rl_steps=2, seed=4)
    edge_models.train_edge(system, new, config, r=1)
    ids = [t.task_id for t, _ in new]
    assert seen["rl"] == ids  # RL learns from the round's own cloud answers only
    assert len(seen["sft"]) == 4 * len(ids) and set(ids) <= set(seen["sft"])
    assert seen["sft"][:5] != ids  # mixed, not appended: the rehearsal spreads over the round's steps
    adapter_data = {t.task_id for t in generate_tasks("train", 2400, seed=0, variety="broad")}
    assert set(seen["sft"]) - set(ids) <= adapter_data  # the shipped adapter's training tasks (its manifest's)
    first = seen["sft"]
    edge_models.train_edge(system, new, config, r=1)
    assert seen["sft"] == first  # seeded by (seed, round)
    edge_models.train_edge(system, new, config, r=2)
    assert seen["sft"] != first
    with pytest.raises(ValueError, match="replay_per_answer"):
        EdgeRecipe(replay_per_answer=-1)


def test_kl_to_reference_and_scorer_features_use_less_memory_for_the_same_values():
    """The round's KL reads only the completion's logits and its scorer features come in groups of
    FEATURE_BATCH (a round peaked at 6.2 GB otherwise); both give what the plain computation gives."""
    import numpy as np
    import torch

    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.scoring import scorer_features
    from netgpt_lite.edge.tiny_lm import load_edge_model
    from netgpt_lite.rl.data import encode_pairs
    from netgpt_lite.rl.objective import exact_kl
    from netgpt_lite.synergy.edge_models import kl_to_reference
    from netgpt_lite.synergy.scoring import FEATURE_BATCH, _features

    model, tokenizer = load_edge_model()
    agent = EdgeAgent(model, tokenizer, batch_size=32)
    outputs = agent.run(generate_tasks("validation", FEATURE_BATCH + 5, seed=3))
    np.testing.assert_allclose(_features(agent, outputs), scorer_features(agent, outputs), atol=1e-4)

    other = load_edge_model()[0]
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    prompts, completions = [o.prompt for o in outputs[:5]], [o.completion for o in outputs[:5]]
    p_ids, p_mask, c_ids, c_mask = encode_pairs(tokenizer, prompts, completions, "cpu")
    ids, mask, n = torch.cat([p_ids, c_ids], 1), torch.cat([p_mask, c_mask], 1), p_ids.shape[1]
    with torch.no_grad():  # every position's logits, then the completion's
        full = exact_kl(model(input_ids=ids, attention_mask=mask).logits[:, n - 1 : -1],
                        other(input_ids=ids, attention_mask=mask).logits[:, n - 1 : -1])
    expected = float((full * c_mask).sum() / c_mask.sum())
    assert expected > 1e-4
    assert kl_to_reference(model, other, tokenizer, prompts, completions) == pytest.approx(expected, rel=1e-4)
    assert kl_to_reference(model, model, tokenizer, prompts, completions) == pytest.approx(0.0, abs=1e-6)
