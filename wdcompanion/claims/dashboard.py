"""Rows of the claims dashboard, computed from the registry and the verdict records.

Kept free of Sphinx so it can be tested directly; ``book/_ext/claims_dashboard.py`` renders it.
A claim shows ``pass`` only if its record exists, passed, and was computed by the current
library source; otherwise ``fail``, ``not run`` or ``not run (stale record)``. Archived
paper-scale records (``scripts/paper_runs.py``) are listed apart, with the commit that computed them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import format_tolerance
from .registry import Claim

__all__ = ["DashboardRow", "dashboard_rows", "ArchivedRun", "archived_rows"]


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


def _closest(record: Mapping[str, Any]) -> tuple[str, str]:
    """The comparison closest to its tolerance, and its error against the tolerance."""
    worst = record["worst"]
    kind = "rel." if worst["kind"] == "rel" else "abs."
    return worst["name"], f"{kind} {worst['worst_error']:.1e} vs {format_tolerance(worst['tolerance'])}"


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
            closest, error = _closest(record)
            compared = f"{len(record['comparisons'])} comparisons, {record['n_cases']} cases; closest: {closest}"
            runtime = f"{record['runtime_s']:.1f} s"
            scale = record.get("scale", "small")
        rows.append(DashboardRow(claim_id, claim.paper, claim.location, claim.statement, claim.chapter,
                                 status, compared, error, runtime, scale))
    return rows


@dataclass(frozen=True)
class ArchivedRun:
    """One archived paper-scale verdict, as the claims page lists it."""

    claim_id: str
    status: str  # "pass" or "fail"
    compared: str  # the comparison closest to its tolerance
    error_vs_tolerance: str
    runtime: str
    recorded_at: str  # date (UTC)
    machine: str
    commit: str  # abbreviated hash of the commit whose library computed it
    library: str  # "same library as this build" or "library changed since"
    notes: str = ""  # the verdict's notes (e.g. a part not run), joined by "; "


def archived_rows(
    claims: Mapping[str, Claim], records: Mapping[str, Mapping[str, Any]], fingerprint: str
) -> list[ArchivedRun]:
    """One row per archived paper-scale record of a registered claim, in registry order."""
    rows = []
    for claim_id in claims:
        record = records.get(claim_id)
        if record is None:
            continue
        if record.get("scale") != "paper" or not record.get("git_commit") or not record.get("machine"):
            raise ValueError(f"archived record {claim_id!r} must be a paper-scale record with its git_commit and machine")
        compared, error = _closest(record)
        seconds = float(record["runtime_s"])
        runtime = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
        same = record.get("library_fingerprint") == fingerprint
        rows.append(ArchivedRun(claim_id, "pass" if record.get("status") == "pass" else "fail", compared, error,
                                runtime, str(record.get("recorded_at", "unknown"))[:10], str(record["machine"]),
                                str(record["git_commit"])[:10],
                                "same library as this build" if same else "library changed since",
                                "; ".join(str(n) for n in record.get("notes", []))))
    return rows
