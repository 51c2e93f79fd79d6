"""Sweep benchmark: the same 16 short trainings five ways, one line of figures (to read, never assertions).

1. ``executor="serial"``: one after another in this process, with one torch thread (one worker; with
   torch's default of one thread per core, on a loaded 2-core machine, such small kernels ran up to
   25x slower, which would flatter the ratios);
2. ``executor="local", workers=2``: two worker processes (one torch thread each), their start-up
   included (a fresh interpreter per worker, torch imported, first-call warm-up);
3. the same pool kept warm (:func:`wdcompanion.sweep.local_executor`; each worker has imported torch
   and trained a few steps): the runs alone;
4. a ``distributed.LocalCluster`` with 2 worker processes of 1 thread, warmed the same way (its
   start-up timed apart), once without and once with the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's
   nanny sets for its workers by default (it disables glibc's adaptive mmap threshold, and made these
   small-tensor trainings about 1.8x slower per run in our measurements);
5. the machine's own ceiling at that moment: a bare warm ``multiprocessing`` pool of 2 (one torch
   thread each), no sweep library. On a machine that others are using, 2 processes may get far less
   than 2 cores: compare the sweep's ratios with this one.

Each training is a small MLP (16-64-64-1, Adam, full batch of 512 generated examples) seeded by its
setting; their tables are checked to be identical. Run: ``.venv/bin/python scripts/bench_sweep.py``
(``--steps`` sets the length of each training).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time

import pandas as pd
import torch

from wdcompanion.sweep import local_executor, run_sweep


def train(*, seed: int, lr: float, steps: int) -> dict[str, float]:
    """One short training of a small MLP on a generated teacher, seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 16, generator=generator)
    y = torch.tanh(x @ torch.randn(16, 1, generator=generator))
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    return {"final_loss": loss.item()}


def _one_thread() -> None:
    torch.set_num_threads(1)


def _bare(setting: dict) -> dict[str, float]:
    return train(**setting)


def _warm(barrier=None) -> None:
    """Import torch and train a few steps in this worker; with a barrier, wait until every worker has."""
    train(seed=100, lr=1e-3, steps=5)
    if barrier is not None:
        barrier.wait(timeout=120)


def _warm_pool(pool, workers: int) -> None:
    """Warm every worker of a pool, each once (the barrier keeps one worker from taking two)."""
    with multiprocessing.get_context("spawn").Manager() as manager:
        barrier = manager.Barrier(workers)
        for future in [pool.submit(_warm, barrier) for _ in range(workers)]:
            future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200, help="training steps per run (default 1200: about 1 s on one idle core)")
    args = parser.parse_args()
    grid = [dict(seed=seed, lr=lr, steps=args.steps) for seed in range(8) for lr in (1e-3, 3e-3)]
    common = dict(fingerprint="bench")  # no store: every run is computed each time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train(seed=0, lr=1e-3, steps=5)  # warm-up in this process (the workers have none)
    start = time.perf_counter()
    serial = run_sweep(train, grid, executor="serial", **common)
    t_serial = time.perf_counter() - start
    torch.set_num_threads(threads)

    start = time.perf_counter()
    local = run_sweep(train, grid, executor="local", workers=2, **common)
    t_local = time.perf_counter() - start

    with local_executor(2) as pool:
        _warm_pool(pool, 2)
        start = time.perf_counter()
        warm = run_sweep(train, grid, executor=pool, **common)
        t_warm = time.perf_counter() - start

    with multiprocessing.get_context("spawn").Pool(2, initializer=_one_thread) as bare_pool:
        with multiprocessing.get_context("spawn").Manager() as manager:
            barrier = manager.Barrier(2)
            bare_pool.map(_warm, [barrier, barrier], chunksize=1)
        start = time.perf_counter()
        bare = bare_pool.map(_bare, grid, chunksize=1)
        t_bare = time.perf_counter() - start
    assert [row["final_loss"] for row in bare] == serial.final_loss.tolist()

    import dask
    import distributed

    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 and writes it into this process's
    # environment too: the cluster without it comes first, then the default one.
    t_dask, t_cluster, tables = {}, {}, [local, warm]
    for name, config in (("no trim", {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), ("default", {})):
        start = time.perf_counter()
        with dask.config.set(config), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                                               dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            t_cluster[name] = time.perf_counter() - start
            client.run(_warm)  # on every worker
            start = time.perf_counter()
            tables.append(run_sweep(train, grid, executor=client, **common))
            t_dask[name] = time.perf_counter() - start
    for table in tables:
        pd.testing.assert_frame_equal(table, serial)
    print(f"sweep of {len(grid)} trainings ({args.steps} steps, {t_serial / len(grid):.2f} s each serially), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}: serial {t_serial:.1f} s (1 torch thread) | "
          f"local 2 workers {t_local:.1f} s ({t_serial / t_local:.2f}x, start-up included) | "
          f"warm local pool {t_warm:.1f} s ({t_serial / t_warm:.2f}x) | "
          f"Dask LocalCluster 2 workers {t_dask['no trim']:.1f} s ({t_serial / t_dask['no trim']:.2f}x; "
          f"cluster start {t_cluster['no trim']:.1f} s), "
          f"{t_dask['default']:.1f} s ({t_serial / t_dask['default']:.2f}x) with Dask's default MALLOC_TRIM_THRESHOLD_=65536 | "
          f"ceiling, a bare warm multiprocessing pool of 2: {t_bare:.1f} s ({t_serial / t_bare:.2f}x) | identical tables")


if __name__ == "__main__":
    main()
