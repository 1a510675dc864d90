"""A learned reward model for requests nobody labelled (chapter 6): the paper's design, and its weakness.

Requests the edge kept carry no label: the cloud never answered them.  To practise on them anyway, RL
rewards a completion with a **reward model**: the learned scorer of chapter 4
(:class:`~netgpt_lite.edge.scoring.LearnedScorer`, logistic regression on the frozen SFT model's pooled
hidden state of prompt + completion and the completion's self-confidence) fitted on cloud-routed pairs,
where the label is "the edge's call matches the cloud's".  Schema validity needs no label (the tools'
JSON schemas are known), so an invalid call gets the checker's :data:`~netgpt_lite.tasks.checker.INVALID_REWARD`
and a valid one the reward model's probability in [0, 1].

The reward model is imperfect, and a policy optimised against it can raise its score without raising
the checker's (reward hacking): the anchors of the composite objective exist to stop that.  Chapter 6
reports the reward-model score beside the checker's on the same samples.

Example:
    >>> float(INVALID_REWARD)
    -0.5
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from netgpt_lite.edge.agent import EdgeOutput
from netgpt_lite.edge.scoring import LearnedScorer, auroc, scorer_features
from netgpt_lite.tasks.checker import INVALID_REWARD, check_call, parse_tool_call


def sample_outputs(prompts: Sequence[str], completions: Sequence[str], tools_json: Sequence[str],
                   token_logprobs: Sequence[np.ndarray], n_prompt_tokens: Sequence[int]) -> list[EdgeOutput]:
    """Completions (sampled or greedy) as :class:`~netgpt_lite.edge.agent.EdgeOutput` rows, parsed and
    schema-checked: what :func:`~netgpt_lite.edge.scoring.scorer_features` reads."""
    rows = []
    for prompt, text, tools, logp, n_in in zip(prompts, completions, tools_json, token_logprobs, n_prompt_tokens,
                                               strict=True):  # fmt: skip
        call = parse_tool_call(text)
        valid = call is not None and check_call(call, json.loads(tools), call).schema_valid
        logp = np.asarray(logp, dtype=float)
        rows.append(EdgeOutput(prompt, text, call, bool(valid), logp, int(n_in), int(logp.size), 0.0))
    return rows


class RewardModel:
    """Reward of a completion without a label: ``INVALID_REWARD`` if schema-invalid, else P(matches the cloud).

    Args:
        model, tokenizer: the frozen SFT edge whose hidden states are the features (never the policy:
            a reward model that moved with the policy would be even easier to game).
        scorer: a fitted :class:`~netgpt_lite.edge.scoring.LearnedScorer`.
    """

    def __init__(self, model, tokenizer, scorer: LearnedScorer) -> None:
        self.agent = SimpleNamespace(model=model, tokenizer=tokenizer)
        self.scorer = scorer
        self.fit_report: dict = {}

    @classmethod
    def fit(cls, model, tokenizer, outputs: Sequence[EdgeOutput], labels, seed: int = 0,
            regularization_c: float = 0.1) -> RewardModel:  # fmt: skip
        """Fit on cloud-routed pairs: the edge's ``outputs`` and ``labels`` (1: its call matches the cloud's)."""
        labels = np.asarray(labels, dtype=int)
        features = scorer_features(SimpleNamespace(model=model, tokenizer=tokenizer), outputs)
        scorer = LearnedScorer(regularization_c=regularization_c, seed=seed).fit(features, labels)
        rm = cls(model, tokenizer, scorer)
        rm.fit_report = {"n": int(labels.size), "positive_rate": float(labels.mean()),
                         "train_auroc": float(auroc(scorer.predict(features), labels))}  # fmt: skip
        return rm

    def probability(self, outputs: Sequence[EdgeOutput]) -> np.ndarray:
        """P(the call matches the cloud's) for each output, in [0, 1]."""
        if not outputs:
            return np.zeros(0)
        return self.scorer.predict(scorer_features(self.agent, outputs))

    def rewards(self, outputs: Sequence[EdgeOutput]) -> np.ndarray:
        """``INVALID_REWARD`` for schema-invalid outputs, the probability for valid ones."""
        p = self.probability(outputs)
        valid = np.array([o.schema_valid for o in outputs], dtype=bool)
        return np.where(valid, p, INVALID_REWARD)
