"""Tests for `netgpt-lite threshold`: JSON output, human line, input errors, one real subprocess run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netgpt_lite.cli import main
from netgpt_lite.theory.threshold import Deadline, optimal_threshold


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_threshold_and_every_input(capsys):
    out = _json(capsys, ["threshold", "--bandwidth-mbps", "50", "--rtt-ms", "40", "--json"])
    assert out["threshold"] == pytest.approx(float(optimal_threshold(50.0, 40.0, 0.003, 0.015)), rel=1e-12)
    assert 0 < out["threshold"] < 1 and out["cloud_time_ms"] > 40.0 and out["cloud_cost_usd"] > 0
    for key in (
        "bandwidth_mbps",
        "rtt_ms",
        "usd_per_1k_input",
        "usd_per_1k_output",
        "q_cloud",
        "reward",
        "lambda_latency_per_ms",
        "lambda_cost_per_usd",
        "calibration_a",
        "calibration_b",
    ):
        assert key in out["inputs"]
    assert out["inputs"]["bandwidth_mbps"] == 50.0


def test_options_change_the_threshold_in_the_proved_direction(capsys):
    base = ["threshold", "--bandwidth-mbps", "5", "--rtt-ms", "100", "--json"]
    t0 = _json(capsys, base)["threshold"]
    assert _json(capsys, [*base, "--usd-per-1k-input", "0.01"])["threshold"] < t0
    assert _json(capsys, [*base[:4], "300", "--json"])["threshold"] < t0  # longer RTT
    assert _json(capsys, [*base, "--calibration-b", "-6"])["threshold"] > t0  # g shifted right
    dl = _json(capsys, [*base, "--deadline-ms", "800"])
    expected = optimal_threshold(5.0, 100.0, 0.003, 0.015, deadline=Deadline(800.0, 0.5, 100.0))
    assert dl["threshold"] == pytest.approx(float(expected)) and dl["threshold"] < t0


def test_regime_shortcut_and_human_line(capsys):
    assert main(["threshold", "--regime", "near_outage"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("tau* = 0.0000") and "RTT = 2500 ms" in line and "\n" not in line


@pytest.mark.parametrize(
    ("extra", "flag", "allowed"),
    [
        (["--bandwidth-mbps", "nan", "--rtt-ms", "40"], "--bandwidth-mbps", "> 0"),
        (["--bandwidth-mbps", "0", "--rtt-ms", "40"], "--bandwidth-mbps", "> 0"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "-4"], "--rtt-ms", "> 0"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "4", "--usd-per-1k-output", "-1"], "--usd-per-1k-output", ">= 0"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "4", "--q-cloud", "2"], "--q-cloud", "in [0, 1]"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "4", "--lambda-cost-per-usd", "0"], "--lambda-cost-per-usd", "> 0"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "4", "--calibration-a", "-1"], "--calibration-a", "> 0"),
        (["--bandwidth-mbps", "10", "--rtt-ms", "4", "--deadline-ms", "0"], "--deadline-ms", "> 0"),
        (["--rtt-ms", "4"], "--bandwidth-mbps", "--regime"),
        (["--regime", "wifi"], "--regime", "5g_good"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_flag(capsys, extra, flag, allowed):
    assert main(["threshold", *extra, "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"netgpt-lite threshold: error: argument {flag}: ") and "\n" not in err
    assert allowed in err and "Traceback" not in err and captured.out == ""


def test_subprocess_run():
    cmd = [
        sys.executable,
        "-m",
        "netgpt_lite",
        "threshold",
        "--bandwidth-mbps",
        "200",
        "--rtt-ms",
        "20",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["threshold"] == pytest.approx(
        float(optimal_threshold(200.0, 20.0, 0.003, 0.015))
    )
    bad = subprocess.run([*cmd[:5], "-3", "--rtt-ms", "20"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr == "netgpt-lite threshold: error: argument --bandwidth-mbps: must be a finite number > 0; got '-3'\n"
