r"""Optimizers not in ``torch.optim``: Lion (Chen et al., 2023).

Lion with decoupled weight decay, per parameter :math:`w` with momentum :math:`m`:

.. math::

    c = \beta_1 m + (1 - \beta_1) g, \qquad
    w \leftarrow (1 - \eta\lambda)\, w - \eta\, \operatorname{sign}(c), \qquad
    m \leftarrow \beta_2 m + (1 - \beta_2) g .
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from ._validation import check_nonnegative, check_positive

__all__ = ["Lion"]


class Lion(torch.optim.Optimizer):
    """Lion (EvoLved Sign Momentum) with decoupled weight decay, following the ``torch.optim`` API."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        check_positive(lr, "lr")
        check_nonnegative(weight_decay, "weight_decay")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                direction = (beta1 * m + (1 - beta1) * p.grad).sign_()
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(direction, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss
