r"""What sets Adam + L2's per-neuron rotation, and is AdamW's second moment at steady state? (a diagnosis)

    python scripts/diagnose_second_moment.py [--adamw | --adam-l2 | --ws]

The record of ``req-balanced-rotation`` at paper scale (7 December 2026, leaky ReLUs, library of 32776f7) fails, among
others, two comparisons that this script measures, on the record's own training (``balanced_rotation.PAPER``, the claim's
``_train``, the BatchNorm MLP with four hidden layers of width 512, 10,000 steps):

- **Adam + L2 per neuron**: the median neuron of each hidden layer turns at 0.943, 0.838, 0.738 and 0.643 of the angle
  the random walk predicts from its own :math:`G` (tolerance 25%); not explained so far.
- **AdamW's norms**: ``diagnose_gradient_correlation.py --balance`` found them set by each neuron's mean of
  :math:`g^2/\hat v` (layer means 0.87, 0.84, 0.78, 0.41) and named the next measurement: the layer-pooled
  :math:`\sum g^2/\sum\hat v` per quarter of training and over the last quarter.

**Our derivation for Adam + L2** (the paper gives the equilibrium; this accounting is ours). With
:math:`w_{t+1} = w_t - \eta u_t`, :math:`u = \hat m/(\sqrt{\hat v}+\epsilon)`, where :math:`m` and :math:`v` average
:math:`g + \lambda w` and its square, the update is exactly the sum of a gradient part :math:`u^g` (the same with
:math:`m^g`, the average of :math:`g` alone) and a decay part :math:`u^d = u - u^g`. Counting each gradient's and each
decay's total contribution over the momentum (the paper's TUC), a neuron at steady state balances

.. math::

    2\lambda B = \eta A, \qquad A = \mathbb E\sum_i \frac{g_i^2}{(\sqrt{\hat v_i}+\epsilon)^2},\quad
    B = \mathbb E\sum_i \frac{w_i^2}{\sqrt{\hat v_i}+\epsilon},

and turns by :math:`\eta\sqrt{kA}/\lVert w\rVert` per step (RMS), :math:`k = (1-\beta_1)/(1+\beta_1)`. The random walk
has :math:`A = C` (every :math:`g_i^2/\hat v_i` at 1) and :math:`B = \lVert w\rVert^3\sqrt{C/G}` (every
:math:`\sqrt{\hat v_i} = \sqrt{G/C}/\lVert w\rVert`: isotropic gradients, and the L2 term negligible in :math:`v`), which
gives ``rotation.equilibrium("adam_l2")``. With :math:`a = A/C` and :math:`b = B/(\lVert w\rVert^3\sqrt{C/G})` measured,
the same algebra gives the angle over its prediction as

.. math::

    \frac{\eta_r}{\hat\eta_r} = a^{1/6}\, b^{1/3} \times \Bigl(\frac{\eta A}{2\lambda B}\Bigr)^{1/3} \times
    \frac{\eta_r}{\eta\sqrt{kA}/\lVert w\rVert}:

the two factors, the balance (1 at steady state) and the momentum bookkeeping (1 for independent gradients). To see how
much of :math:`a` and :math:`b` is the L2 term's share of the second moment, the script keeps its own
:math:`\hat v^g`, the same average of :math:`g^2` alone from the first step, and computes :math:`a_g`, :math:`b_g` with
it: the **L2 factor** is :math:`(a/a_g)^{1/6}(b/b_g)^{1/3}`, the **rest** (Adam's memory of larger gradients,
anisotropy across a neuron's weights) :math:`a_g^{1/6} b_g^{1/3}`. Per the formula above, the L2 term weighs most for
small gradients: :math:`\lambda^2\lVert w\rVert^4/G \propto G^{-1/3}` at equilibrium, and most of this network's units are
off for almost every signal.

It prints per hidden layer, as medians over the neurons with a gradient (and layer means of the ratios): the record's
ratio (the tracker's, every 5 steps) and the hook's own (every step of the second half), the momentum bookkeeping, the
balance, :math:`a`, :math:`b`, the L2 factor and the rest, the median share of :math:`\hat v` that is not :math:`g^2`
(:math:`1 - \sum\hat v^g/\sum\hat v` per neuron) and the Spearman correlation across neurons of that share with the
ratio. With both modes (the default) it also prints, for AdamW and Adam + L2, each hidden layer's pooled
:math:`\sum g^2/\sum\hat v` in each quarter of training (the optimizer's own :math:`\hat v`). About 15 minutes on two CPU
cores (``--adamw`` or ``--adam-l2``: one of the two runs).

**Expected, written before the run** (7 December 2026). (1) Bookkeeping: the hook's ratio is within 0.03 of the record's
in every layer (every step against every fifth), and the momentum bookkeeping and the balance are each within 5% of 1 at
the median. (2) If the shortfall is the L2 term's share of Adam's second moment, the L2 factor's median is below 0.90
in the layers whose ratio is below 0.85 (the third and the last hidden layer), it is the larger of the two factors'
deficits there, and the share correlates negatively with the ratio across neurons (Spearman below -0.3). If the L2
factor's median is above 0.95 in both those layers, the L2 term is refuted as the cause. (3) AdamW's pooled
:math:`\sum g^2/\sum\hat v`: if the gradients are still shrinking, it is below 0.95 in every quarter of the second half
in the last hidden layer and rises toward 1 from the third quarter to the fourth in none; if it is within 5% of 1 over
the last quarter in the first three hidden layers while the per-neuron means of :math:`g^2/\hat v` stay at 0.78-0.87,
the pooled steady-state condition holds there and the per-neuron shortfall is a property of the distribution of
:math:`g^2/\hat v` over a neuron's weights and steps, not of a trend.

What it printed (7 December 2026, commit 5f04987, the record's claim code; medians over neurons,
layer means in brackets, hidden layers first to last):

- Adam + L2: record ratio 0.943, 0.838, 0.738, 0.643; the hook's, every step, 0.971, 0.948, 0.766, 0.665. Momentum
  bookkeeping 1.351, 1.256, 1.321, 1.414; balance 0.939, 0.966, 0.993, 1.001. :math:`a` 0.320, 0.132, 0.043, 0.022;
  :math:`b` 1.026, 1.270, 1.039, 0.645. L2 factor 0.999, 0.955, 0.966, 0.978; the rest 0.957, 0.862, 0.618, 0.468.
  Share of :math:`\hat v` that is not :math:`g^2`: 0.3%, 4.2%, 3.0%, 3.4%; Spearman(share, ratio) +0.32, -0.10, +0.25,
  +0.13. Every neuron has a gradient (leaky ReLUs). Layer-pooled :math:`\sum g^2/\sum\hat v` in the last quarter
  1.003, 1.009, 1.011, 1.024.
- AdamW, layer-pooled :math:`\sum g^2/\sum\hat v` per quarter: 1.041 1.024 1.012 1.028; 0.981 1.059 1.058 1.060;
  0.966 1.037 1.038 1.036; 0.769 0.934 1.023 1.063.

(1) **Missed**: the hook's ratio is within 0.03 of the record's in layers 1, 3 and 4 but 0.11 above it in layer 2
(the hook takes every step, the tracker every fifth, and each neuron's :math:`G` enters the prediction as
:math:`G^{-1/6}`; not traced). The balance held within 5% in layers 2-4 and 6.1% in layer 1. The momentum bookkeeping
missed by 26-41%: the angle is larger than :math:`\eta\sqrt{kA}/\lVert w\rVert`, the gradient part of the update under
independent gradients, gives. Two readings, not separated here: Adam's per-weight scaling turns the L2 term, radial
before scaling, partly tangential, so the decay turns the neuron too; or the normalized gradients are correlated from
step to step. (2) **The L2 term is refuted** as the cause: the L2 factor is 0.966 and 0.978 in the third and the last
hidden layer (above the 0.95 bound), its share of :math:`\hat v` is 3-4%, and the Spearman correlations are not
negative. What is far from the random walk is :math:`a`, the mean of :math:`g^2/\hat v` over a neuron's weights and the
window: 0.32 down to 0.02, where the model has 1, while the layer-pooled :math:`\sum g^2/\sum\hat v` is within 2.5% of 1
in the last quarter. So Adam's second moment is right for the layer as a whole, and for a typical weight at a typical
step the current squared gradient is a small fraction of it: the squared gradients are concentrated in a few weights
and steps. That reading came after the run; whether it is bursts in time or weights that differ was not separated. It
lowers the angle as :math:`a^{1/6}` (0.83, 0.71, 0.59, 0.53), and the angle excess of the bookkeeping partly offsets
it. (3) **AdamW: held for the pooled condition, refuted for a trend.** The layer-pooled ratio is 1.012-1.063 in the
third and fourth quarters of every hidden layer: within 5% of 1 over the last quarter in layers 1 and 3, 6% above it in
layers 2 and 4, and in no layer below 1, so no hidden layer's gradients are shrinking faster than Adam's second moment
follows, and training longer would not raise the per-neuron means of :math:`g^2/\hat v` (0.87, 0.84, 0.78, 0.41) that
set the norms. The shortfall is a property of how :math:`g^2/\hat v` is distributed over a neuron's weights and steps:
most weights have :math:`\mathbb E g^2/\mathbb E\hat v` below 1 (the third run of
``diagnose_gradient_correlation.py``: medians 0.96, 0.94, 0.89, 0.40), so the weights with the largest
:math:`\hat v` must be above 1 (the pooled ratio is the :math:`\hat v`-weighted mean of the weights' ratios); in layers 2
and 4 the pooled ratio above 1 means gradients slightly larger than Adam's memory of them, growing, not shrinking.

**Third mode, ``--ws``, expected outcome written before it** (7 December 2026). The record's Weight Standardization
comparison fails per neuron: the worst of its 2,048 neurons is 25.4% from its layer's mean angle (tolerance 20%), two
neurons of the first hidden layer (fan-in 40) more than 20% off, with a median :math:`G` 4.24 times the layer's. Under
AdamW the angle at steady state does not depend on the gradient's scale, but a neuron's norm follows a change of that
scale only over about :math:`1/(2\eta\lambda)` = 500 steps, and meanwhile the neuron turns faster (scale rising) or
slower (falling). The mode trains the record's LayerNorm + WS MLP (``_train``, AdamW) with a hook that keeps per neuron
(the centred row, as the tracker measures it), in each quarter of the second half, the mean of
:math:`\sum_i g_i^2/\hat v_i` over :math:`C` and of :math:`\lVert w\rVert^2`, and prints per hidden layer the neurons
more than 20% off their layer's mean angle (the verdict's statistic), their angle ratio, their squared norm in the last
quarter of the window over the first, and the same for :math:`\sum g^2/\hat v`, next to the other neurons' medians, and
the Spearman correlation over all the layer's neurons between the angle ratio and the change of the squared norm.
Expected: if the outliers are out of steady state, each outlier's squared norm changes over the window by more than 20%
(last quarter over first outside 0.80-1.25), growing for the fast ones and shrinking for the slow ones, while the other
neurons' median change is within 5%; if the outliers' squared norms change by less than 10%, that is refuted.

What it printed (7 December 2026, commit 58ede30, the record's claim code): in the first hidden layer 2 of 512 neurons
are more than 20% off, both *slow* (0.746 and 0.780 of the layer's mean angle); no neuron of the other layers is. The
slow ones' squared norms changed by +1.7% and +40.5% from the first to the last quarter of the window, their
:math:`\sum g^2/\hat v` by -0.9% and -9.8%, with means over the window of 1.10 and 1.10 :math:`C` (the layer's other
neurons: median norm change +0.9%, :math:`g^2/\hat v` 1.02 :math:`C`). Spearman(angle ratio, norm change) +0.03, +0.44,
+0.58, +0.09 in layers 1-4.

**Refuted**: one outlier's norm hardly changed (1.7%, under the 10% bound) and the other's grew by 40% while it turned
slowly, the opposite of a norm lagging a falling gradient scale; neither one's normalized gradient is unusual. So the
two slow neurons are not out of steady state in the sense tested. Not explained; a neuron whose norm grows while its
normalized gradient stays put is what a positive radial part of its updates would do (as measured for the ResNet's
stem, ``diagnose_resnet_stem.py``), but that was not measured for these two.

**The ``--ws`` mode extended: the radial part** (expected outcome written before the run, 8 December 2026, after only a
200-step smoke test of the code). The hook now also keeps, per neuron and over the window, the update
:math:`u = \hat m/(\sqrt{\hat v}+\epsilon)`, its centred part :math:`u_c` (what moves the centred row: WS removes the
mean), the part of :math:`u_c` orthogonal to the centred row, and the centred row's squared angle, and prints for the
layer's median neuron and each outlier: the hook's RMS angle over the record's; the accounted angle
:math:`\eta\sqrt{\mathbb E\lVert u_{c\perp}\rVert^2/\mathbb E\lVert w_c\rVert^2}` over the hook's; the tangential share
:math:`\tau = \sum\lVert u_{c\perp}\rVert^2/\sum\lVert u_c\rVert^2`; :math:`\lVert u_c\rVert^2/\lVert u\rVert^2`; and
:math:`\mathbb E\lVert u_c\rVert^2` and :math:`\mathbb E\lVert w_c\rVert^2` over the layer's medians. Expected: (4)
bookkeeping: the hook's angle is within 0.03 of the record's, and the accounted angle within 5% of the hook's, for the
median neuron and each outlier. (5) If the two slow neurons are slow because part of their update is radial, each one's
:math:`\tau` is below 0.85 while the layer's median is above 0.95; if each one's :math:`\tau` is within 0.03 of the
layer's median, that is refuted. (6) Whatever (5) finds, the angle goes as
:math:`\sqrt{\tau\,\mathbb E\lVert u_c\rVert^2/\mathbb E\lVert w_c\rVert^2}`, so the factor furthest from the median
neuron's, of the three, is the proximate cause of each outlier's slowness (a description, not an explanation).

What it printed (8 December 2026, commit 91a5c8e, the record's claim code, on another machine than the run above): the
training is chaotic, and here **6** neurons of the first hidden layer are more than 20% off, all slow (0.745-0.795 of
the layer's mean angle; the worst 25.5% off, as the record's 25.4%), none in the other layers. Their squared norms
changed over the window by -9% to +55% (the others' median +2.4%). Median neuron of the first layer: hook angle over
the record's 1.001, accounted over hook 0.997, :math:`\tau` 0.987, :math:`\lVert u_c\rVert^2/\lVert u\rVert^2` 0.998. The
six: hook over record 0.993-1.007, accounted over hook 0.987-0.996, :math:`\tau` 0.971-0.976,
:math:`\mathbb E\lVert u_c\rVert^2` 1.04-1.13 and :math:`\mathbb E\lVert w_c\rVert^2` **1.72-2.04** times the layer's
medians. (4) **Held.** (5) **Refuted**: the six's :math:`\tau` is within 0.016 of the layer's median (0.987); their
radial share is 2.4-2.9% against 1.3%. (6) The proximate cause is the norm: the six's norms are 1.31-1.43 times the
median neuron's, which lowers their angle by 0.70-0.76, while their updates are 2-6% larger (the angle up by that) and
:math:`\tau` costs 0.6-0.8%. Under AdamW a neuron's squared equilibrium norm goes with its update's squared size, so
these norms are 50-90% longer than their own updates give; and three of the six grew by 28-55% over the window.

**Expected, written before the next run** (8 December 2026; the hook also keeps the radial term of the squared norm's
change, :math:`R = -2\eta(1-\eta\lambda)\sum_t u_c\cdot w_c`, against the update's own term
:math:`T = \eta^2\sum_t\lVert u_c\rVert^2`). (7) A radial part small in size can still set the norm if its sign is
consistent: the angle is about 0.01 per step, so an outward radial part of a tenth of the update's size adds about
:math:`0.2/0.01 = 20` times :math:`T`. If the six are long because their updates point consistently outward, their
:math:`R/T` is above +0.3 while the median neuron's is within ±0.1; if their :math:`R/T` is within 0.1 of the
median's, that is refuted.

What it printed (8 December 2026, commit 7e2189e, the same machine as the run before): the median neuron's :math:`R/T`
is +17.6 to +18.4 in every hidden layer; the six slow neurons' +30.2 to +35.5. (7) **Its premise was wrong**, so it is
not counted as a check either way: with momentum, :math:`R` is not 0 in the random walk. The momentum still carries
past gradients, each orthogonal to the weight it was computed at but not to the current one, which has moved along them;
in the paper's total-update-contribution accounting each gradient adds its full squared size to the norm, of which
:math:`T` counts the share :math:`k = (1-\beta_1)/(1+\beta_1)`, so the random walk has :math:`R/T = 1/k - 1` = 18.0 at
:math:`\beta_1 = 0.9`. The median neuron of every layer is within 2.4% of that (17.6 to 18.4). Read after the run against that
baseline: the six get an outward radial part **beyond the momentum's**, 12 to 17 times :math:`T`. At steady state the
decay balances :math:`R + T`, so their squared norms over their updates' squared size should exceed the median neuron's
by :math:`(1 + R/T)/(1 + R/T)_{\text{median}}` = 1.60-1.88; measured (against the layer's medians), 1.59-1.82, within
3.1% for five of them and 5.7% for neuron 0, whose norm grew by 55% over the window (the balance is close to an
identity; the independent part is that the outward term, not the update's size, is what differs). So the
six are slow because their updates point outward, more than the momentum explains, and that lengthens their norms.
Why (Adam's per-weight scaling of their gradients, which makes the update leave the tangent plane, is the candidate)
was not measured.

"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from diagnose_gradient_correlation import _adam_step  # scripts/ is on sys.path
from scipy.stats import spearmanr
from torch.optim.optimizer import register_optimizer_step_post_hook

from wdcompanion.claims import balanced_rotation as br
from wdcompanion.data import mnist1d

QUARTERS = 4


def _hook(steps: int, classes: int, sums: dict, l2: bool):
    r"""A post-step hook on an Adam or AdamW step, for each hidden weight (2-D, not the read-out of ``classes`` rows).

    Every step: the layer-pooled :math:`\sum g^2` and :math:`\sum\hat v` of its quarter of training
    (``sums[layer]["quarters"]``). With ``l2`` (Adam + L2, no decoupled decay), from the first step its own
    :math:`\hat v^g` of the gradient alone and, over the second half, per neuron the sums of the terms of :math:`A`,
    :math:`B`, :math:`A_g`, :math:`B_g` (module docstring), :math:`\lVert w\rVert^2`,
    :math:`\lVert g\rVert^2\lVert w\rVert^2`, the squared angle, :math:`\sum_i\hat v^g_i` and :math:`\sum_i\hat v_i`.
    """
    calls = {"n": 0}

    def add(terms: dict, key: str, value) -> None:
        terms[key] = terms.get(key, 0) + value

    def hook(optimizer, args, kwargs) -> None:
        calls["n"] += 1
        t_call = calls["n"]
        quarter = min((t_call - 1) * QUARTERS // steps, QUARTERS - 1)
        layer = 0
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.ndim != 2 or p.shape[0] == classes:
                    continue
                terms = sums.setdefault(layer, {"quarters": np.zeros((QUARTERS, 2))})
                layer += 1
                (_, b2), eps = group["betas"], group["eps"]
                t = float(optimizer.state[p]["step"])
                g = p.grad.double()
                step = _adam_step(optimizer, group, p, decoupled=not l2)
                v = step.v
                terms["quarters"][quarter] += (float(g.pow(2).sum()), float(v.sum()))
                if not l2:
                    continue
                lam = group["weight_decay"]
                if "ema_g2" not in terms:
                    terms["ema_g2"] = torch.zeros_like(g)
                terms["ema_g2"].mul_(b2).addcmul_(g, g, value=1 - b2)
                if t_call <= steps // 2:
                    continue
                denom, old, new = step.denom, step.old, step.new
                assert lam > 0, "Adam + L2 needs its L2 coefficient"
                v_g = terms["ema_g2"] / (1 - b2**t)
                denom_g = v_g.sqrt() + eps
                w2 = old.pow(2)
                n2 = w2.sum(1)
                cos = (old * new).sum(1) / (n2.sqrt() * new.norm(dim=1))
                add(terms, "A", (g / denom).pow(2).sum(1))
                add(terms, "B", (w2 / denom).sum(1))
                add(terms, "A_g", (g / denom_g).pow(2).sum(1))
                add(terms, "B_g", (w2 / denom_g).sum(1))
                add(terms, "n2", n2)
                add(terms, "G", g.pow(2).sum(1) * n2)
                add(terms, "angle2", torch.arccos(cos.clamp(-1, 1)).pow(2))
                add(terms, "sum v_g", v_g.sum(1))
                add(terms, "sum v", v.sum(1))
                add(terms, "steps", 1)

    return register_optimizer_step_post_hook(hook)


def _quarters(label: str, layers, sums: dict) -> None:
    print(f"{label}: layer-pooled sum g^2 / sum v-hat per quarter of training")
    for layer, name in enumerate(layers):
        q = sums[layer]["quarters"]
        print(f"  {name:9s} " + "  ".join(f"Q{i + 1} {g2 / v:.3f}" for i, (g2, v) in enumerate(q)), flush=True)


def _train(optimizer_name: str, label: str, sums: dict, settings: br.Settings):
    data = mnist1d()
    handle = _hook(settings.net_steps, data.classes, sums, l2=optimizer_name == "adam_l2")
    try:
        return br._train(label, "batch", optimizer_name, settings, data, br.BalancedRotationResult(verdict=None))  # type: ignore[arg-type]
    finally:
        handle.remove()


def adamw(settings: br.Settings) -> None:
    sums: dict[int, dict] = {}
    run = _train("adamw", "AdamW, BatchNorm", sums, settings)
    _quarters("AdamW, BatchNorm", run.layers, sums)


def adam_l2(settings: br.Settings) -> None:
    hyper = settings.hyper
    lr, lam, k = hyper.lr, hyper.l2_weight_decay, (1 - hyper.betas[0]) / (1 + hyper.betas[0])
    sums: dict[int, dict] = {}
    run = _train("adam_l2", "Adam+L2, BatchNorm", sums, settings)
    _quarters("Adam+L2, BatchNorm", run.layers, sums)
    print("Adam+L2, BatchNorm, per neuron with a gradient (second half): median [layer mean]")
    print("layer      C   record  hook  | momentum balance |   a      b    | L2 factor  rest  | share of v not g^2  "
          "Spearman(share, ratio)")
    for layer, name in enumerate(run.layers):
        sm, fan_in = {key: value for key, value in sums[layer].items()}, run.fan_in[name]
        T = sm["steps"]
        mean = {key: (sm[key] / T).numpy() for key in ("A", "B", "A_g", "B_g", "n2", "G", "angle2")}
        live = mean["G"] > 0
        G, n2 = mean["G"][live], mean["n2"][live]
        prediction = br.per_neuron("adam_l2", "angular_update", fan_in, G, hyper)
        record_ratio = run.angles[name] / br.per_neuron("adam_l2", "angular_update", fan_in, run.grad_norm_sq[name], hyper)
        hook_ratio = np.sqrt(mean["angle2"][live]) / prediction
        momentum = np.sqrt(mean["angle2"][live]) / (lr * np.sqrt(k * mean["A"][live] / n2))
        balance = (lr * mean["A"][live] / (2 * lam * mean["B"][live])) ** (1 / 3)
        iso = n2**1.5 * np.sqrt(fan_in / G)
        a, b = mean["A"][live] / fan_in, mean["B"][live] / iso
        a_g, b_g = mean["A_g"][live] / fan_in, mean["B_g"][live] / iso
        l2_factor, rest = (a / a_g) ** (1 / 6) * (b / b_g) ** (1 / 3), a_g ** (1 / 6) * b_g ** (1 / 3)
        share = 1 - (sm["sum v_g"] / sm["sum v"]).numpy()[live]
        rho = spearmanr(share, hook_ratio).statistic

        def cell(z: np.ndarray) -> str:
            return f"{np.nanmedian(z):.3f} [{np.nanmean(z):.3f}]"

        print(f"{name:9s} {fan_in:4d}  {np.nanmedian(record_ratio):.3f}  {cell(hook_ratio)} | {cell(momentum)} "
              f"{cell(balance)} | {cell(a)} {cell(b)} | {cell(l2_factor)} {cell(rest)} | {cell(share)}  {rho:+.2f}  "
              f"({int(live.sum())} of {len(live)} neurons)", flush=True)
    print("(hook ratio = momentum x balance x a^(1/6) b^(1/3) per neuron; a^(1/6) b^(1/3) = L2 factor x rest)")


def _ws_hook(half: int, classes: int, sums: dict):
    r"""A post-step hook on AdamW keeping, after step ``half``, per neuron (centred row) of each hidden weight and per
    quarter of the window, the sums of :math:`\sum_i g_i^2/(\sqrt{\hat v_i}+\epsilon)^2` and :math:`\lVert w\rVert^2`;
    and of the update :math:`u = \hat m/(\sqrt{\hat v}+\epsilon)`: :math:`\lVert u\rVert^2`, the squared norm of its
    centred part :math:`u_c`, of the part of :math:`u_c` orthogonal to the centred row, and the centred row's squared
    angle, and the radial term of the squared norm's change, :math:`-2\eta(1-\eta\lambda)\,u_c\cdot w_c` (``"x2"``,
    ``"n2"``, ``"u2"``, ``"uc2"``, ``"uc_perp2"``, ``"angle2"``, ``"outward"``)."""
    calls = {"n": 0}

    def centre(rows: torch.Tensor) -> torch.Tensor:
        return rows - rows.mean(dim=1, keepdim=True)

    def hook(optimizer, args, kwargs) -> None:
        calls["n"] += 1
        if calls["n"] <= half:
            return
        quarter = min((calls["n"] - half - 1) * QUARTERS // half, QUARTERS - 1)
        layer = 0
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.ndim != 2 or p.shape[0] == classes:
                    continue
                lr, wd = group["lr"], group["weight_decay"]
                step = _adam_step(optimizer, group, p)
                u, denom, old, new = step.u, step.denom, centre(step.old), centre(step.new)
                n2, u_c = old.pow(2).sum(1), centre(u)
                cos = (old * new).sum(1) / (n2.sqrt() * new.norm(dim=1))
                terms = sums.setdefault(layer, {key: torch.zeros(QUARTERS, p.shape[0], dtype=torch.float64)
                                                 for key in ("x2", "n2", "u2", "uc2", "uc_perp2", "angle2", "outward", "steps")})
                layer += 1
                terms["x2"][quarter] += (p.grad.double() / denom).pow(2).sum(1)
                terms["n2"][quarter] += n2
                terms["u2"][quarter] += u.pow(2).sum(1)
                terms["uc2"][quarter] += u_c.pow(2).sum(1)
                terms["uc_perp2"][quarter] += u_c.pow(2).sum(1) - (u_c * old).sum(1) ** 2 / n2
                terms["angle2"][quarter] += torch.arccos(cos.clamp(-1, 1)).pow(2)
                terms["outward"][quarter] += -2 * lr * (1 - lr * wd) * (u_c * old).sum(1)
                terms["steps"][quarter] += 1

    return register_optimizer_step_post_hook(hook)


def weight_standardization(settings: br.Settings) -> None:
    lr = settings.hyper.lr
    data = mnist1d()
    sums: dict[int, dict] = {}
    handle = _ws_hook(settings.net_steps // 2, data.classes, sums)
    try:
        run = br._train("AdamW, LayerNorm + WS", "layer+ws", "adamw", settings, data, br.BalancedRotationResult(verdict=None))  # type: ignore[arg-type]
    finally:
        handle.remove()
    print("AdamW, LayerNorm + WS, per neuron: angle / layer mean (the verdict's); last quarter of the window over the first")
    for layer, name in enumerate(run.layers):
        sm, fan_in = sums[layer], run.fan_in[name]
        x2 = (sm["x2"] / sm["steps"]).numpy() / fan_in
        n2 = (sm["n2"] / sm["steps"]).numpy()
        ratio = run.angles[name] / run.angles[name].mean()
        norm_change, x2_change = n2[-1] / n2[0], x2[-1] / x2[0]
        off = np.abs(ratio - 1) > 0.2
        others = ~off
        rho = spearmanr(ratio, norm_change).statistic
        print(f"{name:9s} C {fan_in:3d}: {int(off.sum())} of {len(ratio)} neurons more than 20% off; others' median "
              f"||w||^2 change {np.median(norm_change[others]):.3f}, g^2/v change {np.median(x2_change[others]):.3f}, "
              f"g^2/v {np.median(x2.mean(0)[others]):.3f}; Spearman(angle ratio, ||w||^2 change) {rho:+.2f}", flush=True)
        for j in np.flatnonzero(off):
            print(f"    neuron {j:3d}: angle ratio {ratio[j]:.3f}, ||w||^2 change {norm_change[j]:.3f}, g^2/v change "
                  f"{x2_change[j]:.3f}, g^2/v per quarter " + " ".join(f"{v:.3f}" for v in x2[:, j]), flush=True)
        window = {key: sm[key].sum(0).numpy() for key in ("n2", "u2", "uc2", "uc_perp2", "angle2", "outward", "steps")}
        outward = window["outward"] / (lr**2 * window["uc2"])  # R / T of the squared norm's balance
        hook_angle = np.sqrt(window["angle2"] / window["steps"])
        accounted = lr * np.sqrt(window["uc_perp2"] / window["n2"])  # eta sqrt(E||u_c,perp||^2 / E||w_c||^2)
        tau, centred_share = window["uc_perp2"] / window["uc2"], window["uc2"] / window["u2"]
        size = window["uc2"] / np.median(window["uc2"])
        length = window["n2"] / np.median(window["n2"])
        print(f"    the layer's median neuron: hook angle / record {np.median(hook_angle / run.angles[name]):.3f}, "
              f"accounted / hook {np.median(accounted / hook_angle):.3f}, tau {np.median(tau):.3f}, "
              f"||u_c||^2/||u||^2 {np.median(centred_share):.3f}, R/T {np.median(outward):+.3f}; Spearman(angle ratio, tau) "
              f"{spearmanr(ratio, tau).statistic:+.2f}", flush=True)
        for j in np.flatnonzero(off):
            print(f"    neuron {j:3d}: hook angle / record {hook_angle[j] / run.angles[name][j]:.3f}, accounted / hook "
                  f"{accounted[j] / hook_angle[j]:.3f}, tau {tau[j]:.3f}, ||u_c||^2/||u||^2 {centred_share[j]:.3f}, "
                  f"E||u_c||^2 / the layer's median {size[j]:.3f}, E||w||^2 / the layer's median {length[j]:.3f}, "
                  f"R/T {outward[j]:+.3f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adamw", action="store_true", help="only AdamW's pooled ratios per quarter")
    parser.add_argument("--adam-l2", action="store_true", help="only the Adam + L2 run")
    parser.add_argument("--ws", action="store_true", help="only the LayerNorm + WS run (third mode)")
    parser.add_argument("--steps", type=int, default=br.PAPER.net_steps, help="training steps (a smoke test: fewer)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = dataclasses.replace(br.PAPER, net_steps=args.steps)
    if args.ws:
        weight_standardization(settings)
        return
    both = not (args.adamw or args.adam_l2)
    if args.adam_l2 or both:
        adam_l2(settings)
    if args.adamw or both:
        adamw(settings)


if __name__ == "__main__":
    main()
