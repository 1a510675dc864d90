"""Tests of ``netgpt_lite.stats``: the paired comparison and the sample-size arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from netgpt_lite.stats import half_width, mcnemar_exact_p, paired_comparison, requests_to_resolve


@pytest.mark.parametrize("a_only, b_only", [(0, 1), (3, 9), (12, 12), (40, 25), (1, 30)])
def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_pairs(a_only, b_only):
    assert mcnemar_exact_p(a_only, b_only) == pytest.approx(binomtest(a_only, a_only + b_only, 0.5).pvalue)


def test_paired_comparison_counts_flips_and_its_interval_covers_the_difference():
    rng = np.random.default_rng(0)
    b = rng.random(500) < 0.6
    a = b.copy()
    flip = rng.choice(500, size=60, replace=False)
    a[flip[:40]], a[flip[40:]] = True, False  # up to 40 flips to right, 20 to wrong
    r = paired_comparison(a, b, seed=1)
    assert r["n"] == 500 and r["a_only"] + r["both_right"] == a.sum() and r["b_only"] + r["both_right"] == b.sum()
    assert r["difference"] == pytest.approx(a.mean() - b.mean())
    assert r["ci_low"] < r["difference"] < r["ci_high"] and r["ci_high"] - r["ci_low"] < 0.06
    assert r == paired_comparison(a, b, seed=1)  # seeded: the same interval twice
    assert paired_comparison(b, a, seed=1)["difference"] == -r["difference"]


def test_pairing_makes_the_interval_narrower_than_independent_samples():
    rng = np.random.default_rng(3)
    b = rng.random(400) < 0.6
    a = b ^ (rng.random(400) < 0.1)  # they disagree on ~10% of requests
    r = paired_comparison(a, b, seed=0)
    unpaired = 2 * half_width(400, rate=0.6) * np.sqrt(2)  # two independent samples of 400
    assert r["ci_high"] - r["ci_low"] < 0.6 * unpaired


def test_sample_size_arithmetic():
    assert half_width(60, rate=0.5) == pytest.approx(0.1265, abs=1e-4)  # 60 requests: +-12.7 points
    n = requests_to_resolve(0.05, discordant=0.2)
    assert half_width(n, discordant=0.2) <= 0.05 < half_width(n - 1, discordant=0.2)
    assert requests_to_resolve(0.05, rate=0.6) > 2 * requests_to_resolve(0.05, discordant=0.15)


@pytest.mark.parametrize("call, match", [
    (lambda: paired_comparison([1, 0], [1]), "equal-length"),
    (lambda: paired_comparison([1, 2], [1, 0]), "verdicts"),
    (lambda: paired_comparison([1], [1], n_bootstrap=5), "n_bootstrap"),
    (lambda: paired_comparison([1], [1], confidence=1.0), "confidence"),
    (lambda: requests_to_resolve(0.0, rate=0.5), "difference"),
    (lambda: requests_to_resolve(0.05), "exactly one"),
    (lambda: mcnemar_exact_p(-1, 2), ">= 0"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mean_interval_covers_the_mean_and_pairs_requests():
    import numpy as np

    from netgpt_lite.stats import mean_interval

    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 400)
    alone = mean_interval(a)
    assert alone["ci_low"] < alone["mean"] < alone["ci_high"] and alone["n"] == 400
    b = a - 0.1 + rng.normal(0.0, 0.05, 400)  # the same requests, shifted: pairing cancels their spread
    paired = mean_interval(a, paired_with=b)
    assert paired["ci_low"] > 0.09 - 0.02 and paired["ci_high"] < 0.11 + 0.02
    assert paired["ci_high"] - paired["ci_low"] < (alone["ci_high"] - alone["ci_low"]) / 5
    with pytest.raises(ValueError, match="same requests"):
        mean_interval(a, paired_with=b[:10])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
