r"""Why is the 1-D ResNet's stem the slowest of its convolutions under AdamW? (a diagnosis)

    python scripts/diagnose_resnet_stem.py [--walk-only]

The record of ``req-balanced-rotation`` at paper scale (7 December 2026, library of 32776f7) fails the ResNet's spread
across layers: max/min of the per-convolution angles is 1.130 against a tolerance of 1.10. Every convolution is within
the per-layer tolerance; the slowest is the stem, at 0.922 of :math:`\hat\eta_r = \sqrt{2\eta\lambda k}`,
:math:`k = (1-\beta_1)/(1+\beta_1)`, and the fastest at 1.042. The stem's fan-in is 3 (one input channel, kernel 3);
the others' 48 to 192. ``diagnose_balanced_rotation_paper.py --resnet-filters`` found every convolution's filters in
balance with their own updates but the stem's (``q`` 0.89).

**Our accounting** (the paper's formula takes the whole update as tangential). A filter turns per step by
:math:`\eta\lVert u_\perp\rVert/\lVert w\rVert`, with :math:`u = \hat m/(\sqrt{\hat v}+\epsilon)` and :math:`u_\perp` its
part orthogonal to :math:`w`. With the tangential share :math:`\tau = \sum\lVert u_\perp\rVert^2/\sum\lVert u\rVert^2`, the
update's size :math:`r^2 = \mathbb E\lVert u\rVert^2/(kC)` and the squared norm over the equilibrium's,
:math:`n^2 = \mathbb E\lVert w\rVert^2/(\eta C/(2\lambda))`, the RMS angle over its prediction is about
:math:`\sqrt{\tau\, r^2/n^2}`; the random walk has all three at 1. Scale invariance makes the gradient orthogonal to
:math:`w`, but Adam's per-weight scaling of an anisotropic gradient does not keep it so, and in three dimensions a
radial part is not negligible: that is the hypothesis.

It trains the record's ResNet (``balanced_rotation.PAPER.resnet``, the claim's ``train_resnet``, AdamW) with a hook
that keeps, for every filter of every convolution and every step of the second half, the squared angle,
:math:`\lVert u\rVert^2`, :math:`\lVert u_\perp\rVert^2` and :math:`\lVert w\rVert^2`, and prints per convolution the
mean over filters of the RMS angle over its prediction (the record's statistic), :math:`\sqrt{\tau r^2/n^2}` (median over
filters), :math:`\tau` (pooled over the layer), :math:`r^2` and :math:`n^2` (medians). First, the random walk itself
(``rotation.random_walk``, isotropic gradients, AdamW at the record's hyperparameters, 256 neurons, 10,000 steps started
at the equilibrium norm, RMS over the second half) at fan-in 3, 40, 48 and 512: its angle over the prediction. About
ten minutes on two CPU cores (``--walk-only``: the random walk, under a minute).

**Expected, written before the run** (7 December 2026). (1) Bookkeeping: the layer means of the angle ratio reproduce the
record's within 0.01 (0.922 for the stem), and :math:`\sqrt{\tau r^2/n^2}` is within 3% of the median filter's ratio in
every convolution. (2) If the stem is slow because part of its update is radial, its :math:`\tau` is below 0.90 while
every other convolution's is above 0.97; if the stem's :math:`\tau` is above 0.97, this is refuted. (3) If the random
walk at fan-in 3 turns within 2% of the prediction, the stem's shortfall is not the model's own behaviour at small
fan-in with isotropic gradients; if it turns at 0.92 ± 0.03, it is.

What it printed (7 December 2026, commit ba73366, the record's claim code):

- Random walk: 1.003 at fan-in 3, 1.000 at 40, 48 and 512.
- ResNet, record / hook (layer means over filters; the hook takes every step, the tracker every tenth): the stem
  0.922 / 0.912, the other convolutions 0.963-1.042 / 0.972-1.037. Median filter: the stem 0.989, the others
  0.993-1.038, against :math:`\sqrt{\tau r^2/n^2}` 0.959 and 0.964-1.018. :math:`\tau`: the stem 0.901, the others
  0.956-0.978. :math:`r^2` 0.54-0.89 and :math:`n^2` 0.58-0.87 in every convolution (the stem 0.669 and 0.714).

(1) **Mostly held**: the hook's layer means are within 0.01 of the record's in the stem (0.010) and in all but two
convolutions (0.012 and 0.021 off); :math:`\sqrt{\tau r^2/n^2}` is within 3% of the median filter in every convolution
but one (3.8%, ``9.conv1``), the stem at 3.0%. (2) **Neither held nor refuted as written**: the stem's tangential share,
0.901, sits on the 0.90 bound, and six of the other fourteen convolutions are below 0.97 (0.956-0.970). It is the lowest
by far: a tenth of the stem's squared update is radial, against 2-4% elsewhere, which lowers its angle by a factor
:math:`\sqrt{0.901}` = 0.95 where the others lose 1-2%. (3) **Held**: the random walk at fan-in 3 turns at 1.003 of
the prediction, so a small fan-in alone, with isotropic gradients, does not slow a neuron; the radial part comes from
the real gradients, anisotropic over a filter's three weights, scaled weight by weight. Found after the run: the
stem's *median* filter turns at 0.989 of the prediction, its mean over filters at 0.912, so the rest of the stem's
shortfall is a tail of slow filters, which were not traced. Counting the radial share alone, the stem would sit at
about :math:`0.922\sqrt{0.97/0.901}` = 0.957 of the prediction (the record's mean) and the spread at
1.042/0.957 = 1.09, inside its tolerance of 1.10: a post-hoc estimate, not a check. The updates and the norms of
every convolution are below the random walk's together (:math:`r^2` and :math:`n^2` 0.54-0.89), as
``diagnose_balanced_rotation_paper.py --resnet-updates`` found.

**The stem's tail of slow filters** (expected outcome written before the run, 8 December 2026, after only a 200-step
smoke test of the code). The script now also prints, for the stem's slowest quarter of filters (by the hook's ratio)
and for the others, the medians of :math:`\tau`, :math:`r^2` and :math:`n^2` per filter, and the Spearman correlations
over the stem's 16 filters of the ratio with each. Expected: (4) if the tail is slow because part of its update is
radial, the slowest quarter's median :math:`\tau` is below 0.85 while the others' is above 0.93; if it is within 0.03 of
the others', the radial part is refuted as the tail's cause. (5) Whatever (4) finds, of :math:`\tau`, :math:`r^2`
(the update's size) and :math:`n^2` (the norm), the one whose median differs most between the two groups, in its effect
on the angle (:math:`\sqrt\tau`, :math:`r`, :math:`1/n`), is the proximate cause of the tail (a description, not an
explanation).

What it printed (8 December 2026, commit 91a5c8e, on another machine than the run above; the training is chaotic): the
stem turns at 0.882 of the prediction, its median filter too (0.882; the other convolutions 0.914-1.029), its
:math:`\tau` is 0.919 (the others 0.965-0.978). The slowest quarter of its filters (4 of 16, median ratio 0.731)
against the others (0.985): :math:`\tau` 0.848 / 0.970, :math:`r^2` 0.616 / 0.610, :math:`n^2` 1.106 / 0.668; Spearman
over the 16 filters of the ratio with :math:`\tau` +0.64, with :math:`r^2` +0.13, with :math:`n^2` -0.34. (4) **Held,
at its bound**: the slow quarter's :math:`\tau`, 0.848, is under 0.85, the others' above 0.93; it costs them
:math:`\sqrt{0.848/0.970}` = 0.94 of their angle. (5) The larger factor is the **norm**: the slow filters are 1.29 times
as long as the others (:math:`1/n` costs 0.78), with updates of the same size. The same as the slow neurons of the WS
MLP (``diagnose_second_moment.py --ws``): long norms and a larger radial share.

**Expected, written before the next run** (8 December 2026; the hook also keeps, per filter, the radial term of the
squared norm's change, :math:`R = -2\eta(1-\eta\lambda)\sum_t u\cdot w`, against the update's own term
:math:`T = \eta^2\sum_t\lVert u\rVert^2`). (6) If the slow filters are long because their updates point consistently
outward, the slow quarter's median :math:`R/T` is above +0.3 while the others' is within ±0.1; if the two are within 0.1
of each other, that is refuted.

**Corrected before this run**, after the WS run of ``diagnose_second_moment.py --ws`` showed its premise wrong: with
momentum the random walk has :math:`R/T = 1/k - 1` = 18.0 at :math:`\beta_1 = 0.9` (that script's docstring), not 0, and
the WS MLP's median neurons sit there. (6') If the slow filters are long because their updates point outward beyond the
momentum's share, the slow quarter's median :math:`R/T` exceeds 18 by more than 3 while the others' is within 2 of 18;
if the two medians are within 2 of each other, that is refuted.

What it printed (8 December 2026, commit 83c8aab, the same machine; every other number as in the run before): the slow
quarter's median :math:`R/T` is +30.6, the others' +18.0. (6') **Held**: the slow filters get an outward radial part
beyond the momentum's, 12.6 times :math:`T`, the others none beyond it. With the decay balancing :math:`R + T`, their
squared norms over their updates' squared size should be :math:`31.6/19.0` = 1.66 times the others'; measured
(medians), 1.64. So the stem's tail of slow filters is the WS outliers' mechanism: updates that point outward, more than
the momentum explains, lengthen the filter, and a longer filter turns more slowly for the same update. Why they point
outward was not measured.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from diagnose_gradient_correlation import _accumulate, _adam_step, _hidden_weights_hook  # scripts/ is on sys.path
from scipy.stats import spearmanr

from wdcompanion import rotation
from wdcompanion.averaging import rms_over_steps
from wdcompanion.claims import balanced_rotation as br


def random_walks(hyper: br.Hyperparameters, steps: int = 10000) -> None:
    """The random walk's RMS angle over AdamW's prediction at a few fan-ins (second half)."""
    pred = hyper.adamw(1).angular_update
    for fan_in in (3, 40, 48, 512):
        walk = rotation.random_walk("adamw", lr=hyper.lr, weight_decay=hyper.weight_decay, betas=hyper.betas, steps=steps,
                                    n_neurons=256, fan_in=fan_in, init_norm=hyper.adamw(fan_in).norm, seed=0)
        late = walk.steps >= steps // 2
        ratio = rms_over_steps(walk.angles[late]) / pred
        print(f"random walk, AdamW, fan-in {fan_in:3d}: RMS angle / prediction, mean over neurons {ratio.mean():.3f}", flush=True)


def _hook(half: int, sums: dict):
    """After step ``half``, per filter of every convolution (3-D weight), the sums of the terms of the module docstring."""
    def visit(optimizer, group, p, layer: int) -> None:
        lr, wd = group["lr"], group["weight_decay"]
        step = _adam_step(optimizer, group, p)
        u, old, new = step.u.flatten(1), step.old.flatten(1), step.new.flatten(1)
        n2 = old.pow(2).sum(1)
        radial = (u * old).sum(1) ** 2 / n2
        cos = (old * new).sum(1) / (n2.sqrt() * new.norm(dim=1))
        for key, value in (("angle2", torch.arccos(cos.clamp(-1, 1)).pow(2)), ("u2", u.pow(2).sum(1)),
                           ("u_perp2", u.pow(2).sum(1) - radial), ("n2", n2), ("steps", 1),
                           ("outward", -2 * lr * (1 - lr * wd) * (u * old).sum(1))):
            _accumulate(sums, layer, key, value)

    return _hidden_weights_hook(half, classes=0, visit=visit, select=lambda p: p.ndim == 3)


def resnet(steps: int) -> None:
    settings, hyper = dataclasses.replace(br.PAPER.resnet, steps=steps), br.PAPER.hyper
    lr, wd, k = hyper.lr, hyper.weight_decay, (1 - hyper.betas[0]) / (1 + hyper.betas[0])
    pred = hyper.adamw(1).angular_update
    sums: dict[int, dict] = {}
    handle = _hook(settings.steps // 2, sums)
    try:
        run = br.train_resnet(br.RESNET_LABELS["adamw"], "adamw", settings, hyper,
                              br.BalancedRotationResult(verdict=None), device="cpu")  # type: ignore[arg-type]
    finally:
        handle.remove()
    print("AdamW, ResNet + BatchNorm, per convolution (second half)")
    print("layer                      C   record  hook  sqrt(tau r^2/n^2)  tau    r^2    n^2")
    for layer, name in enumerate(run.layers):
        sm, fan_in = sums[layer], run.fan_in[name]
        T = sm["steps"]
        hook_ratio = (sm["angle2"] / T).sqrt().numpy() / pred
        tau_filter = (sm["u_perp2"] / sm["u2"]).numpy()
        r2 = (sm["u2"] / T).numpy() / (k * fan_in)
        n2 = (sm["n2"] / T).numpy() / (lr * fan_in / (2 * wd))
        tau = float(sm["u_perp2"].sum() / sm["u2"].sum())
        print(f"{name:24s} {fan_in:4d}  {run.angles[name].mean() / pred:.3f}  {hook_ratio.mean():.3f}  "
              f"{np.median(np.sqrt(tau_filter * r2 / n2)):.3f} (median ratio {np.median(hook_ratio):.3f})  {tau:.3f}  "
              f"{np.median(r2):.3f}  {np.median(n2):.3f}", flush=True)
        if layer == 0:
            stem = (hook_ratio, tau_filter, r2, n2, (sm["outward"] / (lr**2 * sm["u2"])).numpy())  # R / T
    ratio, tau_filter, r2, n2, outward = stem
    slow = ratio <= np.quantile(ratio, 0.25)
    print(f"the stem's slowest quarter of filters ({int(slow.sum())} of {len(ratio)}; ratio {np.median(ratio[slow]):.3f}) "
          f"against the others ({np.median(ratio[~slow]):.3f}), medians: tau {np.median(tau_filter[slow]):.3f} / "
          f"{np.median(tau_filter[~slow]):.3f}, r^2 {np.median(r2[slow]):.3f} / {np.median(r2[~slow]):.3f}, n^2 "
          f"{np.median(n2[slow]):.3f} / {np.median(n2[~slow]):.3f}, R/T {np.median(outward[slow]):+.3f} / "
          f"{np.median(outward[~slow]):+.3f}; Spearman over the stem's filters: (ratio, tau) "
          f"{spearmanr(ratio, tau_filter).statistic:+.2f}, (ratio, r^2) {spearmanr(ratio, r2).statistic:+.2f}, "
          f"(ratio, n^2) {spearmanr(ratio, n2).statistic:+.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--walk-only", action="store_true", help="only the random walks")
    parser.add_argument("--steps", type=int, default=br.PAPER.resnet.steps, help="ResNet training steps (a smoke test: fewer)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    random_walks(br.PAPER.hyper)
    if not args.walk_only:
        resnet(args.steps)


if __name__ == "__main__":
    main()
