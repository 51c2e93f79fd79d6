"""CITATION.cff is valid Citation File Format 1.2.0 and agrees with the book's BibTeX for the companion.

The schema (``tests/data/citation-file-format-1.2.0.schema.json``) is the official CFF 1.2.0 JSON
schema (citation-file-format/citation-file-format, CC-BY-4.0), stored so that nothing downloads;
``cffconvert --validate`` uses the same schema but pins an older jsonschema than Jupyter Book needs.
"""

import copy
import json
import re
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
    assert field("version") == cff["version"]
    assert field("year") == cff["date-released"][:4]


@pytest.mark.parametrize("key", ["kamber2026landscape", "kosson2024rotational"])
def test_both_papers_are_in_the_citable_bibliography(key):
    papers = (ROOT / "book" / "papers.bib").read_text()
    assert re.search(rf"@\w+\{{{key},", papers)
    cff_titles = [r["title"] for r in _citation()["references"]]
    entry = papers[papers.index(key):]
    title = re.search(r"title\s*=\s*\{(.*)\},", entry).group(1)
    assert title in cff_titles
