"""`netgpt-lite frontier`: JSON shape, offline HTML, and one-line errors."""

import json

import pytest

from netgpt_lite.cli import main
from netgpt_lite.experiments.frontier import DEPLOYABLE, POLICY_ORDER
from netgpt_lite.routing.metrics import SUMMARY_KEYS

SMALL = ["--n-seeds", "2", "--n-requests", "300", "--n-logs", "600", "--n-tasks", "120", "--policynet-epochs", "30"]
COMPACT = {"utility", "task_success", "offload_rate", "cost_per_1k_requests_usd", "latency_p95_ms", "oracle_gain_share",
           "vs_fixed_hindsight", "share_of_room", "vs_fixed_hindsight_cv", "share_of_cross_fitted_room"}


def test_frontier_writes_results_json_and_html(tmp_path, capsys):
    out, html = tmp_path / "results.json", tmp_path / "explorer.html"
    rc = main(["frontier", "--edge", "synthetic", "--trace", "mixed", "--pricing", "surge", *SMALL,
               "--out", str(out), "--html", str(html)])
    assert rc == 0
    res = json.loads(out.read_text())
    cfg = res["config"]
    assert cfg["trace"] == "mixed" and cfg["pricing"] == "surge" and cfg["seeds"] == [0, 1]
    assert cfg["table_source"] == "synthetic" and cfg["threshold_oracle_bins"] == 3
    assert set(POLICY_ORDER) <= set(res["policies"])
    for metrics in res["policies"].values():
        assert set(metrics) == set(SUMMARY_KEYS) | {"oracle_gain_share"}
        assert all(set(v) == {"mean", "std"} for v in metrics.values())
    p = res["policies"]
    assert p["always_edge"]["offload_rate"]["mean"] == 0.0 and p["always_cloud"]["offload_rate"]["mean"] == 1.0
    assert p["fixed_logs"]["oracle_gain_share"]["mean"] == 0.0 and p["threshold_oracle"]["oracle_gain_share"]["mean"] == 1.0
    # limits are limits: no policy fitted on logs beats the correctness Oracle
    assert all(p[n]["mean_utility"]["mean"] <= p["oracle"]["mean_utility"]["mean"] for n in DEPLOYABLE)
    assert p["fixed_hindsight"]["mean_utility"]["mean"] >= p["fixed_logs"]["mean_utility"]["mean"] - 1e-12
    # the room above fixed_hindsight: the oracle's paired gain over it, pooled over both seeds' streams
    room = res["room"]
    gap = p["threshold_oracle"]["mean_utility"]["mean"] - p["fixed_hindsight"]["mean_utility"]["mean"]
    assert room["room"]["mean"] == pytest.approx(gap) and room["n"] == 2 * 300 and room["n_seeds"] == 2
    assert room["room"]["ci_low"] <= room["room"]["mean"] <= room["room"]["ci_high"]
    shares = {n: r["share_of_room"] for n, r in room["policies"].items()}
    if room["resolvable"]:  # a share only of a room that is there
        assert shares["threshold_oracle"] == pytest.approx(1.0) and shares["fixed_hindsight"] == 0.0
    else:
        assert set(shares.values()) == {None}
    # the same room between the two limits scored out of sample
    cv = room["cross_fitted"]
    assert cv["room"]["mean"] == pytest.approx(p["threshold_oracle_cv"]["mean_utility"]["mean"]
                                               - p["fixed_hindsight_cv"]["mean_utility"]["mean"])
    assert cv["policies"]["fixed_hindsight_cv"]["vs_fixed_hindsight_cv"]["mean"] == 0.0
    assert set(res["sweep"]) == {"apgr", "cpt50", "cpt80", "aiq"}
    assert {"funcdyn", "policynet"} <= set(res["goals"])
    assert set(res["per_regime"]["funcdyn"]) <= {"5g_good", "4g", "congested", "satellite", "near_outage"}
    text = html.read_text()
    assert "sliders" in text and "cdn.plot.ly" not in text.split("<script")[1][:200]  # plotly.js inlined
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(out)


def test_frontier_json_on_a_mahimahi_file_and_a_csv_trace(tmp_path, capsys):
    from netgpt_lite.network import EXAMPLE_MAHIMAHI, EXAMPLE_TRACE_CSV

    for flags in (["--mahimahi", str(EXAMPLE_MAHIMAHI), "--base-rtt-ms", "30"], ["--trace", str(EXAMPLE_TRACE_CSV)]):
        argv = ["frontier", "--edge", "synthetic", *flags, *SMALL, "--n-requests", "700", "--json"]
        assert main([*argv, "--out", str(tmp_path / "r.json")]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert set(printed["policies"]) == set(POLICY_ORDER)
        assert all(set(m) == COMPACT for m in printed["policies"].values())
        room = printed["room"]
        assert room["ci_low"] <= room["mean"] <= room["ci_high"] and isinstance(room["resolvable"], bool)
        assert room["cross_fitted"]["ci_low"] <= room["cross_fitted"]["mean"] <= room["cross_fitted"]["ci_high"]
        cfg = printed["config"]
        assert cfg["time_varying"] and cfg["trace_repeats"] > 2 and "repeats" in cfg["note"]  # 700 requests, 300 states
    assert cfg["trace"] == EXAMPLE_TRACE_CSV.name


@pytest.mark.parametrize("argv, flag, allowed", [
    (["--trace", "moon"], "--trace", "'mixed'"),
    (["--pricing", "free"], "--pricing", "surge"),
    (["--edge", "huge"], "--edge", "smollm2"),
    (["--n-seeds", "0"], "--n-seeds", "in [1, 100]"),
    (["--n-requests", "-5"], "--n-requests", "in [1, 1000000]"),
    (["--policynet-epochs", "x"], "--policynet-epochs", "integer"),
    (["--base-rtt-ms", "40"], "--base-rtt-ms", "--mahimahi"),
    (["--base-rtt-ms", "-1"], "--base-rtt-ms", "in (0, 60000]"),
    (["--logs", "yesterday"], "--logs", "'deployment'"),
])
def test_frontier_bad_input_exits_2_naming_the_flag(argv, flag, allowed, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["frontier", "--edge", "synthetic", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"netgpt-lite frontier: error: argument {flag}: ") and allowed in err
    assert err.count("\n") == 1 and not out.exists()


def test_frontier_bad_trace_files_name_their_line(tmp_path, capsys):
    mm = tmp_path / "x-LTE.up"
    mm.write_text("0\n5\nten\n")
    assert main(["frontier", "--edge", "synthetic", "--mahimahi", str(mm), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "argument --mahimahi:" in err and "line 3" in err and "'ten'" in err
    csv = tmp_path / "t.csv"
    csv.write_text("t,bandwidth_mbps,rtt_ms\n0,10,50\n1,-3,50\n")
    assert main(["frontier", "--edge", "synthetic", "--trace", str(csv), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "argument --trace:" in err and "line 3" in err and "bandwidth_mbps" in err


def test_frontier_output_paths_are_checked_before_any_work(tmp_path, capsys):
    assert main(["frontier", "--edge", "synthetic", "--out", str(tmp_path / "no" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "argument --out:" in err and "does not exist" in err and "mkdir -p" in err
    assert main(["frontier", "--edge", "synthetic", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["frontier", "--edge", "synthetic", "--html", str(tmp_path / "no" / "e.html")]) == 2
    assert "argument --html:" in capsys.readouterr().err


def test_frontier_routes_a_real_cloud_on_loopback(tmp_path, capsys, monkeypatch):
    """--cloud-base-url: every log and test request goes to the OpenAI-compatible endpoint once, and its
    answers (judged by the checker) are the cloud outcomes the policies are fitted and evaluated on."""
    from netgpt_lite.service.upstream import ScriptedUpstream
    from netgpt_lite.tasks.generate import generate_tasks

    monkeypatch.setenv("NETGPT_TEST_KEY", "sk-test")
    n = 12
    tasks = generate_tasks("test", n, seed=1) + generate_tasks("test", n, seed=0)  # deployment logs, evaluation
    answers = {t.messages[-1]["content"]: t.gold for t in tasks[1:]}  # the first request gets a default answer
    with ScriptedUpstream(answers=answers) as upstream:
        argv = ["frontier", "--edge", "tiny", "--n-tasks", str(n), "--n-seeds", "1", "--n-requests", "200",
                "--n-logs", "300", "--policynet-epochs", "10", "--cloud-base-url", upstream.base_url,
                "--cloud-model", "m", "--cloud-key-env", "NETGPT_TEST_KEY", "--json", "--out", str(tmp_path / "r.json")]
        assert main(argv) == 0
        n_sent = len([r for r in upstream.requests if r["body"] is not None])
    assert n_sent == 2 * n
    printed = json.loads(capsys.readouterr().out)
    assert printed["config"]["cloud"] == {"base_url": upstream.base_url, "model": "m"}
    assert printed["config"]["logs"] == "deployment"
    assert "real_cloud" in printed["config"]["table_source"]
    assert printed["policies"]["always_cloud"]["task_success"] > 0.9  # the scripted cloud answers the gold call


def test_frontier_cloud_flags_are_checked_before_work(tmp_path, capsys):
    assert main(["frontier", "--edge", "synthetic", "--cloud-base-url", "http://127.0.0.1:9/v1", "--cloud-model", "m",
                 "--out", str(tmp_path / "r.json")]) == 2
    assert "argument --cloud-base-url: needs real requests" in capsys.readouterr().err
    assert main(["frontier", "--cloud-model", "m", "--out", str(tmp_path / "r.json")]) == 2
    assert "argument --cloud-model: needs --cloud-base-url" in capsys.readouterr().err
