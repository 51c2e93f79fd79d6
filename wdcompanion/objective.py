r"""The layered DMF objective in torch, batched over starts: the one torch home of
:math:`f(W) = \frac12\lVert W_L\cdots W_1 - Y\rVert_F^2 + \frac\lambda2\sum_l\lVert W_l\rVert_F^2`.

Multistart minimization (:mod:`wdcompanion.multistart`) calls it on batches of starts; the Hessians
and Hessian-vector products of :mod:`wdcompanion.curvature` differentiate it (``torch.func``) as a
batch of one. The numpy reference is :func:`wdcompanion.dmf.loss`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._validation import as_real_array, check_positive

__all__ = ["DMFObjective", "dmf_objective", "unflatten"]


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
        layers = unflatten(x, shapes)
        prefix = [layers[0]]  # W_{l:1}
        for w in layers[1:]:
            prefix.append(torch.bmm(w, prefix[-1]))
        residual = prefix[-1] - self.target.to(x.device)
        flat_residual = residual.reshape(x.shape[0], -1)
        value = 0.5 * (flat_residual.norm(dim=1) ** 2 + self.lam * x.norm(dim=1) ** 2)
        grads = [None] * len(layers)
        upstream = residual  # W_{L:l+1}^T R, built from the top layer down
        for l in range(len(layers) - 1, 0, -1):
            grads[l] = torch.baddbmm(layers[l], upstream, prefix[l - 1].transpose(1, 2), beta=self.lam)
            upstream = torch.bmm(layers[l].transpose(1, 2), upstream)
        grads[0] = torch.add(upstream, layers[0], alpha=self.lam)
        grad = torch.cat([g.reshape(x.shape[0], -1) for g in grads], dim=1)
        return value, grad


def dmf_objective(Y: np.ndarray | torch.Tensor, lam: float) -> DMFObjective:
    """The batched DMF objective for target ``Y`` and weight decay ``lam`` (see :class:`DMFObjective`)."""
    return DMFObjective(Y, lam)


def unflatten(x: torch.Tensor, shapes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """Split flat parameters ``x`` of shape ``(B, N)`` into layers of shape ``(B, rows, cols)``, one per ``shapes``."""
    layers, offset = [], 0
    for rows, cols in shapes:
        layers.append(x[:, offset : offset + rows * cols].reshape(-1, rows, cols))
        offset += rows * cols
    return layers
