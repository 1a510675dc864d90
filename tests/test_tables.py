"""Tests for netgpt_lite.routing.tables: the one proposal-table builder and the cached edge tables."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import verdicts
from netgpt_lite.edge.tiny_lm import shipped_model_path
from netgpt_lite.provenance import source_hash
from netgpt_lite.routing import tables
from netgpt_lite.routing.tables import edge_table, model_sha, proposal_table, table_cache_dir
from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.generate import generate_tasks

pytestmark = pytest.mark.skipif(not (shipped_model_path() / "config.json").exists(), reason="no shipped edge model")


@pytest.fixture(scope="module")
def answered():
    tasks = generate_tasks("validation", 6, seed=3)
    agent = EdgeAgent.from_pretrained("tiny")
    return tasks, agent, agent.run(tasks)


def test_proposal_table_holds_the_given_outputs_and_the_simulated_cloud(answered):
    tasks, _, outputs = answered
    scores = np.linspace(-0.5, 1.5, len(tasks))
    table, calls = proposal_table(tasks, outputs, scores, cloud_seed=7, n_cloud_draws=3, source="test")
    assert len(table) == len(tasks) and table.n_cloud_draws == 3 and table.source == "test"
    np.testing.assert_array_equal(table.edge_score, np.clip(scores, 0.0, 1.0))
    np.testing.assert_array_equal(table.edge_correct, [v.correct for v in verdicts(tasks, outputs)])
    cloud = SimulatedCloud(seed=7)
    assert calls == [cloud.answer(t, 0)[0] for t in tasks]
    np.testing.assert_array_equal(table.cloud_correct, cloud.outcomes(tasks, n_draws=3)["correct"])
    valid = [[check_call(cloud.answer(t, d)[0], t.tools, t.gold).schema_valid for d in range(3)] for t in tasks]
    np.testing.assert_array_equal(table.cloud_schema_valid, valid)


def test_edge_table_is_the_builder_on_self_confidence_cached_by_model_and_source_hash(answered, tmp_path, monkeypatch):
    tasks, agent, outputs = answered
    monkeypatch.setenv("NETGPT_LITE_CACHE", str(tmp_path))
    table = edge_table("validation", n=6, seed=3, n_cloud_draws=2)
    built, _ = proposal_table(tasks, outputs, [o.confidence(agent.score) for o in outputs], cloud_seed=3,
                              n_cloud_draws=2)
    np.testing.assert_array_equal(table.edge_score, built.edge_score)
    np.testing.assert_array_equal(table.cloud_output_tokens, built.cloud_output_tokens)
    (cached,) = table_cache_dir().glob("*.npz")
    assert model_sha(shipped_model_path()) in cached.name and source_hash() in cached.name
    assert "-validation-n6-seed3-k2" in cached.name
    np.testing.assert_array_equal(edge_table("validation", n=6, seed=3, n_cloud_draws=2).edge_score, table.edge_score)
    monkeypatch.setattr(tables, "source_hash", lambda: "0" * 16)  # other code: the old table is not served
    edge_table("validation", n=6, seed=3, n_cloud_draws=2)
    assert len(list(table_cache_dir().glob("*.npz"))) == 2
