"""Clear Jupyter Book's execution cache when it could serve outputs of an older library.

jupyter-cache keys a notebook on its code cells only, and Sphinx re-reads only documents whose
source changed, so a change in ``wdcompanion/`` would re-execute no chapter. This script clears
``_build/.jupyter_cache`` and Sphinx's saved environments (``_build/.doctrees``, and the PDF build's) when the library's
fingerprint differs from the one stored with the cache, or when a registered claim has no verdict
record from the current library (so the dashboard can never show a stale "pass").
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from wdcompanion.claims import CLAIMS, read_records
from wdcompanion.claims.records import library_fingerprint

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
DOCTREES = ROOT / "_build" / ".doctrees"
PDF_DOCTREES = ROOT / "_build" / "pdf" / "_build" / ".doctrees"  # scripts/build_pdf.py's own Sphinx environment
RECORDS = ROOT / "_build" / "verdicts"
STAMP = ROOT / "_build" / ".library-fingerprint"


def main() -> int:
    fingerprint = library_fingerprint()
    records = read_records(RECORDS)
    stale = (not STAMP.exists() or STAMP.read_text().strip() != fingerprint
             or any(records.get(c, {}).get("library_fingerprint") != fingerprint for c in CLAIMS))
    if stale and (CACHE.exists() or DOCTREES.exists() or PDF_DOCTREES.exists()):
        for path in (CACHE, DOCTREES, PDF_DOCTREES):
            shutil.rmtree(path, ignore_errors=True)
        print("guard_cache: library changed or verdicts missing; cleared the execution cache and Sphinx's environment")
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(fingerprint + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
