"""How a synergy system scores its edge's answers, and how a round chooses its scorer.

The score a request is routed on is the edge's self-confidence until a round fits a learned scorer on
logged requests held out of training (:func:`fit_scorer`, label: the edge's call equals the cloud's).  A
learned scorer fitted on a few dozen logged requests can rank answers worse than self-confidence, so a
round keeps it only when it separates right from wrong answers better on the labelled calibration set
(:func:`better_scorer`); the choice and both AUROCs are recorded with the round.

Example:
    >>> kept, record = better_scorer((None, "fitted"), lambda s: [0.9, 0.1], [True, False])
    >>> kept, record["auroc"]
    (None, [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.edge.scoring import LearnedScorer, auroc, scorer_features, self_confidence
from netgpt_lite.synergy.edge_models import edge_agent
from netgpt_lite.tasks.checker import check_call

FEATURE_BATCH = 8
"""Outputs whose scorer features are computed together.  ``scorer_features`` runs its texts in batches of 64
and keeps every layer's hidden states of the batch (31 x [64, L, 576] floats for SmolLM2): a round choosing
its scorer on 64 calibration answers that way peaked at 6.2 GB resident, 3.3 GB in groups of 16 and 2.4 GB
in groups of 8.  Each row's features are the same whatever the group (mean-pooled over its own tokens)."""


def edge_scores(system, agent, outputs) -> np.ndarray:
    """The routing score of each edge output: the learned scorer when fitted, else self-confidence.

    An output that fails its tool's JSON schema scores 0 whatever the scorer says: the edge checks its own
    call against the schema before trusting it (no gold needed), so an invalid call always falls back
    when the cloud is worth reaching.
    """

    scores = self_confidence(outputs) if system.scorer is None else system.scorer.predict(_features(agent, outputs))
    return np.where([o.schema_valid for o in outputs], scores, 0.0)


def fit_scorer(system, held, config):
    """Refit the learned scorer on held-out logged requests (label: edge call == cloud call); None if
    the labels hold a single class."""

    tasks = [t for t, _ in held]
    agent = edge_agent(system, config.edge_decoding)
    outputs = agent.run(tasks)
    labels = np.array([check_call(o.tool_call, t.tools, c).correct for o, (t, c) in zip(outputs, held)], int)
    if labels.min() == labels.max():
        return None
    return LearnedScorer(seed=config.seed).fit(_features(agent, outputs), labels)


def _features(agent, outputs) -> np.ndarray:
    """``scorer_features`` of ``outputs`` in groups of :data:`FEATURE_BATCH`: ``[n, hidden + 7]``."""
    outputs = list(outputs)
    groups = [scorer_features(agent, outputs[i:i + FEATURE_BATCH]) for i in range(0, len(outputs), FEATURE_BATCH)]
    return np.vstack(groups) if groups else scorer_features(agent, outputs)


def scorer_name(scorer) -> str:
    """``"self"`` for self-confidence (None), else ``"learned"``."""
    return "self" if scorer is None else "learned"


def better_scorer(candidates, score_with, right) -> tuple[object | None, dict]:
    """The candidate scorer that best separates the edge's right answers from its wrong ones, and the record.

    Args:
        candidates: Scorers (None: self-confidence), the current one first: ties keep the earlier one.
        score_with: ``scorer -> [n] scores`` of the edge's answers to the labelled calibration set
            (requests no scorer was fitted on: validation, never the evaluation stream).
        right: ``[n]`` bool, whether each of those answers is correct.

    Returns:
        ``(scorer, record)``: the kept scorer and ``{"candidates": [...], "auroc": [...], "kept": i,
        "n_requests": n}``.  With a single outcome in ``right`` nothing can be ranked: the first candidate
        is kept and the AUROCs are None.

    Example:
        >>> right = np.array([1, 0, 1, 0], bool)
        >>> scores = {None: [0.9, 0.2, 0.8, 0.1], "fitted": [0.1, 0.9, 0.2, 0.8]}
        >>> kept, record = better_scorer((None, "fitted"), lambda s: scores[s], right)
        >>> kept, record["candidates"], record["auroc"], record["kept"]
        (None, ['self', 'learned'], [1.0, 0.0], 0)
    """
    right = np.asarray(right, dtype=bool)
    record = {"candidates": [scorer_name(s) for s in candidates], "auroc": [None] * len(candidates), "kept": 0,
              "n_requests": int(len(right))}
    if right.all() or not right.any():
        return candidates[0], record
    for i, scorer in enumerate(candidates):
        record["auroc"][i] = float(auroc(np.asarray(score_with(scorer), dtype=float), right))
    record["kept"] = int(np.argmax(record["auroc"]))  # the first of equals: the current scorer wins ties
    return candidates[record["kept"]], record
