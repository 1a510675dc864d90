"""Tests for the tool catalog: schemas derived from typed functions, ranges, stubs."""

from __future__ import annotations

import inspect
from typing import Literal

import jsonschema
import pytest

from netgpt_lite.tasks import tools
from netgpt_lite.tasks.tools import SIMILAR_TOOLS, TOOL_FUNCTIONS, call_tool, tool_schema, tool_schemas


@tools.tool_constraints(speed_mbps=(1, 100), at=tools.TIME_PATTERN)
def _toy(cell_id: str, level: Literal["a", "b"], speed_mbps: int, at: str, verbose: bool = False) -> dict:
    """A toy tool.

    Args:
        cell_id: Which cell.
        level: The level.
        speed_mbps: A speed in Mbps.
        at: A time.
        verbose: Talk more.
    """
    return {}


def test_schema_derived_from_type_hints_and_docstring():
    schema = tool_schema(_toy)
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "_toy" and fn["description"] == "A toy tool."
    assert "return" not in fn
    props = fn["parameters"]["properties"]
    assert props["level"] == {"type": "string", "enum": ["a", "b"], "description": "The level."}
    assert props["speed_mbps"]["type"] == "integer"
    assert (props["speed_mbps"]["minimum"], props["speed_mbps"]["maximum"]) == (1, 100)
    assert props["at"]["pattern"] == tools.TIME_PATTERN
    assert props["verbose"] == {"type": "boolean", "description": "Talk more.", "default": False}
    assert fn["parameters"]["required"] == ["cell_id", "level", "speed_mbps", "at"]


def test_catalog_size_and_schema_validity():
    schemas = tool_schemas()
    assert len(schemas) >= 12 and len(schemas) == len(TOOL_FUNCTIONS)
    assert [s["function"]["name"] for s in schemas] == list(TOOL_FUNCTIONS)
    assert schemas == tools.TOOLS
    n_enum = n_range = 0
    for schema in schemas:
        jsonschema.Draft202012Validator.check_schema(schema["function"]["parameters"])
        assert schema["function"]["description"]
        props = schema["function"]["parameters"]["properties"]
        n_enum += sum("enum" in p for p in props.values())
        n_range += sum("minimum" in p for p in props.values())
        assert all(p.get("description") for p in props.values())
    assert n_enum >= 8 and n_range >= 8


@pytest.mark.parametrize("name", list(TOOL_FUNCTIONS))
def test_required_matches_signature_defaults(name):
    (schema,) = tool_schemas([name])
    params = inspect.signature(TOOL_FUNCTIONS[name]).parameters
    required = [p for p, v in params.items() if v.default is inspect.Parameter.empty]
    assert schema["function"]["parameters"].get("required", []) == required
    props = schema["function"]["parameters"]["properties"]
    assert list(props) == list(params)
    assert all(props[p].get("default") == v.default for p, v in params.items() if p not in required)


def test_similar_tools_exist_and_are_symmetric_enough():
    assert set(SIMILAR_TOOLS) == set(TOOL_FUNCTIONS)
    for name, similar in SIMILAR_TOOLS.items():
        assert name not in similar and set(similar) <= set(TOOL_FUNCTIONS)
    assert "get_cell_alarms" in SIMILAR_TOOLS["get_cell_kpi"]
    assert "schedule_fl_round" in SIMILAR_TOOLS["start_fl_round"]


def test_call_tool_runs_stub_deterministically_and_validates():
    call = {"name": "start_fl_round", "arguments": {"model_name": "energy-saver", "n_clients": 20}}
    first, second = call_tool(call), call_tool(call)
    assert first == second and 10 <= first["round_id"] <= 99
    other = call_tool(
        {"name": "start_fl_round", "arguments": {"model_name": "beam-selector", "n_clients": 20}}
    )
    assert isinstance(other["round_id"], int)
    with pytest.raises(ValueError, match="n_clients"):
        call_tool({"name": "start_fl_round", "arguments": {"model_name": "energy-saver", "n_clients": 1000}})
    with pytest.raises(ValueError, match="start_time|does not match"):
        call_tool({"name": "schedule_maintenance",
                   "arguments": {"site": "port", "start_time": "25:00", "duration_minutes": 30}})  # fmt: skip
    with pytest.raises(ValueError, match="unknown tool"):
        tool_schemas(["no_such_tool"])


def test_tool_schemas_returns_independent_copies():
    a = tool_schemas(["open_ticket"])[0]
    a["function"]["name"] = "changed"
    assert tool_schemas(["open_ticket"])[0]["function"]["name"] == "open_ticket"
