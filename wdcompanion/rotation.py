r"""Rotational equilibrium: predictions per optimizer, angular updates, a tracker, the random walk.

A *neuron* is one row :math:`w \in \mathbb R^C` of a weight (a conv filter flattened), :math:`C` its
fan-in. Its angular update per step is :math:`\eta_r = \angle(w_t, w_{t+1})`. In the random-walk
model of Kosson, Messmer & Jaggi (2024), gradients are pure noise orthogonal to :math:`w` with
:math:`\lVert g\rVert = \lVert\tilde g\rVert/\lVert w\rVert` (scale invariance), where :math:`\tilde g` is the
gradient at unit norm and :math:`G = \mathbb E\lVert\tilde g\rVert^2`. Balancing the norm growth from
(orthogonal) updates against the shrinkage from weight decay gives the equilibrium norm
:math:`\lVert\hat w\rVert` and angular update :math:`\hat\eta_r` (:func:`equilibrium`). The AdamW, SGDM and
Lion angular updates are those the paper's official code enforces; the norms and the Adam + L2
row are the derivations of ``shared/papers`` (see the book).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._validation import check_betas, check_count, check_nonnegative, check_positive
from .optim import Lion, RotationalWrapper

__all__ = ["OPTIMIZERS", "Equilibrium", "equilibrium", "angular_update", "RotationTracker", "RandomWalk", "random_walk"]

OPTIMIZERS = ("sgdm", "adamw", "adam_l2", "lion")


@dataclass(frozen=True)
class Equilibrium:
    """Predicted equilibrium of one neuron: norm, angular update per step (radians) and time scale (steps)."""

    norm: float
    angular_update: float
    timescale: float


def _betas(betas: Any, default: tuple[float, float]) -> tuple[float, float]:
    return default if betas is None else check_betas(betas)


def equilibrium(optimizer: str, *, lr: float, weight_decay: float, fan_in: int, grad_norm_sq: float | None = None,
                betas: tuple[float, float] | None = None, momentum: float | None = None) -> Equilibrium:
    r"""Predicted rotational equilibrium (Table 1 of the paper, in the random-walk model).

    With :math:`\eta` = ``lr``, :math:`\lambda` = ``weight_decay``, :math:`C` = ``fan_in``,
    :math:`G` = ``grad_norm_sq`` (:math:`\mathbb E\lVert\tilde g\rVert^2`):

    * ``"adamw"``: :math:`\lVert\hat w\rVert = \sqrt{\eta C/(2\lambda)}`,
      :math:`\hat\eta_r = \sqrt{2\eta\lambda(1-\beta_1)/(1+\beta_1)}`, :math:`\tau = 1/(2\eta\lambda)`;
    * ``"sgdm"`` (PyTorch SGD, L2 in the gradient, momentum :math:`\alpha`):
      :math:`\lVert\hat w\rVert = (\eta G/(2\lambda(1-\alpha)))^{1/4}`,
      :math:`\hat\eta_r = \sqrt{2\eta\lambda/(1+\alpha)}`, :math:`\tau = (1-\alpha)/(4\eta\lambda)` (for :math:`\lVert w\rVert^4`);
    * ``"adam_l2"`` (``torch.optim.Adam(weight_decay=λ)``): :math:`\lVert\hat w\rVert = (\eta\sqrt{C G}/(2\lambda))^{1/3}`,
      :math:`\hat\eta_r = \sqrt{(1-\beta_1)/(1+\beta_1)}\,(2\lambda\eta^2 C/\sqrt G)^{1/3}`, :math:`\tau = 1/(3\kappa)` with
      the effective decay :math:`\kappa = \eta\lambda\lVert\hat w\rVert\sqrt{C/G}` — it depends on :math:`G` and :math:`C`;
    * ``"lion"``: :math:`\hat\eta_r = \sqrt{\pi/2}\,\sqrt{2\eta\lambda}\,\gamma`,
      :math:`\lVert\hat w\rVert = \sqrt{\eta C/(2\lambda)}\sqrt{2/\pi}/\gamma`,
      :math:`\gamma = \sqrt{(1-\beta_1)^2 + \beta_1^2(1-\beta_2)/(1+\beta_2)}`,
      :math:`\tau = 1/(2\eta\lambda)`.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    lr = check_positive(lr, "lr")
    wd = check_positive(weight_decay, "weight_decay")
    C = check_count(fan_in, "fan_in")
    if optimizer in ("sgdm", "adam_l2"):
        if grad_norm_sq is None:
            raise ValueError(f"grad_norm_sq is required for {optimizer!r}")
        G = check_positive(grad_norm_sq, "grad_norm_sq")
    if optimizer == "sgdm":
        alpha = 0.0 if momentum is None else check_nonnegative(momentum, "momentum")
        if alpha >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {alpha}")
        return Equilibrium((lr * G / (2 * wd * (1 - alpha))) ** 0.25, math.sqrt(2 * lr * wd / (1 + alpha)),
                           (1 - alpha) / (4 * lr * wd))
    if optimizer == "adamw":
        b1, _ = _betas(betas, (0.9, 0.999))
        return Equilibrium(math.sqrt(lr * C / (2 * wd)), math.sqrt(2 * lr * wd * (1 - b1) / (1 + b1)), 1 / (2 * lr * wd))
    if optimizer == "adam_l2":
        b1, _ = _betas(betas, (0.9, 0.999))
        norm = (lr * math.sqrt(C * G) / (2 * wd)) ** (1 / 3)
        angle = math.sqrt((1 - b1) / (1 + b1)) * (2 * wd * lr**2 * C / math.sqrt(G)) ** (1 / 3)
        kappa = lr * wd * norm * math.sqrt(C / G)
        return Equilibrium(norm, angle, 1 / (3 * kappa))
    b1, b2 = _betas(betas, (0.9, 0.99))
    gamma = math.sqrt((1 - b1) ** 2 + b1**2 * (1 - b2) / (1 + b2))
    return Equilibrium(math.sqrt(lr * C / (2 * wd)) * math.sqrt(2 / math.pi) / gamma,
                       math.sqrt(math.pi / 2) * math.sqrt(2 * lr * wd) * gamma, 1 / (2 * lr * wd))


def _rows(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return tensor.detach().reshape(tensor.shape[0], -1) if tensor.ndim > 1 else tensor.detach().reshape(1, -1)


def angular_update(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    r"""Per-neuron angle :math:`\arccos\frac{\langle w, w'\rangle}{\lVert w\rVert\lVert w'\rVert}` (radians).

    Rows of a 2-D weight, or filters of a conv weight flattened (first axis = output neurons); a 1-D
    tensor is one vector. Returns one angle per neuron.
    """
    a, b = _rows(before, "before"), _rows(after, "after")
    if a.shape != b.shape:
        raise ValueError(f"before and after must have the same shape, got {tuple(before.shape)} and {tuple(after.shape)}")
    cosine = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1)
    return torch.arccos(cosine.clamp(-1.0, 1.0))


class _GrowingRows:
    """Equal-length rows appended into one ``(capacity, K)`` tensor that doubles when full.

    Writing each record into a shared buffer, rather than keeping it as its own small tensor, matters
    in long runs: small long-lived allocations between each step's large temporaries fragment the C
    heap, and a tracker that kept 4 KB tensors grew by about 1 GB per 1,000 steps of a 4x512 MLP.
    """

    def __init__(self) -> None:
        self.data: torch.Tensor | None = None
        self.count = 0

    def append(self, row: torch.Tensor) -> None:
        if self.data is None:
            self.data = row.new_empty((64, row.numel()))
        elif self.count == len(self.data):
            grown = self.data.new_empty((2 * len(self.data), self.data.shape[1]))
            grown[: self.count] = self.data
            self.data = grown
        self.data[self.count] = row
        self.count += 1

    def numpy(self) -> np.ndarray:
        if self.data is None:
            return np.zeros((0, 0))
        return self.data[: self.count].cpu().numpy().copy()


class RotationTracker:
    r"""Records per-neuron norms and angular updates of a model's weights around ``optimizer.step()``.

    Uses ``torch.optim.Optimizer.register_step_pre_hook``/``register_step_post_hook``, so training is
    unchanged. Every parameter with at least two dimensions is tracked (or those named in
    ``names``). Every ``interval`` steps one record is kept: the step index (:attr:`recorded_steps`),
    per neuron the norm after the step (:meth:`norms`) and the angular update (:meth:`angles`), and
    the whole tensor's angular update (:meth:`tensor_angles`: the angle between the flattened tensors
    before and after the step, as the paper's logger measures it, not a mean of neuron angles). No
    neuron is left out. With ``center_rows=True`` each row is centred first: under Weight
    Standardization the scale-invariant neuron is :math:`w - \bar w`.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, interval: int = 1,
                 names: Iterable[str] | None = None, center_rows: bool = False):
        self.center_rows = bool(center_rows)
        if not isinstance(model, torch.nn.Module):
            raise TypeError("model must be a torch.nn.Module")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError("optimizer must be a torch.optim.Optimizer")
        self.interval = check_count(interval, "interval")
        params = dict(model.named_parameters())
        wanted = [n for n, p in params.items() if p.ndim >= 2] if names is None else list(names)
        unknown = [n for n in wanted if n not in params]
        if unknown:
            raise ValueError(f"names not in the model: {unknown}")
        self.params = {n: params[n] for n in wanted}
        self._steps: list[int] = []
        self._norms = {n: _GrowingRows() for n in wanted}
        self._angles = {n: _GrowingRows() for n in wanted}
        self._tensor_angles = {n: _GrowingRows() for n in wanted}
        self.steps = 0
        self._before: dict[str, torch.Tensor] = {}
        self._handles = [optimizer.register_step_pre_hook(self._pre), optimizer.register_step_post_hook(self._post)]

    def _view(self, name: str, p: torch.Tensor) -> torch.Tensor:
        rows = _rows(p, name).double()
        return rows - rows.mean(dim=1, keepdim=True) if self.center_rows else rows

    def _pre(self, optimizer, args, kwargs) -> None:
        if self.steps % self.interval == 0:
            self._before = {n: self._view(n, p).clone() for n, p in self.params.items()}

    def _post(self, optimizer, args, kwargs) -> None:
        if self._before:
            for n, p in self.params.items():
                rows = self._view(n, p)
                self._norms[n].append(rows.norm(dim=1))
                self._angles[n].append(angular_update(self._before[n], rows))
                self._tensor_angles[n].append(angular_update(self._before[n].reshape(-1), rows.reshape(-1)))
            self._steps.append(self.steps)
            self._before = {}
        self.steps += 1

    def _tracked(self, name: str) -> str:
        if name not in self.params:
            raise ValueError(f"name must be a tracked parameter {list(self.params)}, got {name!r}")
        return name

    @property
    def recorded_steps(self) -> np.ndarray:
        """Indices (counted from 0) of the optimizer steps that were recorded: ``(records,)``."""
        return np.array(self._steps, dtype=np.int64)

    def angles(self, name: str) -> np.ndarray:
        """Angular updates of parameter ``name``: array ``(records, neurons)``."""
        return self._angles[self._tracked(name)].numpy()

    def tensor_angles(self, name: str) -> np.ndarray:
        """Angular updates of parameter ``name`` as one flattened vector (rows centred if ``center_rows``): ``(records,)``."""
        return self._tensor_angles[self._tracked(name)].numpy()[:, 0] if self._steps else np.zeros(0)

    def norms(self, name: str) -> np.ndarray:
        """Per-neuron norms of parameter ``name`` after each recorded step: ``(records, neurons)``."""
        return self._norms[self._tracked(name)].numpy()

    def remove(self) -> None:
        """Unregister the hooks."""
        for handle in self._handles:
            handle.remove()


@dataclass(frozen=True)
class RandomWalk:
    """Trajectories of the random-walk model: per recorded step, per neuron."""

    steps: np.ndarray  # (T,)
    norms: np.ndarray  # (T, K) after the step
    angles: np.ndarray  # (T, K) angular update of that step
    grad_norm_sq: float  # E||g~||^2 of the noise at unit norm


def _make_optimizer(name: str, params, lr: float, wd: float, betas, momentum,
                    rotational: bool = False) -> torch.optim.Optimizer:
    if rotational:  # the random walk's noise is not zero-mean: no centring
        inner = {"sgdm": "sgdm", "adamw": "adamw", "adam_l2": "adam", "lion": "lion"}[name]
        hyper = (dict(momentum=momentum or 0.0) if inner == "sgdm" else dict(betas=betas) if inner == "lion"
                 else dict(betas=betas, eps=1e-30))
        return RotationalWrapper(params, inner, lr=lr, weight_decay=wd, zero_mean=False,
                                 target="adamw" if name == "adam_l2" else None, **hyper)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=momentum or 0.0, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=_betas(betas, (0.9, 0.999)), weight_decay=wd, eps=1e-30)
    if name == "adam_l2":
        return torch.optim.Adam(params, lr=lr, betas=_betas(betas, (0.9, 0.999)), weight_decay=wd, eps=1e-30)
    return Lion(params, lr=lr, betas=_betas(betas, (0.9, 0.99)), weight_decay=wd)


def random_walk(optimizer: str, *, lr: float, weight_decay: float, steps: int, n_neurons: int = 64, fan_in: int = 256,
                grad_scale: float | Iterable[float] = 1.0, init_norm: float | Iterable[float] = 1.0,
                betas: tuple[float, float] | None = None, momentum: float | None = None, seed: int = 0,
                record_every: int = 1, rotational: bool = False) -> RandomWalk:
    r"""Drive ``n_neurons`` scale-invariant neurons of fan-in :math:`C` with pure-noise gradients.

    Each step the gradient of neuron :math:`w` is :math:`\sigma(I - \hat w\hat w^\top)z/\lVert w\rVert` with
    :math:`z \sim \mathcal N(0, I_C)`, so :math:`G = \sigma^2(C-1)`; the real ``torch.optim`` optimizer
    (or :class:`~wdcompanion.optim.Lion`) takes the step. ``grad_scale`` and ``init_norm`` may be
    per-neuron sequences (heterogeneous "layers" in one call). Vectorized over neurons, float64.
    ``rotational=True`` uses the optimizer's rotational variant
    (:class:`~wdcompanion.optim.RotationalWrapper`, without centring; Adam + L2 at AdamW's angle).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    lr, wd = check_positive(lr, "lr"), check_positive(weight_decay, "weight_decay")
    steps, K, C = check_count(steps, "steps"), check_count(n_neurons, "n_neurons"), check_count(fan_in, "fan_in", 2)
    record_every = check_count(record_every, "record_every")
    sigma = torch.as_tensor(np.broadcast_to(np.asarray(grad_scale, dtype=np.float64), (K,)).copy()).view(K, 1)
    norm0 = torch.as_tensor(np.broadcast_to(np.asarray(init_norm, dtype=np.float64), (K,)).copy()).view(K, 1)
    if not (torch.all(sigma > 0) and torch.all(norm0 > 0)):
        raise ValueError("grad_scale and init_norm must be positive")
    gen = torch.Generator().manual_seed(check_count(seed, "seed", minimum=0))
    start = torch.randn(K, C, dtype=torch.float64, generator=gen)
    weight = torch.nn.Parameter(start / start.norm(dim=1, keepdim=True) * norm0)
    if not isinstance(rotational, bool):
        raise TypeError(f"rotational must be a bool, got {type(rotational).__name__}")
    opt = _make_optimizer(optimizer, [weight], lr, wd, betas, momentum, rotational)
    recorded = np.arange(0, steps, record_every)
    # Preallocated: small records kept between the step's large temporaries fragment the heap, and a
    # long walk's memory then grows by about one (K, C) tensor per step.
    norms = torch.empty(len(recorded), K, dtype=torch.float64)
    angles = torch.empty(len(recorded), K, dtype=torch.float64)
    for step in range(steps):
        with torch.no_grad():
            w = weight.detach()
            unit = w / w.norm(dim=1, keepdim=True)
            z = torch.randn(K, C, dtype=torch.float64, generator=gen)
            z -= (z * unit).sum(1, keepdim=True) * unit
            weight.grad = sigma * z / w.norm(dim=1, keepdim=True)
            before = w.clone()
        opt.step()
        if step % record_every == 0:
            with torch.no_grad():
                row = step // record_every
                norms[row] = weight.detach().norm(dim=1)
                angles[row] = angular_update(before, weight.detach())
    return RandomWalk(recorded, norms.numpy(), angles.numpy(), float((sigma.ravel() ** 2).mean()) * (C - 1))
