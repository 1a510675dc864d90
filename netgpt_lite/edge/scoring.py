"""Scores for "is the edge right?", calibration maps g(s) = P(edge right | s), and their quality metrics.

The router keeps the edge's answer when its calibrated score clears a threshold, so two things
matter: how well a score *ranks* right above wrong answers (:func:`auroc`), and how well a
calibration map turns it into a probability (:func:`expected_calibration_error`).

* **Self-confidence** (:func:`self_confidence`): ``exp(mean token log-prob)`` of the edge's own
  completion (or the min), 0 for unparseable or schema-invalid calls (:class:`~netgpt_lite.edge.agent.EdgeOutput`).
* **Learned scorer** (:class:`LearnedScorer`): logistic regression on the edge model's mean-pooled
  last hidden state over prompt + completion, plus the two self-confidences, the completion length
  and schema validity (:func:`scorer_features`).  It is trained on logged requests whose label is
  "the edge call matches the cloud's call" (the cloud's answer is what the logs hold: the
  scorer learns to predict agreement with the cloud, not the unknowable truth).
* **Calibration maps**: :class:`IsotonicCalibration` (monotone, non-parametric) and Platt scaling,
  :class:`~netgpt_lite.theory.threshold.LogisticCalibration` (``g(s) = sigmoid(a s + b)``; its ``a``, ``b``
  feed chapter 2's closed form ``tau* = (logit(kappa) - b) / a``).  Both are built by the classmethod
  ``fit(scores, labels)``, evaluated by calling them, ``g(scores)``, and have ``inverse(prob)``: the score
  where the calibrated probability reaches ``prob`` (for isotonic, the smallest such score: ``+inf``
  when none does, ``-inf`` when all do).

Example:
    >>> import numpy as np
    >>> s = np.array([0.1, 0.2, 0.6, 0.9]); y = np.array([0, 0, 1, 1])
    >>> auroc(s, y)
    1.0
    >>> iso = IsotonicCalibration.fit(s, y)
    >>> float(iso(0.8)), float(iso.inverse(0.5))
    (1.0, 0.4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netgpt_lite.agents.cloud_sim import SimulatedCloud
from netgpt_lite.edge.evaluation import evaluate, verdicts
from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.generate import generate_tasks
from netgpt_lite.theory.threshold import LogisticCalibration


def self_confidence(outputs: Sequence, score: str = "mean") -> np.ndarray:
    """Self-confidence of each :class:`~netgpt_lite.edge.agent.EdgeOutput` (``"mean"`` or ``"min"``)."""
    return np.array([o.confidence(score) for o in outputs], dtype=float)


def _check_scores(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).astype(float).ravel()
    if s.shape != y.shape or s.size == 0:
        raise ValueError(f"scores and labels must be non-empty and of equal length, got {s.size} and {y.size}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0/1 (or booleans)")
    return s, y


def auroc(scores, labels) -> float:
    """Area under the ROC curve: P(score of a right answer > score of a wrong one), ties count 1/2.

    Raises ValueError when ``labels`` hold only one class (AUROC is undefined then).
    """
    from sklearn.metrics import roc_auc_score

    s, y = _check_scores(scores, labels)
    if y.min() == y.max():
        raise ValueError("labels must contain both classes (some right and some wrong answers) for AUROC")
    return float(roc_auc_score(y, s))


def expected_calibration_error(probs, labels, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins on [0, 1]: ``sum_b (n_b / n) * abs(mean(prob_b) - mean(label_b))``.

    Bin b holds probabilities in ``[b/n_bins, (b+1)/n_bins)``, the last bin includes 1.  Empty bins
    contribute nothing.  A perfectly calibrated predictor has ECE near 0 (sampling noise only).

    Example:
        >>> expected_calibration_error([0.2, 0.2, 0.8, 0.8, 0.8], [0, 0, 1, 1, 1])
        0.2
    """
    p, y = _check_scores(probs, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probs must lie in [0, 1]; calibrate scores first")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        ece += in_bin.mean() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(round(ece, 12))


def reliability_table(probs, labels, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Per-bin ``bin_center, mean_prob, accuracy, count`` (non-empty bins) for a reliability diagram."""
    p, y = _check_scores(probs, labels)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    used = np.unique(bins)
    return {
        "bin_center": (used + 0.5) / n_bins,
        "mean_prob": np.array([p[bins == b].mean() for b in used]),
        "accuracy": np.array([y[bins == b].mean() for b in used]),
        "count": np.array([(bins == b).sum() for b in used]),
    }


@dataclass(frozen=True, eq=False)
class IsotonicCalibration:
    """g(s) by isotonic regression: non-decreasing, linear between its knots, clipped outside them.

    The same interface as :class:`~netgpt_lite.theory.threshold.LogisticCalibration` (the Platt
    map): built by :meth:`fit`, called as ``g(scores)``, inverted by ``g.inverse(prob)``.

    Attributes:
        score_knots: increasing scores where g changes slope, shape (k,).
        prob_knots: g at those scores, non-decreasing in [0, 1], shape (k,).

    Example:
        >>> g = IsotonicCalibration.fit([0.1, 0.4, 0.5, 0.9], [0, 1, 0, 1])
        >>> [round(float(v), 2) for v in g([0.0, 0.45, 1.0])]
        [0.0, 0.5, 1.0]
    """

    score_knots: np.ndarray
    prob_knots: np.ndarray

    def __post_init__(self) -> None:
        xs, ys = np.asarray(self.score_knots, dtype=float), np.asarray(self.prob_knots, dtype=float)
        if xs.ndim != 1 or xs.shape != ys.shape or xs.size == 0:
            raise ValueError(f"score_knots and prob_knots must be non-empty 1-D arrays of equal length, "
                             f"got shapes {xs.shape} and {ys.shape}")
        if np.any(np.diff(xs) <= 0) or np.any(np.diff(ys) < 0) or np.any((ys < 0) | (ys > 1)):
            raise ValueError("score_knots must increase and prob_knots must be non-decreasing in [0, 1]")
        object.__setattr__(self, "score_knots", xs)
        object.__setattr__(self, "prob_knots", ys)

    @classmethod
    def fit(cls, scores, labels) -> IsotonicCalibration:
        """Isotonic regression of the 0/1 ``labels`` on ``scores`` (scikit-learn), kept as its knots."""
        from sklearn.isotonic import IsotonicRegression

        s, y = _check_scores(scores, labels)
        model = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y)
        return cls(model.X_thresholds_, model.y_thresholds_)

    def __call__(self, scores) -> np.ndarray:
        """Calibrated probability P(edge right | score) for each score (the shape of ``scores``)."""
        return np.interp(np.asarray(scores, dtype=float), self.score_knots, self.prob_knots)

    def inverse(self, prob):
        """Smallest score whose calibrated probability is >= ``prob`` (broadcasts; +inf if none, -inf if all).

        g interpolates linearly between its knots, so the inverse interpolates too.
        """
        xs, ys = self.score_knots, self.prob_knots
        p = np.asarray(prob, dtype=float)
        if len(ys) == 1:  # a constant map: every score or none reaches prob
            out = np.where(p <= ys[0], -np.inf, np.inf)
            return out if out.ndim else float(out)
        idx = np.clip(np.searchsorted(ys, p, side="left"), 1, len(ys) - 1)  # first knot with g >= prob
        x0, x1, y0, y1 = xs[idx - 1], xs[idx], ys[idx - 1], ys[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = np.where(y1 > y0, x0 + (p - y0) * (x1 - x0) / (y1 - y0), x1)
        out = np.where(p <= ys[0], -np.inf, np.where(p > ys[-1], np.inf, inside))
        return out if out.ndim else float(out)


def hidden_states(model, tokenizer, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled last hidden state of each text (padding excluded), shape ``(len(texts), hidden_size)``."""
    import torch

    rows = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start : start + batch_size]), padding=True, return_tensors="pt",
                        add_special_tokens=False).to(model.device)  # fmt: skip
        with torch.no_grad():
            # logits_to_keep=1: the vocabulary projection of every position ([batch, seq, 49k] for SmolLM2) is not needed
            last = model(**enc, output_hidden_states=True, logits_to_keep=1).hidden_states[-1].float()  # (batch, seq, hidden)
        mask = enc["attention_mask"].unsqueeze(-1).float()
        rows.append(((last * mask).sum(1) / mask.sum(1)).cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, model.config.hidden_size))


def scorer_features(agent, outputs: Sequence) -> np.ndarray:
    """Learned-scorer inputs: pooled hidden state of prompt + completion, then 7 scalar features.

    The scalars are mean and min self-confidence, their logs (floored at log 1e-6: a linear model
    needs the log scale to tell 0.99 from 0.999), schema validity, the completion's length in
    tokens / 64, and the prompt's length / 128.
    """
    texts = [o.prompt + o.completion for o in outputs]
    pooled = hidden_states(agent.model, agent.tokenizer, texts)
    conf = np.array([[o.confidence("mean"), o.confidence("min")] for o in outputs]).reshape(-1, 2)
    other = np.array([[float(o.schema_valid), o.n_output_tokens / 64, o.n_input_tokens / 128] for o in outputs])
    scalars = np.hstack([conf, np.log(np.maximum(conf, 1e-6)), other.reshape(-1, 3)])
    return np.hstack([pooled, scalars])


class LearnedScorer:
    """P(edge right | features) by standardised L2 logistic regression (scikit-learn), seeded.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.normal(size=(200, 3)); y = (x[:, 0] > 0).astype(int)
        >>> scorer = LearnedScorer(seed=0).fit(x, y)
        >>> auroc(scorer.predict(x), y) > 0.95
        True
    """

    def __init__(self, regularization_c: float = 0.1, seed: int = 0) -> None:
        if regularization_c <= 0:
            raise ValueError(f"regularization_c must be > 0, got {regularization_c}; smaller means stronger L2")
        self.regularization_c, self.seed = regularization_c, seed

    def fit(self, features, labels) -> LearnedScorer:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(features, dtype=float)
        _, y = _check_scores(np.zeros(len(x)), labels)
        if y.min() == y.max():
            raise ValueError("labels must contain both classes to fit the scorer; log more requests")
        clf = LogisticRegression(C=self.regularization_c, max_iter=2000, random_state=self.seed)
        self.model_ = make_pipeline(StandardScaler(), clf).fit(x, y.astype(int))
        return self

    def predict(self, features) -> np.ndarray:
        """Score in [0, 1] for each row of features."""
        return self.model_.predict_proba(np.asarray(features, dtype=float))[:, 1]


SCORE_NAMES = ("self_mean", "self_min", "learned")


def cloud_labels(tasks: Sequence, outputs: Sequence, cloud=None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Labels of logged requests: does the edge call match the cloud's call?  ``(labels, kept, source)``.

    ``cloud`` defaults to ``agents.SimulatedCloud(seed=seed)``; ``source`` is ``"cloud"``.  Requests where
    the cloud gave no parseable call are dropped (``kept`` is the boolean mask of rows used).
    """
    cloud = SimulatedCloud(seed=seed) if cloud is None else cloud
    references, source = [p.tool_call for p in cloud.propose(list(tasks))], "cloud"
    kept = np.array([r is not None for r in references])
    labels = np.array([check_call(o.tool_call, t.tools, r).correct for t, o, r in zip(tasks, outputs, references)
                       if r is not None], dtype=int)  # fmt: skip
    return labels, kept, source


class ScoreReport:
    """Scores fitted on logs and measured on test tasks (see :func:`score_report`).

    Attributes:
        metrics: JSON-ready dict: per score AUROC on test, ECE raw / isotonic / Platt, Platt ``a``, ``b``.
        scorer: The fitted :class:`LearnedScorer`.
        calibrations: ``{score_name: {"isotonic": IsotonicCalibration, "platt": LogisticCalibration}}``.
        test_scores: ``{score_name: np.ndarray}`` raw scores on the test tasks.
        test_labels: 1 where the edge's test answer is right (checked against gold).
    """

    def __init__(self, metrics, scorer, calibrations, test_scores, test_labels) -> None:
        self.metrics, self.scorer, self.calibrations = metrics, scorer, calibrations
        self.test_scores, self.test_labels = test_scores, test_labels


def _all_scores(agent, outputs: Sequence, scorer: LearnedScorer | None) -> dict[str, np.ndarray]:
    scores = {"self_mean": self_confidence(outputs, "mean"), "self_min": self_confidence(outputs, "min")}
    if scorer is not None:
        scores["learned"] = scorer.predict(scorer_features(agent, outputs))
    return scores


def score_report(agent, test_tasks, test_outputs, scorer_tasks, calibration_tasks, cloud=None, seed=0,
                 progress: bool = False) -> ScoreReport:
    """Fit the learned scorer on ``scorer_tasks`` logs and calibration maps on ``calibration_tasks`` logs
    (labels: edge call matches the cloud's), then measure every score on the test tasks (labels: gold).

    If the logs hold only right (or only wrong) edge answers nothing can be fitted: ``metrics["scores"]``
    and ``calibrations`` are then empty and ``scorer`` is None.

    Example:
        >>> # r = score_report(agent, test, agent.run(test), generate_tasks("train", 600, seed=1),
        >>> #                  generate_tasks("validation", 300))
        >>> # r.metrics["scores"]["self_mean"]["auroc"]
    """

    fit_out = agent.run(scorer_tasks, progress=progress)
    cal_out = agent.run(calibration_tasks, progress=progress)
    fit_y, fit_kept, source = cloud_labels(scorer_tasks, fit_out, cloud, seed)
    cal_y, cal_kept, _ = cloud_labels(calibration_tasks, cal_out, cloud, seed + 1)
    fit_x = scorer_features(agent, [o for o, k in zip(fit_out, fit_kept) if k])
    both = 0 < fit_y.sum() < len(fit_y) and 0 < cal_y.sum() < len(cal_y)  # else nothing can be fitted
    scorer = LearnedScorer(seed=seed).fit(fit_x, fit_y) if both else None
    cal_scores = _all_scores(agent, [o for o, k in zip(cal_out, cal_kept) if k], scorer)
    test_scores = _all_scores(agent, test_outputs, scorer)
    test_y = np.array([v.correct for v in verdicts(test_tasks, test_outputs)], dtype=int)
    metrics = {"label_source": source, "n_scorer_logs": len(fit_y), "n_calibration_logs": len(cal_y),
               "n_test": len(test_y), "test_exact_match": float(test_y.mean()), "scores": {}}  # fmt: skip
    calibrations = {}
    for name in SCORE_NAMES if both else ():
        iso = IsotonicCalibration.fit(cal_scores[name], cal_y)
        platt = LogisticCalibration.fit(cal_scores[name], cal_y)
        calibrations[name] = {"isotonic": iso, "platt": platt}
        s = test_scores[name]
        metrics["scores"][name] = {
            "auroc": auroc(s, test_y) if 0 < test_y.sum() < len(test_y) else float("nan"),
            "ece_raw": expected_calibration_error(s, test_y),
            "ece_isotonic": expected_calibration_error(iso(s), test_y),
            "ece_platt": expected_calibration_error(platt(s), test_y),
            "platt_a": platt.a,
            "platt_b": platt.b,
        }
    return ScoreReport(metrics, scorer, calibrations, test_scores, test_y)


def evaluate_edge(agent, split: str = "test", n: int = 300, seed: int = 0, n_logs: int = 0, tasks=None,
                  progress: bool = False) -> dict:
    """What ``netgpt-lite eval-edge`` prints: accuracy of the edge and the AUROC / ECE of every score.

    Evaluates ``n`` generated tasks of ``split`` (task seed ``seed``), or the given ``tasks`` (e.g. a
    user's file, :func:`netgpt_lite.tasks.request_file.read_request_file`), through the one evaluator
    (:func:`netgpt_lite.edge.evaluation.evaluate`), then :func:`edge_metrics`.

    Returns:
        :func:`edge_metrics`'s dict.
    """
    _check_n_logs(n_logs)  # before any generation
    if tasks is None:
        if n < 2:
            raise ValueError(f"n must be >= 2, got {n}")
        tasks = generate_tasks(split, n, seed=seed)
    return edge_metrics(agent, evaluate(agent, tasks, progress=progress), split, seed, n_logs, progress)


def edge_metrics(agent, evaluation, split: str = "test", seed: int = 0, n_logs: int = 0,
                 progress: bool = False) -> dict:
    """Accuracy and score quality of an :class:`~netgpt_lite.edge.evaluation.Evaluation` of ``agent``.

    With ``n_logs >= 10`` the learned scorer is fitted on ``n_logs`` train logs and the calibration maps
    on ``n_logs // 2`` validation logs (task seed ``seed + 1``, so they never repeat the SFT data, drawn
    with seed 0, nor the evaluated tasks), which costs that many more generations; with ``n_logs = 0``
    only the self-confidence scores are measured (AUROC and raw ECE).

    Returns:
        A dict with ``split``, ``seed``, ``n``, ``exact_match``, ``schema_valid``, ``by_difficulty``,
        ``error_types``, ``accuracy`` (the full :func:`~netgpt_lite.edge.evaluation.accuracy_report`) and
        ``scores`` (per score name: ``auroc``, ``ece_raw`` and, with logs, the calibrated ECEs).
    """
    _check_n_logs(n_logs)
    tasks, outputs = evaluation.tasks, evaluation.outputs
    split = tasks[0].split if tasks else split
    acc = evaluation.report()
    if n_logs:
        logs = generate_tasks("train", n_logs, seed=seed + 1), generate_tasks("validation", n_logs // 2, seed=seed + 1)
        metrics = score_report(agent, tasks, outputs, *logs, seed=seed, progress=progress).metrics
    else:
        y = evaluation.correct.astype(int)
        metrics = {"label_source": "gold", "n_test": len(y), "test_exact_match": float(y.mean()), "scores": {}}
        for name, s in _all_scores(agent, outputs, None).items():
            metrics["scores"][name] = {"auroc": auroc(s, y) if 0 < y.sum() < len(y) else float("nan"),
                                       "ece_raw": expected_calibration_error(s, y)}
    return {"split": split, "seed": seed, "n": len(tasks), "exact_match": acc["exact_match"],
            "schema_valid": acc["schema_valid"], "by_difficulty": acc["by_difficulty"],
            "error_types": acc["error_types"], "accuracy": acc, **metrics}


def _check_n_logs(n_logs: int) -> None:
    if n_logs != 0 and n_logs < 10:
        raise ValueError(f"n_logs must be 0 (self-confidence only) or >= 10, got {n_logs}")
