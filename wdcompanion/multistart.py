r"""Batched minimization of the layered DMF objective from many random starts.

All starts live in one batch of float64 torch tensors, ``W_l`` of shape ``(B, d_l, d_{l-1})``;
the objective is separable over the batch, so one autograd call returns every start's gradient.
The solver is L-BFGS with a per-start history, kept in the vector-free form of Chen, Wang & Zhou
(NeurIPS 2014, "Large-scale L-BFGS using MapReduce") so that an iteration reads the stored pairs only
twice, and a per-start backtracking line search; starts that reach ``gtol`` are frozen. No Python
loop runs over starts.

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
from .objective import dmf_objective, unflatten

__all__ = ["MultistartResult", "random_starts", "minimize_dmf", "lbfgs_batched", "cluster_values"]

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


def _value_and_grad(objective, x: torch.Tensor, shapes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and gradients: analytic when the objective provides them, else by autograd."""
    if hasattr(objective, "value_and_grad"):
        return objective.value_and_grad(x, shapes)
    x = x.detach().requires_grad_(True)
    value = objective(unflatten(x, shapes))
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad.detach()


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products of two ``(B, n)`` tensors."""
    return torch.linalg.vecdot(a, b)


class _VectorFreeHistory:
    r"""The L-BFGS memory of ``m`` pairs per start, kept in vector-free form.

    The pairs :math:`s_i = x_{k+1}-x_k`, :math:`y_i = g_{k+1}-g_k` are the rows of
    :math:`H = [s_1 \dots s_m\; y_1 \dots y_m]` (``(B, 2m, n)``), next to their Gram matrix
    :math:`G = H H^\top` and :math:`P = H g` for the current gradient. The two-loop recursion
    then runs on the :math:`2m` coefficients of :math:`d = -(\gamma g + c^\top H)`, so an
    iteration reads the stored vectors twice (for :math:`Hg` and :math:`c^\top H`) instead of
    :math:`4m` times (the vector-free L-BFGS of Chen et al., NeurIPS 2014). Slots are a ring
    buffer shared by all starts; ``rho = 0`` marks an empty or rejected slot.
    """

    def __init__(self, m: int, like: torch.Tensor):
        batch, n = like.shape
        self.m, self.count = m, 0
        self.H = like.new_zeros(batch, 2 * m, n)
        self.G = like.new_zeros(batch, 2 * m, 2 * m)
        self.P = like.new_zeros(batch, 2 * m)
        self.rho = like.new_zeros(batch, m)  # 1 / s_i^T y_i, or 0
        self.gamma = like.new_ones(batch)  # s^T y / y^T y of the newest pair

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` of the batch."""
        self.H, self.G, self.P = self.H[rows], self.G[rows], self.P[rows]
        self.rho, self.gamma = self.rho[rows], self.gamma[rows]

    def forget(self, rows: torch.Tensor) -> None:
        """Empty the memory of ``rows`` (a boolean mask); the next direction there is :math:`-g`."""
        self.rho[rows] = 0.0

    def direction(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The L-BFGS direction :math:`d` for gradient ``g`` and its products :math:`H d` with the stored vectors."""
        m = self.m
        newest = (self.count - 1) % m
        order = [i for i in ((newest - j) % m for j in range(m)) if bool(self.rho[:, i].any())]  # newest first
        if not order:
            return -g, -self.P
        P, G, rho = self.P, self.G, self.rho
        gamma = torch.where(rho[:, newest] > 0, self.gamma, 1.0)
        a = torch.zeros_like(rho)  # q = g + a^T Y
        alphas = []
        for i in order:
            alpha = rho[:, i] * (P[:, i] + (G[:, i, m:] * a).sum(1))
            a[:, i] -= alpha
            alphas.append(alpha)
        a *= gamma.unsqueeze(1)  # r = gamma q + b^T S, b = 0
        b = torch.zeros_like(rho)
        for i, alpha in zip(reversed(order), reversed(alphas), strict=True):
            beta = rho[:, i] * (gamma * P[:, m + i] + (G[:, m + i, m:] * a).sum(1) + (G[:, m + i, :m] * b).sum(1))
            b[:, i] += alpha - beta
        c = torch.cat([b, a], dim=1)
        d = torch.bmm(c.unsqueeze(1), self.H).squeeze(1).addcmul_(g, gamma.unsqueeze(1)).neg_()
        hd = -(gamma.unsqueeze(1) * P + torch.bmm(G, c.unsqueeze(2)).squeeze(2))
        return d, hd

    def push(self, g: torch.Tensor, g_new: torch.Tensor, d: torch.Tensor, hd: torch.Tensor,
             step: torch.Tensor, accepted: torch.Tensor) -> None:
        r"""Store :math:`s = \text{step}\, d`, :math:`y = g_{new} - g` (step 0 where the line search failed)."""
        m, slot = self.m, self.count % self.m
        self.count += 1
        s, y = self.H[:, slot], self.H[:, m + slot]
        torch.mul(d, step.unsqueeze(1), out=s)
        torch.sub(g_new, g, out=y)
        q = torch.bmm(self.H, g_new.unsqueeze(2)).squeeze(2)  # the new P = H g_new
        ss, sy, yy = s.norm(dim=1) ** 2, _rowdot(s, y), y.norm(dim=1) ** 2
        hs, hy = step.unsqueeze(1) * hd, q - self.P  # old rows . s and . y (the slot's own entries are set below)
        G = self.G
        G[:, slot, :], G[:, m + slot, :] = hs, hy
        G[:, slot, slot], G[:, m + slot, m + slot] = ss, yy
        G[:, slot, m + slot] = G[:, m + slot, slot] = sy
        G[:, :, slot], G[:, :, m + slot] = G[:, slot, :], G[:, m + slot, :]
        self.P = q
        keep = accepted & (sy > 1e-12 * (ss * yy).sqrt())
        self.rho[:, slot] = torch.where(keep, 1.0 / torch.where(keep, sy, 1.0), 0.0)
        self.gamma = torch.where(keep, sy / yy.clamp_min(1e-300), 1.0)
        self.forget(~accepted)  # a failed line search restarts from steepest descent


def _acceptable(f_t, g_t, f, gnorm, step, slope):
    """Armijo decrease, or (within rounding of ``f``) no increase with a smaller gradient."""
    armijo = f_t <= f + 1e-4 * step * slope
    flat = (f_t <= f + 8 * _EPS * f.abs()) & (g_t.norm(dim=1) < gnorm)
    return torch.isfinite(f_t) & (armijo | flat)


def _line_search(objective, shapes, x, f, g, gnorm, d, step, slope, max_evals: int = 60):
    """Backtracking from ``step`` along ``d``; only the starts still searching are re-evaluated.

    Returns ``(x_new, f_new, g_new, accepted)``; a start that finds no acceptable step keeps its point.
    """
    x_new = torch.addcmul(x, d, step.unsqueeze(1))
    f_new, g_new = _value_and_grad(objective, x_new, shapes)
    todo = torch.nonzero(~_acceptable(f_new, g_new, f, gnorm, step, slope)).ravel()
    for _ in range(max_evals - 1):
        if len(todo) == 0:
            break
        step_t = step[todo] * torch.where(f_new[todo] > f[todo], 0.1, 0.5)  # an increase means a far overshoot
        step[todo] = step_t
        x_t = torch.addcmul(x[todo], d[todo], step_t.unsqueeze(1))
        f_t, g_t = _value_and_grad(objective, x_t, shapes)
        x_new[todo], f_new[todo], g_new[todo] = x_t, f_t, g_t
        todo = todo[~_acceptable(f_t, g_t, f[todo], gnorm[todo], step_t, slope[todo])]
    accepted = torch.ones_like(f, dtype=torch.bool)
    if len(todo):
        accepted[todo] = False
        x_new[todo], f_new[todo], g_new[todo] = x[todo], f[todo], g[todo]
    return x_new, f_new, g_new, accepted


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
    history is ever copied. A start that reaches ``gtol`` is frozen (step 0) and the working
    set is compacted once an eighth of it is frozen, which bounds the copying of the history.
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
    gnorm = g.norm(dim=1)
    frozen = torch.zeros_like(gnorm, dtype=torch.bool)
    memory = _VectorFreeHistory(m, x)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        if len(ids) == 0:
            iteration -= 1
            break
        d, hd = memory.direction(g)
        slope = _rowdot(g, d)
        bad = slope >= 0  # not a descent direction: restart from steepest descent
        if bool(bad.any()):
            d[bad], hd[bad] = -g[bad], -memory.P[bad]
            memory.forget(bad)
            slope = torch.where(bad, -gnorm**2, slope)
        first = memory.rho.sum(1) == 0
        step = torch.where(first, (1.0 / gnorm.clamp_min(1e-300)).clamp_max(1.0), 1.0)
        step[frozen] = 0.0
        x_new, f_new, g_new, accepted = _line_search(objective, shapes, x, f, g, gnorm, d, step, slope)
        step[~accepted] = 0.0
        memory.push(g, g_new, d, hd, step, accepted)
        x, f, g = x_new, f_new, g_new
        gnorm = g.norm(dim=1)
        frozen = gnorm <= gtol
        n_frozen = int(frozen.sum())
        if n_frozen and 8 * n_frozen >= len(ids):
            x_out[ids[frozen]], f_out[ids[frozen]], g_out[ids[frozen]] = x[frozen], f[frozen], g[frozen]
            live = ~frozen
            ids, x, f, g, gnorm, frozen = ids[live], x[live], f[live], g[live], gnorm[live], frozen[live]
            memory.select(live)
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
