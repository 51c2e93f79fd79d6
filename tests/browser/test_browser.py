"""The rendered book in a real browser (Debian's Chromium driven by Playwright; no browser download).

Serves ``_build/html`` on localhost and, for every page in ``_toc.yml``: no console errors, every
image loaded, math typeset where the page has math, every internal link (and its anchor) resolves.
The dashboard must list every registered claim as "pass". Screenshots of the landing page, a
chapter and the dashboard go to ``_build/screenshots``.

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
import yaml

from wdcompanion.claims import CLAIMS

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
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    return [f"{name}.html" for name in files]


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
            assert file.is_file(), f"{path}: link to {href} does not resolve"
            if fragment and file.suffix == ".html":
                ids = re.findall(r'id="([^"]+)"', file.read_text(errors="replace"))
                assert urllib.parse.unquote(fragment) in ids, f"{path}: link to {href}: no element with that id"
        assert not errors, f"{path}: console errors: {errors}"
    finally:
        page.close()


def test_dashboard_lists_every_claim_as_pass_and_screenshots(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"landing": "book/intro.html", "chapter": "book/req/rotational-variants.html", "dashboard": "book/claims.html"}
    for name, path in shots.items():
        page, response, _ = _open(browser, site + path)
        _wait_for_math(page)
        if name == "dashboard":
            rows = page.locator("table tr").all_inner_texts()
            for claim_id in CLAIMS:
                row = [r for r in rows if claim_id in r]
                assert row, f"dashboard: {claim_id} missing"
                assert re.search(r"\bpass\b", row[0]), f"dashboard: {claim_id}: {row[0]!r}"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        page.close()
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    print(f"screenshots: {', '.join(str(SCREENSHOTS / f'{n}.png') for n in shots)}")
