"""Execute the book's chapters: ``execute`` stores outputs in place, ``bench`` times them.

Usage: ``python scripts/notebooks.py execute|bench [NOTEBOOK ...]`` (default: every chapter).
Each chapter runs in a fresh kernel with its own directory as the working directory, as in the
book build. ``bench`` also runs the library's benchmarks (``scripts/bench_library.py``), the sweep
benchmark (``scripts/bench_sweep.py``) and the spectrum benchmark (``scripts/bench_spectrum.py``), times the
book build from clean and with a warm cache, and writes all of it to
``book/_generated/benchmarks.md``, which the book's performance page includes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "book" / "_generated" / "benchmarks.md"


def chapters() -> list[Path]:
    return sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                  and "_build" not in p.parts)


def execute(path: Path, timeout: int = 900) -> tuple[nbformat.NotebookNode, float]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def title(notebook: nbformat.NotebookNode, path: Path) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return path.stem


def time_book_build() -> tuple[float, float]:
    """Seconds for ``jupyter-book build .`` from clean (no cache, no HTML) and again with the cache."""
    for stale in ("_build/.jupyter_cache", "_build/.doctrees", "_build/html", "_build/jupyter_execute", "_build/pdf"):
        shutil.rmtree(ROOT / stale, ignore_errors=True)
    env = dict(os.environ, WDC_RECORD_DIR=str(ROOT / "_build" / "verdicts"))
    builder = str(Path(sys.executable).with_name("jupyter-book"))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run([builder, "build", ".", "--keep-going"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def write_report(rows: list[tuple[str, Path, float]], library: list[str], build: tuple[float, float],
                 sweeps: list[str], spectrum: list[str]) -> None:
    import torch

    lines = [
        f"Measured on {datetime.date.today().isoformat()}: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}, torch {torch.__version__}, "
        f"`WDC_SCALE={os.environ.get('WDC_SCALE', 'small')}`.",
        "",
        "## Chapters",
        "",
        "Each chapter executed from scratch in a fresh kernel, one after another.",
        "",
        "| chapter | notebook | seconds |",
        "|---|---|---:|",
        *(f"| {name} | `{path.relative_to(ROOT)}` | {seconds:.0f} |" for name, path, seconds in rows),
        f"| **all chapters** | | **{sum(s for _, _, s in rows):.0f}** |",
        "",
        "## The book build",
        "",
        "| `jupyter-book build .` | seconds |",
        "|---|---:|",
        f"| from clean (no execution cache, executes every chapter) | {build[0]:.0f} |",
        f"| again, with the cache | {build[1]:.0f} |",
        "",
        "## Library benchmarks",
        "",
        "Printed by `scripts/bench_library.py` (see its docstring for what each line measures):",
        "",
        "```text",
        *library,
        "```",
        "",
        "## Sweeps",
        "",
        "Printed by `scripts/bench_sweep.py`: 16 short trainings serially, on 2 local worker processes and on a",
        "Dask `LocalCluster` of 2 workers (see its docstring; the ceiling is a bare pool of 2 on the same machine):",
        "",
        "```text",
        *sweeps,
        "```",
        "",
        "## The exact Hessian spectrum",
        "",
        "Printed by `scripts/bench_spectrum.py`: `curvature.minimizer_spectrum` against a dense Hessian with",
        "`eigvalsh` and against Lanczos for the top eigenvalue, as the model grows (see its docstring):",
        "",
        "```text",
        *spectrum,
        "```",
        "",
    ]
    GENERATED.parent.mkdir(parents=True, exist_ok=True)
    GENERATED.write_text("\n".join(lines))
    print(f"wrote {GENERATED.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("execute", "bench"))
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or chapters()
    os.environ.setdefault("WDC_SCALE", "small")
    rows = []
    for path in paths:
        notebook, seconds = execute(path)
        rows.append((title(notebook, path), path, seconds))
        if args.mode == "execute":
            nbformat.write(notebook, path)
        print(f"{seconds:8.1f} s  {path.relative_to(ROOT)}", flush=True)
    print(f"{sum(s for _, _, s in rows):8.1f} s  all {len(paths)} chapter(s), executed one after another")
    if args.mode == "execute":
        return 0
    bench = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_library.py"), "--skip-claims"],
                           check=True, capture_output=True, text=True)
    print(bench.stdout, end="")
    library = [line for line in bench.stdout.splitlines() if line.strip() and line.strip() != "library benchmarks"]
    sweeps = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_sweep.py")], check=True, capture_output=True,
                            text=True).stdout
    print(sweeps, end="")
    spectrum = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_spectrum.py")], check=True, capture_output=True,
                              text=True).stdout
    print(spectrum, end="")
    build = time_book_build()
    print(f"book build: {build[0]:.1f} s from clean, {build[1]:.1f} s with the cache")
    write_report(rows, library, build, [line.replace(" | ", "\n  ") for line in sweeps.splitlines() if line.strip()],
                 spectrum.splitlines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
