r"""Claim ``req-rotational-variants``: rotational variants remove the transient and reduce the need for warmup.

Kosson, Messmer & Jaggi (ICML 2024): a rotational variant (RV) of an optimizer keeps each neuron's
norm fixed and rotates it by the equilibrium angular update :math:`\hat\eta_r` from the first step,
which provides the benefits of weight decay while substantially reducing the need for
learning-rate warmup. Their model's mechanism: from a small norm, a plain optimizer's early angular
updates far exceed :math:`\hat\eta_r` (the transient); warmup tames it, the RV removes it. Measured
here with :class:`~wdcompanion.optim.RotationalWrapper`:

1. random walk from :math:`0.1\times` the equilibrium norm: plain AdamW's first angular update
   against :math:`\arctan(\eta\sqrt{C-1}/((1-\eta\lambda)\lVert w_0\rVert))` (Adam's first step has
   magnitude :math:`\eta` per coordinate), the RV's first update and its mean after the
   update-norm average has settled against :math:`\hat\eta_r` of :func:`wdcompanion.rotation.equilibrium`
   (AdamW, SGDM, Lion, and Adam + L2 wrapped at AdamW's angle), and its norms against their start;
2. a small MLP (BatchNorm) trained with RV-AdamW: neuron norms and means kept, per-layer angle
   against :math:`\hat\eta_r` in the second half of training;
3. reported, not checked: a learning-rate sweep with and without warmup (AdamW vs RV-AdamW) and
   a small grid of Adam + L2, AdamW and wrapped Adam + L2 — the paper's network-scale claims,
   which a model of this size cannot settle. Both run through :func:`wdcompanion.sweep.run_sweep`
   (one :func:`warmup_run` per setting of :func:`sweep_settings`): in parallel processes, on a Dask
   cluster named by ``$WDC_DASK``, and resumable with a results folder in ``$WDC_SWEEP_STORE``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .. import nets, rotation
from ..optim import RotationalWrapper, param_groups
from ..sweep import run_sweep, store_from_env
from .protocol import Comparison, Verdict, compare
from .settings import ClaimSettings, OptimizerCase, describe_fields, doc, resolve, verdict_for

CLAIM_ID = "req-rotational-variants"

__all__ = ["CLAIM_ID", "Settings", "SMALL", "PAPER", "REGISTERED", "RotationalVariantsResult", "run", "train_with_warmup", "warmup_run",
           "sweep_settings"]

@describe_fields
@dataclass(frozen=True)
class Settings(ClaimSettings):
    """What the chapter runs (``SMALL``) and its paper-scale version (``PAPER``); change with ``dataclasses.replace``."""

    walks: tuple[OptimizerCase, ...] = doc("random walks; an 'adam_l2' walk is wrapped at AdamW's angle")
    fan_in: int = doc("fan-in C of the random walks' neurons")
    steps: int = doc("random-walk steps")
    neurons: int = doc("neurons per random walk")
    settled: int = doc("steps after which the RV's update-norm average has forgotten the start (beta_u = 0.9)")
    samples: int = doc("samples of the generated teacher task (MLP, sweep and grid)")
    widths: tuple[int, ...] = doc("hidden widths of the BatchNorm MLP")
    net_steps: int = doc("training steps of the RV-AdamW MLP")
    net_lr: float = doc("its learning rate")
    net_wd: float = doc("weight decay of the MLP, the warmup sweep and the grid")
    sweep_steps: int = doc("training steps of each run of the sweep and the grid")
    lrs: tuple[float, ...] = doc("peak learning rates of the warmup sweep (AdamW and RV-AdamW)")
    seeds: tuple[int, ...] = doc("seeds of the warmup sweep")
    warmup_fraction: float = doc("linear warmup over this fraction of the steps (or none)")
    grid_lrs: tuple[float, ...] = doc("learning rates of the Adam + L2 / AdamW / wrapped Adam + L2 grid (one seed)")
    grid_l2_small: float = doc("the grid's second, small Adam + L2 coefficient (the other is net_wd)")

    def check(self) -> None:
        self._positive("steps", "neurons", "samples", "widths", "net_steps", "net_lr", "net_wd", "sweep_steps", "lrs",
                       "grid_lrs", "grid_l2_small")
        if self.fan_in < 2:
            raise ValueError(f"Settings.fan_in must be >= 2 (a fan-in of 1 cannot rotate), got {self.fan_in}")
        if not 0 < self.settled < self.steps:
            raise ValueError(f"Settings.settled must lie in (0, steps), got {self.settled}")
        if not 0 < self.warmup_fraction <= 1:
            raise ValueError(f"Settings.warmup_fraction must lie in (0, 1], got {self.warmup_fraction}")
        if not self.seeds or not self.walks or not any(w.optimizer == "adamw" for w in self.walks):
            raise ValueError("Settings.seeds must not be empty, and walks must include an 'adamw' walk (the transient)")


_WALKS = (
    OptimizerCase("AdamW", "adamw", 0.02, 0.1, (0.9, 0.99), None),
    OptimizerCase("SGDM", "sgdm", 0.2, 0.01, None, 0.9),
    OptimizerCase("Lion", "lion", 0.002, 0.5, (0.9, 0.99), None),
    OptimizerCase("Adam+L2 (wrapped, AdamW angle)", "adam_l2", 0.02, 0.1, (0.9, 0.99), None),
)
_COMMON = dict(walks=_WALKS, fan_in=256, settled=100, net_lr=0.01, net_wd=0.1, warmup_fraction=0.1, grid_l2_small=1e-3)
SMALL = Settings(steps=600, neurons=32, net_steps=800, widths=(64, 64, 64), samples=2048, sweep_steps=300,
                 lrs=(0.001, 0.004, 0.016, 0.064, 0.256), seeds=(0, 1), grid_lrs=(0.003, 0.01, 0.03), **_COMMON)
PAPER = Settings(steps=5000, neurons=256, net_steps=10000, widths=(512, 512, 512, 512), samples=65536, sweep_steps=5000,
                 lrs=tuple(0.001 * 2.0**k for k in range(11)), seeds=(0, 1, 2), grid_lrs=(0.001, 0.003, 0.01, 0.03, 0.1),
                 **_COMMON)
REGISTERED = {"small": SMALL, "paper": PAPER}


@dataclass
class RotationalVariantsResult:
    """Everything the chapter shows, and the verdict.

    ``walks``: mean angular update / target at each step (index) of each random walk, columns
    ``(walk label, "rv")`` and, for AdamW, ``(walk label, "plain")``. ``windows``: per walk (index), the
    target and that ratio's mean over each of :data:`WINDOWS`. ``network``: the RV network's mean
    angular update / target at each recorded step (index), one column per hidden layer. ``sweep``: one
    row per ``warmup_run``, its settings, loss and accuracy; ``grid``: the same for the Adam + L2 /
    AdamW / wrapped grid.
    """

    verdict: Verdict
    walks: pd.DataFrame = field(default_factory=pd.DataFrame)
    windows: pd.DataFrame = field(default_factory=pd.DataFrame)
    network: pd.DataFrame = field(default_factory=pd.DataFrame)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    grid: pd.DataFrame = field(default_factory=pd.DataFrame)


WINDOWS = {"steps 0-9": (0, 10), "steps 10-99": (10, 100), "steps 100-": (100, None)}  # windows of the transient table


def _window(values: np.ndarray, start: int, stop: int | None) -> float:
    return float(values[start:stop].mean())


def _walks(scale: Settings, result) -> list[Comparison]:
    first_rv, settled_rv, norm_drift, first_plain, first_plain_pred, windows, columns = [], [], [], [], [], [], {}
    C, settled = scale.fan_in, scale.settled
    for walk in scale.walks:
        label, name, lr, wd, kwargs = walk.label, walk.optimizer, walk.lr, walk.weight_decay, walk.kwargs
        G = C - 1.0  # unit gradient scale
        pred = rotation.equilibrium("adamw" if name == "adam_l2" else name, lr=lr, weight_decay=wd, fan_in=C,
                                    grad_norm_sq=G, **kwargs)
        target = pred.angular_update
        norm0 = 0.1 * pred.norm
        common = dict(lr=lr, weight_decay=wd, steps=scale.steps, n_neurons=scale.neurons, fan_in=C, init_norm=norm0,
                      seed=3, **kwargs)
        rv = rotation.random_walk(name, rotational=True, **common)
        curves = {"rv": (rv.steps, rv.angles.mean(1) / target)}
        first_rv.append(rv.angles[0] / target)
        settled_rv.append(rv.angles[settled:].mean() / target)
        norm_drift.append(np.abs(rv.norms / norm0 - 1).max())
        if name == "adamw":
            plain = rotation.random_walk(name, **common)
            curves["plain"] = (plain.steps, plain.angles.mean(1) / target)
            first_plain.append(plain.angles[0].mean())
            first_plain_pred.append(math.atan(lr * math.sqrt(C - 1) / ((1 - lr * wd) * norm0)))
        for key in ("plain", "rv"):
            if key in curves:
                ratio = curves[key][1]
                windows.append({"optimizer": label if key == "plain" else f"RV-{label}", "target (rad)": target,
                                **{title: _window(ratio, a, b) for title, (a, b) in WINDOWS.items()}})
        columns.update({(label, key): pd.Series(ratio, index=steps) for key, (steps, ratio) in curves.items()})
    result.walks = pd.DataFrame(columns).rename_axis("step")
    result.windows = pd.DataFrame(windows).set_index("optimizer")
    return [
        compare("random walk, plain AdamW from 0.1x the equilibrium norm: first angular update vs "
                "arctan(lr sqrt(C-1) / ((1 - lr wd) |w0|))", first_plain, first_plain_pred, 0.02, "rel",
                reason="the random walk's tolerance for single-step quantities (2%), set before the run"),
        compare("random walk, RV (AdamW, SGDM, Lion, wrapped Adam+L2): first angular update of every neuron / target",
                np.concatenate(first_rv), 1.0, 1e-3, "rel",
                reason="the RV's first step is the target by construction, up to float rounding in the projection"),
        compare(f"random walk, RV: mean angular update after step {settled} / equilibrium angle of Table 1",
                settled_rv, 1.0, 0.02, "rel",
                reason="random-walk noise over the averaged neurons and steps stays below 1% (2%)"),
        compare("random walk, RV: max |norm / initial norm - 1| over all neurons and steps", norm_drift, 0.0, 1e-6, "abs",
                reason="the projection keeps norms up to float64 rounding"),
    ]


def _network(scale: Settings, result) -> list[Comparison]:
    net_lr, net_wd = scale.net_lr, scale.net_wd
    x, y = nets.teacher_data(scale.samples, seed=0)
    model = nets.mlp(x.shape[1], scale.widths, 10, norm="batch", seed=1)
    hidden = [f"{i}.weight" for i, m in enumerate(model) if isinstance(m, torch.nn.Linear)][:-1]
    params = dict(model.named_parameters())
    optimizer = _optimizer("RV-AdamW", model, net_lr, net_wd)
    start = {name: params[name].detach().norm(dim=1).clone() for name in hidden}
    tracker = rotation.RotationTracker(model, optimizer, interval=5, names=hidden)
    nets.train_classifier(model, optimizer, x, y, scale.net_steps, seed=2)
    tracker.remove()
    target = rotation.equilibrium("adamw", lr=net_lr, weight_decay=net_wd, fan_in=1, betas=(0.9, 0.999)).angular_update
    late = slice(len(tracker.recorded_steps) // 2, None)
    result.network = pd.DataFrame({name: tracker.angles(name).mean(1) / target for name in hidden},
                                  index=pd.Index(tracker.recorded_steps, name="step"))
    drift = [float((torch.as_tensor(tracker.norms(name)).double() / start[name].double() - 1).abs().max()) for name in hidden]
    means = [float((params[name].detach().mean(dim=1).abs() / start[name]).max()) for name in hidden]
    return [
        compare("MLP + BatchNorm, RV-AdamW: max |neuron norm / initial norm - 1| per layer (float32)", drift, 0.0, 1e-6, "abs",
                reason="the projection keeps norms up to float32 rounding"),
        compare("MLP + BatchNorm, RV-AdamW: max |neuron mean| / neuron norm per layer (zero mean kept)", means, 0.0, 1e-6, "abs",
                reason="the centring keeps means at zero up to float32 rounding"),
        compare("MLP + BatchNorm, RV-AdamW: per-layer angular update in the second half / sqrt(2 lr wd (1-b1)/(1+b1))",
                [tracker.angles(name)[late].mean() / target for name in hidden], 1.0, 0.05, "rel",
                reason="the update-norm average lags a shrinking update early on: 5% in the second half"),
    ]


def _optimizer(kind: str, model: torch.nn.Sequential, lr: float, wd: float) -> torch.optim.Optimizer:
    """One grouping for every kind (:func:`~wdcompanion.optim.param_groups`): no decay on gains and biases, and the
    read-out, whose scale matters (no normalization follows it), decayed but not rotational."""
    groups = param_groups(model, wd, readout=model[-1])
    if kind == "AdamW":
        return torch.optim.AdamW(groups, lr=lr)
    if kind == "RV-AdamW":
        return RotationalWrapper(groups, "adamw", lr=lr)
    if kind == "Adam+L2":
        return torch.optim.Adam(groups, lr=lr)
    if kind == "RV-Adam+L2":
        return RotationalWrapper(groups, "adam", lr=lr, target="adamw")
    raise ValueError(f"unknown optimizer kind {kind!r}")


def train_with_warmup(kind: str, lr: float, *, warmup: bool, steps: int, data, widths, weight_decay: float,
                      warmup_fraction: float, seed: int = 0, norm: str = "batch") -> dict:
    """Train a fresh MLP with ``kind`` at peak ``lr``, linear warmup over ``warmup_fraction`` of the steps or none.

    Returns the final metrics (training loss over the last 10% of the steps, NaN if it diverged, and accuracy).
    """
    x, y = data
    model = nets.mlp(x.shape[1], widths, 10, norm=norm, seed=seed)
    optimizer = _optimizer(kind, model, lr, weight_decay)
    warm = max(1, int(warmup_fraction * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: min(1.0, (t + 1) / warm) if warmup else 1.0)
    run = nets.train_classifier(model, optimizer, x, y, steps, seed=seed + 10, on_step=lambda _: schedule.step())
    tail = run.losses[-max(1, steps // 10):]
    return dict(optimizer=kind, lr=lr, warmup=warmup, seed=seed, loss=float(np.mean(tail)) if np.all(np.isfinite(tail))
                else float("nan"), accuracy=run.accuracy)


def warmup_run(*, optimizer: str, lr: float, warmup: bool, seed: int, weight_decay: float, steps: int, samples: int,
               widths: list[int], warmup_fraction: float) -> dict[str, float]:
    """One training of the warmup sweep or the Adam + L2 grid, as a :func:`~wdcompanion.sweep.run_sweep` run.

    Everything it depends on is in its arguments: the generated data (``samples`` of the teacher task, data
    seed 0), the model's and the batch order's seeds (from ``seed``, see :func:`train_with_warmup`).
    Returns the final training loss (mean over the last 10% of the steps, NaN if it diverged) and accuracy.
    """
    row = train_with_warmup(optimizer, lr, warmup=warmup, steps=steps, data=nets.teacher_data(samples, seed=0),
                            widths=tuple(widths), seed=seed, weight_decay=weight_decay, warmup_fraction=warmup_fraction)
    return dict(loss=row["loss"], accuracy=row["accuracy"])


def sweep_settings(settings: Settings) -> tuple[list[dict], list[dict]]:
    """The settings of :func:`warmup_run` for the warmup sweep and for the Adam + L2 grid."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a rotational_variants.Settings such as SMALL, got {type(settings).__name__}")
    common = dict(steps=settings.sweep_steps, samples=settings.samples, widths=list(settings.widths),
                  warmup_fraction=settings.warmup_fraction)
    wd = settings.net_wd
    sweep = [dict(optimizer=kind, lr=lr, warmup=warmup, seed=seed, weight_decay=wd, **common)
             for kind in ("AdamW", "RV-AdamW") for lr in settings.lrs for warmup in (True, False) for seed in settings.seeds]
    grid = [dict(optimizer=kind, lr=lr, warmup=True, seed=0, weight_decay=decay, **common)
            for lr in settings.grid_lrs
            for kind, decay in (("Adam+L2", settings.grid_l2_small), ("Adam+L2", wd), ("AdamW", wd), ("RV-Adam+L2", wd))]
    return sweep, grid


def _sweep(scale: Settings, result) -> None:
    """Both grids in one :func:`~wdcompanion.sweep.run_sweep` call: local processes (or ``$WDC_DASK``'s cluster),
    results stored in ``$WDC_SWEEP_STORE`` when it is set, so an interrupted paper-scale run resumes."""
    sweep, grid = sweep_settings(scale)
    unique = [setting for i, setting in enumerate(sweep + grid) if setting not in (sweep + grid)[:i]]  # AdamW runs can coincide
    table = run_sweep(warmup_run, unique, store=store_from_env())
    result.sweep, result.grid = (table.iloc[[unique.index(s) for s in part]].reset_index(drop=True) for part in (sweep, grid))


def run(settings: Settings | str = SMALL, *, sweep: bool = True) -> RotationalVariantsResult:
    """Run every experiment of the chapter with ``settings`` (or a scale name) and return its data and verdict.

    ``sweep=False`` skips the reported-only learning-rate sweep and grid (the verdict is the same).
    """
    settings = resolve(settings, Settings, REGISTERED)
    start = time.perf_counter()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    result = RotationalVariantsResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _walks(settings, result) + _network(settings, result)
    if sweep:
        _sweep(settings, result)
    result.verdict = verdict_for(CLAIM_ID, comparisons, settings, REGISTERED, start)
    return result
