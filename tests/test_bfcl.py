"""Tests for netgpt_lite.tasks.bfcl: BFCL's AST rules on crafted cases and on the 400 shipped cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netgpt_lite.tasks.bfcl import (
    ACCEPT_VARIANTS,
    NAME_MODES,
    REJECT_VARIANTS,
    bfcl_case_to_tools,
    bfcl_gold_call,
    bfcl_variants,
    check_bfcl,
    load_bfcl_cases,
    value_accepted,
)
from netgpt_lite.tasks.checker import ERROR_TYPES, check_call

BFCL_DIR = Path(__file__).resolve().parents[2] / "shared" / "bfcl"  # /work/main/../shared/bfcl
needs_data = pytest.mark.skipif(
    not (BFCL_DIR / "simple.jsonl").is_file(),
    reason=f"BFCL data not found at {BFCL_DIR} (shared/ beside the repo)",
)

CASE = {
    "id": "crafted_0",
    "function": [
        {
            "name": "trip.plan",
            "parameters": {
                "type": "dict",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "budget": {"type": "float"},
                    "weights": {"type": "array", "items": {"type": "float"}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "mode": {"type": "string", "enum": ["car", "train"]},
                    "stops": {"type": "array", "items": {"type": "dict"}},
                    "window": {"type": "dict", "properties": {"start": {"type": "string"}}},
                    "pets": {"type": "boolean"},
                },
                "required": ["city", "days"],
            },
        },
        {
            "name": "trip.cancel",
            "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": []},
        },
    ],
    "possible_answer": [
        {
            "trip.plan": {
                "city": ["San Francisco", "SF"],
                "days": [3],
                "budget": [500.0, ""],
                "weights": [[0.5, 2.0], ""],
                "tags": [["food", "art"]],
                "mode": ["train", ""],
                "stops": [[{"name": ["Napa"], "hours": [2, ""]}], ""],
                "window": [{"start": ["May 1, 2024", "2024-05-01"]}, ""],
                "pets": ["", False],
            }
        }
    ],
}
GOLD = bfcl_gold_call(CASE)


def _with(**changes):
    arguments = {**GOLD["arguments"], **changes}
    return {"name": "trip.plan", "arguments": {k: v for k, v in arguments.items() if v != "OMIT"}}


def test_gold_call_from_first_acceptable_values():
    assert GOLD == {
        "name": "trip.plan",
        "arguments": {
            "city": "San Francisco",
            "days": 3,
            "budget": 500.0,
            "weights": [0.5, 2.0],
            "tags": ["food", "art"],
            "mode": "train",
            "stops": [{"name": "Napa", "hours": 2}],
            "window": {"start": "May 1, 2024"},
        },  # "pets" is left out: its first acceptable value is ""
    }
    assert bfcl_gold_call(CASE, openai_names=True)["name"] == "trip_plan"


@pytest.mark.parametrize(
    ("call", "error_type"),
    [
        (GOLD, "ok"),
        ({**GOLD, "name": "trip_plan"}, "unknown_tool"),  # the other name mode's spelling (verbatim here)
        (_with(city="san-francisco"), "ok"),  # lower-cased, '-' and spaces removed
        (_with(city="sf"), "ok"),  # any acceptable value
        (_with(budget=500), "ok"),  # int where a float is expected
        (_with(budget="OMIT", pets=False), "ok"),  # "" means omittable
        (_with(window={"start": "2024/05/01"}), "ok"),
        (_with(stops=[{"name": "napa"}]), "ok"),  # dict key omittable inside a list of dicts
        (_with(weights=[0.5, 2]), "wrong_type"),  # ...but not inside float arrays
        (_with(days=3.0), "wrong_type"),  # 5.0 for an integer
        (_with(days=True), "wrong_type"),  # booleans are not integers
        (_with(budget=None), "wrong_type"),  # null is a type error, not an omission
        (_with(tags="food"), "wrong_type"),
        (_with(days="OMIT"), "missing_required"),
        (_with(hotel="Ritz"), "unexpected_argument"),
        ({"name": "trip.cancel", "arguments": {"city": "SF"}}, "wrong_tool"),
        ({"name": "trip.book", "arguments": {}}, "unknown_tool"),
        (_with(days=4), "wrong_value"),
        (_with(budget=500.5), "wrong_value"),  # floats match exactly
        (_with(city="Los Angeles"), "wrong_value"),
        (_with(tags=["art", "food"]), "wrong_value"),  # order matters
        (_with(mode="car"), "wrong_value"),
        (_with(mode="plane"), "invalid_enum"),
        (_with(pets=True), "wrong_value"),
        (_with(stops=[{"name": "Napa", "hours": 3}]), "wrong_value"),
        (_with(window={"end": "May 2"}), "wrong_value"),
        (_with(mode="OMIT", tags="OMIT"), "wrong_value"),  # tags has no "" so it may not be left out
        (None, "unparseable"),
    ],
)
def test_bfcl_rules(call, error_type):
    verdict = check_bfcl(CASE, call)
    assert verdict.error_type == error_type, verdict.detail
    assert verdict.error_type in ERROR_TYPES


@pytest.mark.parametrize(("name", "mode", "error_type"), [
    ("trip.plan", "verbatim", "ok"), ("trip_plan", "verbatim", "unknown_tool"),
    ("trip_plan", "underscore_to_dot", "ok"), ("trip.plan", "underscore_to_dot", "unknown_tool"),
])
def test_name_modes_are_applied_as_bfcl_does(name, mode, error_type):
    assert check_bfcl(CASE, {**GOLD, "name": name}, mode).error_type == error_type
    other = {"name": "trip.cancel" if mode == "verbatim" else "trip_cancel", "arguments": {"city": "SF"}}
    assert check_bfcl(CASE, other, mode).error_type == "wrong_tool"  # the other doc, spelled in the mode


def test_unknown_name_mode_is_rejected():
    with pytest.raises(ValueError, match="name_mode"):
        check_bfcl(CASE, GOLD, "dots")


def test_completion_text_and_partial_credit():
    text = "<tool_call>" + json.dumps({**GOLD, "name": "trip_plan"}) + "</tool_call>"
    assert check_bfcl(CASE, text, "underscore_to_dot").correct
    assert check_bfcl(CASE, json.dumps([GOLD, GOLD])).error_type == "unparseable"  # exactly one call
    one_wrong = check_bfcl(CASE, _with(days=4))
    assert one_wrong.arguments_matched == pytest.approx(8 / 9) and one_wrong.schema_valid
    assert not check_bfcl(CASE, _with(days=3.0)).schema_valid


def test_value_accepted_string_rules():
    spec = {"type": "string"}
    assert value_accepted("April 1,2024", ["april 1, 2024"], spec)
    assert value_accepted("it's", ['it"s'], spec)
    assert not value_accepted("April 2, 2024", ["April 1, 2024"], spec)


def test_case_to_openai_tools():
    tools = bfcl_case_to_tools(CASE)
    function = tools[0]["function"]
    assert tools[0]["type"] == "function" and function["name"] == "trip_plan"
    props = function["parameters"]["properties"]
    assert function["parameters"]["type"] == "object"
    assert props["budget"]["type"] == "number" and props["weights"]["items"]["type"] == "number"
    assert props["window"]["type"] == "object" and props["stops"]["items"]["type"] == "object"
    # the generic checker can use these tools directly
    gold = bfcl_gold_call(CASE, openai_names=True)
    assert check_call(gold, tools, gold).correct


@pytest.mark.parametrize("mode", NAME_MODES)
def test_variants_on_crafted_case(mode):
    kinds = {kind for kind, _, _ in bfcl_variants(CASE, mode)}
    assert {"gold", "other_spelling", "alt_value", "string_variant", "other_tool", "float_for_int"} <= kinds
    for kind, call, allowed in bfcl_variants(CASE, mode):
        assert check_bfcl(CASE, call, mode).error_type in allowed, kind


@pytest.fixture(scope="module")
def bfcl_cases():
    return load_bfcl_cases(BFCL_DIR)


@needs_data
def test_loads_all_cases(bfcl_cases):
    assert len(bfcl_cases) == 400
    assert {c["category"] for c in bfcl_cases} == {"simple", "multiple"}


@needs_data
@pytest.mark.parametrize("mode", NAME_MODES)
def test_every_gold_derived_call_is_accepted(bfcl_cases, mode):
    openai_names = mode == "underscore_to_dot"
    rejected = [(c["id"], v.detail) for c in bfcl_cases
                if not (v := check_bfcl(c, bfcl_gold_call(c, openai_names=openai_names), mode)).correct]
    assert rejected == []


@needs_data
@pytest.mark.parametrize("mode", NAME_MODES)
@pytest.mark.parametrize("kind", ACCEPT_VARIANTS + REJECT_VARIANTS)
def test_variants_judged_as_expected(bfcl_cases, kind, mode):
    judged = [
        (c["id"], check_bfcl(c, call, mode).error_type, allowed)
        for c in bfcl_cases
        for k, call, allowed in bfcl_variants(c, mode)
        if k == kind
    ]
    assert judged, f"no case produced a {kind!r} variant"
    wrong = [j for j in judged if j[1] not in j[2]]
    assert wrong == []
