"""Tests for netgpt_lite.routing.edge_outputs: the edge-outputs artifact round-trips into the same proposal
table, a live recomputation agrees with it, and broken files are named with their line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netgpt_lite.edge.tiny_lm import shipped_model_path
from netgpt_lite.routing import edge_outputs as eo
from netgpt_lite.routing.tables import proposal_table
from netgpt_lite.tasks.generate import generate_tasks

pytestmark = pytest.mark.skipif(not (shipped_model_path() / "config.json").exists(), reason="no shipped tiny edge")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("edge_outputs")
    manifest = eo.build_edge_outputs("tiny", out, n_test=12, n_logs=10, seed=3, command="test")
    return out, manifest


def test_the_artifact_has_a_manifest_and_both_streams(built):
    out, manifest = built
    assert manifest["sizes"] == {"n_logs": 10, "n_test": 12} and manifest["config"]["edge"]["edge"] == "tiny"
    assert {s["split"] for s in manifest["streams"].values()} == {"validation", "test"}
    assert len(eo.read_rows(out / "test.jsonl")) == 12 and json.loads((out / "manifest.json").read_text())["seed"] == 3


def test_loaded_tables_equal_the_tables_built_from_live_outputs(built):
    out, _ = built
    from netgpt_lite.edge.agent import EdgeAgent

    agent = EdgeAgent.from_pretrained("tiny")
    tasks = generate_tasks("test", 12, seed=3)
    outputs = agent.run(tasks)
    direct, _ = proposal_table(tasks, outputs, [o.confidence("mean") for o in outputs], cloud_seed=3, n_cloud_draws=4)
    _, loaded = eo.load_edge_tables(out, n_cloud_draws=4)
    for name in ("task_id", "edge_correct", "edge_schema_valid", "edge_output_tokens", "cloud_correct"):
        assert np.array_equal(getattr(direct, name), getattr(loaded, name)), name
    assert np.allclose(direct.edge_score, loaded.edge_score, atol=1e-6)
    check = eo.recompute_sample(out, agent, n=4)
    assert check["same_completion"] == 1.0 and check["max_score_diff"] < 1e-5


def test_broken_rows_are_named(tmp_path, built):
    out, _ = built
    lines = (out / "test.jsonl").read_text().splitlines()
    (tmp_path / "test.jsonl").write_text("\n".join([lines[0], "{oops", *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match=r"test.jsonl line 2: not valid JSON"):
        eo.read_rows(tmp_path / "test.jsonl")
    row = json.loads(lines[0])
    with pytest.raises(ValueError, match="line 1: field 'score_mean' must be float"):
        eo.validate_rows([{**row, "score_mean": "high"}], "x.jsonl")
    with pytest.raises(ValueError, match="scores must be in"):
        eo.validate_rows([{**row, "score_mean": 1.5}], "x.jsonl")


def test_rows_must_cover_the_tasks(built):
    out, _ = built
    rows = eo.read_rows(out / "test.jsonl")
    with pytest.raises(ValueError, match="no stored edge output"):
        eo.table_from_outputs(generate_tasks("test", 12, seed=4), rows)


def test_deployment_logs_are_the_evaluations_traffic_on_another_day(built, tmp_path):
    """``n_deploy_logs``: logs drawn from the test split's phrasings (the evaluation's distribution) with the next
    seed, so no logged request is an evaluation request; a folder made without them says how to make them."""
    out, _ = built
    with pytest.raises(ValueError, match="no 'deploy_logs' stream .* --n-deploy-logs"):
        eo.load_edge_tables(out, logs="deployment")
    with pytest.raises(ValueError, match="logs must be one of"):
        eo.load_edge_tables(out, logs="yesterday")
    manifest = eo.build_edge_outputs("tiny", tmp_path, n_test=6, n_logs=5, n_deploy_logs=7, seed=3, command="test")
    assert manifest["sizes"] == {"n_logs": 5, "n_test": 6, "n_deploy_logs": 7}
    assert eo.stored_streams(tmp_path) == ["logs", "test", "deploy_logs"]
    deploy, test = (eo.stream_tasks(tmp_path, s) for s in ("deploy_logs", "test"))
    assert {t.task_id.split("-")[0] for t in deploy} == {"test"} and len(deploy) == 7
    assert not {t.task_id for t in deploy} & {t.task_id for t in test}
    assert not {t.messages[-1]["content"] for t in deploy} & {t.messages[-1]["content"] for t in test}
    log_table, test_table = eo.load_edge_tables(tmp_path, logs="deployment")
    assert len(log_table.task_id) == 7 and list(test_table.task_id) == [t.task_id for t in test]
    assert len(eo.load_edge_tables(tmp_path)[0].task_id) == 5  # the validation logs stay the default
