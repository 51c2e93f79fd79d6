"""Build the whole book as one PDF (``make pdf``): Jupyter Book's LaTeX builder with XeLaTeX.

Needs ``xelatex`` and ``latexmk`` from TeX Live and the FreeFont fonts, from Debian's packages (the
list is in ``.ci/run``); nothing is downloaded at build time. Chapters are executed
as for the HTML book (Jupyter Book's execution cache, so after ``make book`` nothing runs again).
The PDF is written to ``_build/pdf/_build/latex/book.pdf`` and copied to
``_build/html/wdcompanion.pdf``, where the HTML book's citation page links to it.

``--optional`` (used by ``make test``): without TeX Live, say so and exit 0, unless
``WDC_REQUIRE_PDF=1`` (set by ``.ci/run``), where that is a failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "_build" / "pdf"  # its own Sphinx environment: a LaTeX build never alters the HTML build's
BUILT = OUTPUT / "_build" / "latex" / "book.pdf"
PUBLISHED = ROOT / "_build" / "html" / "wdcompanion.pdf"
TOOLS = ("xelatex", "latexmk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optional", action="store_true", help="skip, saying why, when TeX Live is missing")
    args = parser.parse_args(argv)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"build_pdf: {' and '.join(missing)} not found (TeX Live: see scripts/build_pdf.py)"
        if args.optional and os.environ.get("WDC_REQUIRE_PDF") != "1":
            print(f"{message}; skipping the PDF")
            return 0
        print(message, file=sys.stderr)
        return 1
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", ".", "--builder", "pdflatex", "--keep-going", "--path-output", str(OUTPUT)]
    # nonstopmode: a LaTeX error ends the build with its log instead of waiting at TeX's prompt
    env = dict(os.environ, LATEXOPTS="-interaction=nonstopmode -halt-on-error")
    status = subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, env=env).returncode
    if status != 0 or not BUILT.is_file():
        print(f"build_pdf: the LaTeX build failed (status {status}); see _build/pdf/_build/latex/book.log", file=sys.stderr)
        return status or 1
    PUBLISHED.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUILT, PUBLISHED)
    print(f"PDF written to {BUILT.relative_to(ROOT)} and {PUBLISHED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
