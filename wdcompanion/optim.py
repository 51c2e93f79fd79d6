r"""Optimizers not in ``torch.optim``: Lion (Chen et al., 2023) and rotational variants (Kosson et al., 2024).

Lion with decoupled weight decay, per parameter :math:`w` with momentum :math:`m`:

.. math::

    c = \beta_1 m + (1 - \beta_1) g, \qquad
    w \leftarrow (1 - \eta\lambda)\, w - \eta\, \operatorname{sign}(c), \qquad
    m \leftarrow \beta_2 m + (1 - \beta_2) g .
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ._validation import check_nonnegative, check_positive

__all__ = ["Lion", "RotationalWrapper", "rotation_target"]


def _evaluate(closure: Callable[[], float] | None) -> float | None:
    """The loss from ``closure`` (re-evaluated with gradients enabled), as ``torch.optim`` optimizers do."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


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
        loss = _evaluate(closure)
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


_INNER = ("adamw", "adam", "sgdm", "lion")
_TINY = 1e-30  # guards divisions by a zero norm (a dead neuron stays zero)


def rotation_target(inner: str, lr: float, weight_decay: float, *, betas: tuple[float, float] = (0.9, 0.999),
                    momentum: float = 0.9) -> float:
    r"""The equilibrium angular update per step :math:`\hat\eta_r` that a rotational variant enforces.

    * ``"adamw"``: :math:`\sqrt{2\eta\lambda(1-\beta_1)/(1+\beta_1)}`;
    * ``"sgdm"``: :math:`\sqrt{2\eta\lambda/(1+\alpha)}`;
    * ``"lion"``: :math:`\sqrt{\pi/2}\,\sqrt{2\eta\lambda}\,\gamma`,
      :math:`\gamma = \sqrt{(1-\beta_1)^2 + \beta_1^2(1-\beta_2)/(1+\beta_2)}`.

    Written here on its own (not imported from :mod:`wdcompanion.rotation`) so that the claim
    compares the wrapper's rotation with an independently coded prediction.
    """
    lr, weight_decay = check_positive(lr, "lr"), check_positive(weight_decay, "weight_decay")
    base = math.sqrt(2 * lr * weight_decay)
    if inner == "adamw":
        return base * math.sqrt((1 - betas[0]) / (1 + betas[0]))
    if inner == "sgdm":
        return base / math.sqrt(1 + momentum)
    if inner == "lion":
        b1, b2 = betas
        return math.sqrt(math.pi / 2) * base * math.sqrt((1 - b1) ** 2 + b1**2 * (1 - b2) / (1 + b2))
    raise ValueError(f"target must be one of ('adamw', 'sgdm', 'lion'), got {inner!r}")


class RotationalWrapper(torch.optim.Optimizer):
    r"""Rotational variant (RV) of an optimizer: every neuron rotates by :math:`\hat\eta_r` per step, at fixed norm.

    Kosson, Messmer & Jaggi (2024), Algorithm 1, written from its description. A *rotational*
    parameter has at least two dimensions and a non-zero ``weight_decay`` in its group (override
    with the group key ``rotational``); each of its rows (conv filters flattened) is a neuron
    :math:`w` (``per_neuron=False``: the whole tensor is one). Per step, with :math:`u` the inner
    optimizer's update direction for the gradient alone (its weight decay is radial and dropped):

    .. math::

        u &\leftarrow u - w\,\langle u, w\rangle / n^2, \qquad u \leftarrow u - \bar u \ \text{(if zero\_mean)},\\
        \nu &\leftarrow \beta_u \nu + (1-\beta_u)\lVert u\rVert^2, \qquad
        \bar\nu = \sqrt{\nu/(1-\beta_u^t)},\\
        w &\leftarrow w - \hat\eta_r\, n\, u/(\bar\nu + \epsilon), \qquad w \leftarrow n\, w/\lVert w\rVert,

    where :math:`n` is the neuron's norm, stored at its first step (after centring it when
    ``zero_mean``: :math:`w \leftarrow n\,(w - \bar w)/\lVert w - \bar w\rVert`), and
    :math:`\hat\eta_r` is :func:`rotation_target` at the group's current learning rate (so schedulers
    apply). Every other parameter gets exactly the inner optimizer's step, weight decay included.

    ``inner`` is ``"adamw"`` (``torch.optim.AdamW``), ``"adam"`` (``torch.optim.Adam``, L2 in the
    gradient; needs ``target``, e.g. ``"adamw"`` for the paper's "wrapped Adam + L2"), ``"sgdm"``
    (``torch.optim.SGD`` with momentum) or ``"lion"`` (:class:`Lion`), with the same hyperparameters.
    For the rotational parameters it steps zero-initialized shadows (copies of the weights for
    Adam + L2, whose L2 term enters the moments), so its step is :math:`-\eta u` without weight decay.
    """

    def __init__(self, params: Iterable[Any], inner: str = "adamw", lr: float = 1e-3, weight_decay: float = 1e-2, *,
                 betas: tuple[float, float] | None = None, momentum: float = 0.9, eps: float = 1e-8,
                 update_norm_decay: float = 0.9, per_neuron: bool = True, zero_mean: bool = True,
                 target: str | None = None, rotational_eps: float = 1e-8, foreach: bool | None = None):
        if inner not in _INNER:
            raise ValueError(f"inner must be one of {_INNER}, got {inner!r}")
        target = target if target is not None else (None if inner == "adam" else inner)
        if target is None:
            raise ValueError("inner='adam' (Adam + L2) has no equilibrium angle of its own: pass target='adamw'")
        if target not in ("adamw", "sgdm", "lion"):
            raise ValueError(f"target must be one of ('adamw', 'sgdm', 'lion'), got {target!r}")
        check_positive(lr, "lr")
        check_nonnegative(weight_decay, "weight_decay")
        check_positive(eps, "eps")
        check_positive(rotational_eps, "rotational_eps")
        betas = (0.9, 0.99) if betas is None and inner == "lion" else (0.9, 0.999) if betas is None else tuple(betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not 0.0 <= update_norm_decay < 1.0:
            raise ValueError(f"update_norm_decay must be in [0, 1), got {update_norm_decay!r}")
        for flag, name in ((per_neuron, "per_neuron"), (zero_mean, "zero_mean")):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        self.inner_name = inner
        self._foreach = foreach
        defaults = dict(lr=lr, weight_decay=weight_decay, betas=betas, momentum=momentum, eps=eps,
                        update_norm_decay=update_norm_decay, per_neuron=per_neuron, zero_mean=zero_mean,
                        target=target, rotational_eps=rotational_eps)
        self._shadows: dict[torch.Tensor, torch.Tensor] = {}
        self._buffers: dict[tuple, torch.Tensor] = {}
        self.inner: torch.optim.Optimizer | None = None
        super().__init__(params, defaults)
        self.inner = self._make_inner([
            self._inner_hyperparameters(group) | {"params": [self._shadows.setdefault(p, torch.zeros_like(
                p, memory_format=torch.contiguous_format)) if self._is_rotational(p, group) else p for p in group["params"]]}
            for group in self.param_groups])
        self._center_neurons()

    @torch.no_grad()
    def _center_neurons(self) -> None:
        """With ``zero_mean``, centre every neuron once at construction, keeping its norm."""
        for group in self.param_groups:
            if not group["zero_mean"]:
                continue
            for p in group["params"]:
                if p in self._shadows:
                    w = p.reshape(p.shape[0] if group["per_neuron"] else 1, -1)
                    centred = w - w.mean(dim=1, keepdim=True)
                    scale = w.norm(dim=1, keepdim=True) / centred.norm(dim=1, keepdim=True).clamp_min(_TINY)
                    p.copy_((centred * scale).view_as(p))

    # -- construction -------------------------------------------------------------------------------
    @staticmethod
    def _is_rotational(p: torch.Tensor, group: dict) -> bool:
        return bool(group.get("rotational", p.ndim >= 2 and group["weight_decay"] != 0))

    def _inner_hyperparameters(self, group: dict) -> dict:
        keys = {"adamw": ("betas", "eps"), "adam": ("betas", "eps"), "lion": ("betas",), "sgdm": ("momentum",)}
        return {"lr": group["lr"], "weight_decay": group["weight_decay"]} | {k: group[k] for k in keys[self.inner_name]}

    def _make_inner(self, groups: list[dict]) -> torch.optim.Optimizer:
        first = groups[0]
        if self.inner_name == "adamw":
            return torch.optim.AdamW(groups, lr=first["lr"], foreach=self._foreach)
        if self.inner_name == "adam":
            return torch.optim.Adam(groups, lr=first["lr"], foreach=self._foreach)
        if self.inner_name == "sgdm":
            return torch.optim.SGD(groups, lr=first["lr"], momentum=first["momentum"], foreach=self._foreach)
        return Lion(groups, lr=first["lr"])

    def add_param_group(self, param_group: dict) -> None:
        """Used by the constructor only: the inner optimizer's groups mirror the wrapper's, fixed at construction."""
        if getattr(self, "inner", None) is not None:
            raise NotImplementedError("RotationalWrapper does not support add_param_group after construction")
        super().add_param_group(param_group)

    # -- stepping -----------------------------------------------------------------------------------
    def _sync_hyperparameters(self) -> None:
        for group, inner in zip(self.param_groups, self.inner.param_groups, strict=True):
            inner.update(self._inner_hyperparameters(group))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = _evaluate(closure)
        self._sync_hyperparameters()
        rotating = []
        for group in self.param_groups:
            for p in group["params"]:
                if p in self._shadows:
                    shadow = self._shadows[p]
                    shadow.grad = p.grad
                    if p.grad is not None:
                        rotating.append((p, shadow, group))
        if rotating:
            params, shadows = [p for p, _, _ in rotating], [s for _, s, _ in rotating]
            if self.inner_name == "adam":  # the L2 term needs the weights themselves
                torch._foreach_copy_(shadows, params)
            else:
                torch._foreach_zero_(shadows)
        self.inner.step()
        batches: dict[tuple, list] = {}
        for p, shadow, group in rotating:
            step = shadow.sub_(p) if self.inner_name == "adam" else shadow  # the inner step, -lr * u
            batches.setdefault((p.device, p.dtype), []).append((p, step, group))
            shadow.grad = None
        for batch in batches.values():
            self._rotate(batch)
        return loss

    def _rotate(self, batch: list[tuple[torch.Tensor, torch.Tensor, dict]]) -> None:
        r"""Rotate the neurons of every ``(p, d, group)`` along the inner optimizer's step ``d = -lr u``.

        The step is projected in place, :math:`d_\perp = d - w\langle d, w\rangle/\lVert w\rVert^2 - \bar d`
        (orthogonal to :math:`w` and, as :math:`w` is centred, to the constant vector).
        :math:`w \leftarrow n\,(w + s d_\perp)/\lVert w + s d_\perp\rVert` with
        :math:`s = \hat\eta_r n/(\bar\nu + \epsilon)` (in units of :math:`u`) rotates by
        :math:`\arctan(\hat\eta_r\lVert u_\perp\rVert/(\bar\nu+\epsilon)) \approx \hat\eta_r` and keeps the norm.
        The per-neuron arithmetic runs once on the rows of all tensors of the batch.
        """
        ws, ds, rows, constants, w_sqs, d_sqs, norms, avgs = [], [], [], [], [], [], [], []
        for p, d, group in batch:
            n_rows = p.shape[0] if group["per_neuron"] else 1
            w = p.view(n_rows, -1) if p.is_contiguous() else p.reshape(n_rows, -1).clone()
            d = d.view(n_rows, -1)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["norm"] = torch.linalg.vector_norm(w, dim=1, keepdim=True)
                state["update_sq_avg"] = torch.zeros_like(state["norm"])
            state["step"] += 1
            # (linalg.vecdot is several times slower than mul + sum on CPU in torch 2.13; a reused
            # buffer avoids page faults on fresh temporaries)
            w_sq = torch.linalg.vector_norm(w, dim=1, keepdim=True).square_().clamp_min_(_TINY)
            radial = torch.mul(d, w, out=self._workspace(w)).sum(dim=1, keepdim=True).div_(w_sq)
            d.addcmul_(w, radial, value=-1)
            if group["zero_mean"]:
                d.sub_(d.mean(dim=1, keepdim=True))
            d_sqs.append(torch.linalg.vector_norm(d, dim=1, keepdim=True).square_())
            decay = group["update_norm_decay"]
            constants.append((decay, 1 / (1 - decay ** state["step"]), self._target_angle(group),
                              group["rotational_eps"], 1 / group["lr"] if group["lr"] > 0 else 0.0))
            ws.append(w)
            ds.append(d)
            rows.append(n_rows)
            w_sqs.append(w_sq)
            norms.append(state["norm"])
            avgs.append(state["update_sq_avg"])
        w_sq, d_sq, norm, avg = (torch.cat(values) for values in (w_sqs, d_sqs, norms, avgs))
        per_row = torch.tensor(constants, dtype=w_sq.dtype, device=w_sq.device)
        decay, correction, angle, eps, inv_lr = (
            column.unsqueeze(1) for column in per_row.repeat_interleave(torch.tensor(rows, device=w_sq.device), dim=0).T)
        avg = avg * decay + d_sq * inv_lr.square() * (1 - decay)  # of ||u||^2, u = -d / lr
        s = norm * angle * inv_lr / ((avg * correction).sqrt_() + eps)
        for p, w, d, avg_p, s_p, norm_p in zip((p for p, _, _ in batch), ws, ds, avg.split(rows), s.split(rows),
                                               norm.split(rows), strict=True):
            self.state[p]["update_sq_avg"].copy_(avg_p)
            self._project(w.addcmul_(d, s_p), norm_p)
            if not p.is_contiguous():
                p.copy_(w.view_as(p))

    @staticmethod
    def _project(w: torch.Tensor, norm: torch.Tensor) -> None:
        """Scale each row of ``w`` back to its stored norm, in place."""
        # the norm is measured, not taken as ||w||^2 + s^2 ||d_perp||^2: when the inner step is almost
        # radial, rounding leaves d_perp not quite orthogonal to w
        w.mul_(norm / torch.linalg.vector_norm(w, dim=1, keepdim=True).clamp_min_(_TINY))

    def _workspace(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < like.numel():
            buffer = self._buffers[key] = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
        return buffer[: like.numel()].view_as(like)

    @staticmethod
    def _target_angle(group: dict) -> float:
        return rotation_target(group["target"], group["lr"], group["weight_decay"], betas=group["betas"],
                               momentum=group["momentum"])

    # -- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The wrapper's state (stored norms, update-norm averages) and the inner optimizer's, nested."""
        state = super().state_dict()
        state["inner"] = self.inner.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (stored norms and averages, and the inner optimizer's state)."""
        state_dict = dict(state_dict)
        if "inner" not in state_dict:
            raise ValueError("state_dict has no 'inner' entry: it was not saved by a RotationalWrapper")
        self.inner.load_state_dict(state_dict.pop("inner"))
        super().load_state_dict(state_dict)
