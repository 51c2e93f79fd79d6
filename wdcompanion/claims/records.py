"""Verdict records: one JSON file per claim, written as chapters (or ``wdc check``) run.

The book's dashboard reads them. A record carries a fingerprint of the library's source so that
a verdict computed by an older version of the code can be told apart (the fingerprint itself lives in
``wdcompanion._fingerprint``, which the results store of ``wdcompanion.sweep`` shares; both names
are re-exported here).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .._fingerprint import library_fingerprint, source_fingerprint
from .protocol import Verdict

__all__ = ["RECORD_DIR_ENV", "source_fingerprint", "library_fingerprint", "record_dir", "write_record", "read_records"]

RECORD_DIR_ENV = "WDC_RECORD_DIR"


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
