"""Rejection-sampling fine-tuning (RAFT, expert iteration): the cheapest rival of RL (chapter 6).

Sample ``k`` completions per request from the policy, keep the ones the checker accepts against the
request's reference call (the cloud's answer), and fine-tune on them as on any logged answer.  It uses
the same requests, the same reward and the same samples RL would, but no advantages, no ratio and no KL:
if anchored RL cannot beat it at equal rollouts, RL's extra machinery buys nothing (Xiong et al. 2025,
arXiv 2504.11343, find it competitive with GRPO).

Example:
    >>> from netgpt_lite.edge.tiny_lm import load_edge_model
    >>> from netgpt_lite.rl.data import rl_dataset
    >>> from netgpt_lite.tasks.generate import generate_tasks
    >>> model, tokenizer = load_edge_model(None)
    >>> data = rl_dataset(generate_tasks("validation", 4, seed=3000), tokenizer)
    >>> kept = accepted_samples(model, tokenizer, data, n_samples=2, max_completion_tokens=48)
    >>> sorted(kept)
    ['completion', 'n_requests', 'n_samples', 'prompt', 'request_index']
"""

from __future__ import annotations

import numpy as np

from netgpt_lite.rl.data import judge
from netgpt_lite.rl.sampling import sample_groups


def accepted_samples(model, tokenizer, data, n_samples: int, *, temperature: float = 1.0,
                     max_completion_tokens: int = 64, prompts_per_batch: int = 4, seed: int = 0,
                     distinct: bool = True, device: str = "cpu") -> dict:
    """The policy's own completions that the checker accepts, ready for SFT.

    Args:
        model, tokenizer: the policy (e.g. the SFT adapter) and its tokenizer.
        data: :func:`~netgpt_lite.rl.data.rl_dataset` rows (``prompt``, ``tools``, ``gold``): ``gold`` is
            the reference call (the cloud's answer) the checker compares against.
        n_samples: completions sampled per request (>= 1), as an RL group is.
        temperature, max_completion_tokens, prompts_per_batch, device: as in
            :func:`~netgpt_lite.rl.sampling.sample_groups`.
        seed: torch's sampling seed.
        distinct: keep each accepted text once per request (repeats would only reweight easy requests).

    Returns:
        A dict of lists ``prompt``, ``completion`` and ``request_index`` (one row per accepted completion,
        with the row of ``data`` it answers) and the counts ``n_samples`` and ``n_requests``.
    """
    import torch

    if n_samples < 1 or prompts_per_batch < 1:
        raise ValueError(f"n_samples and prompts_per_batch must be >= 1, got {n_samples}, {prompts_per_batch}")
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    kept = {"prompt": [], "completion": [], "request_index": []}
    for lo in range(0, len(data), prompts_per_batch):
        rows = data[lo : lo + prompts_per_batch]
        sample = sample_groups(model, tokenizer, rows["prompt"], max(n_samples, 2), temperature=temperature,
                               max_completion_tokens=max_completion_tokens, device=device)  # fmt: skip
        group = max(n_samples, 2)  # sample_groups draws >= 2; only the first n_samples of each are used
        ok = judge(sample.texts, list(np.repeat(rows["tools"], group)), list(np.repeat(rows["gold"], group)))
        for j in range(len(rows["prompt"])):
            seen = set()
            for t in range(n_samples):
                text = sample.texts[j * group + t].strip()
                if ok["exact_match"][j * group + t] and not (distinct and text in seen):
                    seen.add(text)
                    kept["prompt"].append(rows["prompt"][j])
                    kept["completion"].append(text)
                    kept["request_index"].append(lo + j)
    model.train(was_training)
    return {**kept, "n_samples": n_samples, "n_requests": len(data)}
