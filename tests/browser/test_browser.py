"""The rendered book in a real browser (Debian's Chromium driven by Playwright; no browser download).

Serves ``_build/html`` on localhost and, for every page in ``_toc.yml``: no console errors, every
image loaded, math typeset where the page has math, every internal link (and its anchor) resolves;
no MathJax "Math input error", no raw ``$`` left in the rendered text (outside code), no cell output
wider than its box at 1280 px without a scrollbar of its own, no cell output that shows an error (a
figure whose label matplotlib could not parse renders as a traceback), every image
with alt text that says something (not a file name or a hash), and a footer that names the version
and the commit of the build. The dashboard must list every registered claim as passing (or partial: a
part not reproduced) at the small scale, mark the claims the registry declares partial as "partial",
never claim "N of N pass", and
fit its columns at 1280 px and on a 400 px phone. Screenshots of the landing page, a chapter and the
dashboard (wide and narrow) go to ``_build/screenshots``.

Runs after a book build (``make test`` builds first). Without a Chromium or a built book the test
skips and says why, unless ``WDC_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest
from book_toc import toc_documents

from wdcompanion.claims import CLAIMS
from wdcompanion.claims.dashboard import dashboard_rows

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("WDC_HTML_DIR", ROOT / "_build" / "html"))  # override to test another build
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                  "--disable-extensions", "--metrics-recording-only", "--mute-audio"]


def _unavailable(reason: str):
    if os.environ.get("WDC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (WDC_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def toc_pages() -> list[str]:
    """HTML paths (relative to ``_build/html``) of every page in ``_toc.yml``, root first."""
    return [f"{name}.html" for name in toc_documents()]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").exists():
        _unavailable(f"the book is not built ({HTML} is missing); run `make book` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium on this machine (Debian: `apt-get install chromium`)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    response = page.goto(url, wait_until="load")
    return page, response, errors


def _wait_for_math(page) -> int:
    """Wait until MathJax has typeset the page; returns the number of typeset formulas."""
    if page.locator(".math").count() == 0:
        return 0
    page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                           timeout=30_000)
    page.evaluate("() => window.MathJax.startup.promise")
    return page.locator("mjx-container").count()


@pytest.mark.parametrize("path", toc_pages())
def test_page_loads_cleanly(site, browser, path):
    page, response, errors = _open(browser, site + path)
    try:
        assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"
        if page.locator(".math").count():
            assert _wait_for_math(page) > 0, f"{path}: math present but not typeset"
        broken = page.evaluate("""() => Array.from(document.images)
            .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)""")
        assert not broken, f"{path}: images that did not load: {broken}"
        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        internal = {h for h in hrefs if h.startswith(site)}
        for href in sorted(internal):
            target, _, fragment = href.partition("#")
            relative = urllib.parse.unquote(target[len(site):]) or "index.html"
            file = HTML / relative
            if file.is_dir():
                file = file / "index.html"
            if relative == "wdcompanion.pdf" and not file.is_file() and os.environ.get("WDC_REQUIRE_PDF") != "1":
                continue  # the cite page's PDF: built by `make pdf` where TeX Live is installed
            assert file.is_file(), f"{path}: link to {href} does not resolve"
            if fragment and file.suffix == ".html":
                ids = re.findall(r'id="([^"]+)"', file.read_text(errors="replace"))
                assert urllib.parse.unquote(fragment) in ids, f"{path}: link to {href}: no element with that id"
        assert not errors, f"{path}: console errors: {errors}"
    finally:
        page.close()


# Text nodes outside code and outside MathJax's output that still hold a "$": math that was not parsed.
RAW_DOLLARS = """() => {
    const walker = document.createTreeWalker(document.querySelector("main") || document.body, NodeFilter.SHOW_TEXT);
    const found = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.includes("$")) continue;
        if (node.parentElement.closest("pre, code, kbd, samp, script, style, mjx-container, .highlight, .MathJax")) continue;
        found.push(node.textContent.trim().slice(0, 80));
    }
    return found;
}"""
# Cell outputs (printed text, tables) whose content is wider than their box and that do not scroll: the reader
# would see them cut off. An element that scrolls (overflow-x auto or scroll) is fine, as is anything inside it.
CLIPPED_OUTPUTS = """() => {
    const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    return Array.from(document.querySelectorAll('.cell_output')).flatMap(out =>
        [out, ...out.querySelectorAll('*')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 && !scrolls(e))
            .filter(e => { for (let a = e.parentElement; a && out.contains(a); a = a.parentElement) {
                               if (scrolls(a)) return false; }
                           return true; })
            .map(e => e.tagName + ': ' + e.innerText.slice(0, 60)));
}"""
BAD_ALT = re.compile(r"^$|\.(png|jpe?g|svg|gif)$|^[0-9a-f]{16,}|^_images/", re.I)


@pytest.mark.parametrize("path", toc_pages())
def test_page_renders_math_alt_text_and_provenance(site, browser, path):
    page, _, _ = _open(browser, site + path)
    try:
        _wait_for_math(page)
        errors = page.evaluate("() => Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))"
                               ".map(e => e.getAttribute('data-mjx-error') || e.textContent)")
        assert not errors and "Math input error" not in page.inner_text("body"), f"{path}: MathJax errors: {errors}"
        assert page.evaluate(RAW_DOLLARS) == [], f"{path}: raw $ in rendered text: {page.evaluate(RAW_DOLLARS)}"
        clipped = page.evaluate(CLIPPED_OUTPUTS)
        assert not clipped, f"{path}: cell output wider than its box with no scrollbar at 1280 px: {clipped[:3]}"
        tracebacks = page.locator(".cell_output .traceback, .cell_output .output.error").all_inner_texts()
        assert not tracebacks, f"{path}: a cell shows an error (e.g. a figure label matplotlib cannot parse): {tracebacks[:1]}"
        alts = page.evaluate("() => Array.from(document.querySelectorAll('main img'))"
                             ".map(img => [img.getAttribute('src'), img.getAttribute('alt') || ''])")
        for src, alt in alts:
            assert not BAD_ALT.search(alt.strip()) and len(alt.split()) >= 4, f"{path}: image {src} has alt text {alt!r}"
        footer = page.inner_text(".extra_footer") if page.locator(".extra_footer").count() else ""
        assert re.search(r"wdcompanion \S+, built from (commit [0-9a-f]{10}|an unknown commit)", footer), \
            f"{path}: footer without version and commit: {footer!r}"
        assert "cite" in footer
    finally:
        page.close()


def _dashboard_rows(page) -> dict[str, dict]:
    return {claim_id: page.evaluate("""id => { const row = document.getElementById("claim-" + id);
                return row && {classes: row.className, text: row.innerText}; }""", claim_id) for claim_id in CLAIMS}


def test_dashboard_states_each_claim_and_its_scope_and_screenshots(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"landing": "book/intro.html", "chapter": "book/req/rotational-variants.html", "dashboard": "book/claims.html"}
    for name, path in shots.items():
        page, response, _ = _open(browser, site + path)
        _wait_for_math(page)
        if name in ("dashboard", "landing"):
            text = page.inner_text("main")
            assert not re.search(rf"\b{len(CLAIMS)} of {len(CLAIMS)}\b", text), f"{path}: claims 'N of N pass'"
            for claim_id, row in _dashboard_rows(page).items():
                assert row, f"{path}: {claim_id} missing"
                assert re.search(r"claim-small-(pass|partial)\b", row["classes"]), f"{path}: {claim_id}: {row['text']!r}"
                assert CLAIMS[claim_id].statement in " ".join(row["text"].split()), f"{path}: {claim_id}: no statement"
                declared = bool(CLAIMS[claim_id].caveats)
                assert ("claim-verdict-partial" in row["classes"]) >= declared, f"{path}: {claim_id} not partial"
                for caveat in CLAIMS[claim_id].caveats:
                    assert caveat.part in row["text"], f"{path}: {claim_id}: {caveat.part!r} not shown"
                assert re.search(r"claim-paper-(pass|partial|fail|stale|not-run)", row["classes"])
            clipped = page.evaluate("""() => Array.from(document.querySelectorAll('table.claims-dashboard, table.paper-scale-runs'))
                .flatMap(t => [t, ...t.querySelectorAll('td, th')])
                .filter(e => e.scrollWidth > e.clientWidth + 1 || (e.tagName === 'TABLE' && e.parentElement.scrollWidth >
                             e.parentElement.clientWidth + 1)).map(e => e.innerText.slice(0, 60))""")
            assert not clipped, f"{path}: clipped at 1280 px: {clipped}"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        page.close()
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    print(f"screenshots: {', '.join(str(SCREENSHOTS / f'{n}.png') for n in shots)}")


def test_dashboard_reads_on_a_phone(site, browser):
    page = browser.new_page(viewport={"width": 400, "height": 800})
    try:
        page.goto(site + "book/claims.html", wait_until="load")
        overflow = page.evaluate("""() => Array.from(document.querySelectorAll('table.claims-dashboard, table.paper-scale-runs'))
            .filter(t => t.getBoundingClientRect().right > window.innerWidth + 1 || t.scrollWidth > t.clientWidth + 1)
            .map(t => t.className)""")
        assert not overflow, f"dashboard wider than a 400 px screen: {overflow}"
        assert page.locator("table.claims-dashboard .wdc-label").first.is_visible(), "cells are labelled on a phone"
        page.screenshot(path=str(SCREENSHOTS / "dashboard-400px.png"), full_page=True)
    finally:
        page.close()


def test_dashboard_rows_match_the_records():
    """The claims the rendered page shows as partial are the ones the registry and archive make partial."""
    records = ROOT / "_build" / "verdicts"
    if not records.is_dir() or not (HTML / "book" / "claims.html").exists():
        _unavailable("no verdict records (_build/verdicts): build the book first")
    from wdcompanion.claims import read_records
    from wdcompanion.claims.records import claim_fingerprints
    rows = dashboard_rows(CLAIMS, read_records(records), claim_fingerprints(), read_records(ROOT / "book" / "_generated" / "paper-scale"))
    html = (HTML / "book" / "claims.html").read_text()
    for row in rows:
        assert re.search(rf'class="[^"]*claim-verdict-{row.verdict.replace(" ", "-")}[^"]*" id="claim-{row.claim_id}"', html), row.claim_id
