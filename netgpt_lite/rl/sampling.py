"""Sampling a group of completions per prompt, with the sampling policy's log-probs (chapter 6).

GRPO's first step: for each of ``B`` prompts, ``G`` completions sampled from the policy at a temperature,
rows grouped per prompt (``[B*G, ...]``, as ``repeat_interleave`` makes them).  Each prompt is prefilled once
and its KV cache repeated for its group (:func:`shared_prefill_cache`), so its cost is paid once per group;
the completions have the same distribution either way.  The logits that ``generate`` returns give the sampling
policy's log-probs and entropies, so "old" needs no second forward pass.

Example:
    >>> from netgpt_lite.edge.tiny_lm import load_edge_model
    >>> model, tokenizer = load_edge_model(None)
    >>> out = sample_groups(model, tokenizer, ["a prompt", "another prompt"], group_size=3, max_completion_tokens=4)
    >>> out.completion_ids.shape[0], len(out.texts), out.logp_old.shape == out.completion_mask.shape
    (6, 6, True)
"""

from __future__ import annotations

from typing import NamedTuple

from netgpt_lite.rl.logprobs import cache_argument, prefill
from netgpt_lite.rl.objective import entropy_from_logits


class SampledGroups(NamedTuple):
    """``G`` sampled completions for each of ``B`` prompts, rows grouped per prompt.

    Its fields (a named tuple, so each is also documented on its own below): ``prompt_ids``, ``prompt_mask``
    are ``[B*G, P]`` left-padded prompts, each repeated ``G`` times; ``completion_ids``, ``completion_mask``
    are ``[B*G, T]`` sampled tokens, the mask keeping them up to and including the first eos; ``texts`` are
    the ``B*G`` decoded completions; ``logp_old``, ``entropy`` are ``[B*G, T]``: the log-prob of each sampled
    token and the next-token entropy (nats) under the sampling policy, at the sampling temperature.
    """

    prompt_ids: object
    prompt_mask: object
    completion_ids: object
    completion_mask: object
    texts: list
    logp_old: object
    entropy: object


def shared_prefill_cache(model, input_ids, attention_mask, group_size: int):
    """The KV cache of every prompt but its last token, computed once per prompt ``[B, P-1]`` and repeated
    ``group_size`` times along the batch (``[B*G, P-1]``), for ``generate(input_ids=<prompts repeated>,
    past_key_values=cache)``: generation then only runs the last prompt token and the new ones.

    Positions follow the left padding as ``generate`` computes them (:func:`~netgpt_lite.rl.logprobs.prefill`).
    """
    import torch

    with torch.no_grad():
        _, cache, _ = prefill(model, input_ids[:, :-1], attention_mask[:, :-1], group_size)
    return cache


def sample_groups(model, tokenizer, prompts: list[str], group_size: int, *, temperature: float = 1.0,
                  max_completion_tokens: int = 64, shared_prefill: bool = True, device="cpu") -> SampledGroups:  # fmt: skip
    """``group_size`` completions per prompt, sampled (top-k and top-p off) from ``model`` at ``temperature``.

    Args:
        model, tokenizer: the policy and its tokenizer (left padding).
        prompts: the ``B`` rendered prompts.
        group_size: ``G``, completions per prompt.
        temperature, max_completion_tokens: sampling temperature and generation budget per completion.
        shared_prefill: prefill each prompt once and share its KV cache across its group.
        device: where the ids go (the model's device).
    """
    import torch

    enc = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False).to(device)
    prompt_ids = enc["input_ids"].repeat_interleave(group_size, dim=0)  # [B*G, P]
    prompt_mask = enc["attention_mask"].repeat_interleave(group_size, dim=0)
    extra = {}
    if shared_prefill and prompt_ids.shape[1] > 1:
        extra[cache_argument(model)] = shared_prefill_cache(model, enc["input_ids"], enc["attention_mask"], group_size)
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                             temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max_completion_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             output_logits=True, return_dict_in_generate=True, **extra)  # fmt: skip
    completion_ids = out.sequences[:, prompt_ids.shape[1] :]  # [B*G, T]
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    completion_mask = ((is_eos.cumsum(1) - is_eos) == 0).long()  # tokens up to and including the first eos
    texts = tokenizer.batch_decode(completion_ids * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                   skip_special_tokens=True)  # fmt: skip
    # the sampling policy's log-probs and entropies come with the samples: no second forward pass for "old";
    # step by step, so only one [B*G, V] slice is copied at a time (stacked, [B*G, T, V] is ~300 MB per copy)
    logp_steps, entropy_steps = [], []
    for t, step_logits in enumerate(out.logits):
        scaled = step_logits.float() / temperature  # [B*G, V], raw logits / temperature
        logp_steps.append(scaled.log_softmax(-1).gather(-1, completion_ids[:, t : t + 1]).squeeze(-1))  # [B*G]
        entropy_steps.append(entropy_from_logits(scaled))
    del out
    return SampledGroups(prompt_ids, prompt_mask, completion_ids, completion_mask, texts,
                         torch.stack(logp_steps, dim=1), torch.stack(entropy_steps, dim=1))  # [B*G, T] each
