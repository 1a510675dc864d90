"""The book's API reference (book/api.md) documents every module of the library, and nothing that is gone."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import netgpt_lite

API_PAGE = Path(__file__).parents[1] / "book" / "api.md"


def _modules() -> set[str]:
    return {m.name for m in pkgutil.walk_packages(netgpt_lite.__path__, "netgpt_lite.")
            if not m.ispkg and not m.name.endswith("__main__")}


def test_every_module_has_a_section_and_every_section_a_module():
    listed = re.findall(r"automodule:: (\S+)", API_PAGE.read_text())
    modules = _modules()
    assert not modules - set(listed), f"add these to book/api.md: {sorted(modules - set(listed))}"
    assert not set(listed) - modules, f"book/api.md documents modules that do not exist: {sorted(set(listed) - modules)}"
    assert len(listed) == len(set(listed)), "a module is documented twice in book/api.md"
