"""Sphinx extension: keep the rendered book offline and light.

Chapters are executed with Plotly's ``notebook`` renderer (``PLOTLY_RENDERER=notebook``, set by the Makefile),
which writes into the notebook, for Jupyter's sake, (a) the whole plotly.js bundle (~4.8 MB) inline in the
first figure's output and (b) one ``<script src=".../mathjax/...">`` from a CDN before *every* figure, plus a
MathJax-2 configuration snippet.  In the static book that means ~5 MB per page, a failed request per figure
offline, and a second MathJax that re-typesets the page online.  This extension, on every page:

* removes the inlined bundle, the CDN MathJax tags and their MathJax-2 snippets from the page body;
* on pages that draw Plotly figures, loads ``_static/plotly.min.js`` once (a copy of the bundle that ships
  inside the installed ``plotly`` Python package, so the JavaScript always matches the figures' Python side;
  copied at the end of the build, nothing is committed or downloaded), after ``window.PlotlyConfig``;
* removes duplicated inline configuration scripts (sphinx-thebe and sphinx-togglebutton register theirs twice
  under Jupyter Book 1; the second ``const THEBE_JS_URL`` is a SyntaxError in the console of every page).

The notebooks themselves are not changed: in Jupyter and Colab they keep rendering as before.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"
# <script ...>/** plotly.js vX ... */ ... </script>  (the inlined bundle)
_BUNDLE = re.compile(r"<script[^>]*>\s*/\*\*\s*\n?\*?\s*plotly\.js v.*?</script>", re.S)
# window.PlotlyConfig = ...; if (window.MathJax && window.MathJax.Hub ...) {...}  (before the bundle)
_CONFIG = re.compile(r"<script[^>]*>\s*window\.PlotlyConfig\s*=.*?</script>", re.S)
# <script src="https://.../mathjax/..."></script> and the MathJax-2 STIX snippet that follows each one
_CDN_MATHJAX = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>", re.I)
_MATHJAX2 = re.compile(r"<script[^>]*>\s*if \(window\.MathJax && window\.MathJax\.Hub[^<]*</script>")
_EMPTY_OUTPUT = re.compile(r"<div class=\"output text_html\">\s*</div>")


def strip_plotly_assets(body: str) -> str:
    """The page body without the inlined plotly.js, the CDN MathJax tags and their MathJax-2 snippets."""
    for pattern in (_BUNDLE, _CONFIG, _CDN_MATHJAX, _MATHJAX2):
        body = pattern.sub("", body)
    return _EMPTY_OUTPUT.sub("", body)


def _dedupe_scripts(scripts: list) -> list:
    """Drop repeated scripts (same file, or same inline body), keeping the first of each.

    An inline script may carry ``filename`` ``None`` or ``""`` depending on who registered it: both mean "none".
    """
    seen, kept = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or None, attrs.get("body"), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    return kept


def _on_page(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body:
        has_plotly = "Plotly.newPlot" in body
        context["body"] = strip_plotly_assets(body)
        if has_plotly:
            app.add_js_file(None, body="window.PlotlyConfig = {MathJaxConfig: 'local'};", priority=200)
            app.add_js_file(PLOTLY_JS, priority=201)
    if "script_files" in context:
        context["script_files"][:] = _dedupe_scripts(context["script_files"])


def _copy_plotly(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    target = Path(app.outdir) / "_static" / PLOTLY_JS
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def setup(app):
    # late priority: run after myst-nb and the theme have filled the page context
    app.connect("html-page-context", _on_page, priority=900)
    app.connect("build-finished", _copy_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
