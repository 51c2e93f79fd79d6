r"""Hessians of the layered DMF objective with ``torch.func`` (float64).

The Hessian is taken with respect to the flat parameter vector
:math:`\theta = (\operatorname{vec} W_1, \dots, \operatorname{vec} W_L)` (row-major ``vec``), of
length :math:`N = \sum_l d_l d_{l-1}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.func import hessian, vmap

from ._validation import as_real_array, check_positive

__all__ = ["dmf_hessian", "dmf_hessian_batch"]


def _layered_value(theta: torch.Tensor, shapes: Sequence[tuple[int, int]], target: torch.Tensor, lam: float):
    offset, product = 0, None
    penalty = theta.new_zeros(())
    for rows, cols in shapes:
        w = theta[offset : offset + rows * cols].reshape(rows, cols)
        offset += rows * cols
        product = w if product is None else w @ product
        penalty = penalty + (w * w).sum()
    return 0.5 * ((product - target) ** 2).sum() + 0.5 * lam * penalty


def _shapes_and_target(shapes: Sequence[tuple[int, int]], Y: Any) -> tuple[list[tuple[int, int]], torch.Tensor]:
    Y = as_real_array(Y, "Y", ndim=2)
    shapes = [tuple(int(v) for v in s) for s in shapes]
    for i in range(1, len(shapes)):
        if shapes[i][1] != shapes[i - 1][0]:
            raise ValueError(f"weights do not chain at layer {i}")
    if (shapes[-1][0], shapes[0][1]) != Y.shape:
        raise ValueError(f"weights map R^{shapes[0][1]} to R^{shapes[-1][0]} but Y has shape {Y.shape}")
    return shapes, torch.as_tensor(Y)


def dmf_hessian(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessian :math:`\nabla^2 f(\theta)` (shape ``(N, N)``) at the layers ``weights``."""
    lam = check_positive(lam, "lam")
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise TypeError("weights must be a non-empty sequence of 2-D arrays (W_1, ..., W_L)")
    layers = [as_real_array(w, f"weights[{i}]", ndim=2) for i, w in enumerate(weights)]
    shapes, target = _shapes_and_target([w.shape for w in layers], Y)
    theta = torch.as_tensor(np.concatenate([w.ravel() for w in layers]))
    return hessian(_layered_value)(theta, shapes, target, lam).numpy()


def dmf_hessian_batch(weights: Sequence[Any], Y: Any, lam: float) -> np.ndarray:
    r"""Dense Hessians at a batch of points: ``weights[l]`` has shape ``(B, d_l, d_{l-1})``; returns ``(B, N, N)``."""
    lam = check_positive(lam, "lam")
    layers = [as_real_array(w, f"weights[{i}]", ndim=3) for i, w in enumerate(weights)]
    if len({w.shape[0] for w in layers}) != 1:
        raise ValueError("every weights[l] must have the same batch size")
    shapes, target = _shapes_and_target([w.shape[1:] for w in layers], Y)
    theta = torch.as_tensor(np.concatenate([w.reshape(w.shape[0], -1) for w in layers], axis=1))
    return vmap(hessian(_layered_value), in_dims=(0, None, None, None))(theta, shapes, target, lam).numpy()
