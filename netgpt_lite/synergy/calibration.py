"""How a synergy round chooses FuncDyn's calibration map g = P(edge right | score) on its labelled calibration set.

The routing threshold sits where g crosses kappa, usually in the sparse top tail of the scores, where an isotonic
map fitted on a few dozen wrong answers is a step function of a handful of labels, while Platt's two parameters
interpolate.  Which fits better is an empirical question each round answers on its own labels:
:func:`choose_calibration` compares the two maps of :func:`~netgpt_lite.routing.funcdyn.fit_calibration` by
cross-validated log-loss, as :func:`~netgpt_lite.synergy.scoring.better_scorer` compares scorers by AUROC.

Example:
    >>> rng = np.random.default_rng(0)
    >>> s = rng.random(200); right = rng.random(200) < s
    >>> choose_calibration(s, right, np.random.default_rng(1))[0]
    'platt'
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.routing.funcdyn import CALIBRATIONS, P_CLIP, fit_calibration


def choose_calibration(scores, edge_correct, rng: np.random.Generator, folds: int = 8,
                       repeats: int = 5) -> tuple[str, dict]:
    """Pick the calibration g from the labelled logs themselves: the one of :data:`CALIBRATIONS` with the
    lower cross-validated log-loss (probabilities clipped to [P_CLIP, 1 - P_CLIP], as FuncDyn uses them).

    Folds are stratified (each holds its share of wrong answers) and the split is repeated ``repeats``
    times, since a few hundred labels with a few dozen wrong answers make one split noisy.  Ties, and logs
    with fewer than 2 right or 2 wrong answers (nothing to cross-validate), keep Platt: two parameters.
    Why it matters: the routing threshold sits where g crosses kappa, usually in the sparse top tail of the
    scores, where an isotonic map fitted on few wrong answers is a step function of a handful of labels.

    Args:
        scores: logged edge scores, shape (n,).
        edge_correct: whether each edge answer was right, shape (n,), booleans.
        rng: the fold assignment's generator.
        folds: cross-validation folds, >= 2.
        repeats: how many times the stratified split is redrawn, >= 1.

    Returns:
        The chosen method and a JSON-ready record: ``{"chosen", "cv_log_loss": {method: mean}, "folds",
        "repeats", "n", "wrong"}`` (``cv_log_loss`` empty when there was nothing to cross-validate).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.random(200); right = rng.random(200) < s   # g(s) = s: smooth, Platt's shape
        >>> method, record = choose_calibration(s, right, np.random.default_rng(1))
        >>> method, sorted(record["cv_log_loss"])
        ('platt', ['isotonic', 'platt'])
    """
    s, y = np.asarray(scores, dtype=float), np.asarray(edge_correct, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and edge_correct must be 1-d of one length; got {s.shape} and {y.shape}")
    if int(folds) < 2 or int(repeats) < 1:
        raise ValueError(f"folds must be >= 2 and repeats >= 1; got folds={folds!r}, repeats={repeats!r}")
    record = {"chosen": "platt", "cv_log_loss": {}, "folds": int(folds), "repeats": int(repeats), "n": len(y),
              "wrong": int((~y).sum())}
    if min(int(y.sum()), int((~y).sum())) < 2:
        return "platt", record
    loss = {m: 0.0 for m in CALIBRATIONS}
    for _ in range(int(repeats)):
        fold = np.empty(len(y), dtype=int)
        for cls in (True, False):  # stratified: each class dealt round-robin over the folds in a random order
            idx = np.flatnonzero(y == cls)
            fold[rng.permutation(idx)] = np.arange(len(idx)) % int(folds)
        for k in range(int(folds)):
            test, train = fold == k, fold != k
            for m in CALIBRATIONS:
                g = np.clip(np.asarray(fit_calibration(s[train], y[train], m)(s[test]), float), P_CLIP, 1 - P_CLIP)
                loss[m] -= float(np.sum(np.where(y[test], np.log(g), np.log1p(-g))))
    record["cv_log_loss"] = {m: round(v / (len(y) * int(repeats)), 6) for m, v in loss.items()}
    record["chosen"] = "isotonic" if loss["isotonic"] < loss["platt"] - 1e-9 else "platt"
    return record["chosen"], record
