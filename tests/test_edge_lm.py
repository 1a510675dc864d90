"""Tests for netgpt_lite.edge.tiny_lm: tokenizer round trip, chat template, model build, save/load, shipped checkpoint."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from netgpt_lite.edge.prompt import render_prompt
from netgpt_lite.edge.tiny_lm import (
    EOS,
    EdgeModelConfig,
    build_model,
    load_edge_model,
    n_parameters,
    save_edge_model,
    sft_dataset,
    shipped_model_path,
    tokenizer_corpus,
    train_tokenizer,
)
from netgpt_lite.tasks.checker import parse_tool_call
from netgpt_lite.tasks.generate import format_completion, generate_tasks

TINY = EdgeModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_positions=256)


@pytest.fixture(scope="module")
def train_tasks():
    return generate_tasks("train", 120, seed=0)


@pytest.fixture(scope="module")
def tokenizer(train_tasks):
    return train_tokenizer(tokenizer_corpus(train_tasks), vocab_size=512)


def test_tokenizer_round_trips_unseen_task_texts(tokenizer):
    test = generate_tasks("test", 40, seed=3)
    texts = [m["content"] for t in test for m in t.messages] + [format_completion(t.gold) for t in test]
    for text in texts + ["Grüße, 3.5 GB/s   twice", ""]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_digits_are_split_one_by_one_and_markers_are_whole_tokens(tokenizer):
    assert tokenizer.convert_ids_to_tokens(tokenizer("2048")["input_ids"]) == ["2", "0", "4", "8"]
    ids = tokenizer("<tool_call>x</tool_call><|eos|>")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids)[0] == "<tool_call>" and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert 512 <= len(tokenizer) <= 512 + 10


def test_chat_template_renders_messages_tools_and_generation_prompt(tokenizer, train_tasks):
    task = train_tasks[0]
    prompt = render_prompt(tokenizer, task.messages, task.tools)
    assert prompt.startswith(tokenizer.bos_token) and prompt.endswith("<|assistant|>")
    assert all(m["content"] in prompt for m in task.messages)
    assert " ".join(t["function"]["name"] for t in task.tools) in prompt and "(" not in prompt.split("<|user|>")[0]
    with_arguments = render_prompt(tokenizer, task.messages, task.tools, tool_arguments=True)
    for tool in task.tools:
        fn = tool["function"]
        assert fn["name"] + "(" + ",".join(fn["parameters"]["properties"]) + ")" in with_arguments
    assert len(prompt) < len(with_arguments)
    assert 10 < len(tokenizer(prompt)["input_ids"]) < 120
    no_gen = tokenizer.apply_chat_template(task.messages, tools=task.tools, tokenize=False)
    assert not no_gen.endswith("<|assistant|>")


def test_chat_template_renders_assistant_tool_calls_in_completion_form(tokenizer):
    call = {"name": "ping", "arguments": {"b": 2, "a": "x"}}
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}]  # fmt: skip
    assert format_completion(call) in tokenizer.apply_chat_template(messages, tokenize=False)


def test_completion_is_compact_sorted_and_parses_back(train_tasks):
    for task in train_tasks[:30]:
        text = format_completion(task.gold)
        assert text.startswith('{"name":') and " " not in text.split('"arguments"')[0]
        assert parse_tool_call(text) == task.gold
        assert list(json.loads(text)["arguments"]) == sorted(task.gold["arguments"])


def test_sft_dataset_has_prompt_completion_strings(tokenizer, train_tasks):
    ds = sft_dataset(train_tasks[:5], tokenizer)
    assert ds.column_names == ["prompt", "completion"] and EOS not in ds[0]["completion"]
    assert ds[0]["prompt"].endswith("<|assistant|>") and ds[0]["completion"].startswith('{"name":')


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="n_heads must divide hidden_size"):
        EdgeModelConfig(hidden_size=100, n_heads=3)
    with pytest.raises(ValueError, match="n_layers"):
        EdgeModelConfig(n_layers=0)


def test_default_model_is_a_small_llama(tokenizer):
    model = build_model(tokenizer, seed=0)
    assert model.config.model_type == "llama" and 0.5e6 < n_parameters(model) < 3e6
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    same = build_model(tokenizer, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters()))


def test_save_load_gives_identical_logits(tokenizer, tmp_path):
    model = build_model(tokenizer, TINY, seed=1).eval()
    save_edge_model(model, tokenizer, tmp_path / "m")
    loaded, tok2 = load_edge_model(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists() and tok2.chat_template == tokenizer.chat_template
    batch = tokenizer(["<|bos|><|user|>set cell-3 to eco", "<|bos|>hi"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, loaded(**batch).logits, atol=1e-6)
    assert tok2("cell 42")["input_ids"] == tokenizer("cell 42")["input_ids"] and tok2.padding_side == "left"


def test_shipped_checkpoint_loads_and_matches_its_manifest():
    folder = shipped_model_path()
    manifest = json.loads((folder / "manifest.json").read_text())
    weights = folder / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == manifest["sha256_model_safetensors"]
    assert weights.stat().st_size < 15e6
    for key in ("command", "code_hash", "training_time_s", "versions", "metrics"):
        assert key in manifest
    assert manifest["config"]["data_seed"] == 0 and manifest["sizes"]["n_train_tasks"] > 0
    model, tokenizer = load_edge_model()
    assert model.config.model_type == "llama" and tokenizer.chat_template
    assert n_parameters(model) == manifest["n_parameters"]
