"""`netgpt-lite frontier`: JSON shape, offline HTML, and one-line errors."""

import json

import pytest

from netgpt_lite.cli import main
from netgpt_lite.experiments.frontier import POLICY_ORDER
from netgpt_lite.routing.metrics import SUMMARY_KEYS


def test_frontier_writes_results_json_and_html(tmp_path, capsys):
    out, html = tmp_path / "results.json", tmp_path / "explorer.html"
    rc = main(["frontier", "--synthetic", "--regime", "mixed", "--pricing", "surge", "--n-seeds", "2",
               "--n-requests", "300", "--n-logs", "600", "--n-tasks", "120", "--policynet-epochs", "30",
               "--out", str(out), "--html", str(html)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["regime"] == "mixed" and res["pricing"] == "surge" and res["seeds"] == [0, 1]
    assert res["table_source"] == "synthetic"
    assert set(res["policies"]) == set(POLICY_ORDER)
    for metrics in res["policies"].values():
        assert set(metrics) == set(SUMMARY_KEYS)
        assert all(set(v) == {"mean", "std"} for v in metrics.values())
    assert res["policies"]["always_edge"]["offload_rate"]["mean"] == 0.0
    assert res["policies"]["always_cloud"]["offload_rate"]["mean"] == 1.0
    assert set(res["sweep"]) == {"apgr", "cpt50", "cpt80", "aiq"}
    assert {"funcdyn", "policynet"} <= set(res["goals"])
    assert set(res["per_regime"]["funcdyn"]) <= {"5g_good", "4g", "congested", "satellite", "near_outage"}
    text = html.read_text()
    assert "sliders" in text and "cdn.plot.ly" not in text.split("<script")[1][:200]  # plotly.js inlined
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(out)


@pytest.mark.parametrize("argv, flag, allowed", [
    (["--regime", "moon"], "--regime", "'mixed'"),
    (["--pricing", "free"], "--pricing", "surge"),
    (["--n-seeds", "0"], "--n-seeds", ">= 1"),
    (["--n-requests", "-5"], "--n-requests", ">= 1"),
    (["--policynet-epochs", "x"], "--policynet-epochs", "integer"),
])
def test_frontier_bad_input_exits_2_naming_the_flag(argv, flag, allowed, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["frontier", "--synthetic", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"netgpt-lite frontier: error: argument {flag}: ") and allowed in err
    assert err.count("\n") == 1 and not out.exists()


def test_frontier_output_paths_are_checked_before_any_work(tmp_path, capsys):
    assert main(["frontier", "--synthetic", "--out", str(tmp_path / "no" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "argument --out:" in err and "does not exist" in err and "mkdir -p" in err
    assert main(["frontier", "--synthetic", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["frontier", "--synthetic", "--html", str(tmp_path / "no" / "e.html")]) == 2
    assert "argument --html:" in capsys.readouterr().err
