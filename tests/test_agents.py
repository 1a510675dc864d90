"""Tests for Proposal, CloudConfig and the simulated cloud."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from netgpt_lite.agents.cloud_sim import CloudConfig, SimulatedCloud, cloud_outcomes
from netgpt_lite.agents.proposal import DEFAULT_NETWORK, Proposal
from netgpt_lite.network.state import REGIMES, NetworkState, cloud_time_ms
from netgpt_lite.tasks.checker import check_completion, parse_tool_call
from netgpt_lite.tasks.generate import DIFFICULTIES, format_completion, generate_tasks


@functools.cache
def _tasks(n: int = 1500):
    return tuple(generate_tasks("test", n, seed=11))


def test_proposal_validation():
    ok = dict(agent="cloud", completion="", tool_call=None, score=0.5, latency_ms=1.0, n_input_tokens=1,
              n_output_tokens=1)  # fmt: skip
    Proposal(**ok)
    for field, bad in [("agent", "fog"), ("score", 1.5), ("latency_ms", -1.0), ("n_input_tokens", -1)]:
        with pytest.raises(ValueError, match=field):
            Proposal(**{**ok, field: bad})


def test_cloud_config_validation_names_the_field():
    with pytest.raises(ValueError, match="success_hard"):
        CloudConfig(success_hard=1.2)
    with pytest.raises(ValueError, match="chars_per_token"):
        CloudConfig(chars_per_token=0)
    assert CloudConfig().success_probability("medium") == 0.97


def test_same_seed_same_proposals_independent_of_batch_order():
    tasks = list(_tasks(60))
    a = SimulatedCloud(seed=3).propose(tasks)
    assert a == SimulatedCloud(seed=3).propose(tasks)
    b = SimulatedCloud(seed=3).propose(tasks[::-1])[::-1]
    assert a == b
    singles = [SimulatedCloud(seed=3).propose([t])[0] for t in tasks[:10]]
    assert singles == a[:10]
    many = list(_tasks())
    x = SimulatedCloud(seed=3).outcomes(many)["correct"]
    y = SimulatedCloud(seed=4).outcomes(many)["correct"]
    assert (x != y).any()


def test_accuracy_by_difficulty_matches_config_within_sampling_error():
    tasks = list(_tasks())
    config = CloudConfig(success_easy=0.95, success_medium=0.85, success_hard=0.7)
    proposals = SimulatedCloud(config, seed=0).propose(tasks)
    for difficulty in DIFFICULTIES:
        verdicts = [check_completion(p.completion, t.tools, t.gold)
                    for t, p in zip(tasks, proposals) if t.difficulty == difficulty]  # fmt: skip
        q = config.success_probability(difficulty)
        accuracy = np.mean([v.correct for v in verdicts])
        assert abs(accuracy - q) < 4 * np.sqrt(q * (1 - q) / len(verdicts)) + 1e-9, (difficulty, accuracy)
        assert all(v.schema_valid for v in verdicts)  # wrong answers are still schema-valid
        assert {v.error_type for v in verdicts} <= {"ok", "wrong_tool", "wrong_value"}


def test_flag_from_outcomes_agrees_with_the_checker_and_errors_are_varied():
    tasks = list(_tasks(600))
    config = CloudConfig(success_easy=0.5, success_medium=0.5, success_hard=0.5)
    cloud = SimulatedCloud(config, seed=2)
    out = cloud.outcomes(tasks, n_draws=2)
    errors = set()
    for i, task in enumerate(tasks):
        for d in range(2):
            call, correct = cloud.answer(task, d)
            verdict = check_completion(format_completion(call), task.tools, task.gold)
            assert verdict.correct == correct == out["correct"][i, d]
            errors.add(verdict.error_type)
    assert {"ok", "wrong_tool", "wrong_value"} <= errors
    assert 0.4 < out["correct"].mean() < 0.6


def test_always_right_and_always_wrong_configs():
    tasks = list(_tasks(200))
    always = CloudConfig(success_easy=1, success_medium=1, success_hard=1)
    assert cloud_outcomes(tasks, seed=0, config=always)["correct"].all()
    never = CloudConfig(success_easy=0, success_medium=0, success_hard=0)
    assert not cloud_outcomes(tasks, seed=0, config=never)["correct"].any()


def test_token_counts_latency_and_completion_format():
    tasks = list(_tasks(50))
    state = REGIMES["satellite"].state
    proposals = SimulatedCloud(seed=0).propose(tasks, state)
    out = cloud_outcomes(tasks, seed=0)
    for task, p, n_in, n_out, req, resp in zip(tasks, proposals, out["n_input_tokens"], out["n_output_tokens"][:, 0],
                                               out["request_bytes"], out["response_bytes"][:, 0]):  # fmt: skip
        assert p.agent == "cloud" and p.score == 1.0
        assert parse_tool_call(p.completion) == p.tool_call
        assert (p.n_input_tokens, p.n_output_tokens) == (n_in, n_out)
        assert n_in * 4 >= len(task.prompt) + 200  # the tool schemas dominate the prompt
        expected = cloud_time_ms(state.bandwidth_mbps, state.rtt_ms, req, resp, n_out)
        assert p.latency_ms == pytest.approx(float(expected))
        assert p.latency_ms > state.rtt_ms
    default = SimulatedCloud(seed=0).propose(tasks[:5])
    good = SimulatedCloud(seed=0).propose(tasks[:5], NetworkState(1000.0, 5.0))
    assert REGIMES["4g"].state == DEFAULT_NETWORK
    assert all(g.latency_ms < d.latency_ms for g, d in zip(good, default))


def test_config_variants_with_replace():
    config = dataclasses.replace(CloudConfig(), chars_per_token=2.0)
    tasks = list(_tasks(5))
    n2 = cloud_outcomes(tasks, config=config)["n_input_tokens"]
    n4 = cloud_outcomes(tasks)["n_input_tokens"]
    assert np.all(n2 >= 2 * n4 - 1)


def test_cloud_writes_the_one_completion_format():
    """The simulated cloud's completion is the edge's own text for the same call (compact, keys sorted)."""
    proposals = SimulatedCloud(seed=5).propose(list(_tasks(40)))
    for p in proposals:
        assert p.completion == format_completion(p.tool_call)
        assert parse_tool_call(p.completion) == p.tool_call
    assert proposals[0].completion.startswith('{"name":"')  # no tags, no spaces after separators
