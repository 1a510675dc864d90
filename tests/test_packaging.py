"""The package installs, imports cheaply, and its two dependency lists agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _environment_yml_pip_names() -> set[str]:
    names, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and stripped.startswith("- "):
            item = stripped[2:].strip()
            if not item.startswith("-e"):
                names.add(_name(item))
    return names


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {_name(r) for r in extra}
    assert _environment_yml_pip_names() == declared


def test_python_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    torch_req = next(r for r in project["dependencies"] if _name(r) == "torch")
    assert ">=" in torch_req and "==" not in torch_req, "torch must be a range so Colab keeps its own build"


def test_import_is_cheap_and_side_effect_free():
    """`import netgpt_lite` must not import torch, transformers, trl, sympy or datasets."""
    code = (
        "import sys, netgpt_lite; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'sympy', 'datasets') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve():
    import netgpt_lite

    for name in netgpt_lite._PUBLIC:
        assert getattr(netgpt_lite, name) is not None


def test_cli_help_lists_every_subcommand():
    from netgpt_lite.cli import COMMANDS

    out = subprocess.run(
        [sys.executable, "-m", "netgpt_lite", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out
