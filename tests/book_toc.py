"""The book's pages in ``_toc.yml`` order (root first), for the tests that check the built book."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_documents() -> list[str]:
    """Document names (paths without suffix, relative to the repository root) of every page in ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
