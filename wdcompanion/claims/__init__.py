"""Claims of the two papers, their checks, verdicts and records.

Typical use in a chapter::

    from wdcompanion import claims
    from wdcompanion.claims import lambda_threshold
    settings = lambda_threshold.REGISTERED[claims.scale_from_env()]  # SMALL or PAPER
    result = lambda_threshold.run(settings)  # what `wdc check dmf-lambda-threshold` runs
    ...  # figures from result
    claims.conclude(result.verdict)  # prints the PASS line, records it, raises on failure

``dataclasses.replace(lambda_threshold.SMALL, ...)`` runs a changed experiment; its verdict says
"modified settings" and is never recorded (:mod:`wdcompanion.claims.settings`).
"""

from __future__ import annotations

from .protocol import ClaimFailed, Comparison, Verdict, compare
from .records import read_records, record_dir, write_record
from .registry import CLAIMS, SCALES, Claim, check, get_claim, run_claim, scale_from_env
from .settings import MODIFIED, ClaimSettings, glue_settings, settings_table

__all__ = [
    "CLAIMS",
    "MODIFIED",
    "SCALES",
    "ClaimSettings",
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
    "settings_table",
    "glue_settings",
    "write_record",
]


def conclude(verdict: Verdict) -> None:
    """Record the verdict (if ``$WDC_RECORD_DIR`` is set), print it, and raise if it failed.

    A verdict of modified settings is printed (its line says so) but never recorded.
    """
    directory = record_dir()
    if directory is not None and not verdict.modified:
        write_record(verdict, directory)
    print(verdict.report())
    verdict.raise_if_failed()
