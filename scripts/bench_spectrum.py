"""Benchmark of the exact Hessian spectrum at DMF minimizers: print timings (figures to read, never assertions).

For square targets of growing size n (depth 3, hidden widths n, rank 3 with close top singular
values, so N = 3 n^2 parameters), the time of

1. ``curvature.minimizer_spectrum`` (every eigenvalue with its multiplicity, from blocks of size
   at most 2L);
2. a dense Hessian (``curvature.hessian``, ``torch.func``) and ``numpy.linalg.eigvalsh``, while N
   stays below ``--dense-limit`` (default 3,000);
3. the Lanczos top eigenvalue (``scipy.sparse.linalg.eigsh`` on Hessian-vector products), while N
   stays below ``--lanczos-limit`` (default 130,000),

with the ratios to (1) and the largest disagreement of the top eigenvalue. Usage:
``python scripts/bench_spectrum.py [--sizes 10 20 40 ...]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.sparse.linalg import eigsh

from wdcompanion import curvature, dmf
from wdcompanion.claims.lambda_threshold import target_with_spectrum

LAM, DEPTH = 0.35, 3


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30, 60, 120, 200])
    parser.add_argument("--dense-limit", type=int, default=3000)
    parser.add_argument("--lanczos-limit", type=int, default=130_000)
    args = parser.parse_args()
    print(f"depth {DEPTH}, lambda {LAM}, square targets n x n with singular values 4.0, 3.9, 3.8, then 0.8 ... 0.05")
    print("    n        N   spectrum s   blocks   dense+eigvalsh s (ratio)   Lanczos s (ratio)   |top difference|")
    for n in args.sizes:
        spectrum = np.concatenate([[4.0, 3.9, 3.8], np.geomspace(0.8, 0.05, n - 3)])
        Y = target_with_spectrum(spectrum, (n, n), seed=4)
        widths = (n,) * (DEPTH - 1)
        layers = dmf.balanced_factors(dmf.end_to_end_minimizer(Y, DEPTH, LAM, widths), DEPTH, widths)
        N = sum(w.size for w in layers)
        exact, t_exact = _timed(lambda: curvature.minimizer_spectrum(Y, DEPTH, LAM, widths))  # noqa: B023
        line = f"{n:5d} {N:8d}   {t_exact:10.4f}   {exact.blocks:6d}"
        differences = []
        if N <= args.dense_limit:
            dense, t_dense = _timed(lambda: np.linalg.eigvalsh(curvature.hessian(layers, Y, LAM)))  # noqa: B023
            differences.append(abs(dense[-1] - exact.top))
            line += f"   {t_dense:10.3f} ({t_dense / t_exact:9.0f}x)"
        else:
            line += f"   {'-':>23s}"
        if N <= args.lanczos_limit:
            operator = curvature.hessian_operator(layers, Y, LAM)
            top, t_lanczos = _timed(lambda: eigsh(operator, k=1, which="LA", tol=1e-10, v0=np.ones(N),  # noqa: B023
                                                  return_eigenvectors=False)[0])
            differences.append(abs(top - exact.top))
            line += f"   {t_lanczos:8.2f} ({t_lanczos / t_exact:8.0f}x)"
        else:
            line += f"   {'-':>19s}"
        line += f"   {max(differences):.1e}" if differences else ""
        print(line, flush=True)


if __name__ == "__main__":
    main()
