"""Drift samples of the shipped training sweeps: the SFT sweeps (prompt rendering, scaling), the RL
headroom before and after RL, and the RL learning-rate sweep, each recomputed in part with today's code.

The other shipped artifacts' samples, and what a drift sample is: ``tests/test_artifact_drift.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from drift import drifted

from netgpt_lite import provenance as pv

SWEEPS = ("data/results/sft_sweep/render.json", "data/results/sft_sweep/scaling.json")


def _sweep_tasks(entry: dict) -> list:
    from netgpt_lite.edge.evaluation import request_key
    from netgpt_lite.tasks.generate import generate_tasks
    from netgpt_lite.tasks.request_file import read_request_file

    if "tasks_file" in entry:
        tasks = read_request_file(Path(__file__).parent / "data" / entry["tasks_file"])
    else:
        tasks = generate_tasks(entry["split"], entry["n"], seed=entry["seed"], variety=entry["variety"])
    by_key = {request_key(t): t for t in tasks}
    return [by_key[k] for k in entry["requests"]]


@pytest.mark.parametrize("rel", SWEEPS)
def test_sft_sweep_verdicts_and_comparisons_recompute(rel):
    """A shipped SFT sweep: every stored answer gets today's checker's stored verdict on today's requests, the
    rows' rates are their verdicts' means, and each paired comparison is what today's code computes."""
    from netgpt_lite.stats import paired_comparison
    from netgpt_lite.tasks.checker import check_completion

    stored = json.loads((pv.PACKAGE_DIR / rel).read_text())
    rows = {r["point"]: r for r in stored["rows"]}
    for name, entry in stored["sets"].items():
        tasks = _sweep_tasks(entry)
        for point, got in entry["points"].items():
            today = [int(check_completion(c, t.tools, t.gold).correct) for c, t in zip(got["completion"], tasks)]
            assert today == got["correct"], drifted(rel, f"{point} verdicts on {name}", sum(got["correct"]), sum(today))
            rate = float(np.mean(got["correct"]))
            assert np.isclose(rate, rows[point][name]["exact_match"], atol=1e-4), drifted(
                rel, f"{point} exact match on {name}", rows[point][name]["exact_match"], rate)
    for p in stored["paired"]:
        points = stored["sets"][p["set"]]["points"]
        today = paired_comparison(points[p["a"]]["correct"], points[p["b"]]["correct"])
        assert today == {k: p[k] for k in today}, drifted(rel, f"paired {p['a']} - {p['b']} on {p['set']}",
                                                          p["difference"], today["difference"])


def test_sft_sweep_shipped_point_answers_regenerate(smollm2_agent):
    """The scaling sweep's point that is the shipped adapter (the same weights, by their sha256): its first
    two answers on the test split, generated again by the shipped edge."""
    rel = "data/results/sft_sweep/scaling.json"
    stored = json.loads((pv.PACKAGE_DIR / rel).read_text())
    sha = pv.read_manifest(pv.PACKAGE_DIR / "data/smollm2_adapter")["sha256_adapter_safetensors"]
    shipped = [r["point"] for r in stored["rows"] if r.get("sha256_adapter_safetensors") == sha]
    assert shipped, drifted(rel, "the point trained as the shipped adapter", sha, None)
    entry = stored["sets"]["test500"]
    tasks = _sweep_tasks(entry)[:2]
    got = entry["points"][shipped[0]]["completion"][:2]
    today = [o.completion for o in smollm2_agent.run(tasks)]
    assert today == got, drifted(rel, "the shipped adapter's answers", got, today)


@pytest.mark.parametrize("which", ["sft", "rl"])
def test_rl_headroom_summary_recomputes_and_first_groups_resample(which):
    """The headroom summary (before RL: the shipped SFT adapter; after: the shipped RL adapter) from its
    per-request counts; the first 4 requests' greedy verdicts and sampled counts drawn again (same seed, same
    chunk of 4 prompts, so the same draws)."""
    from netgpt_lite.edge.lora import load_adapter, shipped_adapter_path, shipped_rl_adapter_path
    from netgpt_lite.rl.headroom import headroom, pass_at_k
    from netgpt_lite.tasks.generate import generate_tasks

    rel = f"data/results/rl_headroom/{which}.json"
    adapter = shipped_adapter_path() if which == "sft" else shipped_rl_adapter_path()
    art = json.loads((pv.PACKAGE_DIR / rel).read_text())
    s, records, cfg = art["summary"], art["records"], art["manifest"]["config"]
    counts = np.array([r["n_correct"] for r in records])
    for k in (1, 2, 4, 8):
        today = float(np.mean([pass_at_k(s["n_samples"], int(c), k) for c in counts]))
        assert today == pytest.approx(s[f"pass_at_{k}"]), drifted(rel, f"pass@{k}", s[f"pass_at_{k}"], today)
    assert s["greedy_exact_match"] == pytest.approx(np.mean([r["greedy_correct"] for r in records]))
    from netgpt_lite.viz.rl import headroom_figure

    assert len(headroom_figure({"SFT": s}).data) == 2  # pass@k and the greedy line
    assert cfg["adapter_sha256"] == pv.file_sha256(adapter / "adapter_model.safetensors")
    model, tokenizer, template = load_adapter(adapter)
    tasks = generate_tasks(art["manifest"]["split"], 4, seed=art["manifest"]["seed"], variety=cfg["variety"])
    today = headroom(model, tokenizer, tasks, s["n_samples"], temperature=cfg["temperature"],
                     max_completion_tokens=cfg["max_completion_tokens"], seed=art["manifest"]["seed"],
                     template_kwargs=template)["records"]  # fmt: skip
    stored = [(r["task_id"], r["greedy_correct"], r["n_correct"]) for r in records[:4]]
    again = [(r["task_id"], r["greedy_correct"], r["n_correct"]) for r in today]
    assert again == stored, drifted(rel, "first 4 requests (greedy right, samples right)", stored, again)


def test_rl_sweep_curves_recompute_from_their_histories():
    """Each sweep run's validation curve is its history's evaluation rows, every run started from the shipped
    SFT adapter, and the runs differ in the learning rate alone (what the sweep chose)."""
    from netgpt_lite.edge.lora import shipped_adapter_path

    rel = "data/results/rl_sweep/sweep.json"
    art = json.loads((pv.PACKAGE_DIR / rel).read_text())
    shipped = pv.file_sha256(shipped_adapter_path() / "adapter_model.safetensors")
    settings = []
    for run in art["runs"]:
        curve = [[r["step"], r["eval_exact_match"]] for r in run["history"] if "eval_exact_match" in r]
        assert curve == run["summary"]["val_exact_match"], drifted(rel, f"{run['name']} curve", run["summary"]
                                                                   ["val_exact_match"], curve)
        assert run["start_sha256"] == shipped, drifted(rel, f"{run['name']} start adapter", run["start_sha256"], shipped)
        settings.append({k: v for k, v in run["settings"].items() if k not in ("learning_rate", "seed")})
    assert all(s == settings[0] for s in settings) and len({r["settings"]["learning_rate"] for r in art["runs"]}) == len(art["runs"])
    assert art["manifest"]["summary"] == {r["name"]: r["summary"]["val_exact_match"] for r in art["runs"]}
