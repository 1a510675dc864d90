"""The README's and the front page's sentences about results, generated from the artifacts they describe.

A sentence about a result is never typed by hand: each one sits between two marks in its file,
``<!-- claim: NAME -->`` and ``<!-- /claim: NAME -->`` (HTML comments: invisible on GitHub and in the book),
and :data:`CLAIMS` names the function that writes it from the shipped artifact.  ``netgpt-lite claims``
says which passages no longer match their artifact, ``netgpt-lite claims --write`` rewrites them, and
``netgpt-lite regenerate`` rewrites them after it remakes artifacts, so that a regenerated result and the
words about it change together.  ``tests/test_readme_claims.py`` fails while any passage differs.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "README.md").write_text("Intro.\\n\\n<!-- claim: demo -->\\nold words\\n<!-- /claim: demo -->\\n")
    >>> demo = {"demo": Claim("README.md", lambda: "What the artifact now says.")}
    >>> differing(root, demo)
    ['demo']
    >>> write(root, demo)
    ['demo']
    >>> (root / "README.md").read_text().splitlines()[3]
    'What the artifact now says.'
    >>> differing(root, demo)
    []
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.experiments import calibrated_cut, equal_success
from netgpt_lite.experiments.e5_records import read_e5
from netgpt_lite.experiments.rl_summary import contrast
from netgpt_lite.experiments.rl_summary import sentence as e5_sentence
from netgpt_lite.experiments.synergy_findings import front_page, headline, sentence
from netgpt_lite.provenance import PACKAGE_DIR, atomic_write_text
from netgpt_lite.provenance.pipeline import rebuild_cost, rebuild_sentence
from netgpt_lite.provenance.registry import PUBLIC_LTE

REPO_ROOT = PACKAGE_DIR.parent  # the checkout's root when the library is installed from one (pip install -e .)
WIDTH = 116  # the README's line width; Markdown joins the lines of a paragraph again
_BLOCK_START = re.compile(r"([-+*>] |#|\d+[.)] |\|)")
E5_LABELS = {"rl": "SFT-anchored RL", "sft": "its SFT start", "more_sft": "more SFT on the same cloud answers",
             "raft": "rejection-sampling fine-tuning", "more_sft_rl": "more SFT followed by SFT-anchored RL"}


@dataclass(frozen=True)
class Claim:
    """One generated passage: the file it lives in (relative to the repository root) and what writes it."""

    file: str
    text: Callable[[], str]


def _data(rel: str) -> dict:
    return json.loads((PACKAGE_DIR / "data" / rel).read_text())


def e4_headline() -> str:
    """What the shipped E4/E6 run shows (:func:`~netgpt_lite.experiments.synergy_findings.headline`), then, where
    its rounds kept the edge-only values, the cloud calls each trace needed at equal success and RL's share in
    them (:mod:`~netgpt_lite.experiments.equal_success`), and, where they kept their calibration sets, what a
    cut chosen on those gives (:mod:`~netgpt_lite.experiments.calibrated_cut`)."""
    e4 = _data("results/results.json")["E4"]
    said = [sentence(equal_success.sentence_by_round(e4, t)) for t in e4["traces"]
            if equal_success.kept_values(e4, t)]
    arm = equal_success.arm_sentence(e4, "rl_off")
    cut = [sentence(calibrated_cut.sentence(e4, t)) for t in e4["traces"] if calibrated_cut.kept_sets(e4, t)]
    return " ".join([headline(e4), *said, *([sentence(arm)] if arm else []), *cut])


def e4_front_page() -> str:
    """The front page's sentence on the shipped E4 run (:func:`~netgpt_lite.experiments.synergy_findings.front_page`)."""
    return front_page(_data("results/results.json")["E4"])


def e4_memory() -> str:
    """The largest resident memory of an E4 round (each runs in a process of its own and records its peak), and
    how many rounds of the main runs recorded one (runs made before rounds kept it read as not recorded)."""
    e4 = _data("results/results.json")["E4"]
    peaks = [m for t in e4["traces"].values() for run in t["runs"].values() for m in run.get("peak_rss_mb") or []]
    n_rounds = sum(len(run["rounds"]) for t in e4["traces"].values() for run in t["runs"].values())
    kept = [m for m in peaks if m is not None]
    if e4.get("round_peak_rss_mb") is None or not kept:
        return "The shipped run was made before its rounds recorded their memory."
    return (f"In the shipped run the largest peak resident memory of any round, arms included, was "
            f"{e4['round_peak_rss_mb'] / 1024:.2f} GiB ({len(kept)} of the {n_rounds} rounds of its main runs "
            f"recorded theirs; the largest of those: {max(kept) / 1024:.2f} GiB).")


def rebuild_time() -> str:
    """The time one ``regenerate`` from a fresh clone takes: each stage's last recorded run, summed."""
    return rebuild_sentence(rebuild_cost())


def e5_results() -> str:
    """RL against its start, more SFT and rejection sampling on E5's test requests, each in the words of
    :func:`~netgpt_lite.experiments.rl_summary.sentence` (generated from its interval)."""
    table = read_e5()["contrasts"]
    rows = [contrast(table, "rl", b) for b in ("sft", "more_sft", "raft")]
    return "; ".join(e5_sentence(r, E5_LABELS) for r in rows if r is not None) + "."


def e5_deployment_day() -> str:
    """E5 on a day of the deployment's own phrasings: RL against its start and against more SFT, on the test
    requests and on the independently written ones, then what the RL half of "more SFT, then RL" added."""
    table = read_e5(PACKAGE_DIR / "data/rl/deployment_day/e5.json")["contrasts"]
    pairs = [("rl", "sft"), ("rl", "more_sft"), ("more_sft_rl", "sft"), ("more_sft_rl", "more_sft")]
    rows = [contrast(table, a, b, suite) for suite in ("test", "independent") for a, b in pairs]
    text = "; ".join(e5_sentence(r, E5_LABELS) for r in rows if r is not None) + "."
    added = contrast(table, "more_sft_rl", "more_sft")
    if added is not None:
        text += (" More SFT followed by RL is the order a synergy round trains in; " + (
            "its gain over the start is, within its interval, the gain of its SFT half."
            if added["ci_low"] <= 0 <= added["ci_high"] else
            f"its RL half {'added to' if added['ci_low'] > 0 else 'took from'} the gain of its SFT half."))
    return text


def _interval(row: dict) -> str:
    return f"{row['mean']:+.4f} ({row['ci_low']:+.4f} to {row['ci_high']:+.4f})"


def public_lte_table() -> str:
    """Per public LTE trace (``data/results/public_lte``): the room above the best fixed threshold in hindsight
    and cross-fitted, FuncDyn against the fixed thresholds, PolicyNet / FuncDyn; then where the cross-fitted
    room is resolved."""
    lines = ["| public LTE trace | room in hindsight | room cross-fitted | FuncDyn - fixed_hindsight | "
             "FuncDyn - fixed_logs | PolicyNet / FuncDyn |", "|---|---|---|---|---|---|"]
    resolved, verdicts, beats_logs, config = [], [], [], None
    for name in PUBLIC_LTE:
        res = _data(f"results/public_lte/{name}.json")
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


CLAIMS: dict[str, Claim] = {
    "e4": Claim("README.md", e4_headline),
    "e4-memory": Claim("README.md", e4_memory),
    "rebuild-time": Claim("README.md", rebuild_time),
    "e5": Claim("README.md", e5_results),
    "e5-deployment-day": Claim("README.md", e5_deployment_day),
    "public-lte": Claim("README.md", public_lte_table),
    "e4-front-page": Claim("book/intro.md", e4_front_page),
}


def _marks(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- claim: {re.escape(name)} -->\n)(.*?)(\n<!-- /claim: {re.escape(name)} -->)", re.S)


def layout(text: str) -> str:
    """A generated passage as it is written into Markdown: paragraphs wrapped at :data:`WIDTH` columns,
    table rows kept whole.

    Example:
        >>> layout("| a |\\n|---|\\n\\n" + "word " * 30).splitlines()[:3]
        ['| a |', '|---|', '']
    """
    out = []
    for paragraph in text.strip().split("\n\n"):
        lines = paragraph.splitlines()
        if all(line.startswith("|") for line in lines):
            out.append("\n".join(lines))
        else:
            out.append(_fill(" ".join(paragraph.split())))
    return "\n\n".join(out)


def _fill(words: str) -> str:
    """Wrap at most :data:`WIDTH` columns so that no line starts like a Markdown block ("- ", "1. ", "#"...),
    which would turn the rest of a sentence into a list item or a heading."""
    for width in range(WIDTH, WIDTH - 20, -1):
        text = textwrap.fill(words, width, break_long_words=False, break_on_hyphens=False)
        if not any(_BLOCK_START.match(line) for line in text.splitlines()[1:]):
            return text
    return words  # one long line is still the same paragraph


def current(root: Path, name: str, claims: dict[str, Claim] = CLAIMS) -> str:
    """The passage between ``name``'s marks in its file under ``root``.

    Raises:
        ValueError: the file has no such marks (naming the file and the marks to add).
    """
    path = Path(root) / claims[name].file
    found = _marks(name).search(path.read_text())
    if found is None:
        raise ValueError(f"{path} has no passage '{name}': put '<!-- claim: {name} -->' and "
                         f"'<!-- /claim: {name} -->' on lines of their own around it")
    return found.group(2)


def differing(root: Path = REPO_ROOT, claims: dict[str, Claim] = CLAIMS) -> list[str]:
    """The names of the passages under ``root`` whose words (whitespace aside) differ from their artifact's."""
    return [n for n, c in claims.items() if current(root, n, claims).split() != c.text().split()]


def write(root: Path = REPO_ROOT, claims: dict[str, Claim] = CLAIMS) -> list[str]:
    """Rewrite every passage under ``root`` that differs from its artifact; returns their names.

    Every file is checked for its marks before any is written, so a missing mark changes nothing.
    """
    stale = differing(root, claims)
    for file in sorted({claims[n].file for n in stale}):
        path = Path(root) / file
        text = path.read_text()
        for name in (n for n in stale if claims[n].file == file):
            text = _marks(name).sub(lambda m, n=name: m.group(1) + layout(claims[n].text()) + m.group(3), text)
        atomic_write_text(path, text)
    return stale
