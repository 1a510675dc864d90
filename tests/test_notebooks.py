"""Every chapter notebook executes (fast mode) within its time budget and is committed clean.

The book build executes the same notebooks in full mode; here ``NETGPT_LITE_FAST=1`` shrinks data and
training steps (never the assertions), so the suite stays within a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Wall-clock budget of each chapter in fast mode, in seconds, kernel start included: about 3x what the chapter
# took on one thread (OMP_NUM_THREADS=1) of a busy 2-core machine, run one chapter at a time, and never under a
# minute.  A chapter over its budget should make its fast branch smaller (``runtime.pick``), not raise it.
BUDGET_S = {
    "00_netgpt_problem": 60,
    "01_networks_and_prices": 60,
    "02_fallback_threshold": 60,
    "03_tool_calls": 60,
    "04_edge_model": 360,
    "05_routing": 90,
    "06_rl": 120,
    "07_synergy": 180,
    "08_results": 180,
    "09_deploy": 90,
}


def test_there_are_chapters():
    assert [p.name for p in NOTEBOOKS][:1] == ["00_netgpt_problem.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_clean(path: Path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_structure(path: Path):
    """A chapter opens with what you will build and its prerequisites, has the setup cell, a Summary and Exercises."""
    nb = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "what you will build" in markdown.lower()
    assert "**Prerequisites**" in markdown, "say what the chapter assumes (after what you will build)"
    assert "google.colab" in code, "missing the Colab/local setup cell"
    assert "## Summary" in markdown
    assert "## Exercises" in markdown
    assert "Solution" in markdown + code, "exercises need solutions (a dropdown or a hide-cell code cell)"


CODE_COLUMNS = 88  # what the rendered book's code column shows whole at 1280 px


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_code_lines_fit_the_page(path: Path):
    """A reader sees every code line whole: none is longer than the code column."""
    nb = json.loads(path.read_text())
    long = [(i, len(line)) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for line in "".join(c["source"]).split("\n") if len(line) > CODE_COLUMNS]
    assert not long, f"{path.name}: code lines over {CODE_COLUMNS} characters (cell, length): {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_cell_has_a_unique_id(path: Path):
    """nbformat 4.5 cell ids: links into a chapter stay stable, and nbformat stops warning (a future error)."""
    nb = json.loads(path.read_text())
    ids = [c.get("id") for c in nb["cells"]]
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5), f"{path.name}: nbformat below 4.5"
    assert None not in ids, f"{path.name}: cells without an id: {[i for i, x in enumerate(ids) if x is None]}"
    assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"


def test_every_chapter_has_a_budget():
    assert sorted(BUDGET_S) == [p.stem for p in NOTEBOOKS], (
        "add the new chapter's fast-mode budget to BUDGET_S"
    )


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("NETGPT_LITE_FAST", "1")  # inherited by the kernel
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the budgets' one thread, whatever the caller set
    budget_s = BUDGET_S[path.stem]
    nb = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + budget_s
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),  # what is left of the budget
    )
    start = time.monotonic()
    try:
        client.execute()  # raises CellExecutionError with the failing cell's traceback
    except nbclient.exceptions.CellTimeoutError as err:
        pytest.fail(
            f"{path.stem} ran past its fast-mode budget of {budget_s} s (BUDGET_S in this file) and was "
            f"stopped in a cell: make the chapter's fast branch smaller.\n{err}"
        )
    elapsed_s = time.monotonic() - start
    assert elapsed_s <= budget_s, (
        f"{path.stem} took {elapsed_s:.0f} s in fast mode, over its budget of {budget_s} s (BUDGET_S in this "
        "file): make the chapter's fast branch smaller"
    )
