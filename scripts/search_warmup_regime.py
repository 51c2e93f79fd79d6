r"""Search for a learning-rate-warmup effect on MNIST-1D (issue: warmup on real data), one seed per setting.

Exploratory, not a claim check: it trains plain and rotational-variant (RV) optimizers with and
without linear warmup (10% of the steps, then cosine to 0) across peak learning rates, with the
paper's parameter grouping (``wdcompanion.optim.param_groups``: only weights of two or more
dimensions decayed; the read-out decayed, not rotational), and prints the final training loss (mean
of the last 10% of the steps) and the held-out accuracy. Run, for example::

    .venv/bin/python scripts/search_warmup_regime.py '{"kinds": ["sgdm", "rv-sgdm"], "lrs": [0.2, 0.8, 3.2],
        "warm": 0.1, "seeds": [0], "steps": 400, "batch": 1000, "wd": 0.0005, "widths": [8, 16, 32], "arch": "resnet"}'

What it found on 2 CPU cores (2 December 2026; 1 seed; batch 1000 of the 4,000 training samples;
momentum 0.9; AdamW betas (0.9, 0.95)); test accuracy with warmup / without:

- BatchNorm MLP 3x256, SGDM, wd 5e-4, 600 steps, lr 0.1 ... 51.2: warmup changes accuracy by at
  most 0.04 (lr 1.6: 0.75 / 0.71); both diverge from lr 6.4 on (6.4: 0.11 / 0.47). RV-SGDM: the same
  at small lr, and with warmup it survives up to lr 12.8 (0.59 / 0.34).
- 1-D ResNet (8-16-32, one block per stage, BatchNorm), SGDM, wd 5e-4, 400 steps: no gap up to lr
  1.6 (0.976 / 0.972); above it, warmup is *worse* (3.2: 0.87 / 0.97; 6.4: 0.34 / 0.93; 12.8:
  0.30 / 0.46). RV-SGDM: 0.98-0.99 at every lr up to 6.4 with or without warmup; at 12.8 it fails
  with warmup (0.09) and not without (0.95).
- The same ResNet, AdamW, wd 0.1: no gap up to lr 0.5 (0.985 / 0.990); at lr 2 warmup is worse
  (0.92 / 0.94), at 8 both fail (0.10 / 0.33). RV-AdamW: 0.97-0.99 up to lr 2 either way, and it
  fails at 8 too (0.09 / 0.09).

So at this scale the plain optimizers show no regime where warmup helps; where the learning rate is
too large, warmup hurts them (a plausible mechanism, not yet tested: without warmup the first large
steps grow the scale-invariant weights' norms, which lowers their effective learning rate
:math:`\eta/\lVert w\rVert^2`; with warmup the norms stay small until the peak learning rate
arrives). The RVs widen the range of usable learning rates instead. Not yet tried: full batch,
longer runs, no BatchNorm affine parameters, a rotational read-out, a transformer.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch

from wdcompanion import nets
from wdcompanion.data import mnist1d
from wdcompanion.optim import RotationalWrapper, param_groups

KINDS = ("sgdm", "rv-sgdm", "adamw", "rv-adamw")


def make_optimizer(kind: str, model: torch.nn.Sequential, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    groups = param_groups(model, weight_decay, readout=model[-1])
    if kind == "sgdm":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    if kind == "rv-sgdm":
        return RotationalWrapper(groups, "sgdm", lr=lr, weight_decay=weight_decay, momentum=0.9)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))
    if kind == "rv-adamw":
        return RotationalWrapper(groups, "adamw", lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def train(data, kind: str, lr: float, warm: float, seed: int, steps: int, batch: int, weight_decay: float,
          widths: tuple[int, ...], arch: str) -> tuple[float, float]:
    """Final training loss (NaN if it diverged) and held-out accuracy of one run."""
    if arch == "mlp":
        model = nets.mlp(data.features, widths, data.classes, norm="batch", seed=seed)
    else:
        model = nets.resnet1d(data.features, widths, 1, data.classes, seed=seed)
    optimizer = make_optimizer(kind, model, lr, weight_decay)
    warm_steps = int(warm * steps)

    def factor(t: int) -> float:
        if t < warm_steps:
            return (t + 1) / warm_steps
        return 0.5 * (1 + math.cos(math.pi * (t - warm_steps) / max(1, steps - warm_steps)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    try:
        run = nets.train_classifier(model, optimizer, data.x_train, data.y_train, steps, batch_size=batch, seed=seed + 10,
                                    on_step=lambda _: schedule.step())
    except ValueError:  # the RV refuses a neuron whose weights became non-finite: diverged
        return float("nan"), float("nan")
    loss = float(np.mean(run.losses[-max(1, steps // 10):]))
    return loss, nets.held_out_accuracy(model, data.x_test, data.y_test) if np.isfinite(loss) else float("nan")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: search_warmup_regime.py CONFIG_JSON (see the module docstring)", file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    torch.set_num_threads(1)
    data, start = mnist1d(), time.perf_counter()
    for kind in config["kinds"]:
        for lr in config["lrs"]:
            cells = []
            for warm in (config["warm"], 0.0):
                for seed in config["seeds"]:
                    loss, accuracy = train(data, kind, lr, warm, seed, config["steps"], config["batch"], config["wd"],
                                           tuple(config["widths"]), config["arch"])
                    cells.append(f"warmup {warm:g}, seed {seed}: loss {loss:.3f} acc {accuracy:.3f}")
            print(f"{kind} lr={lr:g}  " + "  ".join(cells) + f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
