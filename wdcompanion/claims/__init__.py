"""Claims of the two papers, their checks, verdicts and records.

Typical use in a chapter::

    from wdcompanion import claims
    result = claims.run_claim("dmf-lambda-threshold", claims.scale_from_env())
    ...  # figures from result
    claims.conclude(result.verdict)  # prints the PASS line, records it, raises on failure
"""

from __future__ import annotations

from .protocol import ClaimFailed, Comparison, Verdict, compare
from .records import read_records, record_dir, write_record
from .registry import CLAIMS, SCALES, Claim, check, get_claim, run_claim, scale_from_env

__all__ = [
    "CLAIMS",
    "SCALES",
    "Claim",
    "ClaimFailed",
    "Comparison",
    "Verdict",
    "check",
    "compare",
    "conclude",
    "get_claim",
    "read_records",
    "record_dir",
    "run_claim",
    "scale_from_env",
    "write_record",
]


def conclude(verdict: Verdict) -> None:
    """Record the verdict (if ``$WDC_RECORD_DIR`` is set), print it, and raise if it failed."""
    directory = record_dir()
    if directory is not None:
        write_record(verdict, directory)
    print(verdict.report())
    verdict.raise_if_failed()
