"""Every sentence of the README that states a result is regenerated here from the shipped artifact it describes
and must appear in the README word for word: a regenerated artifact that changes the finding fails this test
(naming the sentence it now supports) instead of leaving a false sentence on the project's front page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netgpt_lite.provenance as pv

README = Path(__file__).resolve().parents[1] / "README.md"


def _results() -> dict:
    return json.loads((pv.PACKAGE_DIR / "data/results/results.json").read_text())


def e4_first_paragraph() -> str:
    """The README's E4 sentence: the run's size, whether offload fell every round, and the reachable trace's first
    seed's edge exact match from round 0 to the last round, with and without RL."""
    e4 = _results()["E4"]
    cfg, traces = e4["config"], e4["traces"]
    seeds = {len(t["seeds"]) for t in traces.values()}
    falls = [f for t in traces.values() for f in t["offload_falls_every_round"]]
    head = traces["reachable"]["runs"][str(traces["reachable"]["seeds"][0])]["rounds"]
    off = e4["arms"]["rl_off"]["rounds"]
    steps = cfg["rl_steps"]
    fell = "no run's offload fell in" if not any(falls) else (
        "every run's offload fell in" if all(falls) else f"{sum(falls)} of {len(falls)} runs' offload fell in")
    return (f"(SmolLM2, {cfg['rounds']} rounds of {cfg['requests_per_round']} requests, {seeds.pop()} seeds per "
            f"trace) {fell}\nevery round, and on seed {traces['reachable']['seeds'][0]} of the reachable trace the "
            f"edge's exact match on {cfg['eval_requests']} held-out requests went "
            f"{head[0]['edge_exact_match']:.2f} -> {head[-1]['edge_exact_match']:.2f}\nwith "
            f"{'one RL step' if steps == 1 else f'{steps} RL steps'} per round and {off[0]['edge_exact_match']:.2f} -> "
            f"{off[-1]['edge_exact_match']:.2f} with RL off")


E5_LABELS = {"rl": "SFT-anchored RL", "sft": "its SFT start", "more_sft": "more SFT on the same cloud answers",
             "raft": "rejection-sampling fine-tuning"}


def e5_results() -> str:
    """The README's E5 sentences: RL against its start, more SFT and rejection sampling on the test requests,
    each in the words of :func:`~netgpt_lite.experiments.rl_summary.sentence` (generated from its interval)."""
    from netgpt_lite.experiments.rl_comparison import read_e5
    from netgpt_lite.experiments.rl_summary import contrast, sentence

    table = read_e5()["contrasts"]
    rows = [contrast(table, "rl", b) for b in ("sft", "more_sft", "raft")]
    return "; ".join(sentence(r, E5_LABELS) for r in rows if r is not None) + "."


CLAIMS = {"E4 in the first paragraph": e4_first_paragraph, "E5 under Reproduce the results": e5_results}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_readme_states_what_the_artifact_shows(name):
    text = " ".join(README.read_text().split())  # line breaks in the README are free
    claim = CLAIMS[name]()
    assert " ".join(claim.split()) in text, (
        f"README.md no longer matches its artifact ({name}); the artifact now supports:\n{claim}")
