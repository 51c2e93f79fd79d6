r"""Claim ``req-equilibrium``: weight norms and angular updates reach a predicted equilibrium.

Kosson, Messmer & Jaggi (ICML 2024): with weight decay, the expected norm and expected angular
update of each neuron's weight vector converge to a steady state, predicted per optimizer (their
Table 1, in a random-walk model). Measured here by driving the real ``torch.optim`` optimizers
(and a Lion implementation) in that random walk (:func:`wdcompanion.rotation.random_walk`):

1. equilibrium norm and angular update, two settings per optimizer, against
   :func:`wdcompanion.rotation.equilibrium`;
2. dependences: AdamW under :math:`\eta \times 4`, :math:`\lambda / 4`; Adam + L2 under a gradient
   scale :math:`\times 64` (its time scale grows as the gradient scale to the 1/3, so a larger factor
   only lengthens the run);
3. time to equilibrium from :math:`0.1\times` and :math:`10\times` the equilibrium norm, against the
   predicted relaxation (AdamW, :math:`\beta_2 = 0.99`) and the norm recursion (SGDM).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import rotation
from .protocol import Comparison, Verdict, compare
from .settings import ClaimSettings, OptimizerCase, describe_fields, doc, resolve, verdict_for

CLAIM_ID = "req-equilibrium"

__all__ = ["CLAIM_ID", "Settings", "EquilibriumCase", "SMALL", "PAPER", "REGISTERED", "EquilibriumResult",
           "Trajectory", "Relaxation", "run"]


@describe_fields
@dataclass(frozen=True)
class EquilibriumCase(OptimizerCase):
    """One optimizer setting of the equilibrium table, with the tolerance of its norm and angle."""

    tolerance: float = doc("relative tolerance of norm and angle (0.02; Lion 0.03, its sign update is noisier)")

    def check(self) -> None:
        super().check()
        self._positive("tolerance")


@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    optimizers: tuple[EquilibriumCase, ...] = doc("the optimizer settings of the equilibrium table")
    fan_in: int = doc("fan-in C of every neuron in the random walk")
    neurons: int = doc("neurons per walk of the table and the dependence checks (the relaxation walks keep 32)")
    taus: float = doc("their length in predicted time scales tau (the relaxation walks keep their own)")
    min_steps: int = doc("shortest walk")
    grad_factor: float = doc("gradient scale factor of the Adam + L2 dependence check")

    def check(self) -> None:
        self._positive("neurons", "taus", "min_steps", "grad_factor")
        if self.fan_in < 2:
            raise ValueError(f"Settings.fan_in must be >= 2 (a fan-in of 1 cannot rotate), got {self.fan_in}")
        if not self.optimizers:
            raise ValueError("Settings.optimizers must not be empty")


_OPTIMIZERS = (
    EquilibriumCase("AdamW b1=0.9", "adamw", 0.02, 0.1, (0.9, 0.999), None, 0.02),
    EquilibriumCase("AdamW b1=0", "adamw", 0.02, 0.1, (0.0, 0.999), None, 0.02),
    EquilibriumCase("SGDM a=0.9", "sgdm", 0.2, 0.01, None, 0.9, 0.02),
    EquilibriumCase("SGD a=0", "sgdm", 0.2, 0.01, None, 0.0, 0.02),
    EquilibriumCase("Adam+L2 b1=0.9", "adam_l2", 0.02, 0.1, (0.9, 0.999), None, 0.02),
    EquilibriumCase("Adam+L2 b1=0", "adam_l2", 0.02, 0.1, (0.0, 0.999), None, 0.02),
    EquilibriumCase("Lion (0.9, 0.99)", "lion", 0.001, 0.5, (0.9, 0.99), None, 0.03),
    EquilibriumCase("Lion (0.95, 0.98)", "lion", 0.001, 0.5, (0.95, 0.98), None, 0.03),
)
SMALL = Settings(optimizers=_OPTIMIZERS, fan_in=256, neurons=64, taus=5.0, min_steps=1500, grad_factor=64.0)
PAPER = Settings(optimizers=_OPTIMIZERS, fan_in=256, neurons=512, taus=30.0, min_steps=10000, grad_factor=64.0)
REGISTERED = {"small": SMALL, "paper": PAPER}


@dataclass(frozen=True)
class Trajectory:
    """One random walk: the mean neuron ``norm`` and mean angular update ``angle`` at each of ``steps``."""

    steps: np.ndarray
    norm: np.ndarray
    angle: np.ndarray
    prediction: rotation.Equilibrium


@dataclass(frozen=True)
class Relaxation:
    r"""A walk started away from equilibrium: mean :math:`\|w\|^2` (``measured``) and the ``model``'s at ``steps``.

    ``timescale`` is the predicted :math:`\tau` of the approach.
    """

    steps: np.ndarray
    measured: np.ndarray
    model: np.ndarray
    timescale: float


@dataclass
class EquilibriumResult:
    """Everything the chapter shows, and the verdict.

    ``cases``: one row per optimizer setting (``label``, ``lr``, ``wd``, measured ``norm`` and ``angle``,
    ``predicted_norm``, ``predicted_angle``, ``timescale``); ``trajectories``: its walk, by label.
    ``dependence``: the scaling checks (``what``, ``measured`` and ``predicted`` ratio).
    ``relaxation``: walks from away from equilibrium, keyed ``("adamw", start factor, beta2)`` or
    ``("sgdm", momentum)``.
    """

    verdict: Verdict
    cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectories: dict[str, Trajectory] = field(default_factory=dict)
    dependence: pd.DataFrame = field(default_factory=pd.DataFrame)
    relaxation: dict[tuple, Relaxation] = field(default_factory=dict)


def _measure(name, lr, wd, kwargs, scale: Settings, *, grad_scale=1.0, seed=0):
    C = scale.fan_in
    G = grad_scale**2 * (C - 1)
    pred = rotation.equilibrium(name, lr=lr, weight_decay=wd, fan_in=C, grad_norm_sq=G, **kwargs)
    steps = max(scale.min_steps, int(scale.taus * pred.timescale))
    walk = rotation.random_walk(name, lr=lr, weight_decay=wd, steps=steps, n_neurons=scale.neurons, fan_in=C,
                                grad_scale=grad_scale, init_norm=pred.norm, seed=seed, **kwargs)
    late = walk.steps >= steps // 3  # the start is at the predicted norm; skip the moments' warm-up
    return pred, walk, float(walk.norms[late].mean()), float(walk.angles[late].mean())


def _table(scale, result) -> list[Comparison]:
    ratios: dict[float, tuple[list, list, list]] = {}  # tolerance -> (optimizers, norm ratios, angle ratios)
    rows = []
    for case in scale.optimizers:
        label, name, lr, wd = case.label, case.optimizer, case.lr, case.weight_decay
        pred, walk, norm, angle = _measure(name, lr, wd, case.kwargs, scale)
        optimizers, norms, angles = ratios.setdefault(case.tolerance, ([], [], []))
        optimizers.append(name)
        norms.append(norm / pred.norm)
        angles.append(angle / pred.angular_update)
        rows.append(dict(label=label, lr=lr, wd=wd, norm=norm, predicted_norm=pred.norm, angle=angle,
                         predicted_angle=pred.angular_update, timescale=pred.timescale))
        result.trajectories[label] = Trajectory(walk.steps, walk.norms.mean(1), walk.angles.mean(1), pred)
    result.cases = pd.DataFrame(rows)
    comparisons = []
    for tolerance, (optimizers, norms, angles) in ratios.items():  # one pair of comparisons per declared tolerance
        names = _optimizer_names(optimizers)
        comparisons += [compare(f"equilibrium norm / prediction: {names}", norms, 1.0, tolerance, "rel",
                reason="walk noise (2%); Lion's sign update is noisier (3%)"),
                        compare(f"equilibrium angular update / prediction: {names}", angles, 1.0, tolerance, "rel",
                reason="walk noise (2%); Lion's sign update is noisier (3%)")]
    return comparisons


_FAMILIES = {"adamw": "AdamW", "sgdm": "SGDM", "adam_l2": "Adam+L2", "lion": "Lion"}


def _optimizer_names(optimizers: list[str]) -> str:
    """E.g. ``AdamW, SGDM, Adam+L2 (2 settings each)`` from the optimizers of the table's cases."""
    families = {_FAMILIES[name]: optimizers.count(name) for name in dict.fromkeys(optimizers)}
    counts = set(families.values())
    each = f" ({counts.pop()} settings{' each' if len(families) > 1 else ''})" if len(counts) == 1 else ""
    return ", ".join(families) + each


def _dependence(scale: Settings, result) -> list[Comparison]:
    grad_factor = scale.grad_factor  # gradients x64 should rotate 64^(1/3) = 4 times slower under Adam + L2
    _, _, norm_a, angle_a = _measure("adamw", 0.02, 0.1, dict(betas=(0.9, 0.999)), scale, seed=1)
    _, _, norm_b, angle_b = _measure("adamw", 0.08, 0.025, dict(betas=(0.9, 0.999)), scale, seed=2)
    _, _, _, angle_c = _measure("adam_l2", 0.02, 0.1, dict(betas=(0.9, 0.999)), scale, grad_scale=1.0, seed=3)
    _, _, _, angle_d = _measure("adam_l2", 0.02, 0.1, dict(betas=(0.9, 0.999)), scale, grad_scale=grad_factor, seed=4)
    result.dependence = pd.DataFrame([
        dict(what="AdamW angle, (lr x4, wd /4) vs base", measured=angle_b / angle_a, predicted=1.0),
        dict(what="AdamW norm, (lr x4, wd /4) vs base", measured=norm_b / norm_a, predicted=4.0),
        dict(what=f"Adam+L2 angle, gradient x{grad_factor:g} vs x1", measured=angle_d / angle_c, predicted=grad_factor ** (-1 / 3)),
    ])
    return [
        compare("AdamW: angular update unchanged under lr x4, weight decay /4", [angle_b / angle_a], 1.0, 0.02, "rel",
                reason="random-walk noise over the averaged neurons and steps stays below 1%"),
        compare("AdamW: norm scales as sqrt(lr / weight decay) (x4)", [norm_b / norm_a], 4.0, 0.02, "rel",
                reason="random-walk noise over the averaged neurons and steps stays below 1%"),
        compare(f"Adam+L2: angular update scales as gradient^(-1/3) (x{grad_factor:g} -> x{grad_factor ** (-1 / 3):g})",
                [angle_d / angle_c], grad_factor ** (-1 / 3), 0.05, "rel",
                reason="the two walks' noise, compounded through the 1/3 power: 5%"),
    ]


def _recursion(x0: float, steps: int, decay: float, growth: float) -> np.ndarray:
    """Iterate x <- (1 - decay)^2 x + growth / x (the model's ||w||^2 dynamics); values after each step."""
    out = np.empty(steps)
    x = x0
    for t in range(steps):
        x = (1 - decay) ** 2 * x + growth / x
        out[t] = x
    return out


def _relaxation(scale: Settings, result) -> list[Comparison]:
    C = scale.fan_in
    lr, wd = 0.01, 0.05  # tau = 1/(2 lr wd) = 1000 steps, long next to Adam's second-moment memory
    pred = rotation.equilibrium("adamw", lr=lr, weight_decay=wd, fan_in=C, betas=(0.9, 0.99))
    tau = pred.timescale
    checks = {}
    for factor, beta2, horizon in ((10.0, 0.99, 3.2), (0.1, 0.99, 3.2), (0.1, 0.999, 3.2)):
        walk = rotation.random_walk("adamw", lr=lr, weight_decay=wd, steps=int(horizon * tau), n_neurons=32, fan_in=C,
                                    init_norm=factor * pred.norm, betas=(0.9, beta2), seed=5)
        x_hat, x0 = pred.norm**2, (factor * pred.norm) ** 2
        model = x_hat + (x0 - x_hat) * (1 - lr * wd) ** (2 * (walk.steps + 1))
        measured = (walk.norms**2).mean(1)
        result.relaxation[("adamw", factor, beta2)] = Relaxation(walk.steps, measured, model, tau)
        checks[(factor, beta2)] = (measured, model)
    above = [int(k * tau) for k in (1, 2, 3)]
    below = [int(k * tau) for k in (2, 3)]
    G = C - 1.0
    sgd_rows = {}
    for alpha, lr_s, wd_s, horizon in ((0.0, 0.05, 0.005, 4.0), (0.9, 0.05, 0.005, 6.0)):
        eq = rotation.equilibrium("sgdm", lr=lr_s, weight_decay=wd_s, fan_in=C, grad_norm_sq=G, momentum=alpha)
        steps = int(horizon * eq.timescale)
        walk = rotation.random_walk("sgdm", lr=lr_s, weight_decay=wd_s, steps=steps, n_neurons=32, fan_in=C,
                                    init_norm=0.3 * eq.norm, momentum=alpha, seed=6)
        model = _recursion((0.3 * eq.norm) ** 2, steps, lr_s * wd_s / (1 - alpha), lr_s**2 * G / (1 - alpha) ** 2)
        sgd_rows[alpha] = ((walk.norms**2).mean(1), model, eq.timescale)
        result.relaxation[("sgdm", alpha)] = Relaxation(walk.steps, (walk.norms**2).mean(1), model, eq.timescale)
    plain, momentum = sgd_rows[0.0], sgd_rows[0.9]
    late = np.arange(len(momentum[0])) >= 2 * momentum[2]
    return [
        compare("AdamW ||w||^2 from 10x at tau, 2 tau, 3 tau vs exponential relaxation (1 - lr wd)^(2t)",
                checks[(10.0, 0.99)][0][above], checks[(10.0, 0.99)][1][above], 0.02, "rel",
                reason="the relaxation from above follows the model closely: 2%"),
        compare("AdamW (beta2 = 0.99) ||w||^2 from 0.1x at 2 tau, 3 tau vs exponential relaxation",
                checks[(0.1, 0.99)][0][below], checks[(0.1, 0.99)][1][below], 0.10, "rel",
                reason="from below Adam's second moment lags the shrinking gradients (see the chapter): 10%, checked from 2 tau on"),
        compare("SGD ||w||^2 from 0.3x vs the norm recursion, every step", plain[0], plain[1], 0.01, "rel",
                reason="plain SGD follows the norm recursion up to walk noise: 1%"),
        compare("SGDM (momentum 0.9) ||w||^2 from 0.3x vs the norm recursion, after 2 tau", momentum[0][late],
                momentum[1][late], 0.05, "rel",
                reason="the recursion ignores the momentum's build-up: 5%, checked from 2 tau on"),
    ]


def run(settings: Settings | str = SMALL) -> EquilibriumResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict."""
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    result = EquilibriumResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _table(settings, result) + _dependence(settings, result) + _relaxation(settings, result)
    result.verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return result
