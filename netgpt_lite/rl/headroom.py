"""How much RL can add before it runs: greedy accuracy against pass@k of the policy's own samples (chapter 6).

RL with a verifiable reward mostly turns what the policy *can* sample into what it answers greedily
(Yue et al. 2025, arXiv 2504.13837): a request whose ``k`` samples are all wrong gives group-relative
advantages nothing to push, and one whose samples are all right gives nothing either.  So before any
update, measure on the requests RL will practise on (validation phrasings, never test):

* greedy exact match (what the edge answers today);
* pass@k for k = 1, 2, 4, ... from ``n`` samples per request, with the unbiased estimator of Chen et al.
  (2021), ``1 - C(n - c, k) / C(n, k)`` for ``c`` right samples out of ``n`` (Eq. 6.10 in chapter 6);
* the share of groups that are all right, all wrong or mixed (only mixed groups carry a gradient);
* the share of requests that greedy gets wrong while some sample is right: the room RL has to win.

Example:
    >>> pass_at_k(n=8, c=0, k=4), pass_at_k(n=8, c=8, k=1), round(pass_at_k(n=8, c=2, k=4), 4)
    (0.0, 1.0, 0.7857)
"""

from __future__ import annotations

import json
import time
from math import comb

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``c`` right samples out of ``n`` (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``.

    Raises:
        ValueError: unless ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - comb(n - c, k) / comb(n, k)


def headroom(model, tokenizer, tasks, n_samples: int = 8, *, temperature: float = 1.0,
             max_completion_tokens: int = 64, prompts_per_batch: int = 4, seed: int = 0,
             template_kwargs: dict | None = None, device: str = "cpu") -> dict:
    """Greedy accuracy, pass@k and group mix of ``model`` on ``tasks`` (``n_samples`` samples per request).

    Greedy answers come from the one evaluator (:func:`~netgpt_lite.edge.evaluation.evaluate`); the samples
    from :func:`~netgpt_lite.rl.sampling.sample_groups` exactly as an RL step draws them (top-k and top-p
    off, one shared prefill per request), judged by the chapter-3 checker against each task's gold call.

    Args:
        model, tokenizer: the policy (e.g. the SFT start) and its tokenizer.
        tasks: the requests (:class:`~netgpt_lite.tasks.generate.Task`), e.g. validation phrasings.
        n_samples: samples per request (``n`` of the estimator, >= 2).
        temperature, max_completion_tokens: as in :class:`~netgpt_lite.rl.minimal.RLSettings`.
        prompts_per_batch: requests sampled together (memory: ``prompts_per_batch * n_samples`` rows).
        seed: torch's sampling seed.
        template_kwargs: prompt rendering (``{"tool_format": "compact"}`` for the SmolLM2 adapter).
        device: where the model runs.

    Returns:
        ``{"summary": {...}, "records": [...]}``: per request its ``task_id``, ``difficulty``, greedy
        ``greedy_correct`` and ``n_correct`` of ``n_samples``; the summary has ``n``, ``greedy_exact_match``,
        ``pass_at_{k}`` for k = 1, 2, 4, ... up to ``n_samples``, ``share_all_right``, ``share_all_wrong``,
        ``share_mixed``, ``share_greedy_wrong_some_right``, ``mean_entropy_nats`` per completion token and
        ``seconds``.
    """
    import torch

    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.evaluation import evaluate
    from netgpt_lite.edge.prompt import render_prompt
    from netgpt_lite.rl.data import judge
    from netgpt_lite.rl.sampling import sample_groups

    if n_samples < 2 or prompts_per_batch < 1 or not tasks:
        raise ValueError(f"need n_samples >= 2, prompts_per_batch >= 1 and some tasks; got n_samples={n_samples}, "
                         f"prompts_per_batch={prompts_per_batch}, {len(tasks)} tasks")
    template_kwargs = dict(template_kwargs or {})
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    agent = EdgeAgent(model, tokenizer, batch_size=16, template_kwargs=template_kwargs)
    greedy = [bool(r["correct"]) for r in evaluate(agent, tasks).records()]
    torch.manual_seed(seed)
    n_correct, token_entropy, n_tokens = [], 0.0, 0
    for lo in range(0, len(tasks), prompts_per_batch):
        chunk = tasks[lo : lo + prompts_per_batch]
        prompts = [render_prompt(tokenizer, t.messages, t.tools, **template_kwargs) for t in chunk]
        sample = sample_groups(model, tokenizer, prompts, n_samples, temperature=temperature,
                               max_completion_tokens=max_completion_tokens, device=device)  # fmt: skip
        scores = judge(sample.texts, [json.dumps(t.tools) for t in chunk for _ in range(n_samples)],
                       [json.dumps(t.gold) for t in chunk for _ in range(n_samples)])  # fmt: skip
        n_correct += scores["exact_match"].reshape(len(chunk), n_samples).sum(1).astype(int).tolist()
        mask = sample.completion_mask.bool()
        token_entropy += float(sample.entropy.float()[mask].sum())
        n_tokens += int(mask.sum())
    model.train(was_training)
    c = np.array(n_correct)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n_samples]
    summary = {"n": len(tasks), "n_samples": n_samples, "temperature": temperature,
               "greedy_exact_match": float(np.mean(greedy)),
               **{f"pass_at_{k}": float(np.mean([pass_at_k(n_samples, int(x), k) for x in c])) for k in ks},
               "share_all_right": float(np.mean(c == n_samples)), "share_all_wrong": float(np.mean(c == 0)),
               "share_mixed": float(np.mean((c > 0) & (c < n_samples))),
               "share_greedy_wrong_some_right": float(np.mean((~np.array(greedy)) & (c > 0))),
               "mean_entropy_nats": token_entropy / max(n_tokens, 1),
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    records = [{"task_id": t.task_id, "difficulty": t.difficulty, "greedy_correct": g, "n_correct": int(x)}
               for t, g, x in zip(tasks, greedy, c)]  # fmt: skip
    return {"summary": summary, "records": records}
