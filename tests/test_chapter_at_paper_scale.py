"""A chapter's prose follows its scale: run under ``WDC_SCALE=paper``, it quotes the paper-scale settings.

The prose takes every parameter from glue (``{glue:text}`set_<field>```, see
:func:`wdcompanion.claims.glue_settings`). The critical-weight-decay chapter's paper scale runs in
about 20 s, so it is executed here, from a copy, at that scale: its glued values must be those of
``lambda_threshold.PAPER`` (and differ from ``SMALL`` where the two differ), its verdict must be the
registered paper-scale check, and its change-and-rerun section must still run.
"""

import json
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from wdcompanion.claims import lambda_threshold
from wdcompanion.claims.settings import prose

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "dmf" / "critical-weight-decay.ipynb"


def _glued(notebook) -> dict[str, str]:
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            book = output.get("metadata", {}).get("scrapbook", {})  # MyST-NB's glue: a hidden display_data
            if book.get("name"):
                values[book["name"]] = output["data"].get(book.get("mime_prefix", "") + "text/plain")
    return values


def test_the_chapter_quotes_its_paper_scale_settings(tmp_path, monkeypatch):
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book" / "dmf", book / "dmf")
    notebook = nbformat.read(book / "dmf" / CHAPTER.name, as_version=4)
    monkeypatch.setenv("WDC_SCALE", "paper")
    monkeypatch.delenv("WDC_RECORD_DIR", raising=False)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(book / "dmf")}}).execute()
    glued = _glued(notebook)
    markdown = " ".join("".join(c.source) for c in notebook.cells if c.cell_type == "markdown")
    quoted = {key for key in glued if f"`{key}`" in markdown or f"`{key}:" in markdown}
    assert {"set_starts", "set_matrix_depths", "set_spectrum", "set_gd_lam"} <= quoted
    for key in quoted & {f"set_{name}" for name in lambda_threshold.Settings.__dataclass_fields__}:
        field = key.removeprefix("set_")
        assert glued[key] == repr(prose(getattr(lambda_threshold.PAPER, field))), key
    assert glued["set_starts"] != repr(prose(lambda_threshold.SMALL.starts))  # the two scales differ there
    text = "".join("".join(o.get("text", "")) for c in notebook.cells if "claims.conclude(" in "".join(c.source)
                   for o in c.outputs)
    assert text.startswith("PASS dmf-lambda-threshold:") and "(modified settings)" not in text
    assert json.dumps(glued)  # plain text values
