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


def _cached_tensors(cache) -> list[tuple]:
    """``[(keys, values)]`` per layer of a ``DynamicCache`` (``layers`` in transformers 5, ``key_cache`` before)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def grouped_backward(model, prompt_ids, prompt_mask, completion_ids, completion_mask, loss_fn, *,
                     temperature: float = 1.0, chunk_rows: int = 2, autocast=None) -> list:
    """Backpropagate ``sum_c loss_fn(logp_c, rows_c)`` over chunks of one prompt's G completions.

    The gradient equals one backward through :func:`grouped_completion_logprobs` on the whole group, but the
    activations held at once are the prompt's and one chunk's, not the prompt's and all G completions' (for
    SmolLM2, a 390-token prompt and 8 x 48 completions: about 1.8 GB of saved tensors in one pass, about
    1.2 GB in chunks of 2).  How: the ``[1, P]`` prompt runs once with gradient; its KV cache and last logits
    are detached into leaves that each chunk's pass reads (repeated ``chunk_rows`` times), and each chunk
    backpropagates at once, adding its share into the leaves' ``.grad``; a last backward carries those
    gradients through the prompt's pass, once.

    Args:
        model: the causal LM (e.g. a LoRA model in train mode).
        prompt_ids, prompt_mask: ``[1, P]`` one left-padded prompt.
        completion_ids, completion_mask: ``[G, T]`` its completions.
        loss_fn: ``loss_fn(logp, rows) -> (loss, value)``: ``logp`` is ``[n, T]`` for the completions
            ``rows`` (a slice); ``loss`` is a scalar tensor whose gradients add up over the chunks.
        temperature: logits are divided by it, as in :func:`completion_logprobs`.
        chunk_rows: completions per chunk (>= 1); smaller holds less and runs smaller matrix products.
        autocast: a context-manager factory for the forward passes (e.g. bf16 autocast), or None.

    Returns:
        The ``value`` of every chunk, in order.
    """
    import contextlib

    import torch
    from transformers import DynamicCache

    if prompt_ids.shape[0] != 1:
        raise ValueError(f"grouped_backward takes one prompt ([1, P]); got {prompt_ids.shape[0]} rows")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1; got {chunk_rows}")
    autocast = autocast or contextlib.nullcontext
    with autocast():
        out, cache, positions = prefill(model, prompt_ids, prompt_mask, 1)
    roots = [out.logits[:, -1:]] + [t for pair in _cached_tensors(cache) for t in pair]  # [1, 1, V], [1, H, P, D]
    leaves = [t.detach().requires_grad_(t.requires_grad) for t in roots]
    first, kv = leaves[0], leaves[1:]
    n_completion, values = completion_ids.shape[1], []
    start = positions[:, -1:] + 1  # [1, 1]
    for r0 in range(0, completion_ids.shape[0], chunk_rows):
        rows = slice(r0, min(r0 + chunk_rows, completion_ids.shape[0]))
        ids, c_mask = completion_ids[rows], completion_mask[rows]
        n = ids.shape[0]
        logits = first.expand(n, -1, -1)  # [n, 1, V]: predicts completion token 0
        if n_completion > 1:
            chunk_cache = DynamicCache()
            for layer in range(len(kv) // 2):  # each chunk reads the prompt's keys/values, repeated n times
                chunk_cache.update(kv[2 * layer].expand(n, -1, -1, -1), kv[2 * layer + 1].expand(n, -1, -1, -1), layer)
            mask = torch.cat([prompt_mask.expand(n, -1), c_mask], dim=1)[:, :-1]
            c_positions = start.expand(n, -1) + torch.arange(n_completion - 1, device=start.device)  # [n, T-1]
            with autocast():
                rest = model(input_ids=ids[:, :-1], attention_mask=mask, position_ids=c_positions, use_cache=True,
                             **{cache_argument(model): chunk_cache}).logits  # [n, T-1, V]
            logits = torch.cat([logits, rest], dim=1)
        logp = (logits.float() / temperature).log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)  # [n, T]
        loss, value = loss_fn(logp, rows)
        loss.backward()
        values.append(value)
    pairs = [(root, leaf.grad) for root, leaf in zip(roots, leaves, strict=True) if leaf.grad is not None]
    if pairs:  # the prompt's pass, once, with the gradients its outputs gathered from every chunk
        torch.autograd.backward([root for root, _ in pairs], [grad for _, grad in pairs])
    return values


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
