"""Execute the book's chapters: ``execute`` stores outputs in place, ``bench`` times them.

Usage: ``python scripts/notebooks.py execute|bench [NOTEBOOK ...]`` (default: every chapter).
Each chapter runs in a fresh kernel with its own directory as the working directory, as in the
book build. ``bench`` also prints the library's benchmarks (``scripts/bench_library.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("execute", "bench"))
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or chapters()
    os.environ.setdefault("WDC_SCALE", "small")
    total = 0.0
    for path in paths:
        notebook, seconds = execute(path)
        total += seconds
        if args.mode == "execute":
            nbformat.write(notebook, path)
        print(f"{seconds:8.1f} s  {path.relative_to(ROOT)}", flush=True)
    print(f"{total:8.1f} s  all {len(paths)} chapter(s), executed one after another")
    if args.mode == "bench":
        return subprocess.call([sys.executable, str(ROOT / "scripts" / "bench_library.py")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
