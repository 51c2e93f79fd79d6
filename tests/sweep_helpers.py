"""Run functions for ``tests/test_sweep.py``, in a module of their own so that worker processes import them by name.

Each run seeds itself from its setting. When ``$WDC_TEST_SWEEP_MARKERS`` names a folder, a run leaves a
``start-<seed>-...`` file there when it starts and a ``done-<seed>-...`` file when it returns (so a test
counts executions across processes), and obeys control files the test puts there:
``hold-<seed>`` (wait while it exists), ``fail-<seed>`` (raise), ``crash-<seed>`` (kill its own process,
the first time only).
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MARKERS_ENV = "WDC_TEST_SWEEP_MARKERS"
CURVATURE = np.array([3.0, 0.5])


def _markers() -> Path | None:
    value = os.environ.get(MARKERS_ENV)
    return Path(value) if value else None


def _mark(folder: Path, what: str, seed: int) -> None:
    (folder / f"{what}-{seed}-{os.getpid()}-{uuid.uuid4().hex}").touch()


def descend(*, seed: int, lr: float, steps: int = 20, label: str = "") -> dict:
    """A few steps of gradient descent on a 2-parameter quadratic from a start drawn from ``seed``."""
    folder = _markers()
    if folder is not None:
        _mark(folder, "start", seed)
        if (folder / f"fail-{seed}").exists():
            raise ValueError(f"planted failure for seed {seed}")
        if (folder / f"crash-{seed}").exists() and not (folder / f"crashed-{seed}").exists():
            (folder / f"crashed-{seed}").touch()
            time.sleep(0.5)  # let the other worker's results come in first
            os._exit(3)
        deadline = time.monotonic() + 120
        while (folder / f"hold-{seed}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"held for 120 s (seed {seed})")
            time.sleep(0.02)
    w = np.random.default_rng(seed).normal(size=2)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            w = w - lr * CURVATURE * w
        loss = 0.5 * float(np.sum(CURVATURE * w * w))
        ratio = w[0] / w[1]
    out = {"loss": loss, "w0": float(w[0]), "w1": w[1], "ratio": ratio, "diverged": not (math.isfinite(loss) and loss < 1e6),
           "steps_run": np.int64(steps), "label": label or "none"}
    if folder is not None:
        _mark(folder, "done", seed)
    return out


@dataclass(frozen=True)
class Point:
    seed: int
    lr: float
    widths: tuple[int, ...] = (2,)


def descend_point(point: Point) -> dict:
    """:func:`descend` taking a frozen dataclass setting whole."""
    return descend(seed=point.seed, lr=point.lr, steps=len(point.widths) * 10)


@dataclass
class MutablePoint:
    seed: int
    lr: float


def nonfinite(*, seed: int) -> dict:
    """Every kind of result value, non-finite floats included."""
    return {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "half": seed + 0.5, "even": seed % 2 == 0, "name": f"s{seed}",
            "count": seed, "f32": np.float32(0.1)}


def not_a_mapping(*, seed: int) -> list:
    return [seed]


def bad_value(*, seed: int) -> dict:
    return {"value": [seed]}


def clashing(*, seed: int) -> dict:
    return {"seed": seed}


KILL_GRID = [dict(seed=s, lr=0.1) for s in range(8)]


def kill_main(store: str) -> None:
    """The sweep a test runs in a subprocess and kills: local processes, 2 workers."""
    from wdcompanion.sweep import run_sweep

    run_sweep(descend, KILL_GRID, store=store, executor="local", workers=2, fingerprint="test")
    print("sweep finished", file=sys.stderr)


def threads(*, seed: int) -> dict:
    """What a run sees of its thread limits (imports torch after the worker started, as a run would)."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS", "unset")}
