"""Paired statistics for comparing two models on the same requests, and how many requests a claim needs.

Two edge models answered the same ``n`` requests; each answer is right or wrong.  The question "is A
better than B?" is about the *difference* of their exact-match rates, and because the requests are
shared, most of the noise cancels: only the requests where they disagree carry information.
:func:`paired_comparison` reports the difference with a bootstrap 95% interval (resampling requests,
so both models' verdicts move together) and McNemar's exact test on the discordant requests;
:func:`requests_to_resolve` is the arithmetic of how large ``n`` must be for the interval to be
narrower than a given difference.

Example:
    >>> a = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    >>> b = [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    >>> r = paired_comparison(a, b, seed=0)
    >>> r["n"], r["a_only"], r["b_only"], round(r["difference"], 2)
    (10, 3, 0, 0.3)
    >>> round(r["mcnemar_p"], 3)
    0.25
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.959963984540054  # the two-sided 95% normal quantile


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of ``a_only`` among the discordant pairs at 1/2.

    Args:
        a_only: Requests A got right and B wrong.
        b_only: Requests B got right and A wrong.

    Example:
        >>> mcnemar_exact_p(0, 0), round(mcnemar_exact_p(9, 1), 4)
        (1.0, 0.0215)
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"a_only and b_only must be >= 0, got {a_only}, {b_only}")
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


def _bootstrap_means(diff: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """``[n_bootstrap]`` means of ``diff`` over requests resampled with replacement (percentile bootstrap)."""
    rng, boot = np.random.default_rng(seed), np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 1000):  # chunks bound the memory at 1000 x n indices
        idx = rng.integers(0, diff.size, size=(min(1000, n_bootstrap - start), diff.size))
        boot[start : start + len(idx)] = diff[idx].mean(axis=1)
    return boot


def paired_comparison(
    a: Sequence, b: Sequence, *, n_bootstrap: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """Exact-match rates of A and B on the same requests, their difference and its uncertainty.

    Args:
        a: Per-request verdicts of model A (bool or 0/1), in the same request order as ``b``.
        b: Per-request verdicts of model B.
        n_bootstrap: Bootstrap resamples of the requests (>= 100).
        seed: Seed of the resampling.
        confidence: Level of the interval, in (0, 1).

    Returns:
        ``n``, ``a_exact_match``, ``b_exact_match``, ``difference`` (A - B), ``ci_low``, ``ci_high``
        (percentile bootstrap), ``confidence``, ``mcnemar_p`` (exact, two-sided), ``a_only`` (requests
        that flip to right from B to A), ``b_only`` (flip to wrong), ``both_right``, ``both_wrong``.

    Example:
        >>> paired_comparison([1, 0], [1, 0])["difference"]
        0.0
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"a and b must be equal-length, non-empty 1-D verdict lists; got shapes {x.shape}, {y.shape}")
    if not np.isin(x, (0.0, 1.0)).all() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("a and b must hold verdicts: True/False or 0/1")
    if n_bootstrap < 100:
        raise ValueError(f"n_bootstrap must be >= 100, got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = x.size
    diff = x - y  # per request: +1 A right only, -1 B right only, 0 agree
    boot = _bootstrap_means(diff, n_bootstrap, seed)
    tail = (1.0 - confidence) / 2.0
    a_only, b_only = int((diff > 0).sum()), int((diff < 0).sum())
    return {
        "n": int(n),
        "a_exact_match": float(x.mean()),
        "b_exact_match": float(y.mean()),
        "difference": float(diff.mean()),
        "ci_low": float(np.quantile(boot, tail)),
        "ci_high": float(np.quantile(boot, 1.0 - tail)),
        "confidence": confidence,
        "mcnemar_p": mcnemar_exact_p(a_only, b_only),
        "a_only": a_only,
        "b_only": b_only,
        "both_right": int(((x == 1) & (y == 1)).sum()),
        "both_wrong": int(((x == 0) & (y == 0)).sum()),
    }


def paired_mean_difference(a_seeds: Sequence[Sequence], b: Sequence, *, n_bootstrap: int = 10_000, seed: int = 0,
                           confidence: float = 0.95) -> dict:
    """A model trained with several seeds against a baseline (one verdict list, or one per seed of its
    own), on the same requests.

    Each request's accuracy is averaged over A's seeds (a value in [0, 1]) and over B's, and the two are
    subtracted; the requests are resampled together (percentile bootstrap), so the interval covers
    request-to-request variation of the seed-averaged difference (not the spread a new seed would add).

    Args:
        a_seeds: one verdict list per seed of A (bool or 0/1), each in the order of ``b``.
        b: the baseline's verdicts ``[n]``, or one list per seed of the baseline ``[n_seeds_b, n]``.
        n_bootstrap, seed, confidence: as in :func:`paired_comparison`.

    Returns:
        ``n``, ``n_seeds``, ``n_seeds_b``, ``a_exact_match``, ``b_exact_match`` (means over seeds),
        ``difference``, ``ci_low``, ``ci_high``, ``confidence``.

    Example:
        >>> r = paired_mean_difference([[1, 1, 0, 1], [1, 0, 0, 1]], [1, 0, 0, 0], n_bootstrap=200)
        >>> r["difference"], r["n_seeds"]
        (0.375, 2)
        >>> paired_mean_difference([[1, 1, 0, 1]], [[1, 0, 0, 1], [1, 1, 0, 0]], n_bootstrap=200)["difference"]
        0.25
    """
    x, y = np.asarray(a_seeds, dtype=float), np.asarray(b, dtype=float)
    y = y[None, :] if y.ndim == 1 else y
    if x.ndim != 2 or x.shape[0] < 1 or y.ndim != 2 or y.shape[0] < 1 or x.shape[1] != y.shape[1] or y.size == 0:
        raise ValueError(f"a_seeds must be [n_seeds, n] and b [n] or [n_seeds_b, n] verdicts, n > 0; "
                         f"got {x.shape}, {np.shape(b)}")  # fmt: skip
    if not np.isin(x, (0.0, 1.0)).all() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("a_seeds and b must hold verdicts: True/False or 0/1")
    if n_bootstrap < 100 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n_bootstrap >= 100 and confidence in (0, 1); got {n_bootstrap}, {confidence}")
    diff = x.mean(axis=0) - y.mean(axis=0)  # [n]: per request, seed-averaged A minus seed-averaged B
    interval = mean_interval(diff, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    return {"n": interval["n"], "n_seeds": int(x.shape[0]), "n_seeds_b": int(y.shape[0]),
            "a_exact_match": float(x.mean()), "b_exact_match": float(y.mean()), "difference": interval["mean"],
            "ci_low": interval["ci_low"], "ci_high": interval["ci_high"], "confidence": confidence}  # fmt: skip


def mean_interval(values: Sequence[float], paired_with: Sequence[float] | None = None, *, n_bootstrap: int = 10_000,
                  seed: int = 0, confidence: float = 0.95) -> dict:
    """The mean of per-request ``values`` with a percentile-bootstrap interval over requests; with
    ``paired_with`` (the same requests' values under another system), the mean *difference* and its interval.

    Works for any per-request quantity: 0/1 outcomes (a rate), costs in USD, utilities.

    Returns:
        ``n``, ``mean``, ``ci_low``, ``ci_high``, ``confidence``.

    Example:
        >>> mean_interval([1, 0, 1, 1], n_bootstrap=200)["mean"]
        0.75
        >>> round(mean_interval([0.5, 0.2, 0.1], paired_with=[0.1, 0.2, 0.1], n_bootstrap=200)["mean"], 3)
        0.133
    """
    x = np.asarray(values, dtype=float)
    if paired_with is not None:
        y = np.asarray(paired_with, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"paired_with must hold the same requests as values: shapes {y.shape} vs {x.shape}")
        x = x - y
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"values must be a non-empty 1-d array of finite numbers; got shape {x.shape}")
    if n_bootstrap < 100 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n_bootstrap >= 100 and confidence in (0, 1); got {n_bootstrap}, {confidence}")
    boot = _bootstrap_means(x, n_bootstrap, seed)
    tail = (1.0 - confidence) / 2.0
    return {"n": int(x.size), "mean": float(x.mean()), "ci_low": float(np.quantile(boot, tail)),
            "ci_high": float(np.quantile(boot, 1.0 - tail)), "confidence": confidence}


def verdict(comparison: dict) -> str:
    """How A compares with B, in words, from a paired result's 95% interval: ``"better than"`` (interval
    above 0), ``"worse than"`` (below 0) or ``"not distinguishable from"`` (it contains 0).

    Example:
        >>> verdict({"ci_low": -0.02, "ci_high": 0.03}), verdict({"ci_low": 0.01, "ci_high": 0.05})
        ('not distinguishable from', 'better than')
    """
    if comparison["ci_low"] > 0:
        return "better than"
    return "worse than" if comparison["ci_high"] < 0 else "not distinguishable from"


def half_width(n: int, *, rate: float | None = None, discordant: float | None = None, z: float = Z_95) -> float:
    """Half-width of the normal-approximation interval: of one rate (``rate``), or of a paired difference
    whose requests disagree with probability ``discordant`` (worst case: no net difference).

    Example:
        >>> round(half_width(60, rate=0.5), 3), round(half_width(500, discordant=0.2), 3)
        (0.127, 0.039)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if (rate is None) == (discordant is None):
        raise ValueError("give exactly one of rate (one model) or discordant (a paired comparison)")
    variance = rate * (1.0 - rate) if rate is not None else discordant
    if not 0.0 <= variance <= 1.0:
        raise ValueError("rate and discordant must be in [0, 1]")
    return float(z * math.sqrt(variance / n))


def requests_to_resolve(difference: float, *, discordant: float | None = None, rate: float | None = None,
                        z: float = Z_95) -> int:
    """Smallest ``n`` whose 95% interval is narrower than ``difference`` on each side.

    With ``discordant`` (share of requests on which two models disagree): a paired comparison, where
    the variance of the per-request difference is at most the discordant share.  With ``rate``: two
    *independent* samples of ``n`` requests each at that rate (variance ``2 p (1 - p)``), what an
    unpaired comparison would need.

    Example:
        >>> requests_to_resolve(0.05, discordant=0.2), requests_to_resolve(0.05, rate=0.6)
        (308, 738)
    """
    if not 0.0 < difference < 1.0:
        raise ValueError(f"difference must be in (0, 1), got {difference}")
    if (rate is None) == (discordant is None):
        raise ValueError("give exactly one of discordant (paired) or rate (unpaired)")
    variance = discordant if discordant is not None else 2.0 * rate * (1.0 - rate)
    if not 0.0 < variance <= 2.0:
        raise ValueError("discordant must be in (0, 1] and rate in (0, 1)")
    return int(math.ceil(z * z * variance / difference**2))
