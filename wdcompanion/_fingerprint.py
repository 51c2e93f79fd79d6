"""The library's source fingerprint, in a module that imports nothing else of the library.

Both :mod:`wdcompanion.claims.records` (verdict records) and :mod:`wdcompanion.sweep` (the results
store) key what they write by it, and topic modules must not import :mod:`wdcompanion.claims`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PACKAGE_ROOT", "source_fingerprint", "library_fingerprint"]

PACKAGE_ROOT = Path(__file__).resolve().parent


def source_fingerprint(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 (first 16 hex digits) over ``(path, content)`` pairs, paths relative to the package, in path order."""
    digest = hashlib.sha256()
    for name, content in sorted(files, key=lambda item: item[0].split("/")):
        digest.update(name.encode())
        digest.update(content)
    return digest.hexdigest()[:16]


def library_fingerprint() -> str:
    """The :func:`source_fingerprint` of the installed library's ``.py`` sources (read from disk at each call)."""
    return source_fingerprint((p.relative_to(PACKAGE_ROOT).as_posix(), p.read_bytes()) for p in PACKAGE_ROOT.rglob("*.py"))
