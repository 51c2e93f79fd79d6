r"""One training on MNIST-1D with a named optimizer and a warmup-then-cosine schedule: the unit of the practical sweeps.

The rotational-variants chapter compares optimizers the way the paper's Section 5 does: final test
accuracy of short trainings over grids of learning rates, weight decays, warmup and seeds. Each
training here is one call of :func:`train_mnist1d`, a function of its arguments alone (the data is
the MNIST-1D benchmark of :func:`wdcompanion.data.mnist1d`; the model's initialization and the batch
order are seeded from ``seed``), so that :func:`wdcompanion.sweep.run_sweep` can run any grid of them
in parallel, on a cluster, and resume it.

**Optimizers** (:data:`OPTIMIZERS`), all with the paper's parameter grouping
(:func:`wdcompanion.optim.param_groups`: weights of two or more dimensions decayed, gains and biases
not; the read-out decayed, not rotational): ``SGDM`` (``torch.optim.SGD``, momentum),
``AdamW``, ``Adam+L2`` (``torch.optim.Adam``, whose ``weight_decay`` adds :math:`\lambda w` to the
gradient), and their rotational variants ``RV-SGDM``, ``RV-AdamW`` and ``RV-Adam+L2`` (the paper's
wrapped Adam + L2: inner Adam + L2, AdamW's target angle) from
:class:`wdcompanion.optim.RotationalWrapper`.

**Schedule** (:func:`warmup_cosine`): the learning-rate factor rises linearly over the first
``warmup_steps`` steps, :math:`(t+1)/T_w`, then follows a cosine from 1 to 0 over the remaining steps;
``warmup_steps = 0`` is the cosine alone. The paper's warmup runs are set up the same way (a linear
warmup, then cosine to 0).

**Divergence.** A training whose loss becomes non-finite at any step counts as chance accuracy
(:math:`1/\text{classes}`, what a network that predicts one class gets on balanced data), with
``diverged = 1``. (The RV refuses a neuron whose weights are no longer finite, which ends its
training there.) The loop is :func:`wdcompanion.nets.train_classifier`'s, as for every training of the book.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import nets
from ._validation import check_count, check_nonnegative, check_positive
from .data import mnist1d
from .optim import RotationalWrapper, param_groups

__all__ = ["ARCHITECTURES", "OPTIMIZERS", "make_optimizer", "warmup_cosine", "build_model", "train_mnist1d"]

#: The optimizer kinds of :func:`make_optimizer`: three plain optimizers and their rotational variants.
OPTIMIZERS = ("SGDM", "RV-SGDM", "AdamW", "RV-AdamW", "Adam+L2", "RV-Adam+L2")
#: The networks of :func:`build_model`: BatchNorm MLP (``nets.mlp``) and 1-D ResNet (``nets.resnet1d``).
ARCHITECTURES = ("mlp", "resnet")


def make_optimizer(kind: str, model: torch.nn.Sequential, *, lr: float, weight_decay: float, momentum: float = 0.9,
                   betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    r"""The optimizer ``kind`` (one of :data:`OPTIMIZERS`) for ``model``, grouped as the paper's experiments are.

    ``model[-1]`` is the read-out: decayed, never rotational (no normalization follows it, so its
    scale matters). ``momentum`` is SGDM's :math:`\alpha`, ``betas`` Adam's :math:`(\beta_1, \beta_2)`;
    each is used only by the kinds that have it. For ``Adam+L2`` and ``RV-Adam+L2`` the decay is the L2
    coefficient added to the gradient.
    """
    if kind not in OPTIMIZERS:
        raise ValueError(f"kind must be one of {OPTIMIZERS}, got {kind!r}")
    lr, weight_decay = check_nonnegative(lr, "lr"), check_nonnegative(weight_decay, "weight_decay")
    groups = param_groups(model, weight_decay, readout=model[-1])
    base = kind.removeprefix("RV-")
    if base == "SGDM":
        options: dict[str, Any] = dict(momentum=momentum)
    else:
        options = dict(betas=tuple(betas))
    if not kind.startswith("RV-"):
        make = {"SGDM": torch.optim.SGD, "AdamW": torch.optim.AdamW, "Adam+L2": torch.optim.Adam}[base]
        return make(groups, lr=lr, **options)
    inner = {"SGDM": "sgdm", "AdamW": "adamw", "Adam+L2": "adam"}[base]
    target = {"target": "adamw"} if base == "Adam+L2" else {}
    return RotationalWrapper(groups, inner, lr=lr, weight_decay=weight_decay, **target, **options)


def warmup_cosine(steps: int, warmup_steps: int) -> Callable[[int], float]:
    r"""The learning-rate factor at step :math:`t`: :math:`(t+1)/T_w` for :math:`t < T_w`, then
    :math:`\tfrac12(1 + \cos(\pi (t - T_w)/(T - T_w)))`, with :math:`T` = ``steps``, :math:`T_w` = ``warmup_steps``."""
    steps = check_count(steps, "steps")
    warmup_steps = check_count(warmup_steps, "warmup_steps", minimum=0)
    if warmup_steps >= steps:
        raise ValueError(f"warmup_steps must be below steps ({steps}), got {warmup_steps}")

    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (t - warmup_steps) / (steps - warmup_steps)))

    return factor


def build_model(arch: str, widths: Sequence[int], *, features: int, classes: int, seed: int) -> torch.nn.Sequential:
    """A BatchNorm MLP (``"mlp"``: hidden ``widths``) or a 1-D ResNet (``"resnet"``: stage ``widths``, one block each)."""
    if arch == "mlp":
        return nets.mlp(features, widths, classes, norm="batch", seed=seed)
    if arch == "resnet":
        return nets.resnet1d(features, widths, 1, classes, seed=seed)
    raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")


@functools.cache
def _benchmark():
    """MNIST-1D, generated once per process (about a second) and never modified."""
    return mnist1d()


def train_mnist1d(*, optimizer: str, lr: float, weight_decay: float, warmup_steps: int, steps: int, batch: int, seed: int,
                  arch: str, widths: Sequence[int], momentum: float = 0.9, betas: Sequence[float] = (0.9, 0.999),
                  track: bool = False) -> dict[str, float]:
    r"""Train a fresh ``arch`` network on MNIST-1D and return its final metrics (one row of a sweep).

    Returns ``accuracy`` (on the 1,000 test signals; chance, 0.1, if it diverged), ``train_loss`` (mean
    over the last 10% of the steps; NaN if it diverged) and ``diverged`` (0 or 1). With ``track=True``
    also ``rotation:NAME`` for every rotational-shaped weight (``param_groups``' decayed group): its
    mean per-neuron angular update (radians) over the second half of training, measured every 10 steps
    with :class:`wdcompanion.rotation.RotationTracker`.
    """
    from .rotation import RotationTracker

    steps, batch = check_count(steps, "steps"), check_count(batch, "batch")
    seed = check_count(seed, "seed", minimum=0)
    check_positive(lr, "lr")
    if len(betas) != 2:
        raise ValueError(f"betas must be two numbers, got {betas!r}")
    data = _benchmark()
    model = build_model(arch, widths, features=data.features, classes=data.classes, seed=seed)
    opt = make_optimizer(optimizer, model, lr=lr, weight_decay=weight_decay, momentum=momentum,
                         betas=(float(betas[0]), float(betas[1])))
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, warmup_steps))
    decayed = param_groups(model, weight_decay, readout=model[-1])[0]["param_names"] if track else []
    tracker = RotationTracker(model, opt, interval=10, names=decayed) if track else None
    try:
        run = nets.train_classifier(model, opt, data.x_train, data.y_train, steps, batch_size=batch, seed=seed + 10_000,
                                    on_step=lambda _: schedule.step())
        diverged = not np.all(np.isfinite(run.losses))
    except ValueError:  # the RV refuses a neuron whose weights are no longer finite
        run, diverged = None, True
    if tracker is not None:
        tracker.remove()
    accuracy = 1.0 / data.classes if diverged else nets.held_out_accuracy(model, data.x_test, data.y_test)
    out = {"accuracy": accuracy, "train_loss": float("nan") if diverged else float(np.mean(run.losses[-max(1, steps // 10):])),
           "diverged": float(diverged)}
    if tracker is not None:
        for name in decayed:
            angles = np.asarray(tracker.angles(name))
            out[f"rotation:{name}"] = float(angles[len(angles) // 2:].mean()) if len(angles) and not diverged else float("nan")
    return out
