"""The perturbation stage of the test command catches an output that depends on the last bits.

A planted notebook prints a short training's final loss to 17 digits (what a chapter must never
compare) next to a closed-form value rounded to 6 digits (what it may). Executed and stored
natively, it passes nbval natively and fails it under ``scripts/perturbed_numerics.py``, on the
training cell only.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "perturbed_numerics.py"


def _script():
    spec = importlib.util.spec_from_file_location("perturbed_numerics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAINING = _script().TRAINING.strip() + '\nprint(f"final loss {loss.item():.17g}")'
CLOSED_FORM = "import math\nprint(f'{math.sqrt(2 * 0.01 * 0.1 * 0.1 / 1.9):.6f}')"


def _nbval(path: Path, perturbed: bool) -> subprocess.CompletedProcess:
    nbval = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider", str(path)]
    command = [sys.executable, str(SCRIPT), "--", *nbval] if perturbed else nbval
    return subprocess.run(command, cwd=path.parent, capture_output=True, text=True)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "planted.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CLOSED_FORM), nbformat.v4.new_code_cell(TRAINING)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, kernel_name="python3").execute()
    nbformat.write(notebook, path)
    return path


def test_planted_last_bit_output_passes_natively(planted):
    result = _nbval(planted, perturbed=False)
    assert result.returncode == 0, result.stdout[-2000:]


def test_planted_last_bit_output_fails_under_perturbed_numerics(planted):
    result = _nbval(planted, perturbed=True)
    assert result.returncode != 0
    assert "bits changed by the perturbation: torch training True" in result.stdout
    assert "planted.ipynb::Cell 1 FAILED" in result.stdout or "FAILED planted.ipynb::Cell 1" in result.stdout
    assert "Cell 0 FAILED" not in result.stdout and "::Cell 0 -" not in result.stdout
