r"""Optimizers not in ``torch.optim``: Lion (Chen et al., 2023) and rotational variants (Kosson et al., 2024).

Lion with decoupled weight decay, per parameter :math:`w` with momentum :math:`m`:

.. math::

    c = \beta_1 m + (1 - \beta_1) g, \qquad
    w \leftarrow (1 - \eta\lambda)\, w - \eta\, \operatorname{sign}(c), \qquad
    m \leftarrow \beta_2 m + (1 - \beta_2) g .

:class:`RotationalWrapper` is the rotational variant of AdamW, Adam + L2, SGD with momentum or
Lion (Algorithm 1 of Kosson, Messmer & Jaggi), :func:`rotate_neuron` its step for one neuron
written plainly, and :func:`param_groups` the decay grouping of the paper's experiments, for the
wrapper and for ``torch.optim`` optimizers alike.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from ._validation import check_betas, check_nonnegative, check_positive

__all__ = ["Lion", "RotationalWrapper", "rotation_target", "rotate_neuron", "param_groups"]


def _evaluate(closure: Callable[[], float] | None) -> float | None:
    """The loss from ``closure`` (re-evaluated with gradients enabled), as ``torch.optim`` optimizers do."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _check_fraction(value: Any, name: str) -> float:
    """A real number in [0, 1) (a momentum or a decay factor)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


class Lion(torch.optim.Optimizer):
    """Lion (EvoLved Sign Momentum) with decoupled weight decay, following the ``torch.optim`` API."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        check_positive(lr, "lr")
        check_nonnegative(weight_decay, "weight_decay")
        super().__init__(params, dict(lr=lr, betas=check_betas(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        r"""One Lion step of every parameter with a gradient, in place; returns the loss of ``closure`` (or ``None``).

        With gradient :math:`g`, momentum :math:`m`, learning rate :math:`\eta` and weight decay :math:`\lambda`:
        :math:`w \leftarrow (1 - \eta\lambda)\,w - \eta\,\operatorname{sign}(\beta_1 m + (1 - \beta_1) g)`, then
        :math:`m \leftarrow \beta_2 m + (1 - \beta_2) g`. ``closure``, when given, is re-evaluated with gradients
        enabled, as in ``torch.optim``.
        """
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


# -- rotational variants ------------------------------------------------------------------------------
_INNER = ("adamw", "adam", "sgdm", "lion")
_TARGETS = ("adamw", "sgdm", "lion")
# the hyperparameters each inner optimizer uses besides lr and weight_decay (the wrapper's groups hold only these)
_INNER_KEYS = {"adamw": ("betas", "eps"), "adam": ("betas", "eps"), "sgdm": ("momentum",), "lion": ("betas",)}
_TINY = 1e-30  # guards divisions by a zero norm (a dead neuron stays zero)
_CENTRED = 1e-5  # |cos(w, 1)| at or below which a row counts as centred already (left as it is)


def rotation_target(inner: str, lr: float, weight_decay: float, *, betas: tuple[float, float] = (0.9, 0.999),
                    momentum: float = 0.9) -> float:
    r"""The equilibrium angular update per step :math:`\hat\eta_r` that a rotational variant enforces.

    * ``"adamw"``: :math:`\sqrt{2\eta\lambda(1-\beta_1)/(1+\beta_1)}`;
    * ``"sgdm"``: :math:`\sqrt{2\eta\lambda/(1+\alpha)}`;
    * ``"lion"``: :math:`\sqrt{\pi/2}\,\sqrt{2\eta\lambda}\,\gamma`,
      :math:`\gamma = \sqrt{(1-\beta_1)^2 + \beta_1^2(1-\beta_2)/(1+\beta_2)}`.

    ``lr`` may be 0 (a warmup from 0, a schedule that ends at 0): the target is then 0, no rotation.
    ``weight_decay`` must be positive: without it there is no equilibrium to enforce.

    Written here on its own (not imported from :mod:`wdcompanion.rotation`) so that the claim
    compares the wrapper's rotation with an independently coded prediction.
    """
    lr, weight_decay = check_nonnegative(lr, "lr"), check_positive(weight_decay, "weight_decay")
    base = math.sqrt(2 * lr * weight_decay)
    if inner == "adamw":
        return base * math.sqrt((1 - betas[0]) / (1 + betas[0]))
    if inner == "sgdm":
        return base / math.sqrt(1 + momentum)
    if inner == "lion":
        b1, b2 = betas
        return math.sqrt(math.pi / 2) * base * math.sqrt((1 - b1) ** 2 + b1**2 * (1 - b2) / (1 + b2))
    raise ValueError(f"target must be one of {_TARGETS}, got {inner!r}")


def rotate_neuron(w: torch.Tensor, u: torch.Tensor, *, norm: float | torch.Tensor, update_sq_avg: float | torch.Tensor,
                  step: int, angle: float, update_norm_decay: float = 0.9, rotational_eps: float = 1e-8,
                  zero_mean: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One rotational step of one neuron, unbatched: the readable reference of :class:`RotationalWrapper`.

    ``w`` is the neuron (1-D, norm ``norm``, centred if ``zero_mean``), ``u`` the inner optimizer's
    update direction (its step is :math:`-\eta u`), ``update_sq_avg`` the average :math:`\nu` before
    this step, ``step`` the step's number :math:`t` (from 1) and ``angle`` the target
    :math:`\hat\eta_r`. Returns the new neuron and the new :math:`\nu`; nothing is modified in place.
    The wrapper's fast step computes the same, batched over all neurons at once.
    """
    u = u - w * torch.dot(u, w) / norm**2  # the radial part: w has the stored norm
    if zero_mean:
        u = u - u.mean()  # keep the neuron centred
    avg = update_norm_decay * update_sq_avg + (1 - update_norm_decay) * torch.dot(u, u)
    if angle == 0:  # lr = 0: the average learns, the neuron stays
        return w, avg
    rms = torch.sqrt(avg / (1 - update_norm_decay**step))
    w = w - angle * norm * u / (rms + rotational_eps)
    return norm * w / torch.linalg.vector_norm(w), avg


def _rows(t: torch.Tensor, per_neuron: bool) -> torch.Tensor:
    """``t`` as a matrix whose rows are its neurons: a view when ``t`` is contiguous, else a copy."""
    shape = (t.shape[0] if per_neuron and t.ndim > 0 else 1, -1)
    return t.view(shape) if t.is_contiguous() else t.reshape(shape)


class RotationalWrapper(torch.optim.Optimizer):
    r"""Rotational variant (RV) of an optimizer: every neuron rotates by :math:`\hat\eta_r` per step, at fixed norm.

    Kosson, Messmer & Jaggi (2024), Algorithm 1, written from its description; a drop-in
    ``torch.optim.Optimizer`` (schedulers, ``state_dict``, ``add_param_group``, hooks, gradient
    clipping, ``torch.compile``).

    **Which parameters rotate.** A parameter is *rotational* when it requires grad, has at least two
    dimensions and its group has a non-zero ``weight_decay``; the group key ``rotational`` (a bool)
    overrides the rule, except that a parameter with ``requires_grad=False`` is never rotational and
    never touched. This is decided when the group is added (:meth:`is_rotational` tells). Each row of
    a rotational parameter (a conv filter flattened) is a neuron :math:`w` of fan-in :math:`C`
    (``per_neuron=False``: the whole tensor is one). Every other parameter gets exactly the inner optimizer's step, weight decay included.
    :func:`param_groups` builds the usual grouping (no decay, hence no rotation, for gains and
    biases; a read-out layer decayed but not rotational).

    **Centring** (``zero_mean=True``, the paper's default, emulating Weight Standardization): part of
    the algorithm, it changes the weights once. When a group is added, and again at a neuron's first
    step if its weights were replaced since, every rotational neuron is centred at fixed norm,

    .. math::

        w \leftarrow \lVert w\rVert\, c(w)/\lVert c(w)\rVert, \qquad c(w) = w - \bar w\,\mathbf 1 .

    A neuron already centred to rounding (:math:`|\langle w, \mathbf 1\rangle| \le 10^{-5}\,\lVert w\rVert\sqrt C`,
    as every neuron this wrapper has stepped is) is left exactly as it is, so that a wrapper built on
    a model restored from a checkpoint does not change its weights.

    **Refused neurons.** A neuron that cannot rotate raises ``ValueError`` naming the parameter (its
    name when the group has ``param_names``, else its index in its group, with its shape): fan-in 1
    (its sphere is two points; an ``nn.Linear(1, n)`` weight), a neuron with zero norm (a
    zero-initialized weight has no direction), with ``zero_mean`` a constant neuron (centring would
    zero it), or non-finite weights. Put such a parameter in a group with ``"rotational": False``.
    A rotational group needs ``weight_decay > 0`` (it sets the target angle), also refused.

    **The step.** With :math:`u` the inner optimizer's update direction for the gradient alone
    (AdamW's and SGDM's weight decay is radial, and the projection below drops it; wrapped Adam + L2
    leaves its L2 term out of :math:`u` as described below), :math:`n` the neuron's norm stored at its first step and
    :math:`t` the neuron's step count:

    .. math::

        u &\leftarrow u - w\,\langle u, w\rangle / n^2, \qquad u \leftarrow u - \bar u\,\mathbf 1 \ \text{(if zero\_mean)},\\
        \nu &\leftarrow \beta_u \nu + (1-\beta_u)\lVert u\rVert^2, \qquad
        \bar\nu = \sqrt{\nu/(1-\beta_u^t)},\\
        w &\leftarrow w - \hat\eta_r\, n\, u/(\bar\nu + \epsilon), \qquad w \leftarrow n\, w/\lVert w\rVert,

    with :math:`\hat\eta_r` = :func:`rotation_target` at the group's *current* learning rate, so
    schedulers apply; at ``lr = 0`` the neuron does not move (and :math:`\nu` still learns). It
    rotates by :math:`\arctan(\hat\eta_r\lVert u\rVert/(\bar\nu+\epsilon)) \approx \hat\eta_r`.
    :func:`rotate_neuron` is this step for one neuron, :meth:`reference_step` the whole step written
    with it; :meth:`step` computes the same batched over all neurons.

    **The inner optimizer.** ``inner`` is ``"adamw"`` (``torch.optim.AdamW``), ``"adam"``
    (``torch.optim.Adam``, L2 in the gradient; needs ``target``, e.g. ``"adamw"`` for the paper's
    "wrapped Adam + L2"), ``"sgdm"`` (``torch.optim.SGD`` with momentum) or ``"lion"``
    (:class:`Lion`). The wrapper's defaults and groups hold only the hyperparameters that inner uses
    (``betas`` and ``eps`` for Adam(W), ``betas`` for Lion, ``momentum`` for SGD), so that schedulers
    which cycle momentum (``OneCycleLR``, ``CyclicLR``) find the right key; passing another raises
    ``TypeError``. The attribute ``inner`` (the inner optimizer) holds, for each wrapper group in order, up to two groups (empty
    ones left out): its non-rotational parameters at the group's hyperparameters, and
    zero-initialized shadows of its rotational parameters at ``lr = 1`` without weight decay, whose
    step is then exactly :math:`-u` whatever the schedule. The inner state therefore advances as the
    plain inner optimizer's would, except that the radial weight-decay term of a rotational
    parameter stays out of SGD's momentum (as in the paper). :meth:`inner_state` returns a
    parameter's inner state. ``self.state[p]`` holds the wrapper's own state of a rotational ``p``:
    ``step``, ``norm`` (:math:`n` per neuron) and ``update_sq_avg`` (:math:`\nu` per neuron).

    **Wrapped Adam + L2** (``inner="adam"``), as the paper's code runs it: separate first moments of
    the gradient and of the L2 term, one second moment of their sum. The inner Adam steps the shadow
    on :math:`g + \lambda w`, so its state is plain Adam + L2's (first moment :math:`m = m_g + m_\lambda`,
    second :math:`v`); the wrapper keeps the gradient's own first moment
    :math:`m_g \leftarrow \beta_1 m_g + (1-\beta_1) g` (``self.state[p]["grad_avg"]``, computed as the paper
    does rather than as :math:`m - m_\lambda`, which would lose about :math:`\epsilon_{\mathrm{float}}\,
    |\lambda w| / |g|` of it) and rotates along the gradient's part alone,

    .. math::

        u = \frac{m_g/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}.

    A checkpoint saved before ``grad_avg`` existed (with ``l2_avg``, :math:`m_\lambda`) loads as
    :math:`m_g = m - m_\lambda`; one with neither raises ``ValueError``.

    **Checkpoints.** :meth:`state_dict` nests the inner optimizer's. Resuming reproduces the
    uninterrupted run bit for bit in either order: ``model.load_state_dict``, then the wrapper's
    construction, then its ``load_state_dict`` (the restored neurons are centred already, so
    construction leaves them), or construction first.
    """

    def __init__(self, params: Iterable[Any], inner: str = "adamw", lr: float = 1e-3, weight_decay: float = 1e-2, *,
                 betas: tuple[float, float] | None = None, momentum: float | None = None, eps: float | None = None,
                 update_norm_decay: float = 0.9, per_neuron: bool = True, zero_mean: bool = True,
                 target: str | None = None, rotational_eps: float = 1e-8, foreach: bool | None = None):
        if not isinstance(inner, str) or inner not in _INNER:
            raise ValueError(f"inner must be one of {_INNER}, got {inner!r}")
        target = target if target is not None else (None if inner == "adam" else inner)
        if target is None:
            raise ValueError("inner='adam' (Adam + L2) has no equilibrium angle of its own: pass target='adamw'")
        for name, value in (("betas", betas), ("momentum", momentum), ("eps", eps)):
            if value is not None and name not in _INNER_KEYS[inner]:
                raise TypeError(f"{name} is not a hyperparameter of inner={inner!r}, which uses "
                                f"lr, weight_decay, {', '.join(_INNER_KEYS[inner])}")
        if foreach is not None and not isinstance(foreach, bool):
            raise TypeError(f"foreach must be None or a bool, got {foreach!r}")
        given = {"betas": betas if betas is not None else (0.9, 0.99) if inner == "lion" else (0.9, 0.999),
                 "momentum": 0.9 if momentum is None else momentum, "eps": 1e-8 if eps is None else eps}
        defaults = dict(lr=lr, weight_decay=weight_decay, **{k: given[k] for k in _INNER_KEYS[inner]},
                        update_norm_decay=update_norm_decay, per_neuron=per_neuron, zero_mean=zero_mean,
                        target=target, rotational_eps=rotational_eps)
        self.inner_name = inner
        self._check_hyperparameters(defaults, "")
        if "betas" in defaults:
            defaults["betas"] = check_betas(defaults["betas"])
        self._foreach = foreach
        self._shadows: dict[torch.Tensor, torch.Tensor] = {}
        self._pending: list[dict] = []
        self._inner_index: list[tuple[int | None, int | None]] = []  # per group: its two inner groups, if not empty
        self._buffers: dict[tuple, torch.Tensor] = {}
        self._segments: dict[tuple, torch.Tensor] = {}
        self._layouts: dict[tuple, dict] = {}
        self.inner: torch.optim.Optimizer | None = None
        super().__init__(params, defaults)
        self.inner = self._make_inner(self._pending or [{"params": []}])
        self._pending = []

    # -- groups -------------------------------------------------------------------------------------
    def _check_hyperparameters(self, group: dict, where: str) -> None:
        """Raise ``TypeError``/``ValueError`` naming the first bad hyperparameter of ``group``."""
        check_nonnegative(group["lr"], f"{where}lr")
        check_nonnegative(group["weight_decay"], f"{where}weight_decay")
        if "betas" in _INNER_KEYS[self.inner_name]:
            check_betas(group["betas"], f"{where}betas")
        if "momentum" in _INNER_KEYS[self.inner_name]:
            _check_fraction(group["momentum"], f"{where}momentum")
        if "eps" in _INNER_KEYS[self.inner_name]:
            check_positive(group["eps"], f"{where}eps")
        _check_fraction(group["update_norm_decay"], f"{where}update_norm_decay")
        for key in ("per_neuron", "zero_mean"):
            if not isinstance(group[key], bool):
                raise TypeError(f"{where}{key} must be a bool, got {type(group[key]).__name__}")
        if group["target"] not in _TARGETS:
            raise ValueError(f"{where}target must be one of {_TARGETS}, got {group['target']!r}")
        needs = "momentum" if group["target"] == "sgdm" else "betas"
        if needs not in _INNER_KEYS[self.inner_name]:
            raise ValueError(f"{where}target={group['target']!r} needs {needs}, which inner={self.inner_name!r} "
                             "does not have")
        check_positive(group["rotational_eps"], f"{where}rotational_eps")
        if group.get("rotational") is not None and not isinstance(group["rotational"], bool):
            raise TypeError(f"{where}rotational must be a bool, got {type(group['rotational']).__name__}")

    @staticmethod
    def _is_rotational(p: torch.Tensor, group: dict) -> bool:
        if not p.requires_grad:
            return False
        flag = group.get("rotational")
        return flag if flag is not None else (p.ndim >= 2 and group["weight_decay"] != 0)

    @staticmethod
    def _describe(group: dict, index: int, position: int, p: torch.Tensor) -> str:
        names = group.get("param_names")
        if names is not None:
            return f"parameter {names[position]!r} (shape {tuple(p.shape)})"
        return f"param_groups[{index}]['params'][{position}] (shape {tuple(p.shape)})"

    def add_param_group(self, param_group: dict) -> None:
        """Add a group, as ``torch.optim.Optimizer.add_param_group``; the inner optimizer gets its two groups.

        The group's hyperparameters are checked, its rotational parameters are checked and centred
        (see the class docstring); nothing changes when a check fails.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        index = len(self.param_groups)
        where = f"param_groups[{index}]: "
        unused = sorted(({"betas", "momentum", "eps"} - set(_INNER_KEYS[self.inner_name])) & set(param_group))
        if unused:
            raise ValueError(f"{where}{unused} not used by inner={self.inner_name!r} (it uses "
                             f"{', '.join(_INNER_KEYS[self.inner_name])})")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_hyperparameters(group, where)
            rotational = [(i, p) for i, p in enumerate(group["params"]) if self._is_rotational(p, group)]
            if rotational and group["weight_decay"] == 0:
                raise ValueError(f"{where}a rotational group needs weight_decay > 0 (it sets the target angle); "
                                 "set 'rotational': False for parameters that should not rotate")
            for i, p in rotational:
                self._check_neurons(p, group, self._describe(group, index, i, p))
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise
        if "betas" in group:
            group["betas"] = check_betas(group["betas"])
        for _, p in rotational:
            self._center(p, group)
            self._shadows[p] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        indices = []
        for inner_group in self._inner_groups(group):
            if not inner_group["params"]:
                indices.append(None)
            elif self.inner is None:
                indices.append(len(self._pending))
                self._pending.append(inner_group)
            else:
                indices.append(len(self.inner.param_groups))
                self.inner.add_param_group(inner_group)
        self._inner_index.append((indices[0], indices[1]))

    @torch.compiler.disable  # data-dependent checks, once per parameter: not worth a graph
    @torch.no_grad()
    def _check_neurons(self, p: torch.Tensor, group: dict, name: str) -> None:
        """Raise ``ValueError`` if a neuron of ``p`` cannot rotate (see the class docstring)."""
        if not p.is_floating_point():
            raise ValueError(f"{name}: a rotational parameter must be real floating point, got {p.dtype}")
        rows = _rows(p.detach(), group["per_neuron"])
        if rows.shape[1] < 2:
            raise ValueError(f"{name}: its neurons have fan-in {rows.shape[1]} and cannot rotate; "
                             "put it in a group with 'rotational': False")
        if not bool(torch.isfinite(rows).all()):
            raise ValueError(f"{name}: has non-finite weights")
        norm = torch.linalg.vector_norm(rows, dim=1)
        if group["zero_mean"]:
            spread = torch.linalg.vector_norm(rows - rows.mean(dim=1, keepdim=True), dim=1)
            bad, what = spread <= 64 * torch.finfo(p.dtype).eps * norm, "constant (centring would zero them)"
        else:
            bad, what = norm == 0, "zero (they have no direction)"
        if bool(bad.any()):
            rows_bad = bad.nonzero().flatten().tolist()
            raise ValueError(f"{name}: neurons {rows_bad[:8]}{' ...' if len(rows_bad) > 8 else ''} are {what}; "
                             "initialize them otherwise or put the parameter in a group with 'rotational': False")

    @torch.compiler.disable
    @torch.no_grad()
    def _center(self, p: torch.Tensor, group: dict) -> None:
        r"""With ``zero_mean``, centre every neuron of ``p`` that is not centred yet, keeping its norm."""
        if not group["zero_mean"]:
            return
        rows = _rows(p.detach(), group["per_neuron"])
        total, norm = rows.sum(dim=1, keepdim=True), torch.linalg.vector_norm(rows, dim=1, keepdim=True)
        off = total.abs() > _CENTRED * norm * math.sqrt(rows.shape[1])
        if bool(off.any()):
            centred = rows - total / rows.shape[1]
            scale = norm / torch.linalg.vector_norm(centred, dim=1, keepdim=True).clamp_min(_TINY)
            rows.copy_(torch.where(off, centred * scale, rows))
            if not p.is_contiguous():
                p.copy_(rows.view_as(p))

    def _inner_groups(self, group: dict) -> list[dict]:
        hyper = {key: group[key] for key in _INNER_KEYS[self.inner_name]}
        return [{"params": [p for p in group["params"] if p not in self._shadows], "lr": group["lr"],
                 "weight_decay": group["weight_decay"], **hyper},
                {"params": [self._shadows[p] for p in group["params"] if p in self._shadows], "lr": 1.0,
                 "weight_decay": 0.0, **hyper}]

    def _make_inner(self, groups: list[dict]) -> torch.optim.Optimizer:
        if self.inner_name == "adamw":
            return torch.optim.AdamW(groups, foreach=self._foreach)
        if self.inner_name == "adam":
            return torch.optim.Adam(groups, foreach=self._foreach)
        if self.inner_name == "sgdm":
            return torch.optim.SGD(groups, foreach=self._foreach)
        return Lion(groups)

    def inner_state(self, p: torch.Tensor) -> dict:
        r"""The inner optimizer's state of parameter ``p`` (of its shadow when ``p`` is rotational).

        The keys are the inner optimizer's: ``step``, ``exp_avg``, ``exp_avg_sq`` (AdamW, Adam),
        ``momentum_buffer`` (SGD), ``exp_avg`` (Lion); empty before ``p``'s first step. The moments are
        those of the plain inner optimizer on the same gradients (Adam + L2: on :math:`g + \lambda w`).
        """
        if not any(p is q for group in self.param_groups for q in group["params"]):
            raise ValueError("p is not a parameter of this optimizer")
        return self.inner.state[self._shadows.get(p, p)]

    def is_rotational(self, p: torch.Tensor) -> bool:
        """Whether parameter ``p`` rotates (decided when its group was added, by the rule of the class docstring)."""
        return p in self._shadows

    # -- stepping -----------------------------------------------------------------------------------
    def _sync_hyperparameters(self) -> None:
        keys = _INNER_KEYS[self.inner_name]
        for group, (plain, shadows) in zip(self.param_groups, self._inner_index, strict=True):
            if plain is not None:
                inner = self.inner.param_groups[plain]
                inner["lr"], inner["weight_decay"] = group["lr"], group["weight_decay"]
                inner.update({key: group[key] for key in keys})
            if shadows is not None:
                self.inner.param_groups[shadows].update({key: group[key] for key in keys})

    def _inner_step(self) -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
        """Step the inner optimizer; return ``(p, -u, group)`` for every rotational ``p`` with a gradient."""
        self._sync_hyperparameters()
        rotating = []
        for group in self.param_groups:
            for p in group["params"]:
                shadow = self._shadows.get(p)
                if shadow is not None and p.grad is not None:
                    if not self.state[p]:
                        self._init_state(p, group)
                    rotating.append((p, shadow, group))
                    shadow.grad = p.grad.add(p, alpha=group["weight_decay"]) if self.inner_name == "adam" else p.grad
        if rotating:
            torch._foreach_zero_([shadow for _, shadow, _ in rotating])
        self.inner.step()
        for p, shadow, group in rotating:
            shadow.grad = None
            if self.inner_name == "adam":
                self._gradient_step(p, shadow, group)
        return rotating

    def _gradient_step(self, p: torch.Tensor, shadow: torch.Tensor, group: dict) -> None:
        r"""Replace the shadow's Adam + L2 step :math:`-\hat m/(\sqrt{\hat v}+\epsilon)` by the gradient's alone.

        Updates :math:`m_g` with this step's gradient and sets the shadow to
        :math:`-\hat m_g/(\sqrt{\hat v}+\epsilon)`, with torch Adam's bias corrections and placement of
        :math:`\epsilon` (see the class docstring).
        """
        beta1, beta2 = group["betas"]
        inner = self.inner.state[shadow]
        t = float(inner["step"])
        grad_avg = self.state[p]["grad_avg"]
        grad_avg.mul_(beta1).add_(p.grad, alpha=1 - beta1)
        denom = inner["exp_avg_sq"].sqrt().div_(math.sqrt(1 - beta2 ** t)).add_(group["eps"])
        shadow.zero_().addcdiv_(grad_avg, denom, value=-1 / (1 - beta1 ** t))

    @torch.compiler.disable
    def _init_state(self, p: torch.Tensor, group: dict) -> None:
        index = next(i for i, g in enumerate(self.param_groups) if g is group)
        self._check_neurons(p, group, self._describe(group, index, next(
            i for i, q in enumerate(group["params"]) if q is p), p))
        self._center(p, group)
        state = self.state[p]
        state["step"] = 0
        state["norm"] = torch.linalg.vector_norm(_rows(p.detach(), group["per_neuron"]), dim=1, keepdim=True)
        state["update_sq_avg"] = torch.zeros_like(state["norm"])
        if self.inner_name == "adam":
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One step: the inner optimizer's, then every rotational neuron's (batched over all of them)."""
        loss = _evaluate(closure)
        batches: dict[tuple, list] = {}
        for p, shadow, group in self._inner_step():
            batches.setdefault((p.device, p.dtype), []).append((p, shadow, group))
        for batch in batches.values():
            self._rotate(batch)
        return loss

    @torch.no_grad()
    def reference_step(self, closure: Callable[[], float] | None = None) -> float | None:
        """The same step as :meth:`step`, neuron by neuron with :func:`rotate_neuron`: slow, to read and to test."""
        loss = _evaluate(closure)
        for p, shadow, group in self._inner_step():
            state = self.state[p]
            state["step"] += 1
            rows, u = _rows(p.detach(), group["per_neuron"]), -_rows(shadow, group["per_neuron"])
            angle = self._target_angle(group)
            for r in range(rows.shape[0]):
                rows[r], state["update_sq_avg"][r] = rotate_neuron(
                    rows[r], u[r], norm=state["norm"][r, 0], update_sq_avg=state["update_sq_avg"][r, 0],
                    step=state["step"], angle=angle, update_norm_decay=group["update_norm_decay"],
                    rotational_eps=group["rotational_eps"], zero_mean=group["zero_mean"])
            if not p.is_contiguous():
                p.copy_(rows.view_as(p))
        return loss

    def _rotate(self, batch: list[tuple[torch.Tensor, torch.Tensor, dict]]) -> None:
        r"""Rotate the neurons of every ``(p, v, group)`` of one device and dtype along ``v = -u``, in place.

        :func:`rotate_neuron` for all neurons at once, in few passes over memory. Per tensor: the row
        sums :math:`\langle v, w\rangle` and :math:`\sum_j v_j`, then :math:`v \leftarrow v - w\langle v,
        w\rangle/n^2 - \bar v` in two passes (the mean taken before the radial part is removed, as
        :math:`w` is centred), :math:`\lVert v\rVert^2`, :math:`w \leftarrow w + s v` with :math:`s =
        \hat\eta_r n/(\bar\nu + \epsilon)`, and the scaling back to norm :math:`n` (measured, not
        :math:`\sqrt{n^2 + s^2\lVert v\rVert^2}`: when the inner step is almost radial, rounding leaves
        :math:`v` not quite orthogonal to :math:`w`). The per-neuron scalars of all tensors are
        concatenated into one vector for their arithmetic; the elementwise passes are
        ``torch._foreach_*`` calls over the tensors' row views.
        """
        layout = self._layout(batch)
        ws, vs, rows, norm, states = layout["ws"], layout["vs"], layout["rows"], layout["norm"], layout["states"]
        angles: dict[int, float] = {}
        constants = []  # per tensor: decay, bias correction, target angle, eps
        for state, (_, _, group) in zip(states, batch, strict=True):
            if id(group) not in angles:
                angles[id(group)] = self._target_angle(group)
            state["step"] += 1
            decay = group["update_norm_decay"]
            constants.append((decay, 1 / (1 - decay ** state["step"]), angles[id(group)], group["rotational_eps"]))
        decay, correction, angle, eps = self._per_row(constants, rows, norm)
        # v <- v - w <v, w> / n^2 - mean(v)
        radial = torch.cat([torch.mul(v, w, out=self._workspace(v)).sum(dim=1, keepdim=True)
                            for v, w in zip(vs, ws, strict=True)]).div_(layout["norm_sq"])
        centred = layout["centred"]
        means = [vs[i].mean(dim=1, keepdim=True) for i in centred]
        torch._foreach_addcmul_(vs, ws, radial.split(rows), value=-1)
        if centred:
            torch._foreach_sub_([vs[i] for i in centred], means)
        # nu <- b nu + (1 - b) ||v||^2
        square = torch.cat([torch.linalg.vector_norm(v, dim=1, keepdim=True) for v in vs]).square_()
        avg = torch.cat([state["update_sq_avg"] for state in states]).mul_(decay).add_(square.mul_(1 - decay))
        torch._foreach_copy_([state["update_sq_avg"] for state in states], avg.split(rows))
        # w <- n (w + s v) / ||w + s v||, s = angle n / (sqrt(nu / (1 - b^t)) + eps), where the angle is not 0
        moving = [i for i, (_, _, group) in enumerate(batch) if angles[id(group)] != 0]
        if not moving:
            return
        scale = torch.div(norm, avg.mul_(correction).sqrt_().add_(eps)).mul_(angle).split(rows)
        if len(moving) == len(batch):
            torch._foreach_addcmul_(ws, vs, scale)
            self._project(ws, layout["norms"])
        else:
            torch._foreach_addcmul_([ws[i] for i in moving], [vs[i] for i in moving], [scale[i] for i in moving])
            self._project([ws[i] for i in moving], [layout["norms"][i] for i in moving])
        for i in moving:
            p = batch[i][0]
            if not p.is_contiguous():
                p.copy_(ws[i].view_as(p))

    def _layout(self, batch: list[tuple[torch.Tensor, torch.Tensor, dict]]) -> dict:
        """The row views, stored norms and per-tensor flags of a batch, kept from one step to the next.

        Rebuilt when the batch changes (its parameters, their stored norms after ``load_state_dict``, a
        group's ``per_neuron`` or ``zero_mean``, or a parameter's storage).
        """
        key = tuple((id(p), id(self.state[p]["norm"]), group["per_neuron"], group["zero_mean"], p.data_ptr())
                    for p, _, group in batch)
        layout = self._layouts.get(key)
        if layout is None or not all(p.is_contiguous() for p, _, _ in batch):
            states = [self.state[p] for p, _, _ in batch]
            norm = torch.cat([state["norm"] for state in states])
            rows = [state["norm"].shape[0] for state in states]
            layout = dict(ws=[_rows(p.detach(), group["per_neuron"]) for p, _, group in batch],
                          vs=[_rows(shadow, group["per_neuron"]) for _, shadow, group in batch],
                          states=states, rows=rows, norm=norm, norm_sq=norm.square(), norms=norm.split(rows),
                          centred=[i for i, (_, _, group) in enumerate(batch) if group["zero_mean"]])
            if len(self._layouts) >= 8:
                self._layouts.clear()
            self._layouts[key] = layout
        return layout

    def _per_row(self, constants: list[tuple[float, ...]], rows: list[int], like: torch.Tensor) -> tuple:
        """Per-tensor constants as numbers when all tensors share them, else as ``(rows, 1)`` columns."""
        if all(c == constants[0] for c in constants):
            return constants[0]
        key = (like.device, tuple(rows))
        index = self._segments.get(key)
        if index is None:
            index = self._segments[key] = torch.repeat_interleave(torch.arange(len(rows), device=like.device),
                                                                  torch.tensor(rows, device=like.device))
        table = torch.tensor(constants, dtype=like.dtype, device=like.device).index_select(0, index)
        return tuple(column.unsqueeze(1) for column in table.T)

    @staticmethod
    def _project(ws: list[torch.Tensor], norms: list[torch.Tensor]) -> None:
        """Scale each row of every ``w`` back to its stored norm, in place."""
        measured = [torch.linalg.vector_norm(w, dim=1, keepdim=True).clamp_min_(_TINY) for w in ws]
        torch._foreach_mul_(ws, torch._foreach_div(norms, measured))

    def _workspace(self, like: torch.Tensor) -> torch.Tensor:
        """A reused buffer shaped as ``like`` (a fresh temporary per step would page-fault)."""
        key = (like.device, like.dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < like.numel():
            buffer = self._buffers[key] = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
        return buffer[: like.numel()].view_as(like)

    @staticmethod
    def _target_angle(group: dict) -> float:
        hyper = {"momentum": group["momentum"]} if group["target"] == "sgdm" else {"betas": group["betas"]}
        return rotation_target(group["target"], group["lr"], group["weight_decay"], **hyper)

    # -- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The wrapper's state (steps, stored norms, update-norm averages) and the inner optimizer's, nested."""
        state = super().state_dict()
        state["inner"] = self.inner.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the wrapper's state and the inner optimizer's)."""
        if not isinstance(state_dict, dict) or "inner" not in state_dict:
            raise ValueError("state_dict has no 'inner' entry: it was not saved by a RotationalWrapper")
        state_dict = dict(state_dict)
        self.inner.load_state_dict(state_dict.pop("inner"))
        super().load_state_dict(state_dict)
        self._layouts.clear()
        if self.inner_name == "adam":
            self._restore_gradient_moments()

    def _restore_gradient_moments(self) -> None:
        """Wrapped Adam + L2: give every restored rotational state its ``grad_avg`` (see the class docstring)."""
        for p, shadow in self._shadows.items():
            state = self.state.get(p)
            if not state or "grad_avg" in state:
                continue
            inner = self.inner.state.get(shadow, {})
            if "l2_avg" not in state or "exp_avg" not in inner:
                raise ValueError("state_dict: a wrapped Adam + L2 parameter's state has neither 'grad_avg' nor 'l2_avg' (saved by "
                                 "a wdcompanion without separate first moments of the gradient and the L2 term); it cannot resume")
            state["grad_avg"] = inner["exp_avg"] - state.pop("l2_avg")  # m_g = m - m_lambda


# -- grouping -----------------------------------------------------------------------------------------
def _readout_prefixes(model: torch.nn.Module, readout: Any) -> list[str]:
    items = [] if readout is None else [readout] if isinstance(readout, (str, torch.nn.Module)) else readout
    if not isinstance(items, Iterable):
        raise TypeError(f"readout must be None, a module, a parameter-name prefix or a sequence of them, got {readout!r}")
    names = [name for name, _ in model.named_parameters()]
    prefixes = []
    for item in items:
        if isinstance(item, torch.nn.Module):
            found = [name for name, module in model.named_modules() if module is item]
            if not found:
                raise ValueError(f"readout module {type(item).__name__} is not a submodule of the model")
            item = found[0]
        if not isinstance(item, str):
            raise TypeError(f"readout entries must be modules or strings, got {item!r}")
        if not any(name == item or name.startswith(item + ".") for name in names):
            raise ValueError(f"readout {item!r} names no parameter of the model (its parameters: {names[:6]} ...)")
        prefixes.append(item)
    return prefixes


def param_groups(model: torch.nn.Module, weight_decay: float, *,
                 readout: str | torch.nn.Module | Sequence[str | torch.nn.Module] | None) -> list[dict]:
    r"""Parameter groups with the decay grouping of the paper's experiments (as its official code sets them up), for any ``nn.Module``.

    As in timm, nanoGPT and fairseq: every parameter with ``ndim <= 1`` (gains, biases, BatchNorm and
    LayerNorm parameters) and every parameter whose name ends in ``bias`` goes into a group with
    ``weight_decay = 0`` (and ``"rotational": False``); every other parameter is decayed by
    ``weight_decay``. ``readout`` (required, to make the choice explicit) names the layers whose
    scale matters because no normalization follows them, typically the classifier: a module of
    ``model``, a parameter-name prefix (``"head"`` matches ``head.weight``), a sequence of them, or
    ``None``. Their weights stay decayed but get ``"rotational": False``, so that
    :class:`RotationalWrapper` steps them with its inner optimizer instead of fixing their norm (the
    paper's nanoGPT rotates everything decayed, tied embeddings included: ``readout=None``).
    Parameters with ``requires_grad=False`` are left out.

    Returns at most three groups, ``decay``, ``readout`` and ``no_decay`` in that order, empty ones
    left out, each with ``param_names``. ``torch.optim`` optimizers keep the extra key
    ``rotational`` harmlessly, so the same groups serve ``torch.optim.AdamW`` and the wrapper.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    weight_decay = check_nonnegative(weight_decay, "weight_decay")
    prefixes = _readout_prefixes(model, readout)
    groups = {"decay": ([], []), "readout": ([], []), "no_decay": ([], [])}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name == "bias" or name.endswith(".bias"):
            kind = "no_decay"
        elif any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            kind = "readout"
        else:
            kind = "decay"
        groups[kind][0].append(p)
        groups[kind][1].append(name)
    options = {"decay": {"weight_decay": weight_decay}, "readout": {"weight_decay": weight_decay, "rotational": False},
               "no_decay": {"weight_decay": 0.0, "rotational": False}}
    return [{"params": params, "param_names": names, **options[kind]} for kind, (params, names) in groups.items() if params]
