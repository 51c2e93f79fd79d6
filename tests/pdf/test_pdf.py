"""The PDF of the whole book (``make pdf``): every page of ``_toc.yml`` is a chapter of it, every figure
of the chapters is in it, and every work the book cites is in its bibliography.

Runs after ``scripts/build_pdf.py`` (``make test`` builds it first). Without a PDF the test skips and
says why, unless ``WDC_REQUIRE_PDF=1`` (set by ``.ci/run``), where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
from collections import Counter
from pathlib import Path

import pytest
from book_toc import toc_documents

ROOT = Path(__file__).resolve().parents[2]
PDF = Path(os.environ.get("WDC_PDF", ROOT / "_build" / "html" / "wdcompanion.pdf"))
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _toc_files() -> list[Path]:
    return [next(ROOT.glob(f"{name}.*")) for name in toc_documents()]


def _title(path: Path) -> str:
    """The page's first level-1 heading (markdown, or a notebook's markdown cells)."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
    return re.search(r"^# (.+)$", text, re.MULTILINE).group(1).strip()


def _figure_sizes(path: Path) -> list[tuple[int, int]]:
    """Pixel sizes of the PNGs a notebook shows (read from each PNG's header); none for other pages."""
    if path.suffix != ".ipynb":
        return []
    cells = json.loads(path.read_text())["cells"]
    pngs = [base64.b64decode(out["data"]["image/png"]) for c in cells if c["cell_type"] == "code"
            for out in c.get("outputs", []) if "image/png" in out.get("data", {})]
    return [struct.unpack(">II", png[16:24]) for png in pngs]


def _sources() -> list[Path]:
    return [p for p in (ROOT / "book").rglob("*") if p.suffix in (".md", ".ipynb") and "_build" not in p.parts]


def _normalized(text: str) -> str:
    text = re.sub(r"-\n(?=\w)", "", text)  # words hyphenated at a line end
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdf():
    if not PDF.is_file():
        reason = f"no PDF at {PDF} (run `make pdf`; it needs TeX Live)"
        if os.environ.get("WDC_REQUIRE_PDF") == "1":
            pytest.fail(f"PDF test required (WDC_REQUIRE_PDF=1) but {reason}")
        pytest.skip(reason)
    from pypdf import PdfReader

    reader = PdfReader(PDF)
    return reader, _normalized("\n".join(page.extract_text() or "" for page in reader.pages))


def _outline_titles(outline) -> list[str]:
    titles = []
    for item in outline:
        titles.extend(_outline_titles(item) if isinstance(item, list) else [item.title])
    return titles


def test_every_page_of_the_toc_is_in_the_pdf(pdf):
    reader, _ = pdf
    files = _toc_files()
    assert len(reader.pages) >= 2 * len(files)
    outline = {_normalized(t) for t in _outline_titles(reader.outline)}  # the PDF's bookmarks
    for path in files[1:]:  # the landing page is the PDF's front matter, not a chapter
        title = _normalized(re.sub(r"[`*]", "", _title(path)))
        assert title in outline, f"{path.relative_to(ROOT)}: no chapter {title!r} in the PDF's outline"


def test_every_figure_is_in_the_pdf(pdf):
    """Each chapter figure, matched by its pixel size, is among the PDF's images (a count alone could miss one)."""
    reader, _ = pdf
    expected = Counter(size for path in _toc_files() for size in _figure_sizes(path))
    found = Counter(image.image.size for page in reader.pages for image in page.images)
    missing = expected - found
    assert sum(expected.values()) > 10 and not missing, f"figures not in the PDF (width, height: count): {dict(missing)}"


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def test_every_cited_work_is_in_the_bibliography(pdf):
    from pybtex.database import parse_file

    _, text = pdf
    entries = {}
    for bib in (ROOT / "book").glob("*.bib"):
        entries.update(parse_file(str(bib)).entries)
    cited = {key.strip() for path in _sources() for group in CITE.findall(path.read_text()) for key in group.split(",")}
    assert cited and cited <= set(entries), f"cited but not in a .bib file: {sorted(cited - set(entries))}"
    for key in sorted(cited):
        surname = entries[key].persons["author"][0].last_names[0].strip("{}")
        assert surname in text, f"{key}: its first author {surname!r} is not in the PDF"
        title_start = " ".join(re.sub(r"[{}$\\]", "", entries[key].fields["title"]).split()[:3])
        # compared without whitespace: pypdf drops the spaces of some tightly justified lines ("Onℓqoptimization")
        assert squeezed(title_start) in squeezed(text), f"{key}: its title ({title_start!r}...) is not in the PDF"
