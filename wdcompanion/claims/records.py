"""Verdict records: one JSON file per claim, written as chapters (or ``wdc check``) run.

The book's dashboard reads them. A record carries two fingerprints (both from
``wdcompanion._fingerprint``, which the results store of ``wdcompanion.sweep`` shares):
``library_fingerprint``, of the whole library's source, names the exact library that computed it;
``code_fingerprint``, of the claim's module and the library modules it imports, tells whether the
code the check runs has changed since. The dashboard counts a record as current while its
``code_fingerprint`` is today's (:func:`claim_fingerprints`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._fingerprint import code_fingerprint, library_fingerprint, module_sources, source_fingerprint
from .protocol import Verdict
from .registry import CLAIMS, Claim

__all__ = ["RECORD_DIR_ENV", "source_fingerprint", "library_fingerprint", "code_fingerprint", "module_sources", "claim_fingerprint",
           "claim_fingerprints", "claim_files", "record_dir", "write_record", "read_records"]

RECORD_DIR_ENV = "WDC_RECORD_DIR"


def claim_fingerprint(claim: Claim) -> str:
    """The code fingerprint of ``claim``'s check: its module in ``wdcompanion.claims`` and what that imports."""
    return code_fingerprint(f"wdcompanion.claims.{claim.module}")


def claim_files(claim: Claim) -> tuple[str, ...]:
    """The files (relative to the package) of ``claim``'s code: those :func:`claim_fingerprint` hashes."""
    return tuple(sorted(module_sources(f"wdcompanion.claims.{claim.module}")))


def claim_fingerprints(claims: Mapping[str, Claim] = CLAIMS) -> dict[str, str]:
    """:func:`claim_fingerprint` of every claim, by id: what the dashboard compares records with."""
    return {claim_id: claim_fingerprint(claim) for claim_id, claim in claims.items()}


def record_dir() -> Path | None:
    """The directory named by ``$WDC_RECORD_DIR``, or ``None`` (then nothing is recorded)."""
    value = os.environ.get(RECORD_DIR_ENV, "").strip()
    return Path(value) if value else None


def write_record(verdict: Verdict, directory: Path | str) -> Path:
    """Write ``<directory>/<claim id>.json`` and return its path.

    A verdict of modified settings (:attr:`~wdcompanion.claims.protocol.Verdict.modified`) is not the claim's check: ``ValueError``.
    The file is strict JSON (no ``Infinity`` or ``NaN``).
    """
    if verdict.modified:
        raise ValueError(f"{verdict.claim_id}: a verdict of modified settings is not recorded as the claim's check")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = verdict.to_record()
    record["library_fingerprint"] = library_fingerprint()
    if verdict.claim_id in CLAIMS:
        record["code_fingerprint"] = claim_fingerprint(CLAIMS[verdict.claim_id])
    record["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = directory / f"{verdict.claim_id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, allow_nan=False))
    tmp.replace(path)
    return path


def read_records(directory: Path | str | None) -> dict[str, dict[str, Any]]:
    """All records in ``directory`` keyed by claim id (empty if the directory is missing)."""
    if directory is None or not Path(directory).is_dir():
        return {}
    records = {}
    for path in sorted(Path(directory).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "claim_id" in record and record.get("scale") != "modified":
            records[record["claim_id"]] = record
    return records
