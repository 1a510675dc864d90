"""Every sentence of the README (and of the book's front page) that states a result is regenerated here from the shipped artifact it describes
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
    if all(t.get("last_round_intervals") for t in e4["traces"].values()):  # a run that kept per-request values
        from netgpt_lite.experiments.synergy_findings import headline

        return headline(e4)
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
             "raft": "rejection-sampling fine-tuning", "more_sft_rl": "more SFT followed by SFT-anchored RL"}


def e5_results() -> str:
    """The README's E5 sentences: RL against its start, more SFT and rejection sampling on the test requests,
    each in the words of :func:`~netgpt_lite.experiments.rl_summary.sentence` (generated from its interval)."""
    from netgpt_lite.experiments.rl_comparison import read_e5
    from netgpt_lite.experiments.rl_summary import contrast, sentence

    table = read_e5()["contrasts"]
    rows = [contrast(table, "rl", b) for b in ("sft", "more_sft", "raft")]
    return "; ".join(sentence(r, E5_LABELS) for r in rows if r is not None) + "."


def e5_deployment_day() -> str:
    """The README's deployment-day E5 sentences: RL against its start and against more SFT, on the test requests
    and on the independently written ones, in the words of the interval."""
    from netgpt_lite.experiments.rl_comparison import read_e5
    from netgpt_lite.experiments.rl_summary import contrast, sentence

    table = read_e5(pv.PACKAGE_DIR / "data/rl/deployment_day/e5.json")["contrasts"]
    pairs = [("rl", "sft"), ("rl", "more_sft"), ("more_sft_rl", "sft"), ("more_sft_rl", "more_sft")]
    rows = [contrast(table, a, b, suite) for suite in ("test", "independent") for a, b in pairs]
    text = "; ".join(sentence(r, E5_LABELS) for r in rows if r is not None) + "."
    added = contrast(table, "more_sft_rl", "more_sft")
    if added is not None:  # what the RL half of "more SFT, then RL" added, on the test requests
        text += (" More SFT followed by RL is the order a synergy round trains in; " + (
            "its gain over the start is, within its interval, the gain of its SFT half."
            if added["ci_low"] <= 0 <= added["ci_high"] else
            f"its RL half {'added to' if added['ci_low'] > 0 else 'took from'} the gain of its SFT half."))
    return text


def _interval(row: dict) -> str:
    return f"{row['mean']:+.4f} ({row['ci_low']:+.4f} to {row['ci_high']:+.4f})"


def public_lte_table() -> str:
    """The README's real-trace table: per public LTE trace (``data/results/public_lte``), the room above the best
    fixed threshold in hindsight and cross-fitted, FuncDyn against the fixed thresholds, PolicyNet / FuncDyn; then
    one sentence that says where the cross-fitted room is resolved."""
    from netgpt_lite.provenance.registry import PUBLIC_LTE

    lines = ["| public LTE trace | room in hindsight | room cross-fitted | FuncDyn - fixed_hindsight | "
             "FuncDyn - fixed_logs | PolicyNet / FuncDyn |", "|---|---|---|---|---|---|"]
    resolved, verdicts, beats_logs, config = [], [], [], None
    for name in PUBLIC_LTE:
        res = json.loads((pv.PACKAGE_DIR / f"data/results/public_lte/{name}.json").read_text())
        config, room = res["config"], res["room"]
        u = {n: p["mean_utility"]["mean"] for n, p in res["policies"].items()}
        lines.append(f"| {name} | {_interval(room['room'])} | {_interval(room['cross_fitted']['room'])} | "
                     f"{_interval(room['policies']['funcdyn']['vs_fixed_hindsight'])} | "
                     f"{u['funcdyn'] - u['fixed_logs']:+.4f} | {u['policynet'] / u['funcdyn']:.3f} |")
        resolved += [name] if room["cross_fitted"]["resolvable"] else []
        d = room["policies"]["funcdyn"]["vs_fixed_hindsight"]
        verdict = "beats" if d["ci_low"] > 0 else "falls short of" if d["ci_high"] < 0 else "ties with"
        verdicts.append(f"{verdict} it on {name}")
        beats_logs.append(u["funcdyn"] > u["fixed_logs"])
    where = ("on neither trace" if not resolved else "on both traces" if len(resolved) == len(PUBLIC_LTE)
             else f"only on {resolved[0]}")
    return "\n".join(lines) + (
        f"\n\nUtility per request, {len(config['seeds'])} seeds x {config['n_requests']:,} requests, "
        f"{config['pricing']} pricing, policies fitted on {config['logs']} logs, 95% intervals. The cross-fitted "
        f"room (both limits chosen on one half of the day's requests, scored on the other half) is resolved {where}. "
        f"Against the best fixed threshold chosen in hindsight, FuncDyn {' and '.join(verdicts)}; against the fixed "
        f"threshold fitted on the same logs it gains on {sum(beats_logs)} of {len(beats_logs)} traces.")


def rebuild_time() -> str:
    """The time one ``regenerate`` from a fresh clone takes: each stage's last recorded run, summed."""
    from netgpt_lite.provenance.pipeline import rebuild_cost, rebuild_sentence

    return rebuild_sentence(rebuild_cost())


CLAIMS = {"E4 in the first paragraph": e4_first_paragraph, "the time to rebuild every artifact": rebuild_time, "E5 under Reproduce the results": e5_results,
          "E5 on the deployment day": e5_deployment_day,
          "the real-trace table": public_lte_table}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_readme_states_what_the_artifact_shows(name):
    text = " ".join(README.read_text().split())  # line breaks in the README are free
    claim = CLAIMS[name]()
    assert " ".join(claim.split()) in text, (
        f"README.md no longer matches its artifact ({name}); the artifact now supports:\n{claim}")


def intro_e4() -> str:
    """The front page's sentence on whether the shipped synergy run delivers (offload falling every round)."""
    e4 = _results()["E4"]
    traces = e4["traces"]
    if all(t.get("last_vs_round_0") for t in traces.values()):  # a run that kept per-request values
        from netgpt_lite.experiments.synergy_findings import front_page

        return front_page(e4)
    falls = [f for t in traces.values() for f in t["offload_falls_every_round"]]
    if not any(falls):
        return ("In the shipped run on the real edge the loop does not deliver yet: in none of that run's traces and "
                "seeds did the offload rate fall round after round.")
    if all(falls):
        return "In the shipped run on the real edge the offload rate fell round after round in every trace and seed."
    return (f"In the shipped run on the real edge the offload rate fell round after round in {sum(falls)} of "
            f"{len(falls)} runs.")


INTRO = README.parent / "book" / "intro.md"
INTRO_CLAIMS = {"E4 on the front page": intro_e4}


@pytest.mark.parametrize("name", sorted(INTRO_CLAIMS))
def test_front_page_states_what_the_artifact_shows(name):
    text = " ".join(INTRO.read_text().split())
    claim = INTRO_CLAIMS[name]()
    assert " ".join(claim.split()) in text, (
        f"book/intro.md no longer matches its artifact ({name}); the artifact now supports:\n{claim}")
