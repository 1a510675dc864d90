"""Constrained decoding: the call schema, the llguidance mask (nothing schema-invalid gets through, the trained
format does), and the constrained edge agent / eval-edge option on the tiny model."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from netgpt_lite.edge.constrained import call_schema
from netgpt_lite.tasks.checker import check_call, parse_tool_call
from netgpt_lite.tasks.generate import format_completion, generate_tasks

TASKS = generate_tasks("test", 60, seed=3)  # every tool, patterns, enums, integer ranges, defaults


def _tool(name: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": properties,
                                                                          "required": required}}}  # fmt: skip


def test_call_schema_is_one_option_per_tool_in_the_completion_format():
    tools = [_tool("b", {"z": {"type": "integer"}, "a": {"type": "string"}}, ["a"]), _tool("a", {}, [])]
    schema = call_schema(tools)
    first, second = schema["anyOf"]
    assert first["properties"]["name"] == {"const": "b"} and second["properties"]["name"] == {"const": "a"}
    assert list(first["properties"]) == ["name", "arguments"] and first["required"] == ["name", "arguments"]
    arguments = first["properties"]["arguments"]
    assert list(arguments["properties"]) == ["a", "z"]  # sorted, as format_completion writes them
    assert arguments["required"] == ["a"] and arguments["additionalProperties"] is False
    assert first["additionalProperties"] is False
    assert tools[0]["function"]["parameters"]["properties"].keys() == {"z", "a"}  # the input is not modified
    assert "anyOf" not in call_schema(tools[:1]) and call_schema(tools[:1]) == first
    with pytest.raises(ValueError, match="no tools"):
        call_schema([])


def test_call_schema_accepts_exactly_the_gold_calls():
    """The schema is the checker's notion of a valid call: every gold call validates, its mutations do not."""
    import jsonschema

    for task in TASKS:
        schema = call_schema(task.tools)
        gold = json.loads(format_completion(task.gold))
        jsonschema.validate(gold, schema)
        for bad in ({**gold, "name": "not_a_tool"}, {**gold, "arguments": {**gold["arguments"], "extra": 1}},
                    {**gold, "extra": 1}):  # fmt: skip
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, schema)


# --- the mask (llguidance) on the tiny edge's tokenizer -------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("llguidance")
    from netgpt_lite.edge.tiny_lm import load_edge_model

    model, tokenizer = load_edge_model(None, device="cpu")
    tokenizer.padding_side = "left"
    return model, tokenizer


@pytest.fixture(scope="module")
def constraint(tiny):
    from netgpt_lite.edge.constrained import CallConstraint

    return CallConstraint(tiny[1])


def _walk(constraint, tools, vocab: int, pick) -> tuple[list[int], bool]:
    """Drive one row of the logits processor: ``pick(step, masked_scores) -> token``; returns (ids, ended)."""
    import torch

    processor = constraint.processor([tools])
    ids = torch.zeros((1, 1), dtype=torch.long)  # a stand-in prompt token: the processor ignores step 0's input
    out = []
    for step in range(160):
        masked = processor(ids, torch.zeros((1, vocab)))
        token = pick(step, masked[0])
        if not torch.isfinite(masked[0, token]):
            return out, False  # the constraint refused the token
        out.append(token)
        if token in constraint.eos_ids:
            return out, True
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out, False


def test_random_walks_under_the_mask_only_end_in_schema_valid_calls(tiny, constraint):
    """Random choices among the allowed tokens: every finished text is a valid call in the trained format.

    If the mask let through anything the schema forbids (a wrong tool, an unknown argument, an integer out
    of range, a time that breaks the pattern, whitespace, unsorted keys), some walk would end in it.
    """
    import torch

    model, tok = tiny
    vocab = model.config.vocab_size
    texts = [tok.decode([i]) for i in range(vocab)]
    closers = torch.tensor(['"' in t or "}" in t for t in texts])
    rng = np.random.default_rng(0)
    finished = 0
    for task in TASKS:
        for _ in range(3):
            def pick(step, masked):
                allowed = torch.isfinite(masked)
                eos = next(iter(constraint.eos_ids))
                if allowed[eos] and rng.random() < 0.5:
                    return eos
                pool = allowed & closers if (allowed & closers).any() and rng.random() < 0.4 else allowed
                choices = torch.nonzero(pool).flatten().tolist()
                return int(rng.choice(choices))

            ids, ended = _walk(constraint, task.tools, vocab, pick)
            if not ended:
                continue
            finished += 1
            text = tok.decode(ids, skip_special_tokens=True)
            call = parse_tool_call(text)
            assert call is not None and check_call(call, task.tools, call).schema_valid, text
            assert text == format_completion(call), text  # compact, name first, keys sorted
    assert finished >= len(TASKS)  # most walks end: the test looked at many calls


def _forced(constraint, tok, tools, text: str, vocab: int) -> bool:
    """Whether the mask lets the exact token sequence of ``text`` + eos through."""
    target = tok(text, add_special_tokens=False)["input_ids"] + [next(iter(constraint.eos_ids))]
    ids, ended = _walk(constraint, tools, vocab, lambda step, masked: target[step])
    return ended and ids == target


def test_the_mask_lets_the_gold_calls_through_and_refuses_invalid_ones(tiny, constraint):
    model, tok = tiny
    vocab = model.config.vocab_size
    for task in TASKS[:20]:
        assert _forced(constraint, tok, task.tools, format_completion(task.gold), vocab), task.gold
    task = next(t for t in TASKS if t.gold["name"] == "schedule_maintenance")
    gold = task.gold
    others = [t["function"]["name"] for t in task.tools if t["function"]["name"] != gold["name"]]
    catalog = {t["function"]["name"] for t in task.tools}
    invalid = [
        format_completion({"name": "no_such_tool", "arguments": gold["arguments"]}),
        format_completion({"name": gold["name"], "arguments": {**gold["arguments"], "zzz": 1}}),
        format_completion({"name": gold["name"], "arguments": {**gold["arguments"], "start_time": "25:00"}}),
        format_completion({"name": gold["name"], "arguments": {**gold["arguments"], "duration_minutes": 5}}),
        format_completion({"name": gold["name"], "arguments": {**gold["arguments"], "duration_minutes": "30"}}),
        format_completion({"name": gold["name"], "arguments": {}}),  # required arguments missing
        json.dumps(json.loads(format_completion(gold))),  # spaces after the separators
        json.dumps({"arguments": gold["arguments"], "name": gold["name"]}, separators=(",", ":")),  # key order
        format_completion(gold) + "\n",
    ]
    assert "no_such_tool" not in catalog and others
    for text in invalid:
        assert not _forced(constraint, tok, task.tools, text, vocab), text


def test_constrained_agent_outputs_valid_calls_in_the_agents_structure(tiny):
    from netgpt_lite.edge.agent import EdgeAgent

    model, tok = tiny
    tasks = TASKS[:12]
    greedy = EdgeAgent(model, tok, max_new_tokens=80, batch_size=5)
    agent = EdgeAgent(model, tok, max_new_tokens=80, batch_size=5, decoding="constrained")
    outputs = agent.run(tasks)
    ended = [o for o in outputs if o.token_logprobs.size < 80]
    assert len(ended) >= 10
    for o in ended:
        assert o.schema_valid and o.completion == format_completion(o.tool_call), o.completion
    for o in outputs:
        assert o.n_output_tokens == o.token_logprobs.size and np.all(o.token_logprobs <= 0.0)
        assert 0.0 <= o.confidence("mean") <= 1.0
    again = agent.run(tasks[::-1])[::-1]  # deterministic batches: the order of the requests does not matter
    assert [o.completion for o in again] == [o.completion for o in outputs]
    assert sum(o.schema_valid for o in outputs) >= sum(o.schema_valid for o in greedy.run(tasks))
    with pytest.raises(ValueError, match="decoding"):
        EdgeAgent(model, tok, decoding="beam")


def test_retry_decoding_redoes_only_the_invalid_calls(tiny):
    """decoding="retry": the greedy calls that are schema-valid stay as they are; each invalid one is generated
    again under the mask, and its tokens and time count both passes."""
    from netgpt_lite.edge.agent import EdgeAgent

    model, tok = tiny
    tasks = TASKS[:12]
    greedy = EdgeAgent(model, tok, max_new_tokens=80, batch_size=5).run(tasks)
    retried = EdgeAgent(model, tok, max_new_tokens=80, batch_size=5, decoding="retry").run(tasks)
    invalid = [i for i, o in enumerate(greedy) if not o.schema_valid]
    assert invalid, "the tiny model should get some calls invalid on test phrasings"
    for g, r in zip(greedy, retried):
        if g.schema_valid:
            assert not r.retried and r.completion == g.completion and r.n_output_tokens == g.n_output_tokens
        else:
            assert r.retried and r.n_output_tokens == g.n_output_tokens + r.token_logprobs.size
            assert r.wall_ms > g.wall_ms
    ended = [retried[i] for i in invalid if retried[i].token_logprobs.size < 80]
    assert ended and all(o.schema_valid for o in ended)


def test_the_score_uses_the_models_probabilities_not_the_renormalised_ones(tiny):
    """A forced token (the only one allowed) has renormalised probability 1, not its model probability."""
    from netgpt_lite.edge.constrained import CallConstraint, generate_constrained
    from netgpt_lite.edge.prompt import render_prompt

    model, tok = tiny
    constraint = CallConstraint(tok)
    constraint.record_masked = {}
    task = TASKS[0]
    prompt = render_prompt(tok, task.messages, task.tools)
    [(same_prompt, text, logprobs, n_in, wall_ms)] = generate_constrained(model, tok, [prompt], [task.tools],
                                                                         max_new_tokens=80, constraint=constraint)
    masked = constraint.record_masked[prompt]
    assert same_prompt == prompt and n_in > 0 and wall_ms > 0 and masked.shape == logprobs.shape
    assert np.all(masked >= logprobs - 1e-5) and masked.max() == pytest.approx(0.0, abs=1e-6)


def test_a_missing_library_is_a_clear_import_error(monkeypatch, tiny):
    from netgpt_lite.edge.agent import EdgeAgent

    monkeypatch.setitem(sys.modules, "llguidance", None)
    with pytest.raises(ImportError, match="pip install llguidance"):
        EdgeAgent(*tiny, decoding="constrained")


def test_eval_edge_compares_constrained_with_greedy_paired(tmp_path, capsys):
    pytest.importorskip("llguidance")
    from netgpt_lite.cli import main

    out = tmp_path / "eval"
    assert main(["eval-edge", "--model", "tiny", "--decoding", "constrained", "--baseline", "tiny", "--n", "8",
                 "--json", "--quiet", "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["decoding"] == "constrained" and result["baseline"]["decoding"] == "greedy"
    assert result["schema_valid"] >= result["baseline"]["schema_valid"]
    assert result["paired"]["model"] == "tiny-constrained" and result["paired"]["baseline"] == "tiny"
    assert sorted(p.name for p in out.iterdir()) == ["result.json", "tiny-constrained.jsonl", "tiny.jsonl"]
    assert main(["eval-edge", "--model", "tiny", "--decoding", "constrained", "--baseline", "tiny",
                 "--baseline-decoding", "constrained"]) == 2  # the same model and decoding twice
    assert main(["eval-edge", "--model", "tiny", "--baseline-decoding", "constrained"]) == 2  # no baseline
