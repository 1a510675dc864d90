"""SFT examples as training batches: token ids with completion-only labels, a length-bucketed seeded batch
order, right-padded tensors, and the completion-only loss (chapter 4's LoRA training; chapter 6's anchor).

Example:
    >>> from netgpt_lite.edge.lora import LoraSettings
    >>> order = batch_order([5, 1, 9, 3, 7, 2], LoraSettings(batch_size=2, n_epochs=1.0))
    >>> sorted(i for batch in order for i in batch)
    [0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def encode_examples(tokenizer, prompts: Sequence[str], completions: Sequence[str], max_length: int):
    """Token ids and labels per example: ``prompt + completion + eos``, labels -100 on the prompt.

    Raises:
        ValueError: naming the example, when one is longer than ``max_length`` (nothing is truncated).
    """
    rows = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p) + len(c) > max_length:
            raise ValueError(f"example {i} has {len(p) + len(c)} tokens > max_length={max_length}: "
                             f"raise max_length or use a shorter tool_format")
        rows.append((p + c, [-100] * len(p) + c))
    return rows


def batch_order(lengths: Sequence[int], settings, bucket_batches: int = 8) -> list[list[int]]:
    """The run's batches of example indices: one seeded permutation per epoch, cut into batches of
    ``settings.batch_size`` (``settings`` also gives ``n_epochs`` and ``seed``, e.g. a ``LoraSettings``).

    Within each window of ``bucket_batches`` batches the examples are sorted by length before cutting,
    so a batch pads little (prompts here range from 200 to 430 tokens), and the window's batches are
    then shuffled.  Fixed by ``(lengths, settings)`` alone, so a resumed run sees exactly the batches
    it would have.

    Example:
        >>> from netgpt_lite.edge.lora import LoraSettings
        >>> order = batch_order([5, 1, 9, 3, 7, 2], LoraSettings(batch_size=2, n_epochs=1.0))
        >>> sorted(i for batch in order for i in batch)
        [0, 1, 2, 3, 4, 5]
    """
    n_examples, size = len(lengths), settings.batch_size
    rng = np.random.default_rng(settings.seed)
    n_steps = max(1, int(math.ceil(settings.n_epochs * n_examples / size)))
    order: list[int] = []
    while len(order) < n_steps * size:
        order += rng.permutation(n_examples).tolist()
    order = order[: n_steps * size]
    batches: list[list[int]] = []
    window = size * bucket_batches
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        cut = [chunk[k:k + size] for k in range(0, len(chunk), size)]
        batches += [cut[j] for j in rng.permutation(len(cut))]
    return batches


def collate(rows, ids: list[int], pad_id: int):
    """Right-padded ``(input_ids, labels, attention_mask)`` tensors, each ``(batch, longest)``, of rows ``ids``."""
    import torch

    width = max(len(rows[i][0]) for i in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    labels = torch.full((len(ids), width), -100, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, i in enumerate(ids):  # right padding: training sees no generation, pads only need masking
        x, y = rows[i]
        input_ids[r, : len(x)], labels[r, : len(y)], mask[r, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return input_ids, labels, mask


def completion_loss(model, input_ids, attention_mask, labels):
    """Mean cross-entropy of the completion tokens, with the vocabulary projection on those tokens only.

    The usual ``model(..., labels=labels).loss`` projects every position to the 49,152-token vocabulary:
    ``(batch, seq, vocab)`` logits, about 550 MB in fp32 at batch 8 and 350 tokens, times three with
    their softmax and gradient, for a loss that reads only the ~40 completion positions per row.  This
    runs the transformer body, gathers the hidden states that predict a labelled token, and projects
    only those: the same loss (up to rounding), a few percent of the memory.

    Args:
        model: A causal LM (or a PEFT model around one) with ``.model`` (the body) and ``.lm_head``.
        input_ids: ``(batch, seq)`` token ids.
        attention_mask: ``(batch, seq)``, 1 on real tokens.
        labels: ``(batch, seq)``, -100 where no loss is taken (prompt, padding).
    """
    import torch

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, S, H)
    target = labels[:, 1:]  # position t predicts token t + 1
    rows, cols = torch.nonzero(target != -100, as_tuple=True)  # (n_labelled,) each
    logits = lm.lm_head(hidden[:, :-1][rows, cols]).float()  # (n_labelled, vocab)
    return torch.nn.functional.cross_entropy(logits, target[rows, cols])
