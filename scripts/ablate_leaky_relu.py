r"""Ablation: do the paper-scale MLPs reach the random-walk predictions with leaky ReLUs? (A diagnosis, not a check.)

    python scripts/ablate_leaky_relu.py [--slope S] [--balanced | --rv] [--small]

The paper-scale records of ``req-balanced-rotation`` (4 December 2026) and ``req-rotational-variants`` (7 December)
miss in the MLPs' deeper hidden layers. ``diagnose_balanced_rotation_paper.py --mlp-activity`` traced the misses to
ReLU units that their BatchNorm shift has switched off: such a unit gets a gradient only from the rare signals that
switch it on, in bursts, which the random walk behind the predictions does not describe.
``ablate_training_set_size.py`` refuted that this comes from memorizing the benchmark's 4,000 signals. The paper's
own test of the random-walk assumptions on real networks (its Appendix G, as the digest of the official code records
it: a ResNet-20 on CIFAR-10 with AdamW) uses **leaky ReLUs**; GPT-2's GELU also passes a gradient for negative
inputs. Hypothesis: with a leaky ReLU (negative slope 0.01, torch's default, chosen before the run) a unit that is
"off" still gets a small gradient from every signal, every step, so it stays in the random-walk regime, and the
per-layer predictions hold.

The script trains the same paper-scale networks with the claims' own code (``balanced_rotation._network``: the five
BatchNorm / LayerNorm MLPs; ``rotational_variants._network``: the RV-AdamW MLP), changing one thing: every ReLU of
``nets.mlp`` is replaced by ``torch.nn.LeakyReLU(slope)`` after construction (ReLUs have no parameters, so the
initial weights, the seeds and everything else are as in the claims). It prints the same as
``ablate_training_set_size.py``: every comparison next to the archived records' values, the balanced claim's note on
the layers that miss, per BatchNorm MLP the units on (input above 0) for less than 1% of the training signals, and the
RV network's per-layer angles. About 20 and 5 minutes on two CPU cores.

This deviates from the paper-scale settings, for diagnosis only; whether the claims should use leaky ReLUs is decided
after it, and stated as a change of setup with the tolerances unchanged.

**What we expected, written before the run:**

- If the hypothesis holds: AdamW's per-layer angles within 15% of the prediction (record: last layer 0.78) and their
  spread within 10% (record 1.27); AdamW's norms closer to the prediction in layers 2-4 (record 0.85-0.91, last layer
  0.48), perhaps not within 10%; SGDM's per-layer mean angles within 15% (record 3.99 and 1.72 times the prediction
  in the last and second layers) and their spread within 10%; the RV network's per-layer angle within 5% of the target
  (record 0.81 in the last layer) with no still neurons. Units may still be "off" for most signals (the shift can
  still drift), but they no longer leave the random walk.
- If it does not: the same layers miss by about as much, and the cause lies in how rarely such a unit is on, whatever
  passes through it when it is off.
- Uncertain either way: SGDM's units with the smallest G (its equilibrium norm goes as :math:`G^{1/4}`) may shrink
  until BatchNorm's :math:`\epsilon` breaks their scale invariance; Adam + L2's per-neuron medians (record 0.42-0.66 in
  layers 2-4), which the activity did not explain; Weight Standardization per neuron, which sits at its tolerance.
  The whole-tensor angles stay within 15%.

**What it printed** on 7 December 2026 (library of commit 6c31e33, the records' claim code; 16 minutes on two CPU
cores). **The hypothesis holds for the angles**, in every BatchNorm MLP and in the RV network; the norms and the
per-neuron comparisons that missed before still miss:

- AdamW, BatchNorm: per-layer angle / prediction 0.97, 0.99, 0.97, 0.98 (record 0.97, 0.99, 0.95, 0.78), spread
  1.02 (record 1.27): pass. Norms 1.30, 4.56, 4.29, 2.79 against 1.41 and 5.06 (0.92, 0.90, 0.85, 0.55; record
  0.93, 0.91, 0.85, 0.48): fail, as expected.
- SGDM, BatchNorm: per-layer mean angle 1.02, 1.01, 1.00, 1.03 times the prediction (record 1.02, 1.72, 1.00,
  3.99), spread 1.02 (record 3.97): pass. Per-neuron norm medians 0.86, 0.89, 0.94, 0.90 (record 0.86, 0.88, 0.94,
  0.87): fail by as much as before.
- Whole-tensor angles within 3.4% (tolerance 15%).
- Adam + L2 per-neuron medians 0.94, 0.84, 0.74, 0.64 (record 1.02, 0.66, 0.48, 0.42): closer, still failing
  (tolerance 25%).
- Weight Standardization: per layer within 2.2%; per neuron, 2 of the first layer's 512 neurons more than 20% from
  its mean, worst 25.4% (record 19.9%, tolerance 20%): fail.
- Units on (input above 0) for less than 1% of the training signals: AdamW 46, 22, 75 and 274 of 512; SGDM 2, 28,
  0 and 16; Adam + L2 389-468; LayerNorm 212-420; LayerNorm + WS 0, 0, 23 and 263. Many units are still "off" for
  most signals, as expected, but they now receive a gradient at every step, and they turn as predicted.
- The RV network: per-layer angle / target 0.989, 0.989, 0.989, 0.972 (record 0.97, 0.98, 0.89, 0.81), no still
  neuron: pass.
- Test accuracy: AdamW 0.742, SGDM 0.554, Adam + L2 0.710, LayerNorm 0.701, LayerNorm + WS 0.699 (record, with
  ReLUs: 0.592-0.727).

So the per-layer angle misses of the records were the ReLU's: a unit switched off by its BatchNorm shift gets no
gradient between the rare signals that switch it on; with a leaky ReLU it gets a small one from every signal and
stays in the random walk. What this does not fix: the norms, short of the prediction by 8-45% with AdamW and by 6-14%
with SGDM, and Adam + L2's per-neuron prediction.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch
from ablate_training_set_size import add_part_arguments, run_parts

from wdcompanion import nets
from wdcompanion.data import mnist1d


@contextlib.contextmanager
def leaky_mlps(slope: float) -> Iterator[None]:
    """Within the block, every ReLU of the MLPs that ``nets.mlp`` builds is a ``LeakyReLU(slope)``."""
    original = nets.mlp

    def mlp(*args, **kwargs):
        model = original(*args, **kwargs)
        for i, module in enumerate(model):
            if isinstance(module, torch.nn.ReLU):
                model[i] = torch.nn.LeakyReLU(slope)
        return model

    nets.mlp = mlp  # the claims' modules look it up on ``nets`` at call time
    try:
        yield
    finally:
        nets.mlp = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slope", type=float, default=0.01, help="the leaky ReLU's negative slope")
    add_part_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    run_parts(args, mnist1d(), lambda: leaky_mlps(args.slope), f"leaky ReLU ({args.slope:g})")


if __name__ == "__main__":
    main()
