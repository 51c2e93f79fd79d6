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

__all__ = ["MultistartResult", "DMFObjective", "random_starts", "dmf_objective", "minimize_dmf", "lbfgs_batched", "cluster_values"]

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


class DMFObjective:
    r"""Batched layered objective :math:`f_b = \frac12\lVert W^{(b)}_{L:1}-Y\rVert_F^2 + \frac\lambda2\sum_l\lVert W^{(b)}_l\rVert_F^2`.

    Calling it on layers of shape ``(B, d_l, d_{l-1})`` returns the ``B`` values (differentiable
    by autograd); ``value_and_grad`` returns values and the analytic gradient
    :math:`\nabla_{W_l} f = W_{L:l+1}^\top R\, W_{l-1:1}^\top + \lambda W_l` from prefix and
    suffix products, with no autograd graph.
    """

    def __init__(self, Y: np.ndarray | torch.Tensor, lam: float):
        self.lam = check_positive(lam, "lam")
        self.target = torch.as_tensor(as_real_array(Y, "Y", ndim=2))

    def __call__(self, layers: Sequence[torch.Tensor]) -> torch.Tensor:
        product = layers[0]
        for w in layers[1:]:
            product = w @ product
        value = 0.5 * (product - self.target.to(product.device)).pow(2).sum(dim=(1, 2))
        for w in layers:
            value = value + 0.5 * self.lam * w.pow(2).sum(dim=(1, 2))
        return value

    def value_and_grad(self, x: torch.Tensor, shapes: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        layers = _unflatten(x, shapes)
        prefix = [layers[0]]  # W_{l:1}
        for w in layers[1:]:
            prefix.append(torch.bmm(w, prefix[-1]))
        residual = prefix[-1] - self.target.to(x.device)
        value = 0.5 * residual.pow(2).sum(dim=(1, 2)) + 0.5 * self.lam * x.pow(2).sum(1)
        grads = [None] * len(layers)
        upstream = residual  # W_{L:l+1}^T R, built from the top layer down
        for l in range(len(layers) - 1, -1, -1):
            below = prefix[l - 1].transpose(1, 2) if l > 0 else None
            grads[l] = (torch.bmm(upstream, below) if below is not None else upstream) + self.lam * layers[l]
            if l > 0:
                upstream = torch.bmm(layers[l].transpose(1, 2), upstream)
        return value, torch.cat([g.reshape(x.shape[0], -1) for g in grads], dim=1)


def dmf_objective(Y: np.ndarray | torch.Tensor, lam: float) -> DMFObjective:
    """The batched DMF objective for target ``Y`` and weight decay ``lam`` (see :class:`DMFObjective`)."""
    return DMFObjective(Y, lam)


def _unflatten(x: torch.Tensor, shapes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    layers, offset = [], 0
    for rows, cols in shapes:
        layers.append(x[:, offset : offset + rows * cols].reshape(-1, rows, cols))
        offset += rows * cols
    return layers


def _value_and_grad(objective, x: torch.Tensor, shapes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and gradients: analytic when the objective provides them, else by autograd."""
    if hasattr(objective, "value_and_grad"):
        return objective.value_and_grad(x, shapes)
    x = x.detach().requires_grad_(True)
    value = objective(_unflatten(x, shapes))
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach()


def lbfgs_batched(
    objective,
    x0: torch.Tensor,
    shapes: list[tuple[int, int]],
    *,
    gtol: float = 1e-10,
    max_iter: int = 2000,
    history: int = 5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Batched L-BFGS on flat parameters ``x0`` of shape ``(B, n)``; returns ``(x, f, grad, iters)``.

    The curvature pairs live in a ring buffer shared by all starts (slot ``k mod m`` at
    iteration ``k``); a start that rejects a pair marks its slot empty (``rho = 0``), so no
    history is ever copied. Converged starts are dropped from the working set.
    """
    gtol = check_positive(gtol, "gtol")
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    m = check_count(history, "history")
    if x0.ndim != 2 or x0.shape[0] == 0:
        raise ValueError("x0 must have shape (starts, parameters) with at least one start")
    x_out = x0.clone()
    f_out, g_out = _value_and_grad(objective, x_out, shapes)
    ids = torch.nonzero(g_out.norm(dim=1) > gtol).ravel()  # the working set
    x, f, g = x_out[ids], f_out[ids], g_out[ids]
    S = x.new_zeros(m, len(ids), x.shape[1])  # history index first: each slot is contiguous
    Yh = torch.zeros_like(S)
    rho = x.new_zeros(m, len(ids))  # 0 marks an empty or rejected slot
    iteration = 0
    for iteration in range(1, max_iter + 1):
        if len(ids) == 0:
            iteration -= 1
            break
        gnorm = g.norm(dim=1)
        newest = (iteration - 2) % m  # slot written at the previous iteration
        order = [(newest - j) % m for j in range(m)]  # newest -> oldest
        q = g.clone()
        alpha = x.new_zeros(m, len(ids))
        for i in order:
            alpha[i] = rho[i] * (S[i] * q).sum(1)
            q -= alpha[i].unsqueeze(1) * Yh[i]
        sy, yy = (S[newest] * Yh[newest]).sum(1), (Yh[newest] * Yh[newest]).sum(1)
        gamma = torch.where(rho[newest] > 0, sy / yy.clamp_min(1e-300), torch.ones_like(sy))
        r = gamma.unsqueeze(1) * q
        for i in reversed(order):
            beta = rho[i] * (Yh[i] * r).sum(1)
            r += (alpha[i] - beta).unsqueeze(1) * S[i]
        d = -r
        slope = (g * d).sum(1)
        bad = slope >= 0  # not a descent direction: restart from steepest descent
        d = torch.where(bad.unsqueeze(1), -g, d)
        rho = torch.where(bad.unsqueeze(0), torch.zeros_like(rho), rho)
        slope = (g * d).sum(1)
        first = rho.sum(0) == 0
        step = torch.where(first, (1.0 / gnorm.clamp_min(1e-300)).clamp_max(1.0), torch.ones_like(gnorm))
        accepted = torch.zeros_like(gnorm, dtype=torch.bool)
        x_new, f_new, g_new = x, f, g
        for _ in range(60):
            todo = ~accepted
            if not bool(todo.any()):
                break
            trial = x + step.unsqueeze(1) * d
            f_t, g_t = _value_and_grad(objective, trial, shapes)
            armijo = f_t <= f + 1e-4 * step * slope
            flat = (f_t <= f + 8 * _EPS * f.abs()) & (g_t.norm(dim=1) < gnorm)
            ok = todo & torch.isfinite(f_t) & (armijo | flat)
            x_new = torch.where(ok.unsqueeze(1), trial, x_new)
            f_new = torch.where(ok, f_t, f_new)
            g_new = torch.where(ok.unsqueeze(1), g_t, g_new)
            accepted |= ok
            shrink = torch.where(f_t > f, 0.1, 0.5)  # an increase means a far overshoot
            step = torch.where(todo & ~ok, step * shrink, step)
        s_vec, y_vec = x_new - x, g_new - g
        sy = (s_vec * y_vec).sum(1)
        keep = accepted & (sy > 1e-12 * s_vec.norm(dim=1) * y_vec.norm(dim=1))
        slot = (iteration - 1) % m
        S[slot], Yh[slot] = s_vec, y_vec
        rho[slot] = torch.where(keep, 1.0 / torch.where(keep, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        rho = torch.where((~accepted).unsqueeze(0), torch.zeros_like(rho), rho)  # line search failed: reset
        x, f, g = x_new, f_new, g_new
        done = g.norm(dim=1) <= gtol
        if bool(done.any()):
            x_out[ids[done]], f_out[ids[done]], g_out[ids[done]] = x[done], f[done], g[done]
            live = ~done
            ids, x, f, g, S, Yh, rho = ids[live], x[live], f[live], g[live], S[:, live], Yh[:, live], rho[:, live]
    if len(ids):
        x_out[ids], f_out[ids], g_out[ids] = x, f, g
    return x_out, f_out, g_out, iteration


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
    """Group sorted objective values that agree within ``rtol`` (relative to ``max(1, abs(v))``).

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
