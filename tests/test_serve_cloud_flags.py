"""A real cloud in the synergy loop and on the command line (``--cloud-base-url/--cloud-model/--cloud-key-env``),
against the scripted upstream on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from netgpt_lite.agents.cloud_http import CloudClientConfig
from netgpt_lite.agents.cloud_openai import OpenAICompatibleCloud
from netgpt_lite.cli import build_parser, main
from netgpt_lite.routing.policies import AlwaysCloud
from netgpt_lite.service.upstream import ScriptedUpstream
from netgpt_lite.synergy.loop import SynergyConfig
from netgpt_lite.synergy.real_cloud import with_cloud_answers
from netgpt_lite.synergy.stages import deployment_tasks, route_round
from netgpt_lite.synergy.system import EdgeCloudSystem


@pytest.fixture(scope="module")
def tiny():
    from netgpt_lite.edge.tiny_lm import load_edge_model

    return load_edge_model(None)


def _cloud(upstream) -> OpenAICompatibleCloud:
    return OpenAICompatibleCloud(CloudClientConfig(base_url=upstream.base_url, model="m", max_retries=0,
                                                   timeout_s=2.0, api_key_env="NETGPT_LITE_UNSET_KEY"))


def test_route_round_logs_the_real_clouds_answers(tiny):
    config = SynergyConfig(rounds=1, requests_per_round=8)
    tasks = deployment_tasks(config, 1, 8)
    wrong = {"name": tasks[0].gold["name"], "arguments": {}}  # a schema-invalid answer for the first task
    answers = {t.messages[-1]["content"]: t.gold for t in tasks[1:]} | {tasks[0].messages[-1]["content"]: wrong}
    system = EdgeCloudSystem(*tiny, scorer=None, policy=AlwaysCloud())
    with ScriptedUpstream(answers=answers) as upstream:
        records = route_round(system, config, 1, cloud=_cloud(upstream))
        n_sent = len([r for r in upstream.requests if r["body"] is not None])
    assert n_sent == 8  # every task of the table asked the real cloud once
    assert [json.loads(r["cloud_call"]) for r in records] == [wrong] + [t.gold for t in tasks[1:]]


def test_failed_cloud_requests_are_wrong_answers_and_not_logged(tiny):
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.routing.tables import proposal_table

    config = SynergyConfig(rounds=1, requests_per_round=8)
    tasks = deployment_tasks(config, 2, 4)
    outputs = EdgeAgent(*tiny).run(tasks)
    table, _ = proposal_table(tasks, outputs, [o.confidence() for o in outputs])
    with ScriptedUpstream([{"status": 500}] * 2, answers={t.messages[-1]["content"]: t.gold for t in tasks}) as up:
        real, calls = with_cloud_answers(table, tasks, _cloud(up))
    assert calls[:2] == [None, None] and calls[2:] == [t.gold for t in tasks[2:]]
    assert real.cloud_correct[:, 0].tolist() == [False, False, True, True] and "real_cloud" in real.source
    assert real.cloud_correct.shape == (4, 1) and (real.response_bytes > 0).all()
    system = EdgeCloudSystem(*tiny, scorer=None, policy=AlwaysCloud())
    with ScriptedUpstream([{"status": 500}] * 3, answers={t.messages[-1]["content"]: t.gold for t in tasks}) as up:
        records = route_round(system, SynergyConfig(rounds=1, requests_per_round=8), 2, cloud=_cloud(up))
    assert len(records) == 8 - 3  # no record for a request the cloud never answered


@pytest.mark.parametrize("command", [["synergy", "--rounds", "1", "--out", "OUT"], ["reproduce", "--out", "OUT"]])
def test_cloud_flags_select_an_endpoint(command, tmp_path, capsys):
    command = [c.replace("OUT", str(tmp_path / "run")) for c in command]
    parser = build_parser()
    args = parser.parse_args(command)
    assert args.check(args)["cloud"] is None  # the simulated cloud stays the default
    args = parser.parse_args([*command, "--cloud-base-url", "http://127.0.0.1:8001/v1", "--cloud-model", "m",
                              "--cloud-key-env", "MY_KEY", "--cloud-concurrency", "8"])
    cloud = args.check(args)["cloud"]
    assert isinstance(cloud, OpenAICompatibleCloud) and cloud.config.max_concurrency == 8
    assert (cloud.config.base_url, cloud.config.model, cloud.config.api_key_env) == ("http://127.0.0.1:8001/v1",
                                                                                     "m", "MY_KEY")
    assert main([*command, "--cloud-base-url", "http://127.0.0.1:8001/v1"]) == 2
    assert "needs --cloud-model" in capsys.readouterr().err
    assert main([*command, "--cloud-model", "m"]) == 2
    assert "needs --cloud-base-url" in capsys.readouterr().err
    assert main([*command, "--cloud-base-url", "127.0.0.1:8001", "--cloud-model", "m"]) == 2
    assert "argument --cloud-base-url" in capsys.readouterr().err
    assert main([*command, "--cloud-base-url", "http://127.0.0.1:8001/v1", "--cloud-model", "m",
                 "--cloud-concurrency", "0"]) == 2
    assert "argument --cloud-concurrency" in capsys.readouterr().err
