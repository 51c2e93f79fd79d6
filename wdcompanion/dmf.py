r"""Regularized deep matrix factorization (DMF): objective, gradients and closed forms.

The problem, with target :math:`Y \in \mathbb{R}^{d_L \times d_0}`, depth :math:`L \ge 1`,
layers :math:`W_l \in \mathbb{R}^{d_l \times d_{l-1}}` and weight decay :math:`\lambda > 0`:

.. math::

    f(W_1, \dots, W_L) = \tfrac12 \lVert W_L \cdots W_1 - Y \rVert_F^2
        + \tfrac{\lambda}{2} \sum_{l=1}^{L} \lVert W_l \rVert_F^2 .

Per singular value :math:`y` of the target, the problem reduces (every critical point is
balanced) to the scalar function of the end-to-end value :math:`s`

.. math::

    g(s) = \tfrac12 (s - y)^2 + \tfrac{\lambda L}{2} \lvert s \rvert^{2/L}.

Kamber & Parhi (2026) state in their abstract that a critical weight decay exists above which
the minimizer collapses to zero. The closed forms here (threshold, fold, jump, minimizer) are
*this companion's derivations* (see ``shared/papers`` and the book), not formulas quoted from
the paper, whose full text we could not read.

Scalar functions broadcast over ``y``; ``lam`` and ``depth`` are scalars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import ortho_group

from ._validation import (
    as_layers,
    as_real_array,
    check_chain,
    check_count,
    check_depth,
    check_positive,
    check_widths,
)

__all__ = [
    "critical_lambda",
    "critical_target",
    "fold_lambda",
    "threshold_jump",
    "nonzero_branch",
    "scalar_minimizer",
    "reduced_objective",
    "end_to_end_minimizer",
    "matrix_objective",
    "optimal_value",
    "balanced_ray_loss",
    "end_to_end",
    "loss",
    "gradient",
    "balanced_factors",
    "scalar_parameter_minimizers",
    "rotate_hidden",
    "random_hidden_rotations",
    "gradient_descent",
]


def _as_targets(y: Any, name: str = "y") -> np.ndarray:
    return as_real_array(y, name)


def _scalar_out(values: np.ndarray, like: np.ndarray) -> Any:
    """Return a Python float for scalar input, an array otherwise."""
    return float(values) if like.ndim == 0 else values


def critical_lambda(y: Any, depth: int) -> Any:
    r"""Critical weight decay :math:`\lambda^*(y, L)` above which the minimizer of ``g`` is 0.

    .. math::

        \lambda^*(y, L) = (L-2)^{(L-2)/L} \Bigl(\frac{\lvert y\rvert}{L-1}\Bigr)^{2(L-1)/L}
        \quad (L \ge 3), \qquad \lambda^*(y, 2) = \lvert y \rvert, \qquad
        \lambda^*(y, 1) = \infty .

    Derived in this companion (the paper's abstract states only that a threshold exists).
    """
    depth = check_depth(depth)
    y = _as_targets(y)
    a = np.abs(y)
    if depth == 1:
        out = np.full_like(a, math.inf)
    elif depth == 2:
        out = a.copy()
    else:
        L = depth
        out = (L - 2) ** ((L - 2) / L) * (a / (L - 1)) ** (2 * (L - 1) / L)
    return _scalar_out(out, y)


def critical_target(lam: float, depth: int) -> float:
    r"""Critical target magnitude :math:`y^*(\lambda, L)`, the inverse of :func:`critical_lambda`.

    .. math::

        y^*(\lambda, L) &= \frac{L-1}{L-2} \bigl((L-2)\lambda\bigr)^{L/(2(L-1))} \qquad (L \ge 3), \\
        y^*(\lambda, 2) &= \lambda, \qquad y^*(\lambda, 1) = \infty .

    Singular values above :math:`y^*` survive; those below are set to zero.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    if depth == 1:
        return math.inf
    if depth == 2:
        return lam
    L = depth
    return (L - 1) / (L - 2) * ((L - 2) * lam) ** (L / (2 * (L - 1)))


def fold_lambda(y: Any, depth: int) -> Any:
    r"""Weight decay :math:`\lambda_{\mathrm{fold}}(y, L)` above which no non-zero critical point exists.

    .. math::

        \lambda_{\mathrm{fold}} = \frac{L\,\lvert y\rvert}{2(L-1)}
        \Bigl(\frac{(L-2)\lvert y\rvert}{2(L-1)}\Bigr)^{(L-2)/L} \quad (L \ge 3),

    :math:`\lvert y\rvert` for :math:`L = 2` and :math:`\infty` for :math:`L = 1`. Between
    :math:`\lambda^*` and :math:`\lambda_{\mathrm{fold}}` the non-zero local minimizer is spurious.
    """
    depth = check_depth(depth)
    y = _as_targets(y)
    a = np.abs(y)
    if depth == 1:
        out = np.full_like(a, math.inf)
    elif depth == 2:
        out = a.copy()
    else:
        L = depth
        out = L * a / (2 * (L - 1)) * ((L - 2) * a / (2 * (L - 1))) ** ((L - 2) / L)
    return _scalar_out(out, y)


def threshold_jump(y: Any, depth: int) -> Any:
    r"""Size of the jump of the end-to-end minimizer at :math:`\lambda^*`: :math:`\frac{L-2}{L-1}\lvert y\rvert`.

    Zero for :math:`L \le 2` (the minimizer is continuous: soft thresholding for :math:`L = 2`,
    ridge shrinkage without threshold for :math:`L = 1`).
    """
    depth = check_depth(depth)
    y = _as_targets(y)
    out = np.zeros_like(y) if depth <= 2 else (depth - 2) / (depth - 1) * np.abs(y)
    return _scalar_out(out, y)


def nonzero_branch(y: Any, depth: int, lam: float) -> Any:
    r"""The non-zero local minimizer :math:`s_2` of ``g`` (``nan`` where it does not exist).

    For :math:`L \ge 3` it is :math:`\operatorname{sign}(y)\,t_2^L` with :math:`t_2` the larger root of
    :math:`\varphi(t) = t^{L-2}(\lvert y\rvert - t^L) = \lambda`; it exists for
    :math:`\lambda \le \lambda_{\mathrm{fold}}`. For :math:`L = 2` it is
    :math:`\operatorname{sign}(y)(\lvert y\rvert - \lambda)` when positive, and for :math:`L = 1`
    the ridge value :math:`y/(1+\lambda)`. The root is found by vectorized bisection on the
    decreasing part of :math:`\varphi` down to machine precision.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    y = _as_targets(y)
    a = np.abs(np.atleast_1d(y))
    sign = np.sign(np.atleast_1d(y))
    L = depth
    if L == 1:
        out = np.atleast_1d(y) / (1 + lam)
        return _scalar_out(out.reshape(y.shape), y)
    if L == 2:
        out = np.where(a > lam, sign * (a - lam), np.nan)
        return _scalar_out(out.reshape(y.shape), y)
    exists = (a > 0) & (lam <= fold_lambda(a, L))
    a_ok = np.where(exists, a, 1.0)
    lo = ((L - 2) * a_ok / (2 * (L - 1))) ** (1 / L)  # t_fold: maximum of phi
    hi = a_ok ** (1 / L)  # phi(hi) = 0 < lam
    for _ in range(200):  # phi is decreasing on [lo, hi]; 200 halvings reach machine precision
        mid = 0.5 * (lo + hi)
        above = mid ** (L - 2) * (a_ok - mid**L) > lam
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    t = 0.5 * (lo + hi)
    out = np.where(exists, sign * t**L, np.nan)
    return _scalar_out(out.reshape(y.shape), y)


def scalar_minimizer(y: Any, depth: int, lam: float) -> Any:
    r"""Global minimizer :math:`s^*(y)` of the reduced objective ``g`` (with the sign of ``y``).

    :math:`s^* = s_2` (the non-zero branch) when :math:`\lambda < \lambda^*(y, L)`, else 0.
    Exactly on the exceptional set :math:`\lambda = \lambda^*` both 0 and :math:`s_2` are global
    minimizers (for :math:`L \ge 3`); this function returns 0 there.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    y = _as_targets(y)
    if depth == 1:
        return nonzero_branch(y, 1, lam)
    survive = lam < np.asarray(critical_lambda(y, depth))
    branch = np.asarray(nonzero_branch(np.where(survive, y, 0.0), depth, lam))
    out = np.where(survive & np.isfinite(branch), branch, 0.0)
    return _scalar_out(out, y)


def reduced_objective(s: Any, y: Any, depth: int, lam: float) -> Any:
    r"""The scalar objective :math:`g(s) = \frac12 (s-y)^2 + \frac{\lambda L}{2} \lvert s \rvert^{2/L}`."""
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    s = as_real_array(s, "s")
    y = _as_targets(y)
    out = 0.5 * (s - y) ** 2 + 0.5 * lam * depth * np.abs(s) ** (2 / depth)
    return _scalar_out(out, out)


def _check_target_matrix(Y: Any) -> np.ndarray:
    Y = as_real_array(Y, "Y")
    if Y.ndim != 2 or 0 in Y.shape:
        raise ValueError(f"Y must be a non-empty 2-D matrix, got shape {Y.shape}")
    return Y


def end_to_end_minimizer(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> np.ndarray:
    r"""End-to-end minimizer :math:`M^* = U \operatorname{diag}(s^*(\sigma_i)) V^\top` via one SVD.

    Each singular value :math:`\sigma_i` of :math:`Y = U \Sigma V^\top` is mapped by
    :func:`scalar_minimizer`. With hidden ``widths`` :math:`(d_1, \dots, d_{L-1})` the rank is capped
    at :math:`r = \min_l d_l`: only the :math:`r` largest surviving values are kept (the gain
    :math:`g(0) - g(s^*(\sigma))` increases with :math:`\sigma`).
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = _check_target_matrix(Y)
    U, sigma, Vt = np.linalg.svd(Y, full_matrices=False)
    s = np.asarray(scalar_minimizer(sigma, depth, lam), dtype=np.float64).reshape(sigma.shape)
    if widths is not None:
        rank_cap = min(check_widths(widths, depth)) if depth > 1 else len(s)
        s[rank_cap:] = 0.0
    return (U * s) @ Vt


def matrix_objective(M: Any, Y: Any, depth: int, lam: float) -> float:
    r"""The reduced matrix objective :math:`\frac12\lVert M-Y\rVert_F^2 + \frac{\lambda L}{2}\sum_i \sigma_i(M)^{2/L}`.

    Its minimum over :math:`M` equals the minimum of the layered objective :func:`loss` (the
    variational Schatten-:math:`2/L` form of the weight-decay penalty).
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = _check_target_matrix(Y)
    M = as_real_array(M, "M")
    if M.shape != Y.shape:
        raise ValueError(f"M must have the shape of Y {Y.shape}, got {M.shape}")
    sigma = np.linalg.svd(M, compute_uv=False)
    # round-off singular values (~1e-16) would add ~1e-11 through the power 2/L < 1: drop them
    sigma = sigma[sigma > max(M.shape) * np.finfo(np.float64).eps * (sigma[0] if sigma.size else 0.0)]
    return float(0.5 * np.sum((M - Y) ** 2) + 0.5 * lam * depth * np.sum(sigma ** (2 / depth)))


def optimal_value(Y: Any, depth: int, lam: float, widths: Sequence[int] | None = None) -> float:
    r"""Closed-form minimum of the layered objective: :math:`\sum_i g_{\sigma_i}(s_i^*)` over the target's singular values.

    Singular values cut by a bottleneck width contribute :math:`\sigma_i^2/2`; computed from the
    scalar minimizers directly, so no round-off singular value enters the power :math:`2/L`.
    """
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    Y = _check_target_matrix(Y)
    sigma = np.linalg.svd(Y, compute_uv=False)
    s = np.abs(np.asarray(scalar_minimizer(sigma, depth, lam), dtype=np.float64).reshape(sigma.shape))
    if widths is not None and depth > 1:
        s[min(check_widths(widths, depth)) :] = 0.0
    return float(np.sum(reduced_objective(s, sigma, depth, lam)))


def balanced_ray_loss(t: Any, y: float, depth: int, lam: float) -> Any:
    r"""Scalar objective along the balanced ray :math:`w_l = t`: :math:`h(t) = \frac12(t^L - y)^2 + \frac{\lambda L}{2} t^2`."""
    depth = check_depth(depth)
    lam = check_positive(lam, "lam")
    t = as_real_array(t, "t")
    y = float(as_real_array(y, "y", ndim=0))
    out = 0.5 * (t**depth - y) ** 2 + 0.5 * lam * depth * t**2
    return _scalar_out(out, t)


def _check_weights(weights: Any, Y: np.ndarray | None = None) -> list[np.ndarray]:
    layers = as_layers(weights)
    check_chain([w.shape for w in layers], None if Y is None else Y.shape)
    return layers


def _chain(layers: Sequence[np.ndarray], identity_size: int) -> np.ndarray:
    out = np.eye(identity_size)
    for w in layers:
        out = w @ out
    return out


def end_to_end(weights: Sequence[Any]) -> np.ndarray:
    r"""The end-to-end matrix :math:`M = W_L \cdots W_1`."""
    layers = _check_weights(weights)
    return _chain(layers, layers[0].shape[1])


def loss(weights: Sequence[Any], Y: Any, lam: float) -> float:
    r"""The layered objective :math:`f(W) = \frac12\lVert W_{L:1} - Y\rVert_F^2 + \frac{\lambda}{2}\sum_l \lVert W_l\rVert_F^2`."""
    lam = check_positive(lam, "lam")
    Y = _check_target_matrix(Y)
    layers = _check_weights(weights, Y)
    residual = _chain(layers, Y.shape[1]) - Y
    return float(0.5 * np.sum(residual**2) + 0.5 * lam * sum(np.sum(w**2) for w in layers))


def gradient(weights: Sequence[Any], Y: Any, lam: float) -> list[np.ndarray]:
    r"""Gradient :math:`\nabla_{W_l} f = W_{L:l+1}^\top R\, W_{l-1:1}^\top + \lambda W_l`, :math:`R = W_{L:1} - Y`."""
    lam = check_positive(lam, "lam")
    Y = _check_target_matrix(Y)
    layers = _check_weights(weights, Y)
    residual = _chain(layers, Y.shape[1]) - Y
    grads = []
    for idx, w in enumerate(layers):
        below = _chain(layers[:idx], Y.shape[1])  # W_{l-1:1}
        above = _chain(layers[idx + 1 :], w.shape[0])  # W_{L:l+1}
        grads.append(above.T @ residual @ below.T + lam * w)
    return grads


def balanced_factors(M: Any, depth: int, widths: Sequence[int] | None = None) -> list[np.ndarray]:
    r"""Balanced layers :math:`W_L, \dots, W_1` with :math:`W_{L:1} = M` and minimal :math:`\sum_l\lVert W_l\rVert_F^2`.

    With :math:`M = U \operatorname{diag}(s) V^\top` of rank :math:`r`:
    :math:`W_1 = \bigl[\begin{smallmatrix} S^{1/L} V^\top \\ 0\end{smallmatrix}\bigr]`,
    :math:`W_l = \operatorname{diag}(S^{1/L}, 0)` for hidden layers and
    :math:`W_L = [\,U S^{1/L}\;0\,]`, so every layer has singular values :math:`s_i^{1/L}` and
    :math:`\lVert W_l\rVert_F^2 = \sum_i s_i^{2/L}`. Default hidden widths: :math:`\min(d_0, d_L)`.
    """
    depth = check_depth(depth)
    M = _check_target_matrix(M).copy()
    d_out, d_in = M.shape
    if widths is None:
        widths = (min(d_out, d_in),) * (depth - 1)
    widths = check_widths(widths, depth)
    dims = (d_in, *widths, d_out)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    rank = int(np.sum(s > s[0] * 1e-14)) if s.size and s[0] > 0 else 0
    if depth > 1 and rank > min(widths):
        raise ValueError(f"M has rank {rank}, more than the narrowest hidden width {min(widths)}")
    root = s[:rank] ** (1 / depth)
    layers = []
    for idx in range(depth):
        w = np.zeros((dims[idx + 1], dims[idx]))
        left = U[:, :rank] if idx == depth - 1 else np.eye(dims[idx + 1], rank)
        right = Vt[:rank] if idx == 0 else np.eye(rank, dims[idx])
        w += (left * root) @ right
        layers.append(w)
    return layers


def scalar_parameter_minimizers(y: float, depth: int, lam: float) -> np.ndarray:
    r"""Every global minimizer :math:`(w_1, \dots, w_L)` of the scalar problem, one per row.

    Off the exceptional set: the origin when :math:`s^* = 0`; otherwise the
    :math:`2^{L-1}` sign patterns :math:`w_l = \pm t` with :math:`t = \lvert s^*\rvert^{1/L}` and
    :math:`\operatorname{sign}(\prod_l w_l) = \operatorname{sign}(y)` (flipping an even number of
    signs is a symmetry of :math:`f`).
    """
    depth = check_depth(depth)
    s = float(scalar_minimizer(float(as_real_array(y, "y", ndim=0)), depth, lam))
    if s == 0.0:
        return np.zeros((1, depth))
    t = abs(s) ** (1 / depth)
    signs = 1 - 2 * ((np.arange(2**depth)[:, None] >> np.arange(depth)) & 1)  # all 2^L sign vectors
    keep = np.prod(signs, axis=1) == np.sign(s)
    return t * signs[keep].astype(np.float64)


def random_hidden_rotations(weights: Sequence[Any], seed: int) -> list[np.ndarray]:
    """Haar-random orthogonal matrices :math:`Q_1, \\dots, Q_{L-1}`, one per hidden width."""
    layers = _check_weights(weights)
    rng = np.random.default_rng(check_count(seed, "seed", minimum=0))
    return [ortho_group.rvs(w.shape[0], random_state=rng) if w.shape[0] > 1 else np.ones((1, 1))
            for w in layers[:-1]]


def rotate_hidden(weights: Sequence[Any], rotations: Sequence[Any]) -> list[np.ndarray]:
    r"""Apply :math:`W_l \mapsto Q_l W_l Q_{l-1}^\top` (:math:`Q_0 = I`, :math:`Q_L = I`).

    These maps leave the end-to-end matrix, every :math:`\lVert W_l\rVert_F` and therefore
    :math:`f` unchanged; they move a minimizer along its orbit of minimizers.
    """
    layers = _check_weights(weights)
    if len(rotations) != len(layers) - 1:
        raise ValueError(f"rotations must have {len(layers) - 1} entries (one per hidden layer), got {len(rotations)}")
    qs = [as_real_array(q, f"rotations[{i}]", ndim=2) for i, q in enumerate(rotations)]
    for i, q in enumerate(qs):
        n = layers[i].shape[0]
        if q.shape != (n, n) or not np.allclose(q.T @ q, np.eye(n), atol=1e-10):
            raise ValueError(f"rotations[{i}] must be an orthogonal {n}x{n} matrix")
    full = [np.eye(layers[0].shape[1]), *qs, np.eye(layers[-1].shape[0])]
    return [full[i + 1] @ w @ full[i].T for i, w in enumerate(layers)]


def gradient_descent(
    weights: Sequence[Any], Y: Any, lam: float, lr: float, steps: int, record_every: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    r"""Plain gradient descent :math:`W_l \leftarrow W_l - \eta \nabla_{W_l} f`.

    Returns the final layers and a history array with one row per recorded step:
    ``(step, f, ||W_{L:1}||_2)``.
    """
    lam = check_positive(lam, "lam")
    lr = check_positive(lr, "lr")
    steps = check_count(steps, "steps", minimum=0)
    record_every = check_count(record_every, "record_every")
    Y = _check_target_matrix(Y)
    layers = [w.copy() for w in _check_weights(weights, Y)]
    history = []
    for step in range(steps + 1):
        if step % record_every == 0 or step == steps:
            M = _chain(layers, Y.shape[1])
            value = 0.5 * np.sum((M - Y) ** 2) + 0.5 * lam * sum(np.sum(w**2) for w in layers)
            history.append((step, value, np.linalg.norm(M, 2)))
            if not np.isfinite(value):
                raise FloatingPointError(f"gradient descent diverged at step {step}; lower lr")
        if step < steps:
            grads = gradient(layers, Y, lam)
            layers = [w - lr * g for w, g in zip(layers, grads, strict=False)]
    return layers, np.asarray(history)
