"""Shared-prefill sampling (issue 14): one prefill per prompt, its KV cache repeated for the group, gives the
completions a plain ``generate`` over the repeated prompts gives."""

from __future__ import annotations

import pytest
import torch

from netgpt_lite.rl.logprobs import cache_argument
from netgpt_lite.rl.sampling import sample_groups, shared_prefill_cache


@pytest.fixture(scope="module")
def tiny():
    from netgpt_lite.edge.tiny_lm import load_edge_model
    from netgpt_lite.experiments.rl_ablation import experiment_data

    model, tokenizer = load_edge_model(None)
    prompts, _, _ = experiment_data(tokenizer, n_prompts=8, n_logged=8, n_eval=1)
    return model.eval(), tokenizer, prompts[:6]["prompt"]  # prompts of different lengths: left padding matters


def test_shared_prefill_gives_the_plain_completions(tiny):
    model, tokenizer, prompts = tiny
    texts = {}
    for shared in (False, True):
        torch.manual_seed(0)
        ids, mask, c_ids, c_mask, texts[shared], _, _ = sample_groups(model, tokenizer, prompts, 3, temperature=1e-4,
                                                                      max_completion_tokens=48, shared_prefill=shared)
        assert ids.shape[0] == c_ids.shape[0] == len(prompts) * 3
    assert texts[True] == texts[False]


def test_cached_keys_equal_a_full_forward_with_left_padding(tiny):
    model, tokenizer, prompts = tiny
    enc = tokenizer(list(prompts[:3]), padding=True, return_tensors="pt", add_special_tokens=False)
    assert (enc["attention_mask"] == 0).any()  # some prompt is padded on the left
    cache = shared_prefill_cache(model, enc["input_ids"], enc["attention_mask"], group_size=2)
    positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():  # the next-token logits from the cache equal those of one full forward
        step = model(input_ids=enc["input_ids"][:, -1:].repeat_interleave(2, 0),
                     attention_mask=enc["attention_mask"].repeat_interleave(2, 0),
                     position_ids=positions[:, -1:].repeat_interleave(2, 0), **{cache_argument(model): cache}).logits[:, -1]
        full = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                     position_ids=positions).logits[:, -1].repeat_interleave(2, 0)
    assert torch.allclose(step, full, atol=1e-4)
