"""The rendered book works offline: every built page loads in headless Chromium with the network cut off.

Each page of ``book/_build/html`` is served from 127.0.0.1 and opened at 1280 px and 390 px; every request
to any other host is blocked and counted.  A page fails on any outside request attempt, any console error
or uncaught exception, any failed local request (a missing static file), a Plotly figure that did not
draw, sideways scrolling at 390 px, a solution code cell visible before it is opened, or (chapters) more
than 1 MB of HTML.

The book is built after the tests in CI, so this module SKIPS when ``book/_build/html`` or Chromium or the
``playwright`` package is missing.  Run it by hand after a build with ``make book-check`` (or
``python tests/test_book_offline.py [--shots DIR]`` for a per-page table and full-page screenshots;
``$NETGPT_BOOK_HTML`` points both at another build).  Chromium is the
Debian one (``/usr/bin/chromium``, or ``$CHROMIUM``), driven by Playwright through ``executable_path``:
nothing is downloaded.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HTML = Path(os.environ.get("NETGPT_BOOK_HTML") or Path(__file__).resolve().parents[1] / "book" / "_build" / "html")
CHAPTER_MAX_BYTES = 1_000_000
WIDTHS = (1280, 390)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]  # fmt: skip
# pages Sphinx writes that are not part of the book's reading path (search needs its index; still checked)
SKIP_PAGES = {"genindex.html"}


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):  # fmt: skip
        if candidate and Path(candidate).exists():
            return candidate
    return None


def book_pages(root: Path = HTML) -> list[str]:
    """Every built page, relative to the html root (index first, then sorted)."""
    if not root.is_dir():
        return []
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                   if not p.relative_to(root).parts[0].startswith("_"))  # fmt: skip
    pages = [p for p in pages if p not in SKIP_PAGES]
    return sorted(pages, key=lambda p: (p != "index.html", p))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@functools.lru_cache(maxsize=1)
def _server(root: str) -> str:
    """Serve ``root`` on 127.0.0.1 (a free port) in a daemon thread; return the base URL."""
    handler = functools.partial(_QuietHandler, directory=root)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


def check_page(browser, base: str, page_path: str, width: int, shot: Path | None = None) -> dict:
    """Open one page at one width with outside requests blocked; return what went wrong and timings."""
    local = urlsplit(base).netloc
    report = {"outside": [], "console": [], "failed": [], "figures": 0, "drawn": 0}
    context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")

    def route(r):
        url = r.request.url
        if urlsplit(url).netloc == local or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            report["outside"].append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and report["console"].append(m.text))
    page.on("pageerror", lambda e: report["console"].append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: urlsplit(r.url).netloc == local and report["failed"].append(r.url))
    page.on("response", lambda r: r.status >= 400 and report["failed"].append(f"{r.status} {r.url}"))
    t0 = time.perf_counter()
    page.goto(base + page_path, wait_until="load", timeout=120_000)
    report["load_s"] = time.perf_counter() - t0
    page.wait_for_timeout(800)  # let plotly finish drawing and late requests start
    report["figures"] = page.locator(".plotly-graph-div").count()
    report["drawn"] = page.locator(".plotly-graph-div .main-svg").evaluate_all(
        "els => new Set(els.map(e => e.closest('.plotly-graph-div'))).size")
    report["scroll_x"] = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    # a solution cell (first line "# Solution N") laid out on the page means an answer is visible unopened
    # (its code or its output; Element.checkVisibility() is false inside a closed <details>)
    report["visible_solutions"] = page.evaluate("""[...document.querySelectorAll('div.cell')].filter(c => {
        const pre = c.querySelector('div.highlight pre');
        return pre && /^\\s*# Solution \\d/.test(pre.textContent) &&
            [pre, ...c.querySelectorAll('.cell_output')].some(e => e.checkVisibility()); }).length""")
    # content wider than its own box: code, outputs, tables and display math that a reader would have to scroll
    # inside (or that is cut off); an element marked `scroll-ok` (or inside one) is meant to scroll and says so
    report["overflow"] = page.evaluate("""[...document.querySelectorAll(
            'main pre, main .cell_output, main table, main .math, main mjx-container[display="true"]')]
        .filter(e => e.checkVisibility() && !e.closest('.scroll-ok') && e.clientWidth > 0
                && !getComputedStyle(e).display.startsWith('inline') && e.scrollWidth > e.clientWidth + 1)
        .filter((e, _, all) => !all.some(o => o !== e && o.contains(e)))
        .map(e => (e.closest('.cell_output') ? 'output ' : e.closest('.cell_input') ? 'code ' : '')
                  + `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).split(' ')[0] : ''}`
                  + ` +${e.scrollWidth - e.clientWidth}px`)""")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    context.close()
    return report


@pytest.fixture(scope="module")
def browser():
    if not HTML.joinpath("index.html").exists():
        pytest.skip("book/_build/html is absent: build the book first (make book-fast), then make book-check")
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is absent (apt-get install chromium, or set $CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_path", book_pages() or ["index.html"])
def test_page_offline_clean(browser, page_path, width):
    r = check_page(browser, _server(str(HTML)), page_path, width)
    assert r["outside"] == [], f"{page_path}: outside requests {r['outside'][:5]}"
    assert r["console"] == [], f"{page_path}: console errors {r['console'][:5]}"
    assert r["failed"] == [], f"{page_path}: failed local requests {r['failed'][:5]}"
    assert r["drawn"] == r["figures"], f"{page_path}: {r['figures'] - r['drawn']} Plotly figure(s) not drawn"
    assert r["scroll_x"] <= 1, f"{page_path}: scrolls sideways by {r['scroll_x']} px at {width} px"
    assert r["visible_solutions"] == 0, f"{page_path}: {r['visible_solutions']} solution cell(s) visible unopened"


@pytest.mark.parametrize("page_path", [p for p in book_pages() if p.startswith("notebooks/")] or ["-"])
def test_chapter_html_is_light(page_path):
    if page_path == "-" or not HTML.is_dir():
        pytest.skip("book/_build/html is absent")
    size = HTML.joinpath(page_path).stat().st_size
    assert size < CHAPTER_MAX_BYTES, f"{page_path} is {size / 1e6:.2f} MB (plotly.js inlined again?)"


def main(argv: list[str]) -> int:
    """Per-page table (size, load time, errors, outside requests, elements wider than their box: reported, and
    listed under the page); ``--shots DIR`` saves screenshots."""
    from playwright.sync_api import sync_playwright

    shots = Path(argv[argv.index("--shots") + 1]) if "--shots" in argv else None
    base, bad = _server(str(HTML)), 0
    print(f"{'page':42} {'KB':>7} {'width':>5} {'load s':>6} {'figs':>5} {'console':>7} {'outside':>7} "
          f"{'failed':>6} {'scroll':>6} {'sol.':>5} {'overflow':>8}")  # fmt: skip
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        for p in book_pages():
            for w in WIDTHS:
                shot = None if shots is None else shots / f"{p.replace('/', '_')[:-5]}_{w}.png"
                r = check_page(b, base, p, w, shot)
                bad += bool(r["outside"] or r["console"] or r["failed"] or r["scroll_x"] > 1
                            or r["drawn"] != r["figures"] or r["visible_solutions"])
                print(f"{p:42} {HTML.joinpath(p).stat().st_size / 1e3:7.0f} {w:5} {r['load_s']:6.2f} "
                      f"{r['drawn']:>2}/{r['figures']:<2} {len(r['console']):7} {len(r['outside']):7} "
                      f"{len(r['failed']):6} {r['scroll_x']:6} {r['visible_solutions']:5} "
                      f"{len(r['overflow']):8}")  # fmt: skip
                for kind in ("console", "outside", "failed", "overflow"):
                    for msg in dict.fromkeys(r[kind]):
                        print(f"    {kind}: {msg[:220]}")
        b.close()
    total = sum(f.stat().st_size for f in HTML.rglob("*") if f.is_file())
    print(f"site: {total / 1e6:.1f} MB in {HTML}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
