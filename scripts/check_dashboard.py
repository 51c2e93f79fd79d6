"""After a book build: every registered claim must appear on the rendered dashboard as "pass"."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from wdcompanion.claims import CLAIMS

PAGE = Path(__file__).resolve().parents[1] / "_build" / "html" / "book" / "claims.html"


def main() -> int:
    if not PAGE.exists():
        print(f"check_dashboard: {PAGE} is missing; build the book first")
        return 1
    table = re.search(r"<table[^>]*claims-dashboard.*?</table>", PAGE.read_text(), re.S)
    html = table.group(0) if table else ""  # only the dashboard, not the archived paper-scale runs below it
    failures = []
    for claim_id in CLAIMS:
        row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{re.escape(claim_id)}(?:(?!</tr>).)*</tr>", html, re.S)
        status = re.search(r"<strong>([^<]+)</strong>", row.group(0)) if row else None
        shown = status.group(1) if status else "missing"
        print(f"dashboard: {claim_id}: {shown}")
        if shown != "pass":
            failures.append(claim_id)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
