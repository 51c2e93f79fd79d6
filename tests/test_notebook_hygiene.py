"""Committed notebooks: executed, no stderr or errors stored; each claim's chapter has one PASS verdict.

A claim's chapter shows the settings it runs near the top, has exactly one verdict cell
(``claims.conclude``), compared by nbval, and ends with a "Change it and rerun" section after it.

nbval compares the stored outputs; these checks make sure there is something meaningful to
compare (a chapter with unexecuted cells or a stored warning would compare little or flake).
Notebooks that check no claim (guides) are listed in ``GUIDES``; every other notebook is a claim's chapter.
"""

import json
from pathlib import Path

import pytest

from wdcompanion.claims import CLAIMS

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
GUIDES = {ROOT / "book" / "rv-in-your-training.ipynb"}
CLAIM_CHAPTERS = [p for p in CHAPTERS if p not in GUIDES]


def _code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_executed_and_clean(path):
    cells = _code_cells(path)
    assert cells, "a chapter has code"
    for cell in cells:
        assert cell["execution_count"] is not None, "every code cell has stored output"
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error"
            assert output.get("name") != "stderr", f"stderr stored: {''.join(output['text'])[:200]}"


def _verdict_cell(cells):
    verdicts = [c for c in cells if "claims.conclude(" in "".join(c["source"])]
    assert len(verdicts) == 1, "one verdict cell per chapter"
    return verdicts[0]


@pytest.mark.parametrize("path", CLAIM_CHAPTERS, ids=lambda p: p.name)
def test_chapter_shows_its_settings_has_a_passing_verdict_and_ends_with_a_change(path):
    """A passing verdict: PASS, or PARTIAL (firm predictions hold, a part attempted was not reproduced)."""
    cells = _code_cells(path)
    verdict = _verdict_cell(cells)
    text = "".join("".join(o.get("text", "")) for o in verdict["outputs"])
    assert text.startswith(("PASS ", "PARTIAL ")) and "(modified settings)" not in text.splitlines()[0]
    assert any("claims.settings_table(settings)" in "".join(c["source"]) for c in cells[:2]), "settings shown near the top"
    markdown = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    assert "## Change it and rerun" in "".join(markdown[-1]["source"]), "the chapter ends with a change and a rerun"
    assert "dataclasses.replace(" in "".join(cells[-1]["source"])


def test_every_notebook_is_a_claims_chapter_or_a_guide_in_the_toc():
    chapters = {(ROOT / f"{claim.chapter}.ipynb") for claim in CLAIMS.values()}
    assert set(CLAIM_CHAPTERS) == chapters
    for guide in GUIDES:
        assert guide.exists() and f"file: {guide.relative_to(ROOT).with_suffix('').as_posix()}" in (ROOT / "_toc.yml").read_text()


def test_every_registered_claim_has_its_chapter():
    for claim in CLAIMS.values():
        assert (ROOT / f"{claim.chapter}.ipynb").exists(), claim.chapter
        assert f"file: {claim.chapter}" in (ROOT / "_toc.yml").read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_ignored_outputs_are_marked_so_nbval_sees_it_and_say_why(path):
    cells = _code_cells(path)
    for cell in cells:
        source = "".join(cell["source"])
        if "NBVAL_IGNORE_OUTPUT" in source:
            lines = source.splitlines()
            assert lines[0] == "# NBVAL_IGNORE_OUTPUT", "nbval only honours the marker alone on its line"
            assert lines[1].startswith("# ("), "the next line says why the output is not compared"
    if path in CLAIM_CHAPTERS:
        assert "NBVAL_IGNORE_OUTPUT" not in "".join(_verdict_cell(cells)["source"]), "the verdict is always compared"
