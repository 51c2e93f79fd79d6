r"""Ablation: are the paper-scale MLPs' misses a consequence of the benchmark's small training set? (A diagnosis, not a check.)

    python scripts/ablate_training_set_size.py [--samples N] [--balanced | --rv] [--small]

The paper-scale records of ``req-balanced-rotation`` (4 December 2026) and ``req-rotational-variants`` (7 December)
miss in the MLPs' deeper hidden layers, and ``diagnose_balanced_rotation_paper.py --mlp-activity`` traced the misses
to ReLU units that their BatchNorm shift has switched off (on for a median 0.0-0.1% of the training signals, against
14-22% for the others; 250 of 512 in AdamW's last hidden layer), whose gradient comes in rare bursts. The paper-scale
MLPs train for 10,000 steps of 128 on the benchmark's 4,000 training signals: 320 passes over the same signals, where
the paper's networks see ImageNet, OpenWebText or CIFAR-10 (50,000 images, 200 epochs). Hypothesis: the units switch
off because the network specializes to the few signals it sees over and over; on a training set ten times larger,
drawn from the same generator (``mnist1d(num_samples=50_000)``: 40,000 training signals, 32 passes), fewer units switch
off and the layers come back to the random-walk predictions.

The script trains the same paper-scale networks with the claims' own code (``balanced_rotation._network``: the five
BatchNorm / LayerNorm MLPs; ``rotational_variants._network``: the RV-AdamW MLP), changing one thing: the data set is
``mnist1d(num_samples=N)`` (default 50,000; seeds, steps, batches and every hyperparameter as in the claims). It
prints every comparison of those functions next to the archived records' values, the balanced claim's note on the
layers that miss, and, per hidden layer of each BatchNorm MLP, how many units are on for less than 1% of the training
signals (eval mode, after training), and the RV network's still neurons and per-layer angles. ``--balanced`` or ``--rv``
runs one part; ``--small`` the small-scale settings (a smoke test). About 25 and 5 minutes on two CPU cores.

It trains the settings of the records it explains, with ReLUs (``BR_PAPER``, ``RV_PAPER``; the claims' paper scale has
leaky ReLUs since 7 December 2026). This deviates from the paper-scale settings, for diagnosis only; whether the
claims should train on more signals is decided after it, and stated as a change of setup with the tolerances unchanged.

**What we expected, written before the run:**

- If the hypothesis holds: in every BatchNorm MLP far fewer units are on for under 1% of the signals (AdamW's last
  hidden layer well under 100 of 512, against about 250); AdamW's per-layer angles come within 15% of the prediction
  (record: last layer 0.78) and their spread within 10% (record 1.27); SGDM's per-layer mean angles within 15% (record
  3.99 and 1.72 times the prediction in the last and second layers) and their spread within 10%; the RV network's
  per-layer angle within 5% of the target (record 0.81 in the last layer) with few still neurons.
- If it does not: the rarely-on units are about as many as in the records, and the same layers miss by about as much;
  then the cause is the undecayed shift and ReLU whatever the data, and the next step remains the choice of criterion.
- Either way the whole-tensor angles stay within 15%, and AdamW's per-layer norms stay short of the prediction in the
  first layer (fan-in 40, the record's 0.93) and wherever units are switched off; Adam + L2's per-neuron miss, not
  explained by the activity, may or may not change.

**What it printed** on 7 December 2026 (library of commit 6c31e33, the records' claim code; 12 minutes on two CPU
cores). **The hypothesis is refuted:** the networks no longer overfit (AdamW's BatchNorm MLP: train accuracy 0.938,
test 0.920, against 72.7% test on the benchmark), yet units switch off as often or more, and the same layers miss:

- Units on for less than 1% of the 40,000 training signals, per hidden layer: AdamW 191, 41, 135 and 359 of 512;
  SGDM 12, 0, 0 and 124; Adam + L2 409, 472, 463 and 484; AdamW with LayerNorm 295, 343, 353 and 455.
- AdamW: per-layer angle / prediction 0.92, 0.97, 0.92, 0.78 (record 0.97, 0.99, 0.95, 0.78), spread 1.25 (record
  1.27); norms 1.08, 3.85, 3.88, 1.81 against 1.41 and 5.06 (record 1.31, 4.60, 4.29, 2.43). Its last layer's median
  G is 3e-8, against 1e-4 to 1e-3 in the layers before.
- SGDM: per-layer mean angle 1.02, 1.01, 1.01 and 6.29 times the prediction (record 1.02, 1.72, 1.00, 3.99), spread
  6.25; per-neuron norm medians 0.82-0.93 (record 0.86-0.94).
- Adam + L2 per-neuron medians 1.05, 0.63, 0.43, 0.46 (record 1.02, 0.66, 0.48, 0.42): unchanged.
- Whole-tensor angles within 6.1% (tolerance 15%), as expected. Weight Standardization per neuron misses (27 of the
  first layer's 512 neurons more than 20% from its mean, worst 38.7%; record 19.9%).
- The RV network: per-layer angle / target 0.94, 0.96, 0.89, 0.62 (record 0.97, 0.98, 0.89, 0.81), with 2, 4, 15 and 24
  still neurons.

Its smoke test with the benchmark itself, ``--small --samples 5000`` (the small settings, ReLUs), printed no unit on
for less than 1% of the training signals in the AdamW and SGDM BatchNorm MLPs (0 of 128 in every layer); Adam + L2 0, 15
and 2, LayerNorm 0, 8 and 15: at small scale the BatchNorm units do not switch off.

So the units that switch off are not a consequence of memorizing the benchmark's 4,000 signals: with ten times the
data and no overfitting, the BatchNorm shift switches off as many units (more in the last layer). The claims keep
the benchmark's training set.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import torch
from ablate_readout_decay import _archived, _print
from diagnose_balanced_rotation_paper import BR_PAPER, RV_PAPER, _activation_rates, _capture_training

from wdcompanion.claims import balanced_rotation as br
from wdcompanion.claims import rotational_variants as rv
from wdcompanion.data import Dataset, mnist1d

RARELY_ON = 0.01  # share of the training signals below which a unit counts as rarely on


@contextlib.contextmanager
def training_set(data: Dataset) -> Iterator[None]:
    """Within the block, the claims' ``mnist1d()`` returns ``data``."""
    originals = br.mnist1d, rv.mnist1d
    br.mnist1d = rv.mnist1d = lambda *args, **kwargs: data  # the modules look it up by name at call time
    try:
        yield
    finally:
        br.mnist1d, rv.mnist1d = originals


def _rarely_on(model: torch.nn.Sequential, x: torch.Tensor) -> str:
    rates = _activation_rates(model, x)
    return ", ".join(f"{int((rate < RARELY_ON).sum())}/{rate.size}" for rate in rates)


def balanced(settings: br.Settings, data: Dataset, change: AbstractContextManager, label: str) -> None:
    """The balanced claim's networks trained within ``change``: their comparisons beside the record, and the rarely-on units."""
    result = br.BalancedRotationResult(verdict=None)  # type: ignore[arg-type]
    trained: list = []
    with change, _capture_training(trained):
        comparisons = br._network(settings, result)
    _print(comparisons, _archived(br.CLAIM_ID), label=label)
    print(br._miss_note(result), flush=True)
    for (label, run), (model, _) in zip(result.runs.items(), trained, strict=True):
        print(f"{label}: test accuracy {run.test_accuracy:.3f}, train accuracy {run.train_accuracy:.3f}; units on for < 1% "
              f"of the training signals, per hidden layer: {_rarely_on(model, data.x_train)}", flush=True)


def rotational(settings: rv.Settings, change: AbstractContextManager, label: str) -> None:
    """The RV network trained within ``change``: its comparisons beside the record, and its per-layer angles."""
    result = rv.RotationalVariantsResult(verdict=None)  # type: ignore[arg-type]
    with change:
        comparisons = rv._network(settings, result)
    _print(comparisons, _archived(rv.CLAIM_ID), label=label)
    print(result.network_angles.round(3).to_string(), flush=True)


def add_part_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose what an ablation trains: ``--balanced``, ``--rv`` (neither: both) and ``--small``."""
    parser.add_argument("--balanced", action="store_true")
    parser.add_argument("--rv", action="store_true")
    parser.add_argument("--small", action="store_true", help="the small-scale settings (a smoke test)")


def run_parts(args: argparse.Namespace, data: Dataset, change: Callable[[], AbstractContextManager], label: str) -> None:
    """Train the parts ``args`` chose, each within a fresh ``change()``, with the records' ReLU settings at paper scale."""
    both = not (args.balanced or args.rv)
    if args.balanced or both:
        balanced(br.SMALL if args.small else BR_PAPER, data, change(), label)
    if args.rv or both:
        rotational(rv.SMALL if args.small else RV_PAPER, change(), label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000, help="signals generated (80%% for training)")
    add_part_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = mnist1d(num_samples=args.samples)
    print(f"{data.name}: {len(data.x_train)} training signals", flush=True)
    run_parts(args, data, lambda: training_set(data), f"{len(data.x_train)} training signals")


if __name__ == "__main__":
    main()
