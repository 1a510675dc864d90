"""Sampling a group of completions per prompt, with the sampling policy's log-probs (chapter 6).

GRPO's first step: for each of ``B`` prompts, ``G`` completions sampled from the policy at a temperature,
rows grouped per prompt (``[B*G, ...]``, as ``repeat_interleave`` makes them).  Each prompt is prefilled once
and its KV cache repeated for its group (:func:`shared_prefill_cache`), so its cost is paid once per group;
the completions have the same distribution either way.  The logits that ``generate`` returns give the sampling
policy's log-probs and entropies, so "old" needs no second forward pass; a pass-through logits
processor keeps them step by step, so the logits themselves are never stored.  Prompts can be sampled a
few at a time (``chunk_prompts``) to bound the KV cache held.

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


class _SampledTokenStats:
    """A pass-through logits processor that keeps, per generated token, the log-prob of the token that was
    sampled and the entropy of the distribution it came from ([B*G] per step), so ``generate`` need not
    return its logits ([B*G, V] per step, ~600 MB for 64 rows of 48 tokens over SmolLM2's 49 k vocabulary).

    ``generate`` calls custom processors before its temperature warper, so the scores it sees are raw
    logits; the token drawn from step ``t`` arrives as the last input id of step ``t + 1`` (the final
    one is read off the sequences by :meth:`finish`).  Only one step's log-softmax is held at a time.
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.logp, self.entropy, self._last = [], [], None

    def __call__(self, input_ids, scores):
        if self._last is not None:
            self.logp.append(self._last.gather(-1, input_ids[:, -1:]).squeeze(-1))  # [B*G]
        self._last = (scores.float() / self.temperature).log_softmax(-1)  # [B*G, V]
        self.entropy.append(entropy_from_logits(self._last))  # nats, [B*G]
        return scores

    def finish(self, last_ids):
        """The last step's log-probs of ``last_ids`` ([B*G], the final sampled tokens); returns
        ``(logp, entropy)``, each ``[B*G, T]``."""
        import torch

        if self._last is not None:
            self.logp.append(self._last.gather(-1, last_ids[:, None]).squeeze(-1))
        self._last = None
        return torch.stack(self.logp, dim=1), torch.stack(self.entropy, dim=1)


def _left_pad(ids, mask, width: int, pad_id: int):
    """``[N, P]`` ids and mask left-padded to ``[N, width]``."""
    import torch

    extra = width - ids.shape[1]
    return (torch.cat([ids.new_full((ids.shape[0], extra), pad_id), ids], 1),
            torch.cat([mask.new_zeros((mask.shape[0], extra)), mask], 1))  # fmt: skip


def _right_pad(x, width: int, value):
    """``[N, T]`` padded on the right to ``[N, width]`` with ``value``."""
    import torch

    return torch.cat([x, x.new_full((x.shape[0], width - x.shape[1]), value)], 1)


def sample_groups(model, tokenizer, prompts: list[str], group_size: int, *, temperature: float = 1.0,
                  max_completion_tokens: int = 64, shared_prefill: bool = True, chunk_prompts: int | None = None,
                  device="cpu") -> SampledGroups:  # fmt: skip
    """``group_size`` completions per prompt, sampled (top-k and top-p off) from ``model`` at ``temperature``.

    Args:
        model, tokenizer: the policy and its tokenizer (left padding).
        prompts: the ``B`` rendered prompts.
        group_size: ``G``, completions per prompt.
        temperature, max_completion_tokens: sampling temperature and generation budget per completion.
        shared_prefill: prefill each prompt once and share its KV cache across its group.
        chunk_prompts: generate for this many prompts (and their groups) at a time, so the KV cache held
            is ``chunk_prompts * G`` rows rather than ``B * G`` (peak memory); ``None``: all at once.  The
            completions have the same distribution either way, not the same draws.
        device: where the ids go (the model's device).
    """
    import torch

    if chunk_prompts is not None and chunk_prompts < 1:
        raise ValueError(f"chunk_prompts must be >= 1 or None, got {chunk_prompts}")
    step = chunk_prompts or max(len(prompts), 1)
    parts = [_sample_chunk(model, tokenizer, prompts[lo : lo + step], group_size, temperature, max_completion_tokens,
                           shared_prefill, device) for lo in range(0, len(prompts), step)]  # fmt: skip
    width_p = max(p[0].shape[1] for p in parts)
    width_t = max(p[2].shape[1] for p in parts)
    pad = tokenizer.pad_token_id
    prompt_ids, prompt_mask = zip(*(_left_pad(p[0], p[1], width_p, pad) for p in parts))
    cat = lambda k, value: torch.cat([_right_pad(p[k], width_t, value) for p in parts])  # noqa: E731
    return SampledGroups(torch.cat(prompt_ids), torch.cat(prompt_mask), cat(2, pad), cat(3, 0),
                         [t for p in parts for t in p[4]], cat(5, 0.0), cat(6, 0.0))  # [B*G, ...] each


def _sample_chunk(model, tokenizer, prompts, group_size, temperature, max_completion_tokens, shared_prefill,
                  device) -> tuple:  # fmt: skip
    """:func:`sample_groups` for one chunk of prompts, its fields as a tuple."""
    import torch
    from transformers import LogitsProcessorList

    enc = tokenizer(list(prompts), padding=True, return_tensors="pt", add_special_tokens=False).to(device)
    prompt_ids = enc["input_ids"].repeat_interleave(group_size, dim=0)  # [b*G, P]
    prompt_mask = enc["attention_mask"].repeat_interleave(group_size, dim=0)
    extra = {}
    if shared_prefill and prompt_ids.shape[1] > 1:
        extra[cache_argument(model)] = shared_prefill_cache(model, enc["input_ids"], enc["attention_mask"], group_size)
    # the sampling policy's log-probs and entropies come with the samples: no second forward pass for "old"
    stats = _SampledTokenStats(temperature)
    with torch.no_grad():
        sequences = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                                   temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max_completion_tokens,
                                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                   logits_processor=LogitsProcessorList([stats]), **extra)  # fmt: skip
    del extra
    completion_ids = sequences[:, prompt_ids.shape[1] :]  # [b*G, T]
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    completion_mask = ((is_eos.cumsum(1) - is_eos) == 0).long()  # tokens up to and including the first eos
    texts = tokenizer.batch_decode(completion_ids * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                   skip_special_tokens=True)  # fmt: skip
    logp, entropy = stats.finish(completion_ids[:, -1])
    return prompt_ids, prompt_mask, completion_ids, completion_mask, texts, logp, entropy
