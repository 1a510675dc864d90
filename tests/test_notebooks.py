"""Every chapter notebook executes (fast mode) and is committed clean.

The book build executes the same notebooks in full mode; here ``NETGPT_LITE_FAST=1`` shrinks data and
training steps (never the assertions), so the suite stays within a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


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
    """A chapter opens with what you will build, has the setup cell, a Summary and Exercises."""
    nb = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "what you will build" in markdown.lower()
    assert "google.colab" in code, "missing the Colab/local setup cell"
    assert "## Summary" in markdown
    assert "## Exercises" in markdown
    assert "Solution" in markdown + code, "exercises need solutions (a dropdown or a hide-input code cell)"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    os.environ["NETGPT_LITE_FAST"] = "1"  # inherited by the kernel
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell's traceback
