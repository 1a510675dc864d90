"""Sphinx extension: mark the boxes that are meant to scroll sideways on a narrow screen.

On a phone (390 px) an 88-character code line, a table of many columns or a long display formula cannot fit
the text column; ``book.css`` makes each of them a box that scrolls inside itself, and this extension says so
in the page: it adds the class ``scroll-ok`` to every code-cell input, table and display-math block. The
browser check (``tests/test_book_offline.py``) allows those, and only those, to be wider than their box at
390 px; at 1280 px it allows none.

Example:
    >>> mark_scroll_boxes('<div class="cell_input docutils container"><table border="1" class="dataframe">')
    '<div class="cell_input docutils container scroll-ok"><table border="1" class="dataframe scroll-ok">'
"""

from __future__ import annotations

import re

# class="..." of a code-cell input, a display-math block (text or a cell's LaTeX output) or a table
_BOX = re.compile(r'(<(?:div|table)\b[^>]*\bclass=")([^"]*\b(?:cell_input|math|dataframe|table)\b[^"]*)(")')
_BARE_TABLE = re.compile(r"<table(\s[^>]*)?>")


def mark_scroll_boxes(body: str) -> str:
    """The page body with ``scroll-ok`` added to its code inputs, tables and display-math blocks."""
    body = _BARE_TABLE.sub(lambda m: m.group(0) if "class=" in (m.group(1) or "")
                           else f'<table class="scroll-ok"{m.group(1) or ""}>', body)
    return _BOX.sub(lambda m: m.group(0) if "scroll-ok" in m.group(2).split()
                    else f"{m.group(1)}{m.group(2)} scroll-ok{m.group(3)}", body)


def _on_page(app, pagename, templatename, context, doctree):
    if context.get("body"):
        context["body"] = mark_scroll_boxes(context["body"])


def setup(app):
    app.connect("html-page-context", _on_page, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
