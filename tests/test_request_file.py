"""Tests for netgpt_lite.tasks.request_file: the hand-written requests load, and bad files name their lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netgpt_lite.tasks.checker import check_call
from netgpt_lite.tasks.request_file import read_request_file
from netgpt_lite.tasks.tools import tool_schemas

HANDWRITTEN = Path(__file__).parent / "data" / "handwritten_requests.jsonl"
GOLD = {"name": "get_cell_kpi", "arguments": {"cell_id": "cell-3", "metric": "latency"}}


def _write(tmp_path, rows) -> Path:
    path = tmp_path / "reqs.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_handwritten_requests_are_valid_and_varied():
    tasks = read_request_file(HANDWRITTEN)
    assert len(tasks) >= 30 and len({t.task_id for t in tasks}) == len(tasks)
    for t in tasks:  # every gold call is schema-valid against its offered tools, and a distractor is offered
        assert check_call(t.gold, t.tools, t.gold).correct, t.task_id
        assert len(t.tools) >= 3 and t.split == "user"
    assert len({t.gold["name"] for t in tasks}) == len(tool_schemas())  # every catalog tool is asked for


def test_messages_and_openai_tools_are_accepted(tmp_path):
    tool = tool_schemas(["get_cell_kpi"])[0]
    path = _write(tmp_path, [{"id": "a", "messages": [{"role": "system", "content": "be brief"},
                                                      {"role": "user", "content": "latency of cell-3?"}],
                              "tools": [tool], "gold": GOLD, "difficulty": "easy"}])
    (task,) = read_request_file(path)
    assert task.messages[-1]["content"] == "latency of cell-3?" and task.difficulty == "easy"
    assert task.tools[0]["function"]["name"] == "get_cell_kpi"


@pytest.mark.parametrize("row, message", [
    ("not json", "line 1: not valid JSON"),
    ([1, 2], "line 1: each line must be a JSON object"),
    ({"tools": ["get_cell_kpi"], "gold": GOLD}, "line 1: each row needs 'request'"),
    ({"request": "x", "tools": ["no_such_tool"], "gold": GOLD}, "line 1: unknown catalog tool 'no_such_tool'"),
    ({"request": "x", "tools": [], "gold": GOLD}, "line 1: 'tools' must be a non-empty list"),
    ({"request": "x", "tools": ["open_ticket"], "gold": GOLD}, "line 1: gold tool 'get_cell_kpi' is not among"),
    ({"request": "x", "tools": ["get_cell_kpi"], "gold": {"name": "get_cell_kpi"}}, "line 1: 'gold' must be"),
    ({"messages": [{"role": "assistant", "content": "hi"}], "tools": ["get_cell_kpi"], "gold": GOLD},
     "line 1: the last message must be a user message"),
])
def test_bad_rows_are_reported_with_their_line(tmp_path, row, message):
    with pytest.raises(ValueError, match=message):
        read_request_file(_write(tmp_path, [row]))


def test_every_bad_line_is_listed_and_good_lines_do_not_hide_them(tmp_path):
    good = {"request": "latency of cell-3", "tools": ["get_cell_kpi"], "gold": GOLD}
    path = _write(tmp_path, [good, "{", good, {"request": "", "tools": ["get_cell_kpi"], "gold": GOLD}])
    with pytest.raises(ValueError) as err:
        read_request_file(path)
    assert "line 2" in str(err.value) and "line 4" in str(err.value) and "line 1:" not in str(err.value)


def test_empty_file_and_duplicate_ids(tmp_path):
    with pytest.raises(ValueError, match="holds no request"):
        read_request_file(_write(tmp_path, []))
    row = {"id": "same", "request": "latency of cell-3", "tools": ["get_cell_kpi"], "gold": GOLD}
    with pytest.raises(ValueError, match="duplicate ids"):
        read_request_file(_write(tmp_path, [row, row]))
