"""The TRL path scales out: SFT-anchored GRPO under ``accelerate launch`` with two CPU processes (gloo)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_trl_trainer_runs_on_two_processes(tmp_path) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517"}
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
           str(ROOT / "scripts" / "rl_trl_distributed.py"), "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "trl_distributed.json").read_text())
    assert result["num_processes"] == 2
    assert len(result["history"]) == 2
    assert all(math.isfinite(r["reward"]) and -0.5 <= r["reward"] <= 1.0 for r in result["history"])
    assert all(r["anchor_nll_gap"] is not None for r in result["history"])  # the anchor ran in every step
