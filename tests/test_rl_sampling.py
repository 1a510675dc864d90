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


@pytest.mark.parametrize("chunk_rows", [1, 3, 8])
def test_grouped_backward_gives_the_one_pass_gradient(tiny, chunk_rows):
    """Chunks of a group's completions, the prompt's pass shared: the same gradient as one backward."""
    from netgpt_lite.rl.data import encode_pairs
    from netgpt_lite.rl.logprobs import grouped_backward, grouped_completion_logprobs

    model, tokenizer, prompts = tiny
    completions = [f'{{"name": "f", "arguments": {{"x": {i * 37}}}}}' + " ok" * i for i in range(8)]  # lengths differ
    p_ids, p_mask, c_ids, c_mask = encode_pairs(tokenizer, [prompts[1]] * 8, completions)
    p_ids, p_mask = p_ids[:1], p_mask[:1]
    assert (c_mask == 0).any()  # some completions are padded on the right
    weights = torch.linspace(-1.0, 1.0, c_ids.shape[0]).unsqueeze(1)  # a different loss weight per completion
    model.zero_grad()  # the model is shared by the module's tests

    logp, _ = grouped_completion_logprobs(model, p_ids, p_mask, c_ids, c_mask, temperature=0.7)
    (logp * c_mask * weights).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    def loss_fn(logp, rows):
        loss = (logp * c_mask[rows] * weights[rows]).sum()
        return loss, float(loss.detach())

    values = grouped_backward(model, p_ids, p_mask, c_ids, c_mask, loss_fn, temperature=0.7, chunk_rows=chunk_rows)
    assert len(values) == -(-c_ids.shape[0] // chunk_rows)
    assert sum(values) == pytest.approx(float((logp * c_mask * weights).sum().detach()), rel=1e-5)
    for name, param in model.named_parameters():
        scale = float(expected[name].abs().max())  # summation order differs: tolerance relative to the gradient
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6 * scale, msg=name)
    model.zero_grad()


def test_chunked_sampling_gives_the_same_groups(tiny):
    """Prompts sampled a few at a time (a smaller KV cache) give, near-greedy, the completions and the
    sampling log-probs of one call, aligned row for row under one common padding."""
    model, tokenizer, prompts = tiny
    out = {}
    for chunk in (None, 4):
        torch.manual_seed(0)
        out[chunk] = sample_groups(model, tokenizer, prompts, 2, temperature=1e-4, max_completion_tokens=32,
                                   chunk_prompts=chunk)  # fmt: skip
    whole, parts = out[None], out[4]
    assert whole.texts == parts.texts
    assert whole.prompt_ids.shape == parts.prompt_ids.shape
    assert torch.equal(whole.prompt_ids * whole.prompt_mask, parts.prompt_ids * parts.prompt_mask)
    mask = whole.completion_mask.bool()
    width = parts.completion_ids.shape[1]
    assert torch.equal(whole.completion_mask[:, :width], parts.completion_mask[:, : whole.completion_mask.shape[1]])
    assert torch.allclose(whole.logp_old[mask], parts.logp_old[:, : mask.shape[1]][mask], atol=1e-4)
    with pytest.raises(ValueError, match="chunk_prompts"):
        sample_groups(model, tokenizer, prompts, 2, chunk_prompts=0)
