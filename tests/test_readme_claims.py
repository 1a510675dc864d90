"""Every sentence of the README and of the book's front page that states a result sits between claim marks and
is regenerated here from the shipped artifact it describes (:mod:`netgpt_lite.experiments.claims`): a
regenerated artifact that changes the finding fails this test, naming the passage and the words the artifact now
supports, instead of leaving a false sentence on the project's front page.  ``netgpt-lite claims --write`` (and
``netgpt-lite regenerate``) rewrite them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from netgpt_lite.experiments import claims

ROOT = claims.REPO_ROOT


@pytest.mark.parametrize("name", sorted(claims.CLAIMS))
def test_each_passage_says_what_its_artifact_shows(name):
    claim = claims.CLAIMS[name]
    now = claim.text()
    assert claims.current(ROOT, name).split() == now.split(), (
        f"{claim.file} no longer matches its artifact ({name}); `netgpt-lite claims --write` writes what the "
        f"artifact now supports:\n{now}")


def _copy(tmp_path):
    for claim in claims.CLAIMS.values():
        (tmp_path / claim.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / claim.file, tmp_path / claim.file)
    return tmp_path


def test_write_rewrites_a_changed_passage_and_leaves_the_rest_of_the_file(tmp_path):
    root = _copy(tmp_path)
    readme = root / "README.md"
    text = readme.read_text()
    old = claims.current(root, "rebuild-time")
    readme.write_text(text.replace(old, "One `regenerate` takes no time at all."))
    assert claims.differing(root) == ["rebuild-time"]
    assert claims.write(root) == ["rebuild-time"]
    assert claims.differing(root) == [] and readme.read_text() == text  # the same words, laid out the same


def test_a_missing_mark_names_the_file_and_the_marks_and_writes_nothing(tmp_path):
    root = _copy(tmp_path)
    intro = root / "book" / "intro.md"
    intro.write_text(intro.read_text().replace("<!-- /claim: e4-front-page -->", ""))
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(claims.current(root, "e5"), "stale words"))
    before = readme.read_text()
    with pytest.raises(ValueError, match=r"intro\.md has no passage 'e4-front-page': put '<!-- claim: e4-front"):
        claims.write(root)
    assert readme.read_text() == before


def test_layout_never_starts_a_line_like_a_markdown_block():
    words = "a " * 55 + "b - c " + "x " * 60 + "1. d"
    for line in claims.layout(words).splitlines():
        assert len(line) <= claims.WIDTH and not claims._BLOCK_START.match(line)
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert claims.layout(table + "\n\nwords after it") == table + "\n\nwords after it"


def test_the_claims_command_checks_then_writes(tmp_path):
    root = _copy(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(claims.current(root, "e5"), "stale words"))

    def run(*flags):
        return subprocess.run([sys.executable, "-m", "netgpt_lite", "claims", "--root", str(root), *flags],
                              capture_output=True, text=True)

    checked = run()
    assert checked.returncode == 1 and "differs    e5 " in checked.stdout and "claims --write" in checked.stdout
    written = run("--write")
    assert written.returncode == 0 and "rewritten  e5 " in written.stdout
    assert run().returncode == 0
    refused = subprocess.run(  # a folder without the README is refused before anything is read
        [sys.executable, "-m", "netgpt_lite", "claims", "--root", str(tmp_path / "book")],
        capture_output=True, text=True)
    assert refused.returncode == 2 and "has no README.md" in refused.stderr


def test_the_e4_passage_adds_equal_success_once_the_run_kept_the_values(monkeypatch):
    import numpy as np

    from netgpt_lite.experiments import equal_success as es

    rng = np.random.default_rng(0)

    def rnd(acc, cloud):
        score = rng.random(len(cloud))
        edge = (rng.random(len(cloud)) < np.clip(acc + 0.4 * (score - 0.5), 0, 1)).astype(float)
        return {es.EDGE_ONLY: {"score": list(score), "success": list(edge)}, es.ALWAYS: {"success": list(cloud)}}

    cloud = (rng.random(200) < 0.97).astype(float)
    e4 = {"traces": {"reachable": {"seeds": [0], "runs": {"0": {"rounds": [rnd(0.5, cloud), rnd(0.9, cloud)]}}}},
          "arms": {}}
    monkeypatch.setattr(claims, "_data", lambda rel: {"E4": e4})
    monkeypatch.setattr(claims, "headline", lambda e: "What the run shows.")
    said = claims.e4_headline()
    assert said.startswith("What the run shows. On the reachable trace, holding task success within 2 points")
    assert "calibration set" not in said  # rounds that kept no calibration set: no cut chosen on one
    for r in e4["traces"]["reachable"]["runs"]["0"]["rounds"]:  # the calibration set: its own labelled requests
        labels = rnd(0.7, (rng.random(100) < 0.97).astype(float))
        r["calibration_choice"] = {"chosen": "platt", "calibration_set": {
            "score": labels[es.EDGE_ONLY]["score"], "edge_correct": labels[es.EDGE_ONLY]["success"],
            "cloud_correct": labels[es.ALWAYS]["success"]}}
    said = claims.e4_headline()
    assert said.endswith(".") and "with the cut chosen on each round's calibration set" in said
    for run in e4["traces"]["reachable"]["runs"].values():
        for r in run["rounds"]:
            del r[es.EDGE_ONLY]
    assert claims.e4_headline() == "What the run shows."


def test_the_memory_passage_reads_each_rounds_recorded_peak(monkeypatch):
    """Rounds made before the peak was kept count as not recorded; the largest of any round (arms included)
    is the run's ``round_peak_rss_mb``."""
    runs = {"0": {"rounds": [{}, {}, {}], "peak_rss_mb": [None, 2048.0, 2560.0]},
            "1": {"rounds": [{}, {}, {}]}}
    e4 = {"traces": {"reachable": {"runs": runs}}, "round_peak_rss_mb": 2600.0}
    monkeypatch.setattr(claims, "_data", lambda rel: {"E4": e4})
    assert claims.e4_memory() == ("In the shipped run the largest peak resident memory of any round, arms included, "
                                  "was 2.54 GiB (2 of "
                                  "the 6 rounds of its main runs recorded theirs; the largest of those: 2.50 GiB).")
    e4["round_peak_rss_mb"] = None
    assert claims.e4_memory() == "The shipped run was made before its rounds recorded their memory."
