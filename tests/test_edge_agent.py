"""Tests for netgpt_lite.edge.agent: batched generation, parsing, validation, scores and proposals."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.agents.proposal import Proposal
from netgpt_lite.edge.agent import EdgeAgent, EdgeOutput
from netgpt_lite.edge.evaluation import accuracy_report, verdicts
from netgpt_lite.edge.tiny_lm import EdgeModelConfig, build_model, tokenizer_corpus, train_tokenizer
from netgpt_lite.network.state import LatencyModel
from netgpt_lite.tasks.generate import generate_tasks


@pytest.fixture(scope="module")
def test_tasks():
    # validation tasks: the train templates' phrasings, where the shipped edge writes well-formed calls
    # (on the test split's unseen phrasings it is mostly wrong; see the manifest's metrics)
    return generate_tasks("validation", 24, seed=5)


@pytest.fixture(scope="module")
def shipped():
    return EdgeAgent.from_pretrained("tiny", device="cpu")


def _output(logprobs, valid=True) -> EdgeOutput:
    return EdgeOutput("p", "c", {"name": "f", "arguments": {}} if valid else None, valid,
                      np.array(logprobs, dtype=float), 5, len(logprobs), 1.0)  # fmt: skip


def test_confidence_is_geometric_mean_or_min_and_zero_when_invalid():
    out = _output(np.log([0.5, 0.8, 1.0]))
    assert out.confidence("mean") == pytest.approx(0.4 ** (1 / 3))
    assert out.confidence("min") == pytest.approx(0.5)
    assert _output(np.log([0.9]), valid=False).confidence() == 0.0 and _output([]).confidence() == 0.0
    with pytest.raises(ValueError, match="score"):
        out.confidence("max")


def test_untrained_model_never_crashes_and_scores_garbage_zero(test_tasks):
    tokenizer = train_tokenizer(tokenizer_corpus(test_tasks), vocab_size=300)
    model = build_model(tokenizer, EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64))
    agent = EdgeAgent(model, tokenizer, max_new_tokens=12, batch_size=5)
    outputs = agent.run(test_tasks[:7])
    proposals = agent.to_proposals(outputs)
    assert len(proposals) == 7 and all(isinstance(p, Proposal) and p.agent == "edge" for p in proposals)
    for o, p in zip(outputs, proposals):
        assert 1 <= o.n_output_tokens <= 12 and o.token_logprobs.shape == (o.n_output_tokens,)
        assert np.all(o.token_logprobs <= 0) and o.n_input_tokens > 10
        assert (p.score == 0.0) == (not o.schema_valid) or p.score == 0.0
        assert p.tool_call is None or not o.schema_valid or p.score > 0


def test_shipped_agent_answers_well_formed_calls(shipped, test_tasks):
    proposals = shipped.propose(test_tasks)
    assert [p.agent for p in proposals] == ["edge"] * len(test_tasks)
    scores = np.array([p.score for p in proposals])
    assert np.all((scores >= 0) & (scores <= 1)) and scores.max() > 0.5
    valid = [p.tool_call is not None for p in proposals]
    assert np.mean(valid) > 0.8
    assert all(p.latency_ms == pytest.approx(1000 * p.n_output_tokens / 25.0) for p in proposals)
    # the one completion format: bare JSON, no <tool_call> tags (tasks.generate.CALL_OPEN is the checker's only)
    assert all(p.completion.lstrip().startswith("{") and "<tool_call>" not in p.completion
               for p, v in zip(proposals, valid) if v)


def test_batching_and_left_padding_do_not_change_answers(shipped, test_tasks):
    one_by_one = shipped.run(test_tasks[:6], batch_size=1)
    batched = shipped.run(test_tasks[:6], batch_size=6)
    assert [o.completion for o in one_by_one] == [o.completion for o in batched]
    for a, b in zip(one_by_one, batched):
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=1e-4)


def test_latency_model_and_score_choice_are_respected(shipped, test_tasks):
    slow = EdgeAgent(shipped.model, shipped.tokenizer, score="min", latency=LatencyModel(edge_tokens_per_s=5.0))
    outputs = slow.run(test_tasks[:4])
    for o, p in zip(outputs, slow.to_proposals(outputs)):
        assert p.latency_ms == pytest.approx(200.0 * o.n_output_tokens) and p.score == o.confidence("min")
    with pytest.raises(ValueError, match="score"):
        EdgeAgent(shipped.model, shipped.tokenizer, score="median")


def test_accuracy_report_counts_add_up(shipped, test_tasks):
    outputs = shipped.run(test_tasks)
    report = accuracy_report(test_tasks, outputs)
    assert report["n"] == len(test_tasks) == sum(report["error_types"].values())
    assert sum(g["n"] for g in report["by_difficulty"].values()) == len(test_tasks)
    assert sum(g["n"] for g in report["by_kind"].values()) == len(test_tasks)
    assert report["exact_match"] == pytest.approx(np.mean([v.correct for v in verdicts(test_tasks, outputs)]))
    assert report["schema_valid"] >= report["exact_match"]
