"""Verdict records: one JSON file per claim, written as chapters (or ``wdc check``) run.

The book's dashboard reads them. A record carries a fingerprint of the library's source so that
a verdict computed by an older version of the code can be told apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .protocol import Verdict

__all__ = ["RECORD_DIR_ENV", "source_fingerprint", "library_fingerprint", "record_dir", "write_record", "read_records"]

RECORD_DIR_ENV = "WDC_RECORD_DIR"
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_fingerprint(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 (first 16 hex digits) over ``(path, content)`` pairs, paths relative to the package, in path order."""
    digest = hashlib.sha256()
    for name, content in sorted(files, key=lambda item: item[0].split("/")):
        digest.update(name.encode())
        digest.update(content)
    return digest.hexdigest()[:16]


def library_fingerprint() -> str:
    """The :func:`source_fingerprint` of the installed library's ``.py`` sources."""
    return source_fingerprint((p.relative_to(_PACKAGE_ROOT).as_posix(), p.read_bytes()) for p in _PACKAGE_ROOT.rglob("*.py"))


def record_dir() -> Path | None:
    """The directory named by ``$WDC_RECORD_DIR``, or ``None`` (then nothing is recorded)."""
    value = os.environ.get(RECORD_DIR_ENV, "").strip()
    return Path(value) if value else None


def write_record(verdict: Verdict, directory: Path | str) -> Path:
    """Write ``<directory>/<claim id>.json`` and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = verdict.to_record()
    record["library_fingerprint"] = library_fingerprint()
    record["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = directory / f"{verdict.claim_id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
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
        if isinstance(record, dict) and "claim_id" in record:
            records[record["claim_id"]] = record
    return records
