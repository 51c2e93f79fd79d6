"""Trace of the AdamW + BatchNorm run of ``req-balanced-rotation --scale paper`` (a diagnosis, not a check).

    python scripts/trace_balanced_rotation_paper.py [--steps 13000] [--every 500] [--window 200]

Trains the paper-scale MLP (four hidden layers of width 512, BatchNorm, 2^20 generated examples,
AdamW with the chapter's lr, weight decay and betas, rows started at the equilibrium norm) as the
claim does, and prints every ``--every`` steps each hidden layer's mean neuron norm and mean angular
update (one step's), with the predictions sqrt(lr C / (2 wd)) and sqrt(2 lr wd (1-b1)/(1+b1)).
At the end it prints, per BatchNorm layer, the fraction of gains |gamma| < 0.01, and splits the
first layer's rows into those that received gradient during the last ``--window`` steps and those
that did not (their median norms). The chapter's paragraph on the paper scale quotes this output
(13,000 steps, about seven minutes on two CPU cores).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from wdcompanion import nets, rotation
from wdcompanion.claims.balanced_rotation import BETAS, LR, WD

EARLIER_SAMPLES, EARLIER_WIDTHS = 2**20, (512, 512, 512, 512)  # the earlier paper-scale setup (generated data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=13000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    if min(args.steps, args.every, args.window) < 1 or args.window > args.steps:
        parser.error("--steps, --every and --window must be positive, with --window <= --steps")

    torch.set_num_threads(2)
    x, y = nets.teacher_data(EARLIER_SAMPLES, seed=0)
    model = nets.mlp(x.shape[1], EARLIER_WIDTHS, 10, norm="batch", seed=1)
    params = dict(model.named_parameters())
    hidden = [f"{i}.weight" for i, m in enumerate(model) if isinstance(m, torch.nn.Linear)][:-1]
    gains = [f"{i}.weight" for i, m in enumerate(model) if isinstance(m, torch.nn.BatchNorm1d)]
    predicted_norm = {}
    with torch.no_grad():  # as in the claim: scale-invariant rows start at the equilibrium norm
        for name in hidden:
            w = params[name]
            predicted_norm[name] = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=w.shape[1], betas=BETAS).norm
            w.mul_(predicted_norm[name] / w.norm(dim=1, keepdim=True))
    angle = rotation.equilibrium("adamw", lr=LR, weight_decay=WD, fan_in=1, betas=BETAS).angular_update
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD)
    gen = torch.Generator().manual_seed(2)
    first = params[hidden[0]]
    got_gradient = torch.zeros(first.shape[0], dtype=torch.bool)
    losses = []
    print(f"predicted: angle {angle:.5f}, norms " + " ".join(f"{predicted_norm[n]:.3f}" for n in hidden))
    for step in range(1, args.steps + 1):
        index = torch.randint(0, len(x), (128,), generator=gen)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        loss.backward()
        if step > args.steps - args.window:
            got_gradient |= first.grad.abs().sum(dim=1) > 0
        before = {n: params[n].detach().clone() for n in hidden} if step % args.every == 0 else None
        optimizer.step()
        losses.append(loss.item())
        if before is not None:
            cos = {n: torch.nn.functional.cosine_similarity(before[n], params[n].detach(), dim=1).clamp(-1, 1) for n in hidden}
            angles = " ".join(f"{float(torch.arccos(cos[n]).mean()):.4f}" for n in hidden)
            norms = " ".join(f"{float(params[n].detach().norm(dim=1).mean()):.3f}" for n in hidden)
            print(f"step {step:6d}  loss {np.mean(losses[-args.every:]):.3f}  mean norms {norms}  mean angles {angles}", flush=True)
    for name in gains:
        gamma = params[name].detach().abs()
        print(f"BatchNorm {name}: fraction of |gamma| < 0.01: {float((gamma < 1e-2).float().mean()):.2f}")
    row_norms = first.detach().norm(dim=1)
    for label, rows in (("received gradient", got_gradient), ("no gradient", ~got_gradient)):
        median = f"{float(row_norms[rows].median()):.3f}" if rows.any() else "-"
        print(f"first layer, rows with {label} in the last {args.window} steps: {int(rows.sum())}, median norm {median}")


if __name__ == "__main__":
    main()
