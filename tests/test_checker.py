"""Tests for netgpt_lite.tasks.checker: parsing, schema sub-errors, gold comparison, rewards."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netgpt_lite.tasks.checker import (
    ERROR_TYPES,
    INVALID_REWARD,
    SCHEMA_ERRORS,
    Verdict,
    check_call,
    check_completion,
    check_many,
    parse_tool_call,
    reward,
    tool_call_reward,
    values_equal,
)

BOOK_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name."},
        "nights": {"type": "integer", "minimum": 1, "maximum": 30},
        "budget_usd": {"type": "number"},
        "room": {"type": "string", "enum": ["single", "double", "suite"], "default": "double"},
        "breakfast": {"type": "boolean", "default": False},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "required": ["city", "nights"],
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "book_hotel", "description": "Book.", "parameters": BOOK_SCHEMA},
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]
GOLD = {"name": "book_hotel", "arguments": {"city": "New York", "nights": 3, "budget_usd": 500}}


def _call(**arguments):
    return {"name": "book_hotel", "arguments": arguments}


# ---------------------------------------------------------------- parsing
CALL = {"name": "f", "arguments": {"x": 1, "s": "a b"}}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(CALL),
        "  \n" + json.dumps(CALL) + "\n",
        "```json\n" + json.dumps(CALL) + "\n```",
        "Here you go:\n```\n" + json.dumps(CALL) + "\n```\nDone.",
        "<tool_call>" + json.dumps(CALL) + "</tool_call>",
        "<tool_call>\n" + json.dumps(CALL) + "\n",  # closing tag cut off by max_new_tokens
        json.dumps({"name": "f", "parameters": CALL["arguments"]}),
        json.dumps(
            {"type": "function", "function": {"name": "f", "arguments": json.dumps(CALL["arguments"])}}
        ),
        json.dumps({"role": "assistant", "tool_calls": [{"function": CALL}]}),
        json.dumps([CALL]),
        "I will call the tool now: " + json.dumps(CALL) + " -- hope that helps {",
        "<tool_call>not json</tool_call> then " + json.dumps(CALL),
    ],
)
def test_parse_formats(text):
    assert parse_tool_call(text) == CALL


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no call here",
        "{}",
        '{"name": "", "arguments": {}}',
        '{"name": 3, "arguments": {}}',
        '{"name": "f", "arguments": [1, 2]}',
        '{"name": "f", "arguments": "{not json"}',
        '{"name": "f", "arguments": {"x": NaN}}',
        '{"name": "f", "arguments": {"x": 1e999}}',
        json.dumps([CALL, CALL]),  # exactly one call, not two
        "<tool_call>{'name': 'f', 'arguments': {}}</tool_call>",  # Python literal: json only, no eval
    ],
)
def test_parse_rejects(text):
    assert parse_tool_call(text) is None


def test_parse_non_string_and_missing_arguments():
    assert parse_tool_call(None) is None
    assert parse_tool_call(b'{"name": "f"}') is None
    assert parse_tool_call('{"name": "ping"}') == {"name": "ping", "arguments": {}}
    assert parse_tool_call('{"name": "f", "arguments": ""}') == {"name": "f", "arguments": {}}


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "{" * 50_000 + "}" * 50_000,
        '{"name": "f", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"name": "f", "arguments": {"x": ' + "9" * 10_000 + "}}",
        "<tool_call>" * 1000,
        "```" * 1000,
        "\ud800\udfff\x00\u202e{" * 1000,
    ],
)
def test_parse_pathological_inputs_never_raise(text):
    result = parse_tool_call(text)
    assert result is None or isinstance(result["arguments"], dict)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec=None), max_size=300)
    | st.text(alphabet='{}[]":,<>`/tool_cal 0123', max_size=300)
)
def test_parse_fuzz_never_raises(text):
    result = parse_tool_call(text)
    assert result is None or (isinstance(result["name"], str) and isinstance(result["arguments"], dict))
    assert check_completion(text, TOOLS, GOLD).error_type in ERROR_TYPES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True),
    arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    wrap=st.sampled_from(["{}", "<tool_call>{}</tool_call>", "```json\n{}\n```", "Sure. {} Bye."]),
)
def test_parse_roundtrip(name, arguments, wrap):
    call = {"name": name, "arguments": arguments}
    assert parse_tool_call(wrap.replace("{}", json.dumps(call))) == call


# ---------------------------------------------------------------- verdicts for every error type
CASES = {
    "ok": _call(city="new  york", nights=3, budget_usd=500.0),
    "unparseable": None,
    "unknown_tool": {"name": "cancel_hotel", "arguments": {}},
    "missing_required": _call(city="New York", budget_usd=500),
    "unexpected_argument": _call(city="New York", nights=3, budget_usd=500, pets=True),
    "wrong_type": _call(city="New York", nights="3", budget_usd=500),
    "invalid_enum": _call(city="New York", nights=3, budget_usd=500, room="penthouse"),
    "out_of_range": _call(city="New York", nights=0, budget_usd=500),
    "schema_invalid": _call(city="New York", nights=3, budget_usd=500, code="nyc"),
    "wrong_tool": {"name": "get_weather", "arguments": {"city": "New York"}},
    "wrong_value": _call(city="Boston", nights=3, budget_usd=500),
}


@pytest.mark.parametrize("error_type", ERROR_TYPES)
def test_every_error_type(error_type):
    verdict = check_call(CASES[error_type], TOOLS, GOLD)
    assert verdict.error_type == error_type, verdict.detail
    assert verdict.correct == (error_type == "ok")
    assert verdict.schema_valid == (error_type in ("ok", "wrong_tool", "wrong_value"))
    assert verdict.parsed == CASES[error_type]
    assert verdict.detail


def test_schema_errors_have_priority_and_named_details():
    both = check_call(_call(nights="3", pets=1), TOOLS, GOLD)  # missing city, extra pets, wrong type
    assert both.error_type == "missing_required" and "city" in both.detail
    assert "pets" in check_call(CASES["unexpected_argument"], TOOLS, GOLD).detail
    assert "nights" in check_call(CASES["out_of_range"], TOOLS, GOLD).detail
    # schema errors come before the name check: an invalid call of another tool is not "wrong_tool"
    assert check_call({"name": "get_weather", "arguments": {}}, TOOLS, GOLD).error_type == "missing_required"


def test_numeric_normalisation():
    assert check_call(_call(city="New York", nights=3.0, budget_usd=500.0), TOOLS, GOLD).correct
    assert check_call(_call(city="New York", nights=3, budget_usd=500.0000000001), TOOLS, GOLD).correct
    assert (
        check_call(_call(city="New York", nights=3, budget_usd=501), TOOLS, GOLD).error_type == "wrong_value"
    )
    assert (
        check_call(_call(city="New York", nights=True, budget_usd=500), TOOLS, GOLD).error_type
        == "wrong_type"
    )
    assert values_equal(500, 500.0) and values_equal([1, 2.0], [1.0, 2])
    assert not values_equal(True, 1) and not values_equal(0, False) and not values_equal(None, 0)
    assert not values_equal(10**400, 1.0) and values_equal(10**400, 10**400)


def test_string_normalisation():
    assert values_equal("  New\tYork ", "new york") and values_equal({"A": "X y"}, {"A": "x  Y"})
    assert not values_equal("NewYork", "new york") and not values_equal("3", 3)
    enum_case = check_call(_call(city="New York", nights=3, budget_usd=500, room="Double"), TOOLS, GOLD)
    assert enum_case.error_type == "invalid_enum"  # enums are exact: the schema says so


def test_optional_arguments_and_defaults():
    gold = {"name": "book_hotel", "arguments": {"city": "Rome", "nights": 2, "room": "double"}}
    # the gold spells out the default; omitting it is the same call, and so is writing it explicitly
    assert check_call(_call(city="Rome", nights=2), TOOLS, gold).correct
    assert check_call(_call(city="Rome", nights=2, room="double", breakfast=False), TOOLS, gold).correct
    # an optional argument that is not in the gold call and not the default is a wrong value
    extra = check_call(_call(city="Rome", nights=2, breakfast=True), TOOLS, gold)
    assert extra.error_type == "wrong_value" and "breakfast" in extra.detail
    assert extra.arguments_matched == 1.0
    # a non-default optional gold argument that the call leaves out is a wrong value too
    omitted = check_call(_call(city="New York", nights=3), TOOLS, GOLD)
    assert omitted.error_type == "wrong_value" and "missing" in omitted.detail
    assert omitted.arguments_matched == pytest.approx(2 / 3)


def test_partial_credit_and_reward_ordering():
    exact = check_call(CASES["ok"], TOOLS, GOLD)
    two_of_three = check_call(_call(city="Boston", nights=3, budget_usd=500), TOOLS, GOLD)
    none_right = check_call(_call(city="Boston", nights=4, budget_usd=1), TOOLS, GOLD)
    wrong_tool = check_call(CASES["wrong_tool"], TOOLS, GOLD)
    invalid = [check_call(CASES[e], TOOLS, GOLD) for e in ("unparseable", "unknown_tool", *SCHEMA_ERRORS)]
    assert exact.partial_credit == 1.0 and wrong_tool.partial_credit == 0.0
    assert two_of_three.partial_credit == pytest.approx(0.2 + 0.5 * 2 / 3)
    assert none_right.partial_credit == pytest.approx(0.2)
    assert all(v.partial_credit == 0.0 for v in invalid)
    assert reward(exact) > reward(two_of_three) > reward(none_right) > reward(wrong_tool)
    assert all(reward(wrong_tool) > reward(v) == INVALID_REWARD for v in invalid)
    assert all(0.2 <= reward(v) <= 0.7 for v in (two_of_three, none_right))


def test_verdict_is_validated_and_frozen():
    with pytest.raises(ValueError, match="error_type"):
        Verdict("bad", "", False, None)
    with pytest.raises(ValueError, match="arguments_matched"):
        Verdict("wrong_value", "", True, {}, 1.5)
    with pytest.raises(AttributeError):
        Verdict("ok", "", True, {}).error_type = "wrong_tool"


def test_check_many_and_trl_reward():
    completions = [json.dumps(CASES["ok"]), "nope", json.dumps(CASES["wrong_tool"])]
    verdicts = check_many(completions, [TOOLS] * 3, [GOLD] * 3)
    assert [v.error_type for v in verdicts] == ["ok", "unparseable", "wrong_tool"]
    with pytest.raises(ValueError, match="same length"):
        check_many(completions, [TOOLS], [GOLD])
    conversational = [[{"role": "assistant", "content": c}] for c in completions]
    rewards = tool_call_reward(
        conversational, tools=[json.dumps(TOOLS)] * 3, gold=[json.dumps(GOLD)] * 3, prompts=[]
    )
    assert rewards == [1.0, INVALID_REWARD, 0.0]


def test_bare_function_docs_and_parameterless_tools():
    tools = [{"name": "ping", "parameters": {"type": "object", "properties": {}}}, {"name": "noop"}]
    assert check_call({"name": "ping", "arguments": {}}, tools, {"name": "ping", "arguments": {}}).correct
    assert check_call({"name": "noop", "arguments": {}}, tools, {"name": "noop", "arguments": {}}).correct
    extra = check_call({"name": "noop", "arguments": {"x": 1}}, tools, {"name": "noop", "arguments": {}})
    assert extra.error_type == "unexpected_argument"


def test_generated_tasks_gold_calls_are_ok_and_other_tools_are_not():
    tool_tasks = pytest.importorskip("netgpt_lite.tasks.generate")
    format_completion = tool_tasks.format_completion
    for task in tool_tasks.generate_tasks("train", 40, seed=1):
        assert check_completion(format_completion(task.gold), task.tools, task.gold).correct
        others = [t["function"]["name"] for t in task.tools if t["function"]["name"] != task.gold["name"]]
        verdict = check_call({"name": others[0], "arguments": task.gold["arguments"]}, task.tools, task.gold)
        assert not verdict.correct and reward(verdict) <= 0.0


_opened: list[str] = []


def _record_opens(event: str, args: tuple) -> None:
    if event == "open" and _opened and isinstance(args[0], str) and args[0] == _opened[0]:
        _opened.append(args[0])


def test_a_ref_to_a_url_or_a_file_is_never_fetched_and_is_a_recorded_failure(tmp_path, counting_listener):
    """Defect: a client schema's ``$ref: http://...`` made the checker fetch the URL (12 of 12 reached a
    listener) and crash; ``file://`` was read.  Now nothing is fetched or opened: a schema_invalid verdict."""
    import sys

    listener = counting_listener
    secret = tmp_path / "schema.json"
    secret.write_text(json.dumps({"type": "object"}))
    if not getattr(sys, "_netgpt_open_hook", False):  # audit hooks cannot be removed: install one per process
        sys.addaudithook(_record_opens)
        sys._netgpt_open_hook = True
    _opened[:] = [str(secret)]
    refs = [listener.url, secret.as_uri(), f"{listener.url}#/definitions/x"]
    try:
        for ref in refs:
            for parameters in ({"$ref": ref}, {"type": "object", "properties": {"city": {"$ref": ref}}}):
                tools = [{"type": "function", "function": {"name": "f", "parameters": parameters}}]
                verdict = check_call(
                    {"name": "f", "arguments": {"city": "Paris"}},
                    tools,
                    {"name": "f", "arguments": {"city": "Paris"}},
                )
                assert verdict.error_type == "schema_invalid" and not verdict.schema_valid, verdict
                assert ref.split("#")[0] in verdict.detail and "cannot be used" in verdict.detail
                assert reward(verdict) == INVALID_REWARD
    finally:
        listener.close()
    assert listener.connections == 0 and _opened == [str(secret)]  # no fetch, no file read


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "strnig"},  # an unknown type raised jsonschema.UnknownType out of the checker
        {"type": "object", "properties": {"city": {"type": "string", "pattern": "(["}}},  # an invalid regex
        {"type": "object", "properties": {"city": {"$ref": "#/$defs/missing"}}},
        {"$ref": "#"},  # a reference cycle: endless recursion
        ["not", "a", "schema"],
    ],
)
def test_an_unusable_schema_is_a_recorded_failure_not_a_crash(parameters):
    tools = [{"type": "function", "function": {"name": "f", "parameters": parameters}}]
    verdict = check_call({"name": "f", "arguments": {"city": "Paris"}}, tools, {"name": "f", "arguments": {}})
    assert verdict.error_type in SCHEMA_ERRORS and not verdict.schema_valid


def test_a_catastrophic_pattern_is_a_failed_call_within_its_time_limit():
    """A client's ``pattern`` such as ^(a|aa)+$ backtracks for hours on 40 characters; here it is cut off."""
    import time

    from netgpt_lite.tasks.schemas import PATTERN_TIMEOUT_S

    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "string", "pattern": "^(a|aa)+$"}}, "required": ["x"]}}}
    start = time.perf_counter()
    gold = {"name": "f", "arguments": {"x": "aaa"}}
    result = check_call({"name": "f", "arguments": {"x": "a" * 40 + "!"}}, [tool], gold)
    assert time.perf_counter() - start < 20 * PATTERN_TIMEOUT_S + 1.0
    assert not result.schema_valid and "took over" in result.detail
    assert check_call(gold, [tool], gold).correct
