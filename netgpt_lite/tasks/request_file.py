"""Requests a user brings: a JSONL file of tool-calling requests with gold answers, read into tasks.

Each line is one JSON object:

* ``request`` (a plain-English string) or ``messages`` (OpenAI chat messages ending in a user message);
* ``tools``: the offered tools, either catalog names (``["get_cell_kpi", "open_ticket"]``) or tools in
  OpenAI format (``{"type": "function", "function": {"name", "description", "parameters"}}``);
* ``gold``: the right call ``{"name": ..., "arguments": {...}}``, naming one of the offered tools;
* optional ``id`` and ``difficulty``.

:func:`read_request_file` checks every line before returning and reports each bad line by number, so
an evaluation never starts on a half-valid file.  ``tests/data/handwritten_requests.jsonl`` holds 40
such requests written by hand to test generalisation; they are never used for training or tuning.

Example:
    >>> import tempfile, json
    >>> path = tempfile.mktemp(suffix=".jsonl")
    >>> row = {"request": "Ping cell-3's latency", "tools": ["get_cell_kpi"],
    ...        "gold": {"name": "get_cell_kpi", "arguments": {"cell_id": "cell-3", "metric": "latency"}}}
    >>> _ = open(path, "w").write(json.dumps(row) + "\\n")
    >>> [t.gold["name"] for t in read_request_file(path)]
    ['get_cell_kpi']
"""

from __future__ import annotations

import json
from pathlib import Path

from netgpt_lite.tasks.generate import Task
from netgpt_lite.tasks.tools import tool_schemas

SPLIT = "user"  # the split name of tasks read from a user's file
MAX_REPORTED = 10  # bad lines listed in one error message


def _tools(value, catalog: set[str]) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise ValueError("'tools' must be a non-empty list of catalog tool names or OpenAI-format tools")
    tools = []
    for item in value:
        if isinstance(item, str):
            if item not in catalog:
                raise ValueError(f"unknown catalog tool {item!r}; known: {', '.join(sorted(catalog))}")
            tools += tool_schemas([item])
        elif isinstance(item, dict):
            fn = item.get("function", item)
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(fn.get("parameters"), dict):
                raise ValueError("a tool must have a 'name' and a 'parameters' JSON schema (OpenAI format)")
            tools.append({"type": "function", "function": fn})
        else:
            raise ValueError(f"a tool must be a name or an object, got {type(item).__name__}")
    return tools


def _messages(row: dict) -> list[dict]:
    if "messages" in row:
        messages = row["messages"]
        if (not isinstance(messages, list) or not messages
                or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)):
            raise ValueError("'messages' must be a non-empty list of {'role', 'content'} objects")
        if messages[-1]["role"] != "user" or not isinstance(messages[-1].get("content"), str):
            raise ValueError("the last message must be a user message with text content")
        return messages
    request = row.get("request")
    if not isinstance(request, str) or not request.strip():
        raise ValueError("each row needs 'request' (a non-empty string) or 'messages'")
    return [{"role": "user", "content": request}]


def _gold(value, tools: list[dict]) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(value.get("arguments"), dict):
        raise ValueError("'gold' must be {'name': str, 'arguments': {...}}")
    offered = [t["function"]["name"] for t in tools]
    if value["name"] not in offered:
        raise ValueError(f"gold tool {value['name']!r} is not among the offered tools {offered}")
    return {"name": value["name"], "arguments": value["arguments"]}


def read_request_file(path: str | Path) -> list[Task]:
    """Read and check a JSONL file of requests (format in the module docstring) into :class:`Task` objects.

    Raises:
        ValueError: listing each bad line as ``FILE line N: what is wrong`` (up to ten), or when the
            file has no request at all.
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    catalog = {t["function"]["name"] for t in tool_schemas()}
    tasks, problems = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("each line must be a JSON object")
                tools = _tools(row.get("tools"), catalog)
                difficulty = row.get("difficulty", "unknown")
                tasks.append(Task(task_id=str(row.get("id", f"{path.stem}-{number}")), split=SPLIT, kind="single_step",
                                  difficulty=str(difficulty), template_id=f"user/{path.stem}", messages=_messages(row),
                                  tools=tools, gold=_gold(row.get("gold"), tools)))
            except json.JSONDecodeError as err:
                problems.append(f"{path} line {number}: not valid JSON ({err.msg})")
            except ValueError as err:
                problems.append(f"{path} line {number}: {err}")
    if problems:
        more = f"\n... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise ValueError("bad request file:\n" + "\n".join(problems[:MAX_REPORTED]) + more)
    if not tasks:
        raise ValueError(f"{path} holds no request (one JSON object per line)")
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return tasks
