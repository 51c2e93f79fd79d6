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

CLAIM_ID = "req-rotational-variants"

__all__ = ["CLAIM_ID", "RotationalVariantsResult", "run", "WALKS", "train_with_warmup", "warmup_run", "sweep_settings"]

C = 256
# (label, optimizer, lr, weight_decay, keyword arguments) of the random walks
WALKS = (
    ("AdamW", "adamw", 0.02, 0.1, dict(betas=(0.9, 0.99))),
    ("SGDM", "sgdm", 0.2, 0.01, dict(momentum=0.9)),
    ("Lion", "lion", 0.002, 0.5, dict(betas=(0.9, 0.99))),
    ("Adam+L2 (wrapped, AdamW angle)", "adam_l2", 0.02, 0.1, dict(betas=(0.9, 0.99))),
)
_SCALE = {
    "small": dict(steps=600, neurons=32, net_steps=800, widths=(64, 64, 64), samples=2048, sweep_steps=300,
                  lrs=(0.001, 0.004, 0.016, 0.064, 0.256), seeds=(0, 1), grid_lrs=(0.003, 0.01, 0.03)),
    "paper": dict(steps=5000, neurons=256, net_steps=10000, widths=(512, 512, 512, 512), samples=65536,
                  sweep_steps=5000, lrs=tuple(0.001 * 2.0**k for k in range(11)), seeds=(0, 1, 2),
                  grid_lrs=(0.001, 0.003, 0.01, 0.03, 0.1)),
}
NET_LR, NET_WD, WARMUP_FRACTION = 0.01, 0.1, 0.1
SETTLED = 100  # steps after which the RV's update-norm average has forgotten the start (beta_u = 0.9)


@dataclass
class RotationalVariantsResult:
    verdict: Verdict
    walks: dict = field(default_factory=dict)  # label -> {"plain"/"rv": (steps, mean angle / target)}
    windows: list[dict] = field(default_factory=list)  # per walk: mean angle / target in step windows
    network: dict = field(default_factory=dict)  # layer -> (steps, mean angle / target)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per warmup_run: its settings, loss, accuracy
    grid: pd.DataFrame = field(default_factory=pd.DataFrame)  # the same for the Adam + L2 / AdamW / wrapped grid


def _window(values: np.ndarray, start: int, stop: int) -> float:
    return float(values[start:stop].mean())


def _walks(scale, result) -> list[Comparison]:
    first_rv, settled_rv, norm_drift, first_plain, first_plain_pred = [], [], [], [], []
    for label, name, lr, wd, kwargs in WALKS:
        G = C - 1.0  # unit gradient scale
        pred = rotation.equilibrium("adamw" if name == "adam_l2" else name, lr=lr, weight_decay=wd, fan_in=C,
                                    grad_norm_sq=G, **kwargs)
        target = pred.angular_update
        norm0 = 0.1 * pred.norm
        common = dict(lr=lr, weight_decay=wd, steps=scale["steps"], n_neurons=scale["neurons"], fan_in=C, init_norm=norm0,
                      seed=3, **kwargs)
        rv = rotation.random_walk(name, rotational=True, **common)
        curves = {"rv": (rv.steps, rv.angles.mean(1) / target)}
        first_rv.append(rv.angles[0] / target)
        settled_rv.append(rv.angles[SETTLED:].mean() / target)
        norm_drift.append(np.abs(rv.norms / norm0 - 1).max())
        row = dict(label=label, target=target)
        if name == "adamw":
            plain = rotation.random_walk(name, **common)
            curves["plain"] = (plain.steps, plain.angles.mean(1) / target)
            first_plain.append(plain.angles[0].mean())
            first_plain_pred.append(math.atan(lr * math.sqrt(C - 1) / ((1 - lr * wd) * norm0)))
            for key, values in curves.items():
                row.update({f"{key} {a}-{b}": _window(values[1], a, b) for a, b in ((0, 10), (10, 100), (100, None))})
        else:
            row.update({f"rv {a}-{b}": _window(curves["rv"][1], a, b) for a, b in ((0, 10), (10, 100), (100, None))})
        result.walks[label] = curves
        result.windows.append(row)
    return [
        compare("random walk, plain AdamW from 0.1x the equilibrium norm: first angular update vs "
                "arctan(lr sqrt(C-1) / ((1 - lr wd) |w0|))", first_plain, first_plain_pred, 0.02, "rel"),
        compare("random walk, RV (AdamW, SGDM, Lion, wrapped Adam+L2): first angular update of every neuron / target",
                np.concatenate(first_rv), 1.0, 1e-3, "rel"),
        compare(f"random walk, RV: mean angular update after step {SETTLED} / equilibrium angle of Table 1",
                settled_rv, 1.0, 0.02, "rel"),
        compare("random walk, RV: max |norm / initial norm - 1| over all neurons and steps", norm_drift, 0.0, 1e-6, "abs"),
    ]


def _network(scale, result) -> list[Comparison]:
    x, y = nets.teacher_data(scale["samples"], seed=0)
    model = nets.mlp(x.shape[1], scale["widths"], 10, norm="batch", seed=1)
    hidden = [f"{i}.weight" for i, m in enumerate(model) if isinstance(m, torch.nn.Linear)][:-1]
    params = dict(model.named_parameters())
    optimizer = _optimizer("RV-AdamW", model, NET_LR, NET_WD)
    start = {name: params[name].detach().norm(dim=1).clone() for name in hidden}
    tracker = rotation.RotationTracker(model, optimizer, interval=5, names=hidden)
    nets.train_classifier(model, optimizer, x, y, scale["net_steps"], seed=2)
    tracker.remove()
    target = rotation.equilibrium("adamw", lr=NET_LR, weight_decay=NET_WD, fan_in=1, betas=(0.9, 0.999)).angular_update
    late = slice(len(tracker.recorded_steps) // 2, None)
    result.network = {name: (tracker.recorded_steps, tracker.angles(name).mean(1) / target)
                      for name in hidden}
    drift = [float((torch.as_tensor(tracker.norms(name)).double() / start[name].double() - 1).abs().max()) for name in hidden]
    means = [float((params[name].detach().mean(dim=1).abs() / start[name]).max()) for name in hidden]
    return [
        compare("MLP + BatchNorm, RV-AdamW: max |neuron norm / initial norm - 1| per layer (float32)", drift, 0.0, 1e-6, "abs"),
        compare("MLP + BatchNorm, RV-AdamW: max |neuron mean| / neuron norm per layer (zero mean kept)", means, 0.0, 1e-6, "abs"),
        compare("MLP + BatchNorm, RV-AdamW: per-layer angular update in the second half / sqrt(2 lr wd (1-b1)/(1+b1))",
                [tracker.angles(name)[late].mean() / target for name in hidden], 1.0, 0.05, "rel"),
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


def train_with_warmup(kind: str, lr: float, *, warmup: bool, steps: int, data, widths, seed: int = 0,
                      weight_decay: float = NET_WD, norm: str = "batch") -> dict:
    """Train a fresh MLP with ``kind`` at peak ``lr``, linear warmup over 10% of the steps or none; final metrics."""
    x, y = data
    model = nets.mlp(x.shape[1], widths, 10, norm=norm, seed=seed)
    optimizer = _optimizer(kind, model, lr, weight_decay)
    warm = max(1, int(WARMUP_FRACTION * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: min(1.0, (t + 1) / warm) if warmup else 1.0)
    run = nets.train_classifier(model, optimizer, x, y, steps, seed=seed + 10, on_step=lambda _: schedule.step())
    tail = run.losses[-max(1, steps // 10):]
    return dict(optimizer=kind, lr=lr, warmup=warmup, seed=seed, loss=float(np.mean(tail)) if np.all(np.isfinite(tail))
                else float("nan"), accuracy=run.accuracy)


def warmup_run(*, optimizer: str, lr: float, warmup: bool, seed: int, weight_decay: float, steps: int, samples: int,
               widths: list[int]) -> dict[str, float]:
    """One training of the warmup sweep or the Adam + L2 grid, as a :func:`~wdcompanion.sweep.run_sweep` run.

    Everything it depends on is in its arguments: the generated data (``samples`` of the teacher task, data
    seed 0), the model's and the batch order's seeds (from ``seed``, see :func:`train_with_warmup`).
    Returns the final training loss (mean over the last 10% of the steps, NaN if it diverged) and accuracy.
    """
    row = train_with_warmup(optimizer, lr, warmup=warmup, steps=steps, data=nets.teacher_data(samples, seed=0),
                            widths=tuple(widths), seed=seed, weight_decay=weight_decay)
    return dict(loss=row["loss"], accuracy=row["accuracy"])


def sweep_settings(scale: dict) -> tuple[list[dict], list[dict]]:
    """The settings of :func:`warmup_run` for the warmup sweep and for the Adam + L2 grid, from a scale's settings dict."""
    if not isinstance(scale, dict):
        raise TypeError(f"scale must be a dict of settings such as _SCALE['small'], got {type(scale).__name__}")
    common = dict(steps=scale["sweep_steps"], samples=scale["samples"], widths=list(scale["widths"]))
    sweep = [dict(optimizer=kind, lr=lr, warmup=warmup, seed=seed, weight_decay=NET_WD, **common)
             for kind in ("AdamW", "RV-AdamW") for lr in scale["lrs"] for warmup in (True, False) for seed in scale["seeds"]]
    grid = [dict(optimizer=kind, lr=lr, warmup=True, seed=0, weight_decay=wd, **common)
            for lr in scale["grid_lrs"] for kind, wd in (("Adam+L2", 1e-3), ("Adam+L2", NET_WD), ("AdamW", NET_WD),
                                                       ("RV-Adam+L2", NET_WD))]
    return sweep, grid


def _sweep(scale, result) -> None:
    """Both grids in one :func:`~wdcompanion.sweep.run_sweep` call: local processes (or ``$WDC_DASK``'s cluster),
    results stored in ``$WDC_SWEEP_STORE`` when it is set, so an interrupted paper-scale run resumes."""
    sweep, grid = sweep_settings(scale)
    unique = [setting for i, setting in enumerate(sweep + grid) if setting not in (sweep + grid)[:i]]  # AdamW runs can coincide
    table = run_sweep(warmup_run, unique, store=store_from_env())
    result.sweep, result.grid = (table.iloc[[unique.index(s) for s in part]].reset_index(drop=True) for part in (sweep, grid))


def run(scale: str = "small", *, sweep: bool = True) -> RotationalVariantsResult:
    """Run every experiment of the chapter and return its data with the verdict.

    ``sweep=False`` skips the reported-only learning-rate sweep and grid (the verdict is the same).
    """
    start = time.perf_counter()
    settings = _SCALE[scale]
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    result = RotationalVariantsResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _walks(settings, result) + _network(settings, result)
    if sweep:
        _sweep(settings, result)
    result.verdict = Verdict(CLAIM_ID, tuple(comparisons), scale, time.perf_counter() - start)
    return result
