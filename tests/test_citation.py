"""CITATION.cff is valid Citation File Format 1.2.0 and agrees with the book's BibTeX for the companion.

The schema (``tests/data/citation-file-format-1.2.0.schema.json``) is the official CFF 1.2.0 JSON
schema (citation-file-format/citation-file-format, CC-BY-4.0), stored so that nothing downloads;
``cffconvert --validate`` uses the same schema but pins an older jsonschema than Jupyter Book needs.
"""

import copy
import importlib.util
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(__file__).parent / "data" / "citation-file-format-1.2.0.schema.json").read_text())


def _citation() -> dict:
    # CFF dates are strings; keep YAML from turning them into datetime.date
    return yaml.load((ROOT / "CITATION.cff").read_text(), Loader=yaml.BaseLoader)


def _errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(document)]


def test_citation_cff_is_valid():
    assert _errors(_typed(_citation())) == []


def _typed(document: dict) -> dict:
    """BaseLoader reads every scalar as a string; restore the numbers the schema expects."""
    document = copy.deepcopy(document)
    for reference in document.get("references", []):
        for key in ("year", "volume"):
            if key in reference:
                reference[key] = int(reference[key])
    return document


def test_an_invalid_citation_is_rejected():
    broken = _typed(_citation())
    del broken["authors"]
    broken["date-released"] = "22 November 2026"
    errors = _errors(broken)
    assert any("authors" in e for e in errors) and any("date-released" in e or "does not match" in e for e in errors)


def test_companion_bibtex_matches_citation_cff():
    cff = _citation()
    bib = (ROOT / "book" / "companion.bib").read_text()
    field = lambda name: re.search(rf"{name}\s*=\s*\{{(.*)\}},?\s*$", bib, re.M).group(1)  # noqa: E731
    assert field("title") == cff["title"]
    assert field("year") == cff["date-released"][:4]
    assert not re.search(r"^\s*(version|url|note)\s*=", bib, re.M), "version, URL and commit are filled in at build time"


def test_citation_cff_version_is_the_package_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert _citation()["version"] == pyproject["project"]["version"]


def test_citation_cff_repository_is_the_configured_one():
    """``_config.yml``'s ``repository.url`` is the one setting; CITATION.cff names no other (and none when it is empty)."""
    url = (yaml.safe_load((ROOT / "_config.yml").read_text()).get("repository") or {}).get("url") or ""
    cff = _citation()
    assert cff.get("repository-code", "") == url
    assert "url" not in cff or cff["url"] == url


def test_build_provenance_fills_version_commit_and_url(monkeypatch):
    provenance = _provenance_extension()
    build = provenance.build_provenance("")
    assert build["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert build["url"] == "" and provenance.build_provenance(provenance.JUPYTER_BOOK_DEFAULT_URL)["url"] == ""
    entry = provenance.companion_bibtex({**build, "commit": "0123456789abcdef", "short": "0123456789", "dirty": True,
                                         "url": "https://example.org/wdc"})
    assert entry.startswith("@software{wdcompanion2026,") and entry.endswith("}")
    assert f"version = {{{build['version']}}}" in entry and "url     = {https://example.org/wdc}" in entry
    assert "Commit 0123456789abcdef, with uncommitted changes" in entry
    bare = provenance.companion_bibtex({**build, "commit": "", "short": "", "dirty": False, "url": ""})
    assert "url" not in bare and "note" not in bare
    assert provenance.describe_commit({"commit": "", "short": "", "dirty": False}).startswith("an unknown commit")


def _provenance_extension():
    spec = importlib.util.spec_from_file_location("provenance", ROOT / "book" / "_ext" / "provenance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key", ["kamber2026landscape", "kosson2024rotational"])
def test_both_papers_are_in_the_citable_bibliography(key):
    papers = (ROOT / "book" / "papers.bib").read_text()
    assert re.search(rf"@\w+\{{{key},", papers)
    cff_titles = [r["title"] for r in _citation()["references"]]
    entry = papers[papers.index(key):]
    title = re.search(r"title\s*=\s*\{(.*)\},", entry).group(1)
    assert title in cff_titles
