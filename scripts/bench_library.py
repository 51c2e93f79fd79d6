"""Library benchmarks: print timings (figures to read, never assertions).

1. Batched multistart L-BFGS (``wdcompanion.multistart``) against a Python loop over
   ``scipy.optimize.minimize(method="L-BFGS-B")`` from the same starts, to gradient norm 1e-10:
   scalar depth 4 with 10,000 starts, and a 20x15 depth-4 matrix with 1,000 starts. The loop's
   objective is a lean NumPy function with the same prefix-product gradient as the batched one
   (not the validating reference ``dmf.loss``/``dmf.gradient``, which would flatter the ratio).
2. Tracker overhead: a training step with and without :class:`~wdcompanion.rotation.RotationTracker`
   recording every step (MLP and CNN with BatchNorm).
3. Curvature: dense Hessian (``torch.func.hessian`` + ``eigvalsh``) against the HVP path
   (Lanczos top eigenvalue + Hutchinson trace with 100 probes) on growing square models of depth 4,
   then the HVP path alone on larger models until one takes more than a minute.
4. Rotational wrapper: ``optimizer.step()`` of :class:`~wdcompanion.optim.RotationalWrapper` (inner AdamW)
   against ``torch.optim.AdamW(foreach=True)`` alone, on an MLP of about 10^6 parameters grouped by
   :func:`~wdcompanion.optim.param_groups` for both, measured alternately (15 rounds of 20 steps each;
   the median of the per-round ratios), with 2 torch threads and with 1, with steps back to back and
   with the caches evicted before each step (as by the forward and backward passes of training).
5. Each registered claim's check at the small scale.

``--only-rotational`` runs item 4 alone. ``--quick`` times the scipy loop on a tenth of the starts and scales it
up (stated in the output).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.sparse.linalg import eigsh

from wdcompanion import curvature, dmf, nets, rotation
from wdcompanion.claims import CLAIMS, run_claim
from wdcompanion.claims.lambda_threshold import target_with_spectrum
from wdcompanion.multistart import lbfgs_batched, random_starts
from wdcompanion.objective import dmf_objective
from wdcompanion.optim import RotationalWrapper, param_groups


def _numpy_value_and_grad(x, Y, lam, shapes):
    """One start's objective and flat gradient in NumPy, from prefix products (the loop's fair baseline)."""
    layers, offset = [], 0
    for rows, cols in shapes:
        layers.append(x[offset : offset + rows * cols].reshape(rows, cols))
        offset += rows * cols
    prefix = [layers[0]]  # W_{l:1}
    for w in layers[1:]:
        prefix.append(w @ prefix[-1])
    residual = prefix[-1] - Y
    value = 0.5 * np.vdot(residual, residual) + 0.5 * lam * np.vdot(x, x)
    grads, upstream = [None] * len(layers), residual  # W_{L:l+1}^T R
    for l in range(len(layers) - 1, 0, -1):
        grads[l] = upstream @ prefix[l - 1].T + lam * layers[l]
        upstream = layers[l].T @ upstream
    grads[0] = upstream + lam * layers[0]
    return value, np.concatenate([g.ravel() for g in grads])


def _scipy_loop(Y, lam, starts, shapes, gtol):
    """A Python loop over ``scipy.optimize.minimize(method="L-BFGS-B")``; returns the largest final gradient norm.

    ``ftol=0`` and a projected-gradient tolerance of ``gtol / 10`` ask it to go as far as ``gtol``;
    it stops earlier on its own when ``f`` stops decreasing in floating point (reported, not hidden).
    """
    flat = torch.cat([w.reshape(w.shape[0], -1) for w in starts], dim=1).numpy()
    final = []
    for x0 in flat:
        res = minimize(_numpy_value_and_grad, x0, args=(Y, lam, shapes), jac=True, method="L-BFGS-B",
                       options={"gtol": gtol / 10, "ftol": 0, "maxiter": 20000})
        final.append(float(np.linalg.norm(_numpy_value_and_grad(res.x, Y, lam, shapes)[1])))
    return np.array(final)


def bench_multistart(name, Y, depth, widths, n_starts, quick):
    lam, gtol = 0.3, 1e-10
    dims = (Y.shape[1], *widths, Y.shape[0])
    shapes = [(dims[i + 1], dims[i]) for i in range(depth)]
    starts = random_starts(dims, n_starts, (0.05, 3.0), seed=0)
    x0 = torch.cat([w.reshape(n_starts, -1) for w in starts], dim=1)
    value, grad = _numpy_value_and_grad(x0[0].numpy(), Y, lam, shapes)  # the baseline computes the same objective
    layers = [w[0].numpy() for w in starts]
    assert np.isclose(value, dmf.loss(layers, Y, lam), rtol=1e-12)
    assert np.allclose(grad, np.concatenate([g.ravel() for g in dmf.gradient(layers, Y, lam)]), rtol=1e-10, atol=1e-12)
    t0 = time.perf_counter()
    _, _, g, iters = lbfgs_batched(dmf_objective(Y, lam), x0, shapes, gtol=gtol, max_iter=5000)
    batched = time.perf_counter() - t0
    n_loop = max(1, n_starts // 10) if quick else n_starts
    t0 = time.perf_counter()
    final = _scipy_loop(Y, lam, [w[:n_loop] for w in starts], shapes, gtol)
    loop = (time.perf_counter() - t0) * n_starts / n_loop
    note = f" (loop timed on {n_loop} starts, scaled)" if n_loop < n_starts else ""
    print(f"{name}: batched {batched:7.2f} s ({iters} iterations, max |grad| {g.norm(dim=1).max():.1e}); "
          f"scipy loop {loop:7.2f} s (max |grad| {final.max():.1e}, {np.mean(final <= gtol):.0%} of starts at {gtol:.0e}){note}; "
          f"speed-up {loop / batched:5.1f}x")


def _square_model(width: int, depth: int = 4):
    Y = target_with_spectrum(np.concatenate([[4.0], np.geomspace(0.8, 0.05, width - 1)]), (width, width), seed=0)
    widths = (width,) * (depth - 1)
    return Y, dmf.balanced_factors(dmf.end_to_end_minimizer(Y, depth, 0.35, widths), depth, widths)


def _hvp_path(Y, layers) -> float:
    start = time.perf_counter()
    op = curvature.hessian_operator(layers, Y, 0.35)
    eigsh(op, k=1, which="LA", tol=1e-10, v0=np.ones(op.shape[0]), return_eigenvectors=False)
    curvature.hutchinson_trace(layers, Y, 0.35, n_samples=100)
    return time.perf_counter() - start


def bench_curvature() -> None:
    Y, layers = _square_model(4)
    curvature.hessian(layers, Y, 0.35)  # warm-up: torch.func traces on first use
    _hvp_path(Y, layers)
    for width in (8, 16, 24, 32):
        Y, layers = _square_model(width)
        n = sum(w.size for w in layers)
        start = time.perf_counter()
        np.linalg.eigvalsh(curvature.hessian(layers, Y, 0.35))
        dense = time.perf_counter() - start
        print(f"curvature, N = {n:6d}: dense Hessian + eigvalsh {dense:7.2f} s; HVP Lanczos + Hutchinson {_hvp_path(Y, layers):6.2f} s")
    for width in (50, 100, 200, 400, 800):
        Y, layers = _square_model(width)
        seconds = _hvp_path(Y, layers)
        print(f"curvature, N = {sum(w.size for w in layers):6d}: HVP Lanczos + Hutchinson {seconds:6.2f} s (dense: not attempted)")
        if seconds > 60:
            break


def _train_steps(model, x, y, steps, track):
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    tracker = rotation.RotationTracker(model, optimizer, interval=1) if track else None
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    if tracker is not None:
        tracker.remove()
    return elapsed


def bench_tracker() -> None:
    x, y = nets.teacher_data(128, dim=32, seed=0)
    images = torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(1))
    for label, make, data in (("MLP 32-256-256-256-10 + BatchNorm, batch 128", lambda: nets.mlp(32, (256, 256, 256), 10), (x, y)),
                              ("CNN 3-32-64-64 + BatchNorm, 32 images 16x16", lambda: nets.cnn(3, (32, 64, 64), 10), (images, labels))):
        _train_steps(make(), *data, 5, False)  # warm-up
        plain = _train_steps(make(), *data, 200, False)
        tracked = _train_steps(make(), *data, 200, True)
        print(f"tracker overhead, {label}: {1000 * plain / 200:.2f} ms/step untracked, {1000 * tracked / 200:.2f} ms/step tracked"
              f" every step, ratio {tracked / plain:.2f}")


def bench_rotational_wrapper(threads: tuple[int, ...] = (2, 1), rounds: int = 15, steps: int = 20) -> None:
    """RV-AdamW's step against AdamW(foreach)'s, side by side: interleaved rounds, median of the per-round ratios.

    Twice: steps back to back (the optimizer's data stays in the caches), and each step after writing
    64 MB elsewhere (untimed), as a forward and backward pass would evict the caches in training.
    """
    def setup(make):
        model = nets.mlp(256, (512,) * 4, 10, norm="batch", seed=0)
        optimizer = make(param_groups(model, 0.1, readout=model[-1]))
        gen = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen)
        for _ in range(5):
            optimizer.step()
        return optimizer, sum(p.numel() for p in model.parameters())

    def seconds_per_step(optimizer, evict):
        total = 0.0
        for _ in range(steps):
            if evict is not None:
                evict.add_(1.0)
            start = time.perf_counter()
            optimizer.step()
            total += time.perf_counter() - start
        return total / steps

    previous = torch.get_num_threads()
    evict = torch.zeros(16 * 2**20)  # 64 MB, twice the last-level cache of the benchmark machine
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        adamw, n_params = setup(lambda groups: torch.optim.AdamW(groups, lr=1e-3, foreach=True))
        wrapper, _ = setup(lambda groups: RotationalWrapper(groups, "adamw", lr=1e-3, foreach=True))
        for label, flush in (("steps back to back", None), ("caches evicted before each step", evict)):
            times = {"AdamW": [], "RV-AdamW": []}
            for _ in range(rounds):
                for name, optimizer in (("AdamW", adamw), ("RV-AdamW", wrapper)):
                    times[name].append(seconds_per_step(optimizer, flush))
            ratio = np.median(np.array(times["RV-AdamW"]) / np.array(times["AdamW"]))
            print(f"rotational wrapper, MLP 256-512x4-10 + BatchNorm ({n_params:,} parameters), {n_threads} thread(s), "
                  f"{label}: AdamW(foreach) {1000 * np.median(times['AdamW']):.2f} ms/step, RV-AdamW "
                  f"{1000 * np.median(times['RV-AdamW']):.2f} ms/step, median ratio {ratio:.2f} "
                  f"({rounds} interleaved rounds of {steps} steps)")
    torch.set_num_threads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    parser.add_argument("--only-curvature", action="store_true")
    parser.add_argument("--only-rotational", action="store_true", help="only the rotational wrapper against AdamW")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print("\nlibrary benchmarks")
    if args.only_curvature:
        bench_curvature()
        return
    if args.only_rotational:
        bench_rotational_wrapper()
        return
    bench_multistart("scalar, depth 4, 10000 starts", np.array([[1.5]]), 4, (1, 1, 1), 10_000, args.quick)
    Y = target_with_spectrum(np.geomspace(3, 0.1, 15), (20, 15), seed=0)
    bench_multistart("20x15 matrix, depth 4, 1000 starts", Y, 4, (15, 15, 15), 1000, args.quick)
    bench_tracker()
    bench_rotational_wrapper()
    bench_curvature()
    if not args.skip_claims:
        for claim_id in CLAIMS:
            start = time.perf_counter()
            run_claim(claim_id, "small")
            print(f"{time.perf_counter() - start:8.2f} s  check {claim_id} (small scale)")


if __name__ == "__main__":
    main()
