"""Tests of ``netgpt_lite.edge.evaluation``: the one evaluator, its invariances, saved records, pairing."""

from __future__ import annotations

import numpy as np
import pytest

from netgpt_lite.edge.agent import EdgeAgent
from netgpt_lite.edge.evaluation import compare, compare_records, evaluate, read_records, write_records
from netgpt_lite.tasks.generate import generate_tasks


@pytest.fixture(scope="module")
def agent():
    return EdgeAgent.from_pretrained("tiny", device="cpu")


@pytest.fixture(scope="module")
def tasks():
    return generate_tasks("test", 40, seed=5)


@pytest.fixture(scope="module")
def reference(agent, tasks):
    return evaluate(agent, tasks, batch_size=8)


@pytest.mark.parametrize("batch_size", [1, 32])
def test_verdicts_do_not_depend_on_the_batch_size(agent, tasks, reference, batch_size):
    other = evaluate(agent, tasks, batch_size=batch_size)
    assert [r["completion"] for r in other.records()] == [r["completion"] for r in reference.records()]
    np.testing.assert_array_equal(other.correct, reference.correct)
    assert compare(other, reference)["a_only"] == compare(other, reference)["b_only"] == 0


def test_verdicts_do_not_depend_on_the_order(agent, tasks, reference):
    shuffled = [tasks[i] for i in np.random.default_rng(0).permutation(len(tasks))]
    by_id = {r["task_id"]: r for r in evaluate(agent, shuffled, batch_size=8).records()}
    assert [by_id[r["task_id"]] for r in reference.records()] == reference.records()


def test_recorded_logprobs_are_the_chosen_tokens_of_the_full_logits(agent, tasks):
    """The per-step recorder gives what the (memory-hungry) full logits give, bit for bit."""
    import torch

    tok, model = agent.tokenizer, agent.model
    prompts = agent.prompts(tasks[:6])
    lengths = [len(ids) for ids in tok(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(6), key=lambda i: (-lengths[i], prompts[i], i))  # the batch as run() composes it: with
    prompts = [prompts[i] for i in order]  # several threads, another row order can move the last bit
    enc = tok(prompts, padding=True, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=agent.max_new_tokens, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = out.sequences[:, enc["input_ids"].shape[1]:]
    full = torch.log_softmax(torch.stack(out.logits, 1).float(), -1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
    outputs = agent.run(tasks[:6], batch_size=6)
    for row, i in enumerate(order):
        np.testing.assert_array_equal(outputs[i].token_logprobs, full[row, : outputs[i].n_output_tokens].numpy())


def test_records_round_trip_and_pair_by_request_content(tmp_path, reference):
    path = write_records(tmp_path / "a.jsonl", reference.records(), {"model": "tiny"})
    header, records = read_records(path)
    assert header == {"model": "tiny"} and records == reference.records()
    assert compare_records(records[::-1], reference.records())["difference"] == 0.0  # order does not matter
    with pytest.raises(ValueError, match="not on the same requests"):
        compare_records(records[:-1], reference.records())
    with pytest.raises(ValueError, match="repeats request"):
        compare_records(records + records[:1], reference.records() + reference.records()[:1])
    (tmp_path / "bad.jsonl").write_text('{"header": {}}\n{"request": \n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not JSON"):
        read_records(tmp_path / "bad.jsonl")
