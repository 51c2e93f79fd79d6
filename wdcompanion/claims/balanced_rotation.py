r"""Claim ``req-balanced-rotation``: AdamW balances rotation across layers and neurons; Adam + L2 does not.

Kosson, Messmer & Jaggi (ICML 2024): the equilibrium angular update depends only on the learning
rate, weight decay and momentum for AdamW and SGD with momentum, so rotation is balanced across
layers and neurons; with Adam + L2 it depends on the gradient size and fan-in; Weight
Standardization balances rotation per neuron where LayerNorm alone does so only per layer.
Measured here:

1. synthetic "layers" of different fan-in and gradient scale in the random-walk model: the spread
   (max/min) of equilibrium angular updates for AdamW and SGDM against 1, for Adam + L2 against the
   ratio :func:`wdcompanion.rotation.equilibrium` predicts;
2. a small MLP trained on generated data to steady state, with a per-neuron
   :class:`~wdcompanion.rotation.RotationTracker`: with BatchNorm, AdamW's per-layer angular update
   against :math:`\hat\eta_r`, and Adam + L2's per-layer update against its prediction computed from the
   measured gradient norms; with LayerNorm + Weight Standardization, every neuron's angular update
   against :math:`\hat\eta_r` (with LayerNorm alone, no per-neuron prediction exists: reported only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import nets, rotation
from .._validation import as_real_array, check_count
from .protocol import Comparison, Verdict, compare

CLAIM_ID = "req-balanced-rotation"

__all__ = ["CLAIM_ID", "BalancedRotationResult", "run", "GROUPS", "RESNET_LABELS", "train_resnet", "resnet_comparisons"]

GROUPS = ((64, 0.1), (256, 1.0), (1024, 10.0))  # (fan-in, gradient scale) of three synthetic layers
# Enough samples that the MLP cannot memorize them (at most ~16 passes): on 2,048 samples the training loss reached
# ~0.002, the gradients vanished and the WS run had no steady state (its angles halved, by chance of rounding).
_SCALE = {"small": dict(neurons=32, steps=1500, net_steps=2000, widths=(64, 64, 64), samples=16384),
          "paper": dict(neurons=256, steps=10000, net_steps=30000, widths=(512, 512, 512, 512), samples=2**20,
                        resnet=dict(widths=(32, 64, 128), blocks=2, steps=20000, samples=50000))}
LR, WD, BETAS = 0.01, 0.1, (0.9, 0.999)
WD_L2 = 1e-3  # Adam + L2 needs a far smaller coefficient: at 0.1 the weights collapse and rotate ~1 rad/step


@dataclass
class BalancedRotationResult:
    verdict: Verdict
    synthetic: dict = field(default_factory=dict)  # optimizer -> list of (C, sigma, measured, predicted)
    layers: dict = field(default_factory=dict)  # run label -> {layer: per-neuron mean angles}
    norms: dict = field(default_factory=dict)  # run label -> {layer: per-neuron mean norms}
    layer_predictions: dict = field(default_factory=dict)  # run label -> {layer: predicted angle}
    curves: dict = field(default_factory=dict)  # run label -> {layer: (steps, mean angle per record)}
    accuracy: dict = field(default_factory=dict)


def _synthetic(scale, result) -> list[Comparison]:
    settings = {"adamw": (0.02, 0.1, dict(betas=BETAS)), "sgdm": (0.2, 0.01, dict(momentum=0.9)),
                "adam_l2": (0.02, 0.1, dict(betas=BETAS))}
    spreads, l2_measured, l2_predicted = [], [], []
    for name, (lr, wd, kwargs) in settings.items():
        rows = []
        for seed, (fan_in, sigma) in enumerate(GROUPS):
            G = sigma**2 * (fan_in - 1)
            pred = rotation.equilibrium(name, lr=lr, weight_decay=wd, fan_in=fan_in, grad_norm_sq=G, **kwargs)
            walk = rotation.random_walk(name, lr=lr, weight_decay=wd, steps=scale["steps"], n_neurons=scale["neurons"],
                                        fan_in=fan_in, grad_scale=sigma, init_norm=pred.norm, seed=seed, **kwargs)
            late = walk.steps >= scale["steps"] // 3
            rows.append((fan_in, sigma, float(walk.angles[late].mean()), pred.angular_update))
        result.synthetic[name] = rows
        measured = [r[2] for r in rows]
        predicted = [r[3] for r in rows]
        if name == "adam_l2":
            l2_measured.append(max(measured) / min(measured))
            l2_predicted.append(max(predicted) / min(predicted))
        else:
            spreads.append(max(measured) / min(measured))
    return [
        compare("max/min equilibrium angle over 3 synthetic layers (C, grad scale) for AdamW and SGDM vs 1",
                spreads, 1.0, 0.05, "rel"),
        compare("Adam+L2: max/min equilibrium angle over the 3 layers vs predicted ratio", l2_measured, l2_predicted, 0.05, "rel"),
    ]


def _record(label, tracker, names, run, result) -> slice:
    """Store a run's per-neuron angles and norms (second half: steady state), curves and accuracy; returns that half."""
    tracker.remove()
    late = slice(len(tracker.recorded_steps) // 2, None)
    result.layers[label] = {name: tracker.angles(name)[late].mean(0) for name in names}
    result.norms[label] = {name: tracker.norms(name)[late].mean(0) for name in names}
    result.curves[label] = {name: (tracker.recorded_steps, tracker.angles(name).mean(1))
                            for name in names}
    result.accuracy[label] = run.accuracy
    return late


def _train(label, norm, optimizer_name, scale, data, result):
    x, y = data
    model = nets.mlp(x.shape[1], scale["widths"], 10, norm=norm, seed=1)
    hidden = [f"{i}.weight" for i, m in enumerate(model) if isinstance(m, torch.nn.Linear)][:-1]
    make = torch.optim.AdamW if optimizer_name == "adamw" else torch.optim.Adam
    if optimizer_name == "adamw" and norm in ("batch", "layer+ws"):  # rows scale-invariant: start at equilibrium
        with torch.no_grad():
            for name in hidden:
                w = dict(model.named_parameters())[name]
                target = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=w.shape[1], betas=BETAS).norm
                if norm == "layer+ws":  # the scale-invariant neuron is the centred row
                    w.sub_(w.mean(dim=1, keepdim=True))
                w.mul_(target / w.norm(dim=1, keepdim=True))
    optimizer = make(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD if optimizer_name == "adamw" else WD_L2)
    tracker = rotation.RotationTracker(model, optimizer, interval=5, names=hidden, center_rows=norm == "layer+ws")
    run = nets.train_classifier(model, optimizer, x, y, scale["net_steps"], seed=2, record=hidden, record_every=5)
    late = _record(label, tracker, hidden, run, result)
    fan_in = {name: dict(model.named_parameters())[name].shape[1] for name in hidden}
    G = {name: np.mean(run.grad_norms[name][late] ** 2, axis=0) for name in hidden}  # per neuron
    return hidden, fan_in, G


def train_resnet(label, optimizer_name, settings, result, device=None):
    """A ResNet-style CNN on generated images (AdamW started at the equilibrium norm); per-filter angles like ``_train``."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    x, y = nets.teacher_images(settings["samples"], seed=0)
    x, y = x.to(device), y.to(device)
    model = nets.resnet(3, settings["widths"], settings["blocks"], 10, seed=1).to(device)
    params = dict(model.named_parameters())
    convs = [n for n, p in params.items() if p.ndim == 4]
    if optimizer_name == "adamw":
        with torch.no_grad():
            for name in convs:
                w = params[name]
                target = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=w[0].numel(), betas=BETAS).norm
                w.mul_(target / w.reshape(w.shape[0], -1).norm(dim=1).view(-1, 1, 1, 1))
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD_L2)
    tracker = rotation.RotationTracker(model, optimizer, interval=10, names=convs)
    run = nets.train_classifier(model, optimizer, x, y, settings["steps"], seed=2, record=convs, record_every=10)
    late = _record(label, tracker, convs, run, result)
    G = {name: float(np.mean(run.grad_norms[name][late] ** 2)) for name in convs}
    return convs, {name: params[name][0].numel() for name in convs}, G


RESNET_LABELS = {"adamw": "AdamW, ResNet + BatchNorm", "adam_l2": "Adam+L2, ResNet + BatchNorm"}


def _resnet(settings, result) -> list[Comparison]:
    """Paper scale only: AdamW vs Adam + L2 in a ResNet-style CNN (every filter scale-invariant under BatchNorm).

    Checked (:func:`resnet_comparisons`): AdamW's per-layer angle against the prediction, and its
    spread across layers. Adam + L2's per-layer angle against its prediction is reported only: in a
    CPU trial (widths 8-16-32, 2,000 steps) eight of nine layers were within 16% but one 3x3 layer
    rotated 2.4 times faster than predicted.
    """
    train_resnet(RESNET_LABELS["adamw"], "adamw", settings, result)
    convs, fan_in, G = train_resnet(RESNET_LABELS["adam_l2"], "adam_l2", settings, result)
    result.layer_predictions[RESNET_LABELS["adam_l2"]] = {
        n: rotation.equilibrium("adam_l2", lr=LR, weight_decay=WD_L2, fan_in=fan_in[n], grad_norm_sq=G[n],
                                betas=BETAS).angular_update for n in convs}
    return resnet_comparisons(result, convs)


def resnet_comparisons(result, convs) -> list[Comparison]:
    """AdamW's per-conv-layer angles in the recorded ResNet run against the prediction, computed here."""
    label = RESNET_LABELS["adamw"]
    target = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=1, betas=BETAS).angular_update
    result.layer_predictions[label] = {n: target for n in convs}
    adamw = [result.layers[label][n].mean() for n in convs]
    return [
        compare("ResNet + BatchNorm, AdamW: per-conv-layer angular update vs sqrt(2 lr wd (1-b1)/(1+b1))", adamw, target, 0.15, "rel"),
        compare("ResNet + BatchNorm, AdamW: max/min of the per-conv-layer angular updates vs 1 (balanced across layers)",
                [max(adamw) / min(adamw)], 1.0, 0.10, "rel"),
    ]


def adam_l2_per_neuron(fan_in: int, grad_norm_sq: np.ndarray) -> np.ndarray:
    """Adam + L2's predicted equilibrium angle per neuron, from each neuron's mean squared gradient norm G.

    A neuron whose gradient is exactly zero (a dead ReLU unit: G = 0) only decays under L2 and has
    no rotational equilibrium; its entry is NaN rather than an error. Wide networks trained long
    (the paper scale) have such units.
    """
    fan_in = check_count(fan_in, "fan_in")
    g = as_real_array(grad_norm_sq, "grad_norm_sq", ndim=1)
    if np.any(g < 0):
        raise ValueError("grad_norm_sq must be >= 0 (a mean squared norm)")
    return np.array([rotation.equilibrium("adam_l2", lr=LR, weight_decay=WD_L2, fan_in=fan_in, grad_norm_sq=float(v),
                                          betas=BETAS).angular_update if v > 0 else np.nan for v in g])


def _network(scale, result) -> list[Comparison]:
    data = nets.teacher_data(scale["samples"], seed=0)
    target = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=1, betas=BETAS).angular_update
    hidden, fan_in, _ = _train("AdamW, BatchNorm", "batch", "adamw", scale, data, result)
    adamw_layers = [result.layers["AdamW, BatchNorm"][n].mean() for n in hidden]
    adamw_norms = [result.norms["AdamW, BatchNorm"][n].mean() for n in hidden]
    predicted_norms = [rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=fan_in[n], betas=BETAS).norm for n in hidden]
    hidden, fan_in, G = _train("Adam+L2, BatchNorm", "batch", "adam_l2", scale, data, result)
    predicted_l2 = {n: rotation.equilibrium("adam_l2", lr=LR, weight_decay=WD_L2, fan_in=fan_in[n], grad_norm_sq=float(G[n].mean()),
                                            betas=BETAS).angular_update for n in hidden}
    per_neuron = {n: adam_l2_per_neuron(fan_in[n], G[n]) for n in hidden}
    result.layer_predictions["Adam+L2 per neuron"] = per_neuron
    result.layer_predictions["AdamW, BatchNorm"] = {n: target for n in hidden}
    result.layer_predictions["Adam+L2, BatchNorm"] = predicted_l2
    l2_layers = [result.layers["Adam+L2, BatchNorm"][n].mean() for n in hidden]
    _train("AdamW, LayerNorm", "layer", "adamw", scale, data, result)
    hidden_ws, _, _ = _train("AdamW, LayerNorm + WS", "layer+ws", "adamw", scale, data, result)
    ws = result.layers["AdamW, LayerNorm + WS"]
    result.layer_predictions["AdamW, LayerNorm + WS"] = {n: target for n in hidden_ws}
    ws_relative = np.concatenate([ws[n] / ws[n].mean() for n in hidden_ws])  # each neuron against its layer's mean
    return [
        compare("MLP + BatchNorm, AdamW: per-layer steady-state angular update vs sqrt(2 lr wd (1-b1)/(1+b1))",
                adamw_layers, target, 0.15, "rel"),
        compare("MLP + BatchNorm, AdamW: per-layer mean neuron norm vs sqrt(lr C / (2 wd)), C = fan-in",
                adamw_norms, predicted_norms, 0.10, "rel"),
        compare("MLP + BatchNorm, Adam+L2: per-layer angular update vs prediction from measured gradient norms",
                l2_layers, [predicted_l2[n] for n in hidden], 0.25, "rel"),
        compare("MLP + BatchNorm, AdamW: max/min of the per-layer angular updates vs 1 (balanced across layers)",
                [max(adamw_layers) / min(adamw_layers)], 1.0, 0.10, "rel"),
        compare("MLP + LayerNorm + WS, AdamW: per-layer angular update vs sqrt(2 lr wd (1-b1)/(1+b1))",
                [ws[n].mean() for n in hidden_ws], target, 0.15, "rel"),
        compare("MLP + LayerNorm + WS, AdamW: every neuron's angular update / its layer's mean vs 1 (balanced per neuron)",
                ws_relative, 1.0, 0.20, "rel"),
    ]


def _wants_resnet(scale: str, resnet: bool | None) -> bool:
    if resnet is not None and not isinstance(resnet, bool):
        raise TypeError(f"resnet must be True, False or None, got {type(resnet).__name__}")
    if resnet and "resnet" not in _SCALE[scale]:
        raise ValueError(f"resnet=True needs scale='paper' (the ResNet is part of the paper scale only), got scale={scale!r}")
    if resnet is None:
        return "resnet" in _SCALE[scale] and torch.cuda.is_available()
    return resnet


def run(scale: str = "small", *, resnet: bool | None = None) -> BalancedRotationResult:
    """Run every experiment of the chapter and return its data with the verdict.

    At paper scale the ResNet-style CNN is trained where a GPU is present (``resnet=None``) or
    when ``resnet=True`` (on two CPU cores its two runs take about three hours); a paper-scale
    verdict without it says so in its notes.
    """
    if scale not in _SCALE:
        raise ValueError(f"scale must be one of {tuple(_SCALE)}, got {scale!r}")
    with_resnet = _wants_resnet(scale, resnet)
    start = time.perf_counter()
    settings = _SCALE[scale]
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    result = BalancedRotationResult(verdict=None)  # type: ignore[arg-type]
    comparisons = _synthetic(settings, result) + _network(settings, result)
    notes: tuple[str, ...] = ()
    if with_resnet:
        comparisons += _resnet(settings["resnet"], result)
    elif "resnet" in settings:
        why = "resnet=False" if resnet is False else "no GPU present"
        notes = (f"ResNet-style CNN not trained ({why}); run('paper', resnet=True) trains it on the CPU",)
    result.verdict = Verdict(CLAIM_ID, tuple(comparisons), scale, time.perf_counter() - start, notes)
    return result
