"""``scripts/sft_sweep.py``: a setting trained with several seeds is compared with the reference over its seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sft_sweep.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sft_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("point", "setting"), [
    ("names-n400-e1-s2", "names-n400-e1"),
    ("compact-n400-e1-s10", "compact-n400-e1"),
    ("compact-n800-e1-s0-broad", "compact-n800-e1-broad"),
    ("model-sft", "model-sft"),  # a model evaluated as it is: no seed to drop
    ("compact-n400-e1-seedless", "compact-n400-e1-seedless"),
])
def test_setting_of_drops_only_the_seed(sweep, point, setting):
    assert sweep.setting_of(point) == setting


def test_by_setting_pairs_seeds_and_averages_over_them(sweep):
    rng = np.random.default_rng(0)
    n = 200
    points = {f"{fmt}-n400-e1-s{s}": {"correct": rng.integers(0, 2, n).tolist()}
              for fmt in ("compact", "names") for s in range(3)}
    points.update({f"names-n400-e1-s{s}-broad": {"correct": rng.integers(0, 2, n).tolist()} for s in (1, 2)})
    points["model-sft"] = {"correct": rng.integers(0, 2, n).tolist()}
    rows = sweep.by_setting({"validation300": {"points": points}}, reference="compact-n400-e1-s0")
    by_a = {r["a"]: r for r in rows}
    assert set(by_a) == {"names-n400-e1", "names-n400-e1-broad", "model-sft"} and all(r["b"] == "compact-n400-e1" for r in rows)
    names = by_a["names-n400-e1"]
    assert names["n"] == n and names["n_seeds"] == names["n_seeds_b"] == 3
    # seed k against seed k, never against another seed
    assert [(s["a"][-2:], s["b"][-2:]) for s in names["per_seed"]] == [("s0", "s0"), ("s1", "s1"), ("s2", "s2")]
    # the seed-averaged difference is the mean of the per-seed ones, inside its own interval
    assert names["difference"] == pytest.approx(np.mean([s["difference"] for s in names["per_seed"]]))
    assert names["ci_low"] <= names["difference"] <= names["ci_high"]
    broad = by_a["names-n400-e1-broad"]  # a variety tag after the seed: still paired by seed
    assert [(s["a"], s["b"]) for s in broad["per_seed"]] == [("names-n400-e1-s1-broad", "compact-n400-e1-s1"),
                                                             ("names-n400-e1-s2-broad", "compact-n400-e1-s2")]
    # a model without seeds against the three reference seeds: no same-seed pair, one averaged difference
    assert by_a["model-sft"]["n_seeds"] == 1 and by_a["model-sft"]["per_seed"] == []


def test_by_setting_skips_a_set_without_the_reference(sweep):
    points = {"names-n400-e1-s0": {"correct": [1, 0, 1]}}
    assert sweep.by_setting({"validation300": {"points": points}}, reference="compact-n400-e1-s0") == []
