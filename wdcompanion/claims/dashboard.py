"""Rows of the claims dashboard, computed from the registry and the verdict records.

Kept free of Sphinx so it can be tested directly; ``book/_ext/claims_dashboard.py`` renders it.
A claim shows ``pass`` only if its record exists, passed, and was computed by the current
library source; otherwise ``fail``, ``not run`` or ``not run (stale record)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import format_tolerance
from .registry import Claim

__all__ = ["DashboardRow", "dashboard_rows"]


@dataclass(frozen=True)
class DashboardRow:
    claim_id: str
    paper: str
    location: str
    statement: str
    chapter: str
    status: str  # "pass", "fail", "not run", "not run (stale record)"
    compared: str  # the comparison closest to its tolerance
    error_vs_tolerance: str
    runtime: str
    scale: str


def _status(record: Mapping[str, Any] | None, fingerprint: str) -> str:
    if record is None:
        return "not run"
    if record.get("library_fingerprint") != fingerprint:
        return "not run (stale record)"
    return "pass" if record.get("status") == "pass" else "fail"


def dashboard_rows(
    claims: Mapping[str, Claim], records: Mapping[str, Mapping[str, Any]], fingerprint: str
) -> list[DashboardRow]:
    """One row per registered claim, in registry order."""
    rows = []
    for claim_id, claim in claims.items():
        record = records.get(claim_id)
        status = _status(record, fingerprint)
        if record is None or status.startswith("not run"):
            compared, error, runtime, scale = "—", "—", "—", "—"
        else:
            worst = record["worst"]
            kind = "rel." if worst["kind"] == "rel" else "abs."
            compared = f"{len(record['comparisons'])} comparisons, {record['n_cases']} cases; closest: {worst['name']}"
            error = f"{kind} {worst['worst_error']:.1e} vs {format_tolerance(worst['tolerance'])}"
            runtime = f"{record['runtime_s']:.1f} s"
            scale = record.get("scale", "small")
        rows.append(DashboardRow(claim_id, claim.paper, claim.location, claim.statement, claim.chapter,
                                 status, compared, error, runtime, scale))
    return rows
