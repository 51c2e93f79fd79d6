"""Rows of the claims dashboard, computed from the registry and the verdict records.

Kept free of Sphinx so it can be tested directly; ``book/_ext/claims_dashboard.py`` renders it.

Each claim gets one row with a status per scale and a verdict:

* **small scale** (this build's records): ``pass``, ``partial`` (its firm predictions hold, a part of
  the claim it attempts was not reproduced) or ``fail`` only if its record exists and was
  computed by the claim's current code (its ``code_fingerprint``: the claim's module and the library
  modules it imports); otherwise ``not run`` (no record, or a stale one).
* **paper scale** (the records archived by ``scripts/paper_runs.py``): ``pass``, ``partial`` or ``fail`` when the
  archived record was computed by the claim's current code, ``stale`` when that code has changed
  since (the row still says whether that run passed, when and at which commit), ``not run`` when
  no record is archived. An edit to a part of the library the check does not import leaves it current.
* **verdict**: ``fail`` or ``not run`` as the small scale; otherwise ``partial`` when part of the
  claim is not confirmed, else ``pass``. The parts (:class:`Part`) are the registry's caveats
  (reported only, contradicted), the parts a record says were not reproduced (its ``not_reproduced``,
  at either scale) and, from the archive, a paper-scale run that failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import format_tolerance
from .registry import Claim

__all__ = ["ArchivedRun", "DashboardRow", "Part", "ScaleStatus", "archived_rows", "dashboard_rows", "summary"]


@dataclass(frozen=True)
class ScaleStatus:
    """A claim's status at one scale, as the dashboard shows it."""

    status: str  # small: "pass", "partial", "fail", "not run"; paper: also "stale"
    detail: str = ""  # why "not run"; for an archived run, its outcome, date and commit
    compared: str = ""  # the comparison closest to its tolerance ("" when there is no record)
    error_vs_tolerance: str = ""  # e.g. "rel. 3.2e-03 vs 0.02"
    runtime: str = ""
    commit: str = ""  # abbreviated commit of an archived run
    recorded_at: str = ""  # date (UTC) of an archived run


@dataclass(frozen=True)
class Part:
    """A part of a claim that the book does not confirm, with one sentence."""

    part: str
    kind: str  # "reported only", "contradicted" (registry); "not reproduced" (a record); "fails at paper scale"
    reason: str


@dataclass(frozen=True)
class DashboardRow:
    claim_id: str
    paper: str
    location: str
    statement: str
    chapter: str
    verdict: str  # "pass", "partial", "fail", "not run"
    small: ScaleStatus
    paper_scale: ScaleStatus
    parts: tuple[Part, ...] = ()

    @property
    def status(self) -> str:
        """The small-scale status (this build's check)."""
        return self.small.status


def _margin(comparison: Mapping[str, Any]) -> float:
    """A recorded comparison's worst error over its tolerance (how close it came to failing; above 1: failed).

    A non-finite error (``None`` in a record) is infinitely far; against a zero tolerance, no error is
    a margin of 0 and any error an infinite one.
    """
    error, tolerance = comparison["worst_error"], float(comparison["tolerance"])
    if error is None:
        return math.inf
    if tolerance == 0:
        return 0.0 if error == 0 else math.inf
    return float(error) / tolerance


def _closest(record: Mapping[str, Any]) -> tuple[str, str]:
    """The comparison closest to its tolerance (largest :func:`_margin`, the first of equals), and its error
    against the tolerance.

    Chosen among the firm predictions when the record has any (a part of the claim that was not
    reproduced is shown as a part, not as the claim's margin), from the record's comparisons: the
    ``worst`` entry that records carry ranks every zero-tolerance comparison first, even one with no error.
    """
    comparisons = record.get("comparisons") or [record["worst"]]
    firm = [c for c in comparisons if not c.get("part")]
    worst = max(firm or comparisons, key=_margin)
    kind = "rel." if worst["kind"] == "rel" else "abs."
    error = worst["worst_error"]  # None: not finite (records are strict JSON)
    shown = "not finite" if error is None else f"{error:.1e}"
    return worst["name"], f"{kind} {shown} vs {format_tolerance(worst['tolerance'])}"


def _runtime(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


_PAST = {"pass": "passed", "partial": "passed in part", "fail": "failed"}  # a record's status, as a past outcome


def _outcome(record: Mapping[str, Any]) -> str:
    """A record's status: ``pass``, ``partial`` or ``fail`` (anything else counts as a failure)."""
    status = record.get("status")
    return status if status in ("pass", "partial") else "fail"


def _current(record: Mapping[str, Any], fingerprint: str) -> bool:
    """Whether ``record`` was computed by the code its claim's check runs today (its ``code_fingerprint``)."""
    return record.get("code_fingerprint") == fingerprint


def _small(record: Mapping[str, Any] | None, fingerprint: str) -> ScaleStatus:
    if record is None:
        return ScaleStatus("not run", "no record in this build")
    if not _current(record, fingerprint):
        return ScaleStatus("not run", "only a record from older code")
    compared, error = _closest(record)
    return ScaleStatus(_outcome(record), "", compared, error,
                       _runtime(float(record["runtime_s"])))


def _paper(record: Mapping[str, Any] | None, fingerprint: str) -> ScaleStatus:
    if record is None:
        return ScaleStatus("not run", "never run at paper scale")
    outcome = _PAST[_outcome(record)]
    commit = str(record.get("git_commit", ""))[:10]
    date = str(record.get("recorded_at", "unknown"))[:10]
    compared, error = _closest(record)
    runtime = _runtime(float(record["runtime_s"]))
    if not _current(record, fingerprint):
        return ScaleStatus("stale", f"{outcome} on {date} at commit {commit}; its code changed since", compared, error,
                           runtime, commit, date)
    return ScaleStatus(_outcome(record), f"on {date} at commit {commit}", compared, error,
                       runtime, commit, date)


def _check_fingerprints(claims: Mapping[str, Claim], fingerprints: Mapping[str, str]) -> None:
    if not isinstance(fingerprints, Mapping):
        raise TypeError(f"fingerprints must map claim ids to code fingerprints (claim_fingerprints()), got {type(fingerprints).__name__}")
    missing = [claim_id for claim_id in claims if claim_id not in fingerprints]
    if missing:
        raise ValueError(f"fingerprints has no code fingerprint for {missing[0]!r}")


def dashboard_rows(
    claims: Mapping[str, Claim], records: Mapping[str, Mapping[str, Any]], fingerprints: Mapping[str, str],
    archived: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[DashboardRow]:
    """One row per registered claim, in registry order.

    ``records`` are this build's (small-scale) records, ``archived`` the paper-scale records of
    ``book/_generated/paper-scale``; ``fingerprints`` are the claims' current code fingerprints
    (:func:`~wdcompanion.claims.records.claim_fingerprints`): a record with another is out of date.
    """
    _check_fingerprints(claims, fingerprints)
    archived = archived or {}
    rows = []
    for claim_id, claim in claims.items():
        small = _small(records.get(claim_id), fingerprints[claim_id])
        record = archived.get(claim_id)
        paper = _paper(record, fingerprints[claim_id])
        parts = [Part(c.part, c.kind, c.reason) for c in claim.caveats]
        if small.status == "partial":
            parts += _not_reproduced(records[claim_id], "At the small scale of this build")
        if paper.status == "partial":
            parts += _not_reproduced(record, f"In the paper-scale run of {paper.recorded_at} (commit {paper.commit})")
        if record is not None and _outcome(record) == "fail":
            comparisons = record.get("comparisons", [])
            failed = sum(not c.get("passed") for c in comparisons)
            parts.append(Part("the claim at paper scale", "fails at paper scale",
                              f"The archived paper-scale run of {paper.recorded_at} (commit {paper.commit}) failed "
                              f"{failed} of {len(comparisons)} comparisons; the chapter discusses why."))
        if small.status in ("fail", "not run"):
            verdict = small.status
        else:
            verdict = "partial" if parts else "pass"
        rows.append(DashboardRow(claim_id, claim.paper, claim.location, claim.statement, claim.chapter,
                                 verdict, small, paper, tuple(parts)))
    return rows


def _not_reproduced(record: Mapping[str, Any], where: str) -> list[Part]:
    """One :class:`Part` per part of the claim that ``record`` says was not reproduced, naming the criteria it missed."""
    parts = []
    for part in record.get("not_reproduced", []):
        missed = [c["name"] for c in record.get("comparisons", []) if c.get("part") == part and not c.get("passed")]
        parts.append(Part(part, "not reproduced", f"{where}, its criterion stated in advance was missed: "
                                                  f"{'; '.join(missed)}. The chapter shows the evidence."))
    return parts


def summary(rows: list[DashboardRow]) -> str:
    """One sentence for the top of the dashboard, e.g. "Of 7 claims, 5 pass, 2 hold only in part ..."."""
    def count(values: list[str], value: str) -> int:
        return sum(v == value for v in values)

    verdicts = [r.verdict for r in rows]
    papers = [r.paper_scale.status for r in rows]
    said = [f"{count(verdicts, 'pass')} pass"]
    if count(verdicts, "partial"):
        said.append(f"{count(verdicts, 'partial')} hold only in part")
    for status in ("fail", "not run"):
        if count(verdicts, status):
            said.append(f"{count(verdicts, status)} {'fail' if status == 'fail' else 'were not run'}")
    paper = [f"{count(papers, s)} {s}" for s in ("pass", "fail", "stale", "not run") if count(papers, s)]
    return (f"Of {len(rows)} registered claims, at the small scale of this build: {', '.join(said)}. "
            f"Archived paper-scale runs: {', '.join(paper)} (stale: the claim's code has changed since the run).")


@dataclass(frozen=True)
class ArchivedRun:
    """One archived paper-scale verdict, as the claims page lists it."""

    claim_id: str
    status: str  # "pass", "partial" or "fail"; "stale (passed)" etc. when the claim's code changed since
    compared: str  # the comparison closest to its tolerance
    error_vs_tolerance: str
    runtime: str
    recorded_at: str  # date (UTC)
    machine: str
    commit: str  # abbreviated hash of the commit whose library computed it
    library: str  # "same code as this build" or "its code changed since"
    notes: tuple[str, ...] = ()  # the verdict's notes (e.g. a part not run)


def archived_rows(
    claims: Mapping[str, Claim], records: Mapping[str, Mapping[str, Any]], fingerprints: Mapping[str, str]
) -> list[ArchivedRun]:
    """One row per archived paper-scale record of a registered claim, in registry order."""
    _check_fingerprints(claims, fingerprints)
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
        same = _current(record, fingerprints[claim_id])
        outcome = _outcome(record)
        status = outcome if same else f"stale ({_PAST[outcome]})"
        rows.append(ArchivedRun(claim_id, status, compared, error,
                                runtime, str(record.get("recorded_at", "unknown"))[:10], str(record["machine"]),
                                str(record["git_commit"])[:10],
                                "same code as this build" if same else "its code changed since",
                                tuple(str(n) for n in record.get("notes", []))))
    return rows
