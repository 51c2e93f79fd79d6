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
  :math:`\operatorname{tr} = (d_0 + d_L) S_{2(L-1)/L} + \sum_{l=2}^{L-1} S_{2(L-l)/L} S_{2(l-1)/L} + \lambda N`;
* the whole spectrum at matrix minimizers, of any rank (:func:`minimizer_spectrum`): in the singular
  bases of the target the Hessian is a direct sum of blocks of size at most :math:`2L`, one per pair
  of singular directions, so every eigenvalue and its multiplicity come without an
  :math:`N \times N` matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import grad, jvp, vmap
from torch.func import hessian as func_hessian

from . import dmf
from ._validation import as_layers, as_real_array, check_chain, check_count, check_depth, check_positive, check_widths
from .objective import DMFObjective, unflatten

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
    "rank_one_top_eigenvalue",
    "MinimizerSpectrum",
    "SpectrumBlock",
    "minimizer_blocks",
    "minimizer_spectrum",
    "minimizer_sharpness",
]


def _value(theta: torch.Tensor, shapes: Sequence[tuple[int, int]], objective: DMFObjective) -> torch.Tensor:
    """:math:`f` at flat parameters ``theta`` of shape ``(N,)``: the batched objective on a batch of one."""
    return objective(unflatten(theta.unsqueeze(0), shapes))[0]


def _check_shapes(shapes: Sequence[tuple[int, ...]], Y: Any, lam: float) -> tuple[list[tuple[int, int]], DMFObjective]:
    Y = as_real_array(Y, "Y", ndim=2)
    shapes = [tuple(int(v) for v in s) for s in shapes]
    check_chain(shapes, Y.shape)
    return shapes, DMFObjective(Y, lam)


def _flat(weights: Sequence[Any]) -> tuple[list[np.ndarray], np.ndarray]:
    layers = as_layers(weights)
    return layers, np.concatenate([w.ravel() for w in layers])


def hessian(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessian :math:`\nabla^2 f(\theta)`, shape ``(N, N)`` (``torch.func.hessian``, float64)."""
    lam = check_positive(lam, "lam")
    layers, theta = _flat(weights)
    shapes, objective = _check_shapes([w.shape for w in layers], Y, lam)
    return func_hessian(_value)(torch.as_tensor(theta), shapes, objective).numpy()


def hessian_batch(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessians at a batch of points: ``weights[l]`` has shape ``(B, d_l, d_{l-1})``; returns ``(B, N, N)``."""
    lam = check_positive(lam, "lam")
    layers = [as_real_array(w, f"weights[{i}]", ndim=3) for i, w in enumerate(weights)]
    if len({w.shape[0] for w in layers}) != 1:
        raise ValueError("every weights[l] must have the same batch size")
    shapes, objective = _check_shapes([w.shape[1:] for w in layers], Y, lam)
    theta = torch.as_tensor(np.concatenate([w.reshape(w.shape[0], -1) for w in layers], axis=1))
    return vmap(func_hessian(_value), in_dims=(0, None, None))(theta, shapes, objective).numpy()


def _hvp_function(weights: Sequence[Any], Y: Any, lam: float):
    lam = check_positive(lam, "lam")
    layers, theta = _flat(weights)
    shapes, objective = _check_shapes([w.shape for w in layers], Y, lam)
    theta = torch.as_tensor(theta)
    gradient = grad(lambda th: _value(th, shapes, objective))

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
    _check_shapes([w.shape for w in layers], Y, lam)
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
    r"""The sharpness :math:`\lambda_{\max}` at every global minimizer: the top of :func:`minimizer_spectrum`."""
    return minimizer_spectrum(Y, depth, lam, widths).top


def rank_one_top_eigenvalue(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r"""Closed-form sharpness at a minimizer of rank at most one (a corollary of :func:`minimizer_spectrum`).

    With :math:`t = s_1^{1/L}` and :math:`\sigma_2` the target's second singular value (0 if none):

    .. math::

        \lambda_{\max} = \max\bigl(L t^{2L-2} - (L-2)\lambda,\ 2\lambda,\
            t^{2L-2} + \lambda + \sigma_2 t^{L-2}\bigr) \quad (L \ge 2),

    where :math:`t^{2L-2} + \lambda + \sigma_2 t^{L-2} = (\sigma_1 + \sigma_2)\,t^{L-2}` by stationarity;

    the first term comes from the block of the pair :math:`(1, 1)` (the scalar problem of
    :math:`\sigma_1`), the last from the pair :math:`(1, 2)`. So the top eigenvalue is the scalar
    one of :math:`\sigma_1` iff :math:`\sigma_2 \le (L-1)\,\lvert 2 s_1 - \sigma_1\rvert`.
    At rank zero: :math:`\lambda` (:math:`L \ge 3`), :math:`\lambda + \sigma_1` (:math:`L = 2`);
    :math:`1 + \lambda` for :math:`L = 1`. Raises ``ValueError`` if the minimizer has rank above one.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = as_real_array(Y, "Y", ndim=2)
    s = _minimizer_values(Y, depth, lam, widths)
    if s.size > 1:
        raise ValueError(f"the minimizer of Y has rank {s.size}; rank_one_top_eigenvalue needs rank <= 1")
    sigma = np.linalg.svd(Y, compute_uv=False)
    if depth == 1:
        return 1.0 + lam
    if s.size == 0:
        return float(lam + sigma[0]) if depth == 2 else lam
    L, t = depth, float(s[0]) ** (1 / depth)
    sigma_2 = float(sigma[1]) if sigma.size > 1 else 0.0
    return float(max(L * t ** (2 * L - 2) - (L - 2) * lam, 2 * lam, t ** (2 * L - 2) + lam + sigma_2 * t ** (L - 2)))


# ---------------------------------------------------------------------------------------------
# The exact Hessian spectrum at a balanced global minimizer of the matrix problem (our derivation)
# ---------------------------------------------------------------------------------------------

_TIE_RTOL = 1e-12  # singular values of Y this close (relative to sigma_1) are treated as repeated


@dataclass(frozen=True)
class MinimizerSpectrum:
    r"""The Hessian spectrum at every global minimizer, as distinct eigenvalues with multiplicities.

    ``values`` are ascending; eigenvalues of different blocks that agree to :math:`10^{-12}`
    (relative to :math:`\max(1, \lambda_{\max})`) are merged. ``top_pair`` holds the 0-based
    indices :math:`a \le b` of the singular directions of :math:`Y` whose block holds
    :math:`\lambda_{\max}` (an index beyond the rank is a direction with :math:`s = 0`; among
    blocks tied within the merging tolerance, the first pair);
    ``blocks`` is the number of distinct blocks diagonalized and ``largest_block`` their
    largest size (at most :math:`2L`).
    """

    values: np.ndarray
    multiplicities: np.ndarray
    top_pair: tuple[int, int]
    blocks: int
    largest_block: int

    @property
    def size(self) -> int:
        """The number of parameters :math:`N` (the multiplicities' sum)."""
        return int(self.multiplicities.sum())

    @property
    def top(self) -> float:
        r"""The sharpness :math:`\lambda_{\max}`."""
        return float(self.values[-1])

    @property
    def bottom(self) -> float:
        r"""The smallest eigenvalue :math:`\lambda_{\min}`."""
        return float(self.values[0])

    def full(self) -> np.ndarray:
        """Every eigenvalue repeated by its multiplicity, ascending (length :math:`N`)."""
        return np.repeat(self.values, self.multiplicities)

    def trace(self) -> float:
        r""":math:`\sum_i m_i \mu_i`, the Hessian's trace."""
        return float(np.dot(self.values, self.multiplicities))

    def count(self, low: float, high: float) -> int:
        """Number of eigenvalues (with multiplicity) in the closed interval ``[low, high]``."""
        inside = (self.values >= low) & (self.values <= high)
        return int(self.multiplicities[inside].sum())


@dataclass(frozen=True)
class SpectrumBlock:
    r"""One block of the Hessian at a balanced minimizer: ``count`` copies of ``matrix``.

    ``pair`` = :math:`(a, b)` (0-based, :math:`a \le b`) names a representative index pair; the
    block acts on the entries ``variables`` of the layers' perturbations in the singular bases
    (``"E2[a,b]"`` is entry :math:`(a, b)` of :math:`W_2`'s perturbation).
    """

    pair: tuple[int, int]
    count: int
    matrix: np.ndarray
    variables: tuple[str, ...]


def _index_data(Y: Any, depth: int, lam: float, widths: Sequence[int] | None):
    """Per index of the singular bases: t, rho, membership in each width; grouped into classes."""
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = as_real_array(Y, "Y", ndim=2)
    if 0 in Y.shape:
        raise ValueError(f"Y must be a non-empty 2-D matrix, got shape {Y.shape}")
    if widths is None:
        widths = (min(Y.shape),) * (depth - 1)
    widths = check_widths(widths, depth)
    dims = np.array((Y.shape[1], *widths, Y.shape[0]))
    sigma = np.linalg.svd(Y, compute_uv=False)
    if sigma[0] > 0:  # repeated singular values come out of the SVD a few ulp apart: make them equal
        starts = np.flatnonzero(np.concatenate([[True], -np.diff(sigma) > _TIE_RTOL * sigma[0]]))
        group = np.cumsum(np.isin(np.arange(sigma.size), starts)) - 1
        sigma = (np.bincount(group, sigma) / np.bincount(group))[group]
    s = np.abs(np.asarray(dmf.scalar_minimizer(sigma, depth, lam), dtype=np.float64).reshape(sigma.shape))
    if depth > 1:
        s[min(widths):] = 0.0
    n = int(dims.max())
    t = np.zeros(n)
    t[: s.size] = s ** (1 / depth)
    rho = np.zeros(n)
    rho[: s.size] = s - sigma
    member = np.arange(n)[:, None] < dims[None, :]  # (n, L+1): index c exists in R^{d_j}
    keys = np.column_stack([t, rho, member])
    _, first, inverse, sizes = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first)  # classes in order of their first index
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.size)
    members = [np.flatnonzero(inverse.ravel() == k) for k in order]
    return dict(depth=depth, lam=lam, t=t[first[order]], rho=rho[first[order]], member=member[first[order]],
                sizes=sizes[order], members=members, N=int(np.sum(dims[1:] * dims[:-1])))


def _diag_product(t: np.ndarray, member: np.ndarray, j: int, i: int) -> np.ndarray:
    r"""Diagonal entries of :math:`D_{j:i} = D_j \cdots D_i` (the empty product :math:`j < i` is :math:`I_{d_j}`)."""
    return member[:, j].astype(np.float64) if j < i else t ** (j - i + 1)


def _pair_terms(data: dict, A: np.ndarray, B: np.ndarray):
    r"""For class pairs ``(A, B)``: the vectors :math:`u, v`, the coupling :math:`C` and which entries exist.

    ``u[:, l-1]`` (``v``) is the coefficient of :math:`x_l = (E_l)_{ab}` (:math:`y_l = (E_l)_{ba}`)
    in entry :math:`(a, b)` (:math:`(b, a)`) of the first-order change of :math:`W_{L:1}`;
    ``C[:, l-1, k-1]`` the coefficient of :math:`x_l y_k` in :math:`\langle R, \cdot\rangle` of the
    second-order change.
    """
    L, t, rho, member = data["depth"], data["t"], data["rho"], data["member"]

    def pi(cls, j, i):
        return _diag_product(t[cls], member[cls], j, i)

    P = len(A)
    u, v, C = np.zeros((P, L)), np.zeros((P, L)), np.zeros((P, L, L))
    for l in range(1, L + 1):
        u[:, l - 1] = pi(A, L, l + 1) * pi(B, l - 1, 1)
        v[:, l - 1] = pi(B, L, l + 1) * pi(A, l - 1, 1)
        for k in range(1, L + 1):
            if k < l:  # (E_l)_{ab} (E_k)_{ba} inside entry (a, a) of the second-order term
                C[:, l - 1, k - 1] = rho[A] * pi(A, L, l + 1) * pi(B, l - 1, k + 1) * pi(A, k - 1, 1)
            elif k > l:  # (E_k)_{ba} (E_l)_{ab} inside entry (b, b)
                C[:, l - 1, k - 1] = rho[B] * pi(B, L, k + 1) * pi(A, k - 1, l + 1) * pi(B, l - 1, 1)
    ex_x = member[A][:, 1:] & member[B][:, :-1]  # (E_l)_{ab}: a < d_l, b < d_{l-1}
    ex_y = member[B][:, 1:] & member[A][:, :-1]
    return u, v, C, ex_x, ex_y


def _block_counts(sizes: np.ndarray, A: np.ndarray, B: np.ndarray, diagonal: bool) -> np.ndarray:
    """How many index pairs share the block of class pair ``(A, B)``."""
    if diagonal:  # a = b
        return sizes[A]
    return np.where(A == B, sizes[A] * (sizes[A] - 1) // 2, sizes[A] * sizes[B])


def _block_groups(Y: Any, depth: int, lam: float, widths: Sequence[int] | None):
    """Every distinct block, batched by shape: yields ``(matrices, counts, pairs, variables)``."""
    data = _index_data(Y, depth, lam, widths)
    L, K, lam = data["depth"], len(data["sizes"]), data["lam"]
    iu = np.triu_indices(K)
    groups = []
    for diagonal in (True, False):
        A, B = (np.arange(K), np.arange(K)) if diagonal else iu
        counts = _block_counts(data["sizes"], A, B, diagonal)
        keep = counts > 0
        A, B, counts = A[keep], B[keep], counts[keep]
        u, v, C, ex_x, ex_y = _pair_terms(data, A, B)
        if diagonal:
            H = lam * np.eye(L) + u[:, :, None] * u[:, None, :] + C
            exists = ex_x
            names = [f"E{l}[a,a]" for l in range(1, L + 1)]
        else:
            H = np.zeros((len(A), 2 * L, 2 * L))
            H[:, :L, :L] = u[:, :, None] * u[:, None, :]
            H[:, L:, L:] = v[:, :, None] * v[:, None, :]
            H[:, :L, L:] = C
            H[:, L:, :L] = np.swapaxes(C, 1, 2)
            H += lam * np.eye(2 * L)
            exists = np.concatenate([ex_x, ex_y], axis=1)
            names = [f"E{l}[a,b]" for l in range(1, L + 1)] + [f"E{l}[b,a]" for l in range(1, L + 1)]
        first_a = np.array([data["members"][a][0] for a in A])
        second = 0 if diagonal else 1  # a pair within one class: its first two indices
        first_b = np.array([data["members"][b][min(second if a == b else 0, len(data["members"][b]) - 1)]
                            for a, b in zip(A, B, strict=True)])
        patterns, which = np.unique(exists, axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            if not pattern.any():
                continue
            rows = np.flatnonzero(which.ravel() == p)
            cols = np.flatnonzero(pattern)
            groups.append((H[rows][:, cols][:, :, cols], counts[rows], np.column_stack([first_a[rows], first_b[rows]]),
                           tuple(names[c] for c in cols)))
    return groups, data["N"]


def minimizer_blocks(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> list[SpectrumBlock]:
    r"""The distinct blocks of the Hessian at a balanced global minimizer (see :func:`minimizer_spectrum`)."""
    groups, _ = _block_groups(Y, depth, lam, widths)
    return [SpectrumBlock((int(pair[0]), int(pair[1])), int(count), matrix, names)
            for matrices, counts, pairs, names in groups
            for matrix, count, pair in zip(matrices, counts, pairs, strict=True)]


def minimizer_spectrum(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> MinimizerSpectrum:
    r"""Every Hessian eigenvalue, with its multiplicity, at the global minimizers of the matrix problem.

    Our derivation (the paper's statements were not available; see the hessian-spectrum chapter).
    Write :math:`Y = U\Sigma V^\top` (full SVD), :math:`s_i` for the minimizer's end-to-end
    singular values (:func:`wdcompanion.dmf.end_to_end_minimizer`, rank :math:`r`),
    :math:`t_i = s_i^{1/L}` (0 for :math:`i > r`) and :math:`\rho_i = s_i - \sigma_i` for
    :math:`i \le \min(d_0, d_L)` (0 beyond). In the singular bases every layer of the balanced
    minimizer is the rectangular diagonal :math:`D_l = \operatorname{diag}(t)` and the residual is
    :math:`\operatorname{diag}(\rho)`. Let :math:`\pi_{j:i}(c)` be entry :math:`(c, c)` of
    :math:`D_j \cdots D_i` (of :math:`I_{d_j}` when :math:`j < i`). A perturbation entry
    :math:`x_l = (E_l)_{ab}` couples only with :math:`x_k` and :math:`y_k = (E_k)_{ba}`, so the
    Hessian is orthogonally similar to a direct sum over index pairs :math:`a \le b` of blocks

    .. math::

        H_{ab} = \lambda I + \begin{pmatrix} u u^\top & C \\ C^\top & v v^\top \end{pmatrix},
        \quad u_l = \pi_{L:l+1}(a)\,\pi_{l-1:1}(b), \quad v_l = \pi_{L:l+1}(b)\,\pi_{l-1:1}(a),

    .. math::

        C_{lk} = \rho_a\,\pi_{L:l+1}(a)\,\pi_{l-1:k+1}(b)\,\pi_{k-1:1}(a) \ (k < l), \qquad
        C_{lk} = \rho_b\,\pi_{L:k+1}(b)\,\pi_{k-1:l+1}(a)\,\pi_{l-1:1}(b) \ (k > l),

    :math:`C_{ll} = 0`, restricted to the entries that exist (size at most :math:`2L`); for
    :math:`a = b` the block is :math:`\lambda I + uu^\top + C` (size at most :math:`L`). The
    block depends only on the data :math:`(t, \rho)` of :math:`a` and :math:`b` and on which
    widths exceed them, so indices are grouped into classes and each distinct block is
    diagonalized once (``numpy.linalg.eigvalsh``, batched); its multiplicity is the number of index
    pairs sharing it. No Hessian of size :math:`N` is formed.

    On the exceptional set (some :math:`\sigma_i = y^*`) this is the spectrum at the minimizers
    built from :func:`wdcompanion.dmf.end_to_end_minimizer` (the zero branch).
    """
    groups, _ = _block_groups(Y, depth, lam, widths)
    values, weights, block_tops, block_pairs = [], [], [], []
    largest = 0
    for matrices, counts, pairs, _ in groups:
        eig = np.linalg.eigvalsh(matrices)
        values.append(eig.ravel())
        weights.append(np.repeat(counts, eig.shape[1]))
        block_tops.append(eig[:, -1])
        block_pairs.append(pairs)
        largest = max(largest, matrices.shape[1])
    values, weights = np.concatenate(values), np.concatenate(weights)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    scale = max(1.0, float(np.abs(values).max()))
    starts = np.flatnonzero(np.concatenate([[True], np.diff(values) > 1e-12 * scale]))
    merged_weights = np.add.reduceat(weights, starts)
    merged = np.add.reduceat(values * weights, starts) / merged_weights
    block_tops, block_pairs = np.concatenate(block_tops), np.concatenate(block_pairs)
    sharpest = block_pairs[block_tops >= block_tops.max() - 1e-12 * scale]  # ties: the first pair, so it is reproducible
    top_pair = min((int(a), int(b)) for a, b in sharpest)
    return MinimizerSpectrum(merged, merged_weights.astype(np.int64), top_pair, len(block_tops), largest)


def minimizer_sharpness(Y: Any, depth: int, lams: Any, widths: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Sharpness :math:`\lambda_{\max}` at the global minimizers for each weight decay in ``lams``.

    Returns ``(tops, pairs)``: the ``top`` and the ``top_pair`` (0-based, shape ``(len(lams), 2)``) of
    :func:`minimizer_spectrum` at every ``lam``.
    """
    lams = as_real_array(lams, "lams", ndim=1)
    spectra = [minimizer_spectrum(Y, depth, float(lam), widths) for lam in lams]
    return np.array([s.top for s in spectra]), np.array([s.top_pair for s in spectra], dtype=np.int64).reshape(-1, 2)
