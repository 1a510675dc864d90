"""Log-probabilities of completions under a causal LM, each prompt run once per group (chapter 6).

GRPO samples G completions per prompt and scores them three times (the sampling policy, the policy being
updated, the frozen SFT model).  A plain pass over ``[B*G, P + T]`` rows pays for every prompt G times;
here each ``[B, P]`` prompt is prefilled once (:func:`prefill`), its KV cache is repeated G times, and only the
``[B*G, T]`` completions run on top of it: :func:`grouped_completion_logprobs` for scoring,
:func:`shared_prefill_cache` for ``generate``.  Positions follow the left padding as ``generate`` computes them,
so the values equal the plain pass.  Rows are grouped per prompt, as ``repeat_interleave`` makes them.
The loss algebra that consumes these tensors is :mod:`netgpt_lite.rl.objective`.

Example:
    >>> import torch
    >>> grouped_completion_logprobs(None, torch.zeros(2, 3), None, torch.zeros(5, 4), None)
    Traceback (most recent call last):
    ValueError: completion rows (5) must be a multiple of prompt rows (2)
"""

from __future__ import annotations

from netgpt_lite.rl.objective import entropy_from_logits


def completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=1.0):
    """Log-prob and entropy of every completion token under ``model``: two ``[B, T]`` tensors.

    Logits are divided by the sampling temperature, as TRL does, so old/new/ref log-probs match sampling.
    When ``prompt_ids`` has fewer rows than ``completion_ids`` (``[B, P]`` against ``[B*G, T]``: a group of
    G completions per prompt, rows grouped as ``repeat_interleave`` makes them), each prompt runs once and
    its KV cache is shared by its group (:func:`grouped_completion_logprobs`).
    """
    if prompt_ids.shape[0] != completion_ids.shape[0]:
        return grouped_completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature)
    import torch

    ids = torch.cat([prompt_ids, completion_ids], dim=1)  # [B, P + T]
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    n_completion = completion_ids.shape[1]
    # only the last T + 1 positions need the vocabulary projection: [B, P+T, V] would be ~2 GB for SmolLM2
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=n_completion + 1).logits
    logits = logits[:, -n_completion - 1 : -1].float() / temperature  # [B, T, V]
    logp = logits.log_softmax(-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)  # [B, T]
    return logp, entropy_from_logits(logits.detach())


def cache_argument(model) -> str:
    """``"cache"`` (transformers >= 5.2x) or ``"past_key_values"`` (older releases, e.g. Colab's)."""
    import inspect

    base = getattr(model, "get_base_model", lambda: model)()
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def prefill(model, input_ids, attention_mask, group_size: int):
    """Run ``[B, P]`` left-padded prompts once and repeat their KV cache ``group_size`` times (``[B*G, P]``).

    Positions follow the left padding as ``generate`` computes them (cumulative attention mask), so the
    cached keys equal the ones a plain pass over the repeated prompts would compute.  Only the last position
    is projected onto the vocabulary.  Returns ``(output, cache, positions)``; gradients flow when enabled.
    """
    from transformers import DynamicCache

    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True,
                logits_to_keep=1, **{cache_argument(model): DynamicCache()})  # fmt: skip
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    cache.batch_repeat_interleave(group_size)
    return out, cache, positions


def grouped_completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=1.0):
    """:func:`completion_logprobs` for G completions per prompt, paying for each prompt once.

    The ``[B, P]`` prompts are run once (with gradient, when enabled: the prompt's keys and values depend on
    a LoRA adapter too), their KV cache is repeated G times, and the ``[B*G, T]`` completions run on top of
    it.  Same values as the plain pass on repeated prompts, for about ``(B P + B G T) / (B G (P + T))`` of its
    cost: a fifth for SmolLM2's 260-token prompts, 40-token completions and G = 8.
    """
    import torch

    group = completion_ids.shape[0] // prompt_ids.shape[0]
    if group * prompt_ids.shape[0] != completion_ids.shape[0]:
        raise ValueError(f"completion rows ({completion_ids.shape[0]}) must be a multiple of prompt rows "
                         f"({prompt_ids.shape[0]})")
    out, cache, positions = prefill(model, prompt_ids, prompt_mask, group)
    first = out.logits[:, -1:].repeat_interleave(group, dim=0)  # [B*G, 1, V]: predicts completion token 0
    n_completion = completion_ids.shape[1]
    if n_completion > 1:
        mask = torch.cat([prompt_mask.repeat_interleave(group, dim=0), completion_mask], dim=1)[:, :-1]
        start = positions[:, -1:].repeat_interleave(group, dim=0) + 1
        c_positions = start + torch.arange(n_completion - 1, device=start.device)  # [B*G, T-1]
        rest = model(input_ids=completion_ids[:, :-1], attention_mask=mask, position_ids=c_positions,
                     use_cache=True, **{cache_argument(model): cache}).logits  # [B*G, T-1, V]
        logits = torch.cat([first, rest], dim=1)
    else:
        logits = first
    logits = logits.float() / temperature  # [B*G, T, V]
    logp = logits.log_softmax(-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    return logp, entropy_from_logits(logits.detach())


def shared_prefill_cache(model, input_ids, attention_mask, group_size: int):
    """The KV cache of every prompt but its last token, computed once per prompt ``[B, P-1]`` and repeated
    ``group_size`` times along the batch (``[B*G, P-1]``), for ``generate(input_ids=<prompts repeated>,
    past_key_values=cache)``: generation then only runs the last prompt token and the new ones.

    Positions follow the left padding as ``generate`` computes them (:func:`prefill`).
    """
    import torch

    with torch.no_grad():
        _, cache, _ = prefill(model, input_ids[:, :-1], attention_mask[:, :-1], group_size)
    return cache
