"""`netgpt-lite frontier`: JSON shape, offline HTML, and one-line errors."""

import json

import pytest

from netgpt_lite.cli import main
from netgpt_lite.experiments.frontier import POLICY_ORDER
from netgpt_lite.routing.metrics import SUMMARY_KEYS


def test_frontier_writes_results_json_and_html(tmp_path, capsys):
    out, html = tmp_path / "results.json", tmp_path / "explorer.html"
    rc = main(["frontier", "--synthetic", "--regime", "mixed", "--pricing", "surge", "--seeds", "2",
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


@pytest.mark.parametrize("argv, field", [(["--regime", "moon"], "regime"), (["--pricing", "free"], "pricing"),
                                         (["--seeds", "0"], "seeds")])
def test_frontier_bad_input_exits_2_naming_the_field(argv, field, tmp_path, capsys):
    assert main(["frontier", "--synthetic", "--out", str(tmp_path / "r.json"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and field in err
