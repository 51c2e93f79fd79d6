r"""Curvature of the layered DMF objective: dense Hessians, Hessian-vector products, traces.

The Hessian is taken with respect to the flat parameter vector
:math:`\theta = (\operatorname{vec} W_1, \dots, \operatorname{vec} W_L)` (row-major ``vec``), of
length :math:`N = \sum_l d_l d_{l-1}`. Dense Hessians come from ``torch.func.hessian`` (small
models); Hessian-vector products from forward-over-reverse differentiation
(``torch.func.jvp`` of ``torch.func.grad``) for models too large for a dense matrix.

Closed forms at minimizers (our derivations; see the book's chapters):

* scalar problem, non-zero minimizer :math:`w = t\mathbb 1`: :math:`\nabla^2 f = (t^{2L-2}-\lambda)\mathbb 1\mathbb 1^\top + 2\lambda I`,
  spectrum :math:`\{2\lambda\ (\times L-1),\ L t^{2L-2} - (L-2)\lambda\}`; zero minimizer
  (:math:`L \ge 3`): :math:`\{\lambda\ (\times L)\}`;
* every layer: :math:`\lVert W_l\rVert_F^2 = \sum_i s_i^{2/L}`;
* trace identity at any point:
  :math:`\operatorname{tr}\nabla^2 f = \sum_l \lVert W_{L:l+1}\rVert_F^2\lVert W_{l-1:1}\rVert_F^2 + \lambda N`;
* at minimizers, with :math:`S_q = \sum_i s_i^q`:
  :math:`\operatorname{tr} = (d_0 + d_L) S_{2(L-1)/L} + \sum_{l=2}^{L-1} S_{2(L-l)/L} S_{2(l-1)/L} + \lambda N`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import grad, jvp, vmap
from torch.func import hessian as func_hessian

from . import dmf
from ._validation import as_layers, as_real_array, check_chain, check_count, check_depth, check_positive, check_widths

__all__ = [
    "hessian",
    "hessian_batch",
    "hessian_operator",
    "hutchinson_trace",
    "lanczos_extremes",
    "hessian_trace",
    "scalar_hessian_spectrum",
    "minimizer_layer_norm_sq",
    "minimizer_hessian_trace",
    "trace_lower_bound",
    "orbit_dimension",
    "minimizer_top_eigenvalue",
]


def _layered_value(theta: torch.Tensor, shapes: Sequence[tuple[int, int]], target: torch.Tensor, lam: float):
    offset, product = 0, None
    penalty = theta.new_zeros(())
    for rows, cols in shapes:
        w = theta[offset : offset + rows * cols].reshape(rows, cols)
        offset += rows * cols
        product = w if product is None else w @ product
        penalty = penalty + (w * w).sum()
    return 0.5 * ((product - target) ** 2).sum() + 0.5 * lam * penalty


def _check_shapes(shapes: Sequence[tuple[int, ...]], Y: Any) -> tuple[list[tuple[int, int]], torch.Tensor]:
    Y = as_real_array(Y, "Y", ndim=2)
    shapes = [tuple(int(v) for v in s) for s in shapes]
    check_chain(shapes, Y.shape)
    return shapes, torch.as_tensor(Y)


def _flat(weights: Sequence[Any]) -> tuple[list[np.ndarray], np.ndarray]:
    layers = as_layers(weights)
    return layers, np.concatenate([w.ravel() for w in layers])


def hessian(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessian :math:`\nabla^2 f(\theta)`, shape ``(N, N)`` (``torch.func.hessian``, float64)."""
    lam = check_positive(lam, "lam")
    layers, theta = _flat(weights)
    shapes, target = _check_shapes([w.shape for w in layers], Y)
    return func_hessian(_layered_value)(torch.as_tensor(theta), shapes, target, lam).numpy()


def hessian_batch(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessians at a batch of points: ``weights[l]`` has shape ``(B, d_l, d_{l-1})``; returns ``(B, N, N)``."""
    lam = check_positive(lam, "lam")
    layers = [as_real_array(w, f"weights[{i}]", ndim=3) for i, w in enumerate(weights)]
    if len({w.shape[0] for w in layers}) != 1:
        raise ValueError("every weights[l] must have the same batch size")
    shapes, target = _check_shapes([w.shape[1:] for w in layers], Y)
    theta = torch.as_tensor(np.concatenate([w.reshape(w.shape[0], -1) for w in layers], axis=1))
    return vmap(func_hessian(_layered_value), in_dims=(0, None, None, None))(theta, shapes, target, lam).numpy()


def _hvp_function(weights: Sequence[Any], Y: Any, lam: float):
    lam = check_positive(lam, "lam")
    layers, theta = _flat(weights)
    shapes, target = _check_shapes([w.shape for w in layers], Y)
    theta = torch.as_tensor(theta)
    gradient = grad(lambda th: _layered_value(th, shapes, target, lam))

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return jvp(gradient, (theta,), (v,))[1]

    return hvp, theta.numel()


def hessian_operator(weights: Sequence[Any], Y: Any, lam: float) -> LinearOperator:
    r"""The Hessian as a ``scipy.sparse.linalg.LinearOperator`` of Hessian-vector products."""
    hvp, n = _hvp_function(weights, Y, lam)

    def matvec(v: np.ndarray) -> np.ndarray:
        return hvp(torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).ravel())).numpy()

    return LinearOperator((n, n), matvec=matvec, dtype=np.float64)


def hutchinson_trace(weights: Sequence[Any], Y: Any, lam: float, n_samples: int, seed: int = 0,
                     batch: int = 32) -> tuple[float, float]:
    r"""Hutchinson's estimate :math:`\frac1m\sum_k z_k^\top H z_k` (Rademacher :math:`z_k`) and its standard error."""
    n_samples = check_count(n_samples, "n_samples", minimum=2)
    batch = check_count(batch, "batch")
    hvp, n = _hvp_function(weights, Y, lam)
    gen = torch.Generator().manual_seed(check_count(seed, "seed", minimum=0))
    batched = vmap(hvp)
    samples = []
    for start in range(0, n_samples, batch):
        z = torch.randint(0, 2, (min(batch, n_samples - start), n), generator=gen, dtype=torch.float64) * 2 - 1
        samples.append((z * batched(z)).sum(1))
    values = torch.cat(samples).numpy()
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n_samples))


def lanczos_extremes(weights: Sequence[Any], Y: Any, lam: float, tol: float = 1e-10) -> tuple[float, float]:
    r"""Smallest and largest Hessian eigenvalues by Lanczos (``scipy.sparse.linalg.eigsh``) on HVPs."""
    operator = hessian_operator(weights, Y, lam)
    v0 = np.random.default_rng(0).standard_normal(operator.shape[0])
    largest = eigsh(operator, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0]
    smallest = eigsh(operator, k=1, which="SA", tol=tol, v0=v0, return_eigenvectors=False, maxiter=20 * operator.shape[0])[0]
    return float(smallest), float(largest)


def hessian_trace(weights: Sequence[Any], Y: Any, lam: float) -> float:
    r"""Exact trace by the identity :math:`\sum_l \lVert W_{L:l+1}\rVert_F^2 \lVert W_{l-1:1}\rVert_F^2 + \lambda N` (any point)."""
    lam = check_positive(lam, "lam")
    layers, theta = _flat(weights)
    _check_shapes([w.shape for w in layers], Y)
    total = 0.0
    for l in range(len(layers)):
        above = dmf.end_to_end(layers[l + 1 :]) if l + 1 < len(layers) else np.eye(layers[-1].shape[0])
        below = dmf.end_to_end(layers[:l]) if l > 0 else np.eye(layers[0].shape[1])
        total += np.sum(above**2) * np.sum(below**2)
    return float(total + lam * theta.size)


def scalar_hessian_spectrum(y: float, depth: int, lam: float) -> np.ndarray:
    r"""Sorted Hessian spectrum at every global minimizer of the scalar problem (off the exceptional set).

    Non-zero minimizer (:math:`t = \lvert s^*\rvert^{1/L}`): :math:`\{2\lambda\ (\times L-1),\ L t^{2L-2} - (L-2)\lambda\}`.
    Zero minimizer: :math:`\{\lambda\ (\times L)\}` for :math:`L \ge 3`, :math:`\{\lambda - |y|, \lambda + |y|\}` for :math:`L = 2`.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    y = float(as_real_array(y, "y", ndim=0))
    s = float(dmf.scalar_minimizer(y, depth, lam))
    if s == 0.0 and depth >= 2:
        return np.sort([lam - abs(y), lam + abs(y)]) if depth == 2 else np.full(depth, lam)
    t = abs(s) ** (1 / depth)
    return np.sort(np.append(np.full(depth - 1, 2 * lam), depth * t ** (2 * depth - 2) - (depth - 2) * lam))


def _minimizer_values(Y: Any, depth: int, lam: float, widths: Sequence[int] | None) -> np.ndarray:
    M = dmf.end_to_end_minimizer(Y, depth, lam, widths)
    s = np.linalg.svd(M, compute_uv=False)
    return s[s > max(M.shape) * np.finfo(np.float64).eps * max(s[0], 1e-300)]


def _parameter_count(Y: Any, depth: int, widths: Sequence[int] | None) -> int:
    Y = as_real_array(Y, "Y", ndim=2)
    widths = (min(Y.shape),) * (depth - 1) if widths is None else check_widths(widths, depth)
    dims = (Y.shape[1], *widths, Y.shape[0])
    return int(sum(dims[i] * dims[i + 1] for i in range(depth)))


def minimizer_layer_norm_sq(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r""":math:`\lVert W_l\rVert_F^2 = \sum_i s_i^{2/L}` at every global minimizer, for every layer :math:`l`."""
    depth = check_depth(depth)
    return float(np.sum(_minimizer_values(Y, depth, lam, widths) ** (2 / depth)))


def minimizer_hessian_trace(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r"""Closed-form :math:`\operatorname{tr}\nabla^2 f` at every global minimizer (see the module docstring)."""
    depth = check_depth(depth)
    Y = as_real_array(Y, "Y", ndim=2)
    s = _minimizer_values(Y, depth, lam, widths)
    L = depth

    def power_sum(q: float) -> float:  # S_q
        return float(np.sum(s**q))

    d_out, d_in = Y.shape
    total = (d_in + d_out) * power_sum(2 * (L - 1) / L) if L > 1 else d_in * d_out
    total += sum(power_sum(2 * (L - l) / L) * power_sum(2 * (l - 1) / L) for l in range(2, L))
    return float(total + lam * _parameter_count(Y, depth, widths))


def trace_lower_bound(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r"""Lower bound :math:`(d_0 + d_L + L - 2)\,\lVert M^*\rVert_F^2 / \nu + \lambda N` on the trace at any minimizer.

    Here :math:`\nu = \sum_i s_i^{2/L}` is the common squared layer norm. It follows from
    :math:`\lVert M\rVert_F \le \lVert W_{L:l+1}\rVert_F \lVert W_l\rVert_F \lVert W_{l-1:1}\rVert_F`
    (derived in the book's layer-norm chapter).
    """
    depth = check_depth(depth)
    Y = as_real_array(Y, "Y", ndim=2)
    s = _minimizer_values(Y, depth, lam, widths)
    N = _parameter_count(Y, depth, widths)
    if s.size == 0:
        return float(lam * N)
    nu = float(np.sum(s ** (2 / depth)))
    return float((Y.shape[0] + Y.shape[1] + depth - 2) * np.sum(s**2) / nu + lam * N)


def orbit_dimension(widths: Sequence[int], rank: int) -> int:
    r"""Dimension of the orbit :math:`\{(Q_l W_l Q_{l-1}^\top)\}` of a balanced minimizer of rank :math:`r`.

    :math:`\sum_l \bigl[\tfrac{d_l(d_l-1)}{2} - \tfrac{(d_l-r)(d_l-r-1)}{2}\bigr]`: the hidden
    rotations minus those fixing the minimizer (rotations of the unused :math:`d_l - r` directions).
    """
    rank = check_count(rank, "rank", minimum=0)
    widths = [check_count(w, "widths") for w in widths]
    if any(rank > w for w in widths):
        raise ValueError(f"rank {rank} exceeds a hidden width {min(widths)}")
    return int(sum(d * (d - 1) // 2 - (d - rank) * (d - rank - 1) // 2 for d in widths))


def minimizer_top_eigenvalue(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r"""Observed (not derived) top Hessian eigenvalue at a matrix minimizer: the scalar one of :math:`\sigma_{\max}`.

    :math:`L t_1^{2L-2} - (L-2)\lambda` with :math:`t_1 = s_1^{1/L}`; the book checks it numerically
    and labels it a conjecture.
    """
    depth = check_depth(depth)
    s = _minimizer_values(Y, depth, lam, widths)
    if s.size == 0:
        return float(np.max(scalar_hessian_spectrum(np.linalg.svd(as_real_array(Y, "Y", ndim=2), compute_uv=False)[0], depth, lam)))
    t = s[0] ** (1 / depth)
    return float(depth * t ** (2 * depth - 2) - (depth - 2) * lam)
