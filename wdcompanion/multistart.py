r"""Batched minimization of the layered DMF objective from many random starts.

All starts live in one batch of float64 torch tensors, ``W_l`` of shape ``(B, d_l, d_{l-1})``;
the objective is separable over the batch, so one autograd call returns every start's gradient.
The solver is L-BFGS with a per-start history and a per-start backtracking line search; starts
that reach ``gtol`` are frozen. No Python loop runs over starts.

Near a minimizer the Armijo test is lost in rounding (the decrease :math:`\sim\lVert g\rVert^2`
falls below :math:`\epsilon_{\mathrm{mach}} f`); there a step is also accepted when it lowers the
gradient norm without raising :math:`f` beyond rounding, which lets the solver reach
:math:`\lVert\nabla f\rVert \le 10^{-10}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import as_real_array, check_count, check_depth, check_positive, check_widths

__all__ = ["MultistartResult", "random_starts", "dmf_objective", "minimize_dmf", "lbfgs_batched", "cluster_values"]

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class MultistartResult:
    """Local minima reached from a batch of starts (one entry per start)."""

    weights: list[np.ndarray]  # W_l stacked over starts: (B, d_l, d_{l-1})
    loss: np.ndarray  # (B,)
    grad_norm: np.ndarray  # (B,) Euclidean norm of the full gradient
    converged: np.ndarray  # (B,) grad_norm <= gtol
    iterations: int

    @property
    def end_to_end(self) -> np.ndarray:
        """End-to-end matrices :math:`W_L \\cdots W_1`, shape ``(B, d_L, d_0)``."""
        out = self.weights[0]
        for w in self.weights[1:]:
            out = w @ out
        return out

    @property
    def layer_norms_sq(self) -> np.ndarray:
        """Squared Frobenius norms :math:`\\lVert W_l\\rVert_F^2`, shape ``(B, L)``."""
        return np.stack([np.sum(w**2, axis=(1, 2)) for w in self.weights], axis=1)

    def best(self) -> int:
        """Index of the start with the lowest objective value."""
        return int(np.argmin(self.loss))


def random_starts(
    dims: Sequence[int], n_starts: int, scale_range: tuple[float, float], seed: int
) -> list[torch.Tensor]:
    r"""Gaussian starts whose scale is log-uniform in ``scale_range`` (one scale per start).

    ``dims`` are :math:`(d_0, d_1, \dots, d_L)`; layer :math:`l` gets entries
    :math:`\mathcal N(0, c^2/d_{l-1})` with :math:`c` the start's scale, so small scales start
    near the zero critical point and large ones far from it.
    """
    dims = [check_count(d, f"dims[{i}]") for i, d in enumerate(dims)]
    if len(dims) < 2:
        raise ValueError("dims must list at least (d_0, d_1)")
    n_starts = check_count(n_starts, "n_starts")
    low, high = (check_positive(v, "scale_range") for v in scale_range)
    if low > high:
        raise ValueError(f"scale_range must be (low, high) with low <= high, got {scale_range}")
    gen = torch.Generator().manual_seed(check_count(seed, "seed", minimum=0))
    log_scale = torch.empty(n_starts, dtype=torch.float64).uniform_(np.log(low), np.log(high), generator=gen)
    scale = log_scale.exp().view(-1, 1, 1)
    return [
        scale * torch.randn(n_starts, dims[i + 1], dims[i], dtype=torch.float64, generator=gen) / np.sqrt(dims[i])
        for i in range(len(dims) - 1)
    ]


def dmf_objective(Y: np.ndarray | torch.Tensor, lam: float):
    r"""Batched layered objective :math:`f_b = \frac12\lVert W^{(b)}_{L:1}-Y\rVert_F^2 + \frac\lambda2\sum_l\lVert W^{(b)}_l\rVert_F^2`."""
    lam = check_positive(lam, "lam")
    target = torch.as_tensor(as_real_array(Y, "Y", ndim=2))

    def objective(layers: Sequence[torch.Tensor]) -> torch.Tensor:
        product = layers[0]
        for w in layers[1:]:
            product = w @ product
        residual = product - target.to(product.device)
        value = 0.5 * residual.pow(2).sum(dim=(1, 2))
        for w in layers:
            value = value + 0.5 * lam * w.pow(2).sum(dim=(1, 2))
        return value

    return objective


def _value_and_grad(objective, x: torch.Tensor, shapes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    layers, offset = [], 0
    for rows, cols in shapes:
        layers.append(x[:, offset : offset + rows * cols].reshape(-1, rows, cols))
        offset += rows * cols
    value = objective(layers)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach()


def lbfgs_batched(
    objective,
    x0: torch.Tensor,
    shapes: list[tuple[int, int]],
    *,
    gtol: float = 1e-10,
    max_iter: int = 2000,
    history: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Batched L-BFGS on flat parameters ``x0`` of shape ``(B, n)``; returns ``(x, f, grad, iters)``."""
    gtol = check_positive(gtol, "gtol")
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    m = check_count(history, "history")
    x = x0.clone()
    batch, n = x.shape
    if batch == 0:
        raise ValueError("x0 must hold at least one start")
    f, g = _value_and_grad(objective, x, shapes)
    S = x.new_zeros(batch, m, n)
    Yh = x.new_zeros(batch, m, n)
    rho = x.new_zeros(batch, m)  # 0 marks an empty or rejected slot
    iteration = 0
    for iteration in range(1, max_iter + 1):
        gnorm = g.norm(dim=1)
        active = gnorm > gtol
        if not bool(active.any()):
            iteration -= 1
            break
        # two-loop recursion, vectorized over the batch; slots are ordered oldest -> newest
        q = g.clone()
        alpha = x.new_zeros(batch, m)
        for i in range(m - 1, -1, -1):
            alpha[:, i] = rho[:, i] * (S[:, i] * q).sum(1)
            q -= alpha[:, i : i + 1] * Yh[:, i]
        sy, yy = (S[:, -1] * Yh[:, -1]).sum(1), (Yh[:, -1] * Yh[:, -1]).sum(1)
        gamma = torch.where(rho[:, -1] > 0, sy / yy.clamp_min(1e-300), torch.ones_like(sy))
        r = gamma.unsqueeze(1) * q
        for i in range(m):
            beta = rho[:, i] * (Yh[:, i] * r).sum(1)
            r += (alpha[:, i] - beta).unsqueeze(1) * S[:, i]
        d = -r
        slope = (g * d).sum(1)
        bad = slope >= 0
        if bool(bad.any()):  # not a descent direction: restart from steepest descent
            d[bad] = -g[bad]
            rho[bad] = 0.0
            slope = (g * d).sum(1)
        first = rho.sum(1) == 0
        step = torch.where(first, (1.0 / gnorm.clamp_min(1e-300)).clamp_max(1.0), torch.ones_like(gnorm))
        step = torch.where(active, step, torch.zeros_like(step))
        accepted = ~active
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        for _ in range(60):
            todo = ~accepted
            if not bool(todo.any()):
                break
            trial = x + step.unsqueeze(1) * d
            f_t, g_t = _value_and_grad(objective, trial, shapes)
            armijo = f_t <= f + 1e-4 * step * slope
            flat = (f_t <= f + 8 * _EPS * f.abs()) & (g_t.norm(dim=1) < gnorm)
            ok = todo & torch.isfinite(f_t) & (armijo | flat)
            x_new[ok], f_new[ok], g_new[ok] = trial[ok], f_t[ok], g_t[ok]
            accepted |= ok
            step = torch.where(todo & ~ok, step * 0.5, step)
        moved = active & accepted
        s_vec, y_vec = x_new - x, g_new - g
        sy = (s_vec * y_vec).sum(1)
        keep = moved & (sy > 1e-12 * s_vec.norm(dim=1) * y_vec.norm(dim=1))
        if bool(keep.any()):
            S[keep] = torch.roll(S[keep], -1, dims=1)
            Yh[keep] = torch.roll(Yh[keep], -1, dims=1)
            rho[keep] = torch.roll(rho[keep], -1, dims=1)
            S[keep, -1], Yh[keep, -1], rho[keep, -1] = s_vec[keep], y_vec[keep], 1.0 / sy[keep]
        stalled = active & ~accepted  # line search failed: rounding floor; reset its memory
        rho[stalled] = 0.0
        x, f, g = x_new, f_new, g_new
    return x, f, g, iteration


def minimize_dmf(
    Y: np.ndarray,
    depth: int,
    lam: float,
    *,
    n_starts: int,
    widths: Sequence[int] | None = None,
    scale_range: tuple[float, float] = (0.05, 3.0),
    seed: int = 0,
    gtol: float = 1e-10,
    max_iter: int = 3000,
    chunk_size: int | None = None,
    device: str | None = None,
) -> MultistartResult:
    r"""Minimize the layered DMF objective from ``n_starts`` random starts in one batch.

    ``widths`` are the hidden widths :math:`(d_1, \dots, d_{L-1})` (default
    :math:`\min(d_0, d_L)`); starts come from :func:`random_starts`. For paper-scale runs,
    ``chunk_size`` bounds the starts solved together (memory grows as starts x parameters x
    history) and ``device`` selects a torch device (default: CUDA when available, else CPU).
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = as_real_array(Y, "Y", ndim=2)
    d_out, d_in = Y.shape
    if widths is None:
        widths = (min(d_out, d_in),) * (depth - 1)
    widths = check_widths(widths, depth)
    dims = (d_in, *widths, d_out)
    starts = random_starts(dims, n_starts, scale_range, seed)
    shapes = [(dims[i + 1], dims[i]) for i in range(depth)]
    x0 = torch.cat([w.reshape(n_starts, -1) for w in starts], dim=1)
    chunk = n_starts if chunk_size is None else check_count(chunk_size, "chunk_size")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    objective = dmf_objective(Y, lam)
    parts = [lbfgs_batched(objective, x0[i : i + chunk].to(device), shapes, gtol=gtol, max_iter=max_iter)
             for i in range(0, n_starts, chunk)]
    x, f, g = (torch.cat([p[k].cpu() for p in parts]) for k in range(3))
    iterations = max(p[3] for p in parts)
    layers, offset = [], 0
    for rows, cols in shapes:
        layers.append(x[:, offset : offset + rows * cols].reshape(-1, rows, cols).numpy())
        offset += rows * cols
    grad_norm = g.norm(dim=1).numpy()
    return MultistartResult(layers, f.numpy(), grad_norm, grad_norm <= gtol, iterations)


def cluster_values(values: np.ndarray, rtol: float = 1e-7) -> list[tuple[float, int]]:
    """Group sorted objective values that agree within ``rtol`` (relative to max(1, |v|)).

    Returns ``(representative value, count)`` pairs in increasing order of value.
    """
    values = np.sort(as_real_array(values, "values", ndim=1))
    rtol = check_positive(rtol, "rtol")
    clusters: list[list[float]] = []
    for v in values:
        if clusters and abs(v - clusters[-1][0]) <= rtol * max(1.0, abs(clusters[-1][0])):
            clusters[-1].append(v)
        else:
            clusters.append([v])
    return [(float(c[0]), len(c)) for c in clusters]
