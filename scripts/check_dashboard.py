"""After a book build: the rendered dashboard shows every registered claim, passing at the small scale,
with the verdict and paper-scale status that the registry and the records give.

A claim whose small-scale check did not run or failed in this build fails this check (``partial``,
firm predictions held but a part of the claim was not reproduced, is accepted). The verdict
(``pass`` or ``partial``) and the paper-scale status (``pass``, ``fail``, ``stale``, ``not run``) are
read from the row's classes and compared with :func:`wdcompanion.claims.dashboard.dashboard_rows`
computed from the same records, so a page that says more (or less) than the data fails too.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from wdcompanion.claims import CLAIMS, read_records
from wdcompanion.claims.dashboard import dashboard_rows
from wdcompanion.claims.records import RECORD_DIR_ENV, claim_fingerprints

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "_build" / "html" / "book" / "claims.html"
ARCHIVE = ROOT / "book" / "_generated" / "paper-scale"


def main() -> int:
    if not PAGE.exists():
        print(f"check_dashboard: {PAGE} is missing; build the book first")
        return 1
    table = re.search(r"<table[^>]*claims-dashboard.*?</table>", PAGE.read_text(), re.S)
    html = table.group(0) if table else ""  # only the dashboard, not the archived paper-scale runs below it
    records = read_records(Path(os.environ.get(RECORD_DIR_ENV) or ROOT / "_build" / "verdicts"))
    expected = {row.claim_id: row for row in dashboard_rows(CLAIMS, records, claim_fingerprints(), read_records(ARCHIVE))}
    failures = []
    for claim_id in CLAIMS:
        row = re.search(rf'<tr class="([^"]*)"[^>]*id="claim-{re.escape(claim_id)}"', html)
        classes = dict(re.findall(r"claim-(small|paper|verdict)-([a-z-]+)", row.group(1))) if row else {}
        small, paper, verdict = (classes.get(k, "missing").replace("-", " ") for k in ("small", "paper", "verdict"))
        want = expected[claim_id]
        print(f"dashboard: {claim_id}: small scale {small}, paper scale {paper}, verdict {verdict}")
        if small not in ("pass", "partial") or (small, verdict, paper) != (want.small.status, want.verdict, want.paper_scale.status):
            failures.append(claim_id)
            print(f"  required: small scale pass or partial (this build's record, from the current library); "
                  f"from the records: small scale {want.small.status}, paper scale {want.paper_scale.status}, "
                  f"verdict {want.verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
