"""Greedy batched generation that keeps each chosen token's log-prob: the edge agent's decoding loop.

:func:`greedy_generate` runs ``model.generate`` greedily on a left-padded batch with one logits
processor that records, at every step, the model's log-prob of the token greedy decoding picks (its
``steps``: one ``(batch,)`` vector per step).  :class:`ChosenLogProbs` is that processor for plain
greedy decoding; a constrained decoder passes its own masking processor with the same ``steps``
(:class:`~netgpt_lite.edge.constrained.GrammarLogits`).  Keeping one float per row per step instead of
the ``(batch, steps, vocab)`` logits is what keeps evaluation memory small: at a 49,152-token
vocabulary those are about 400 MB per batch of 32.

Example:
    >>> from netgpt_lite.edge.tiny_lm import load_edge_model            # doctest: +SKIP
    >>> model, tok = load_edge_model(None)                              # doctest: +SKIP
    >>> [(p, text, logprobs, n_in, wall_ms)] = greedy_generate(model, tok, ["hi"], 8)  # doctest: +SKIP
"""

from __future__ import annotations

import time


class ChosenLogProbs:
    """A logits processor that changes nothing and records the greedy token's log-prob at every step.

    Greedy decoding picks the arg-max of the scores this processor sees (it runs last and there are no
    others: ``do_sample=False`` with the models' default generation settings), so that token's
    log-prob is ``max(log_softmax(scores))``: one float per row per step, ``(batch,)``.
    """

    def __init__(self) -> None:
        self.steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        self.steps.append(torch.log_softmax(scores.float(), dim=-1).amax(dim=-1).cpu())
        return scores


def greedy_generate(model, tokenizer, prompts: list[str], max_new_tokens: int, processor=None) -> list[tuple]:
    """Greedy generation of a batch of rendered prompts (the tokenizer pads on the left).

    Args:
        model: A causal LM (``transformers``).
        tokenizer: Its tokenizer, with a pad token and left padding.
        prompts: The rendered prompts.
        max_new_tokens: Generation budget per prompt.
        processor: The one logits processor, with ``steps`` (see the module docstring); default
            :class:`ChosenLogProbs`.

    Returns:
        Per prompt ``(prompt, text, token_logprobs, n_input_tokens, wall_ms)``: the completion up to and
        including eos, the model's log-prob of each generated token, the prompt's length in tokens and
        the batch's wall time divided by its size.
    """
    import torch
    from transformers import LogitsProcessorList

    processor = ChosenLogProbs() if processor is None else processor
    enc = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False).to(model.device)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                             logits_processor=LogitsProcessorList([processor]), return_dict_in_generate=True,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    wall_ms = 1000.0 * (time.perf_counter() - start) / len(prompts)
    new_ids = out.sequences[:, enc["input_ids"].shape[1] :]  # (batch, steps)
    chosen = (torch.stack(processor.steps, dim=1) if processor.steps
              else new_ids.new_zeros(new_ids.shape, dtype=torch.float32))  # fmt: skip
    n_inputs = enc["attention_mask"].sum(dim=1).tolist()
    del out, enc
    results = []
    for row, prompt in enumerate(prompts):
        ids = new_ids[row].tolist()
        n_out = ids.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in ids else len(ids)
        text = tokenizer.decode(ids[:n_out], skip_special_tokens=True)
        results.append((prompt, text, chosen[row, :n_out].cpu().numpy(), int(n_inputs[row]), wall_ms))
    return results
