r"""The Adam + L2 / AdamW part of ``req-rotational-variants``'s paper-scale run, on its own: grids, then wrapped runs.

    .venv/bin/python scripts/grid_resnet.py [--store DIR] [--workers N] [--diagnose-wrapper]

The paper's Section 5 compares Adam + L2 and AdamW over a learning-rate × weight-decay grid on a ResNet-18
(CIFAR-10), then wraps Adam + L2 in a rotational variant at AdamW's angle. Until 6 December 2026 the book
ran both on the BatchNorm MLP of the AdamW warmup sweep (full batches of 4,000); the claim now runs them on
the 1-D ResNet of the SGDM warmup sweep (8-16-32 channels, one block per stage, BatchNorm), with batches of
500 (a full batch of 4,000 costs the ResNet 7 times as much per step; the paper's grid trains with
minibatches too): ``rotational_variants.PAPER``'s ``grid_*`` settings, 600 steps (75 epochs), learning
rates 0.2 · 2^-k for k = 10 … 0, :math:`\ell_2` coefficients 10^-3 · 2^k (k = -5 … 4) and weight decays
10^-2 · 2^k (k = -2 … 9): 242 trainings of about 13 seconds (1 thread), then the wrapped comparison at the
best cells over seeds 1-5 with warmup (15 trainings). This script runs exactly those trainings through the
resumable sweep runner, into the paper-scale store committed with the book (``book/_generated/sweeps``,
which ``scripts/paper_runs.py run req-rotational-variants --store book/_generated/sweeps`` then reuses),
and prints the claim's own comparisons for this part (``--diagnose-wrapper`` adds ten trainings, below).

**The criterion** is the claim's, unchanged and fixed before any run (the module docstring of
:mod:`wdcompanion.claims.rotational_variants`): AdamW's accuracy minus Adam + L2's at their best cells,
over the wrapped comparison's seeds, must exceed max(2 SE, 0.02) (a gap to close), and the wrapper must
close at least half of it.

**Expected, written and committed before any of these runs** (6 December 2026; the only ResNet run at
these settings before it was one AdamW cell, lr 0.016, decay 0.16, seed 0, to check the setup trains:
test accuracy 0.982 after 200 steps, 0.979 after 600): the ResNet saturates near 0.98 on MNIST-1D, so both
optimizers' best cells will likely lie within 0.02 of each other and the part is expected *not
reproduced* for want of a gap to close, as on the MLP (gap -0.005 there). The per-layer rotation of
Adam + L2 at its best cell is expected to vary across layers much more than AdamW's (the paper reports
about 30 times for Adam + L2 on ResNet-18); how much is not predicted.

(Correction, after the run: "gap -0.005" above is the MLP's gap *minus* the 0.02 threshold; AdamW was 0.015 ahead
of Adam + L2 there.)

What it printed on 6 December 2026 (library of commit cec9850; 2 CPU cores, 30 minutes for the grids, 2 for the
wrapped runs). Over the grids both optimizers reach 0.97-0.99 wherever the learning rate is at least 0.0016
and not at the top of the range (Adam + L2 falls off at lr 0.2, AdamW at 0.1-0.2 with its largest decays).
Best cells (seed 0): Adam + L2 at lr 0.025, l2 0.008 (0.991); AdamW at lr 0.00625, decay 5.12 (0.993), the
largest decay of its grid. Over seeds 1-5, with warmup: Adam + L2 0.985-0.988 (mean 0.986), AdamW 0.984-0.990
(mean 0.988), wrapped Adam + L2 0.62-0.85 (mean 0.763). Both comparisons miss: the gap, 0.0016, falls 0.018 short
of the 0.02 threshold (*not reproduced*, as expected), and the wrapper is far less accurate than either.
Per-layer rotation (mean angular update in the second half, radians, mean over the 5 seeds), from the first
convolution to the last stage's: Adam + L2 0.0035 rising with depth to 0.0276, **8.0 times** from slowest to
fastest layer; AdamW 0.0134-0.0181 (1.35 times); the wrapper 0.0201-0.0242 (1.20 times). So the imbalance the
paper reports for Adam + L2 shows on this ResNet (a quarter of the paper's 30 times, over 9 layers rather than
ResNet-18's 20-odd), without costing accuracy on a task where every reasonable cell reaches about 0.98.

**Why the wrapper loses accuracy** (``--diagnose-wrapper``; not part of the claim, which stays as fixed). It
takes AdamW's best cell, whose decay, 5.12, is the largest of the grid; inside the wrapper that is the
:math:`\ell_2` coefficient of the inner Adam, so :math:`\lambda w` may swamp the gradient in Adam's second
moment, and what is left after the RV removes the radial part is the gradient divided per coordinate by about
:math:`\lambda |w_i|`, a poor direction. The option runs, with the wrapped comparison's seeds and warmup,
RV-AdamW at the same cell (the RV without the inner :math:`\ell_2`) and the wrapper at the paper's own wrapped
setting (lr 1.25e-2, decay 8e-2, as its CIFAR-10 runs). **Expected, written before the run:** RV-AdamW at
AdamW's cell reaches about AdamW's accuracy (0.98), and the wrapper at decay 0.08 recovers about that too; if so,
the wrapper's loss comes from the large coefficient of its inner :math:`\ell_2`, not from the rotational
update. What it printed on 6 December 2026 (10 trainings, about a minute): RV-AdamW at AdamW's cell 0.986-0.988
(mean 0.987, against AdamW's 0.988), the wrapper at the paper's setting 0.974-0.982 (mean 0.979, against 0.763 at
AdamW's cell). The paper's wrapped setting is read from its official experiment scripts (our digest of them), not
from the paper's text. The expectation held: at AdamW's best cell the rotational update does as well as AdamW, and the
wrapper's loss of accuracy there comes from its inner :math:`\ell_2` coefficient, 5.12. At 0.08 the wrapper is
still slightly below Adam + L2 at its own best cell (0.986): on this task it does not beat either optimizer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from wdcompanion.claims import rotational_variants as rv
from wdcompanion.sweep import run_sweep
from wdcompanion.training import train_mnist1d

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "book" / "_generated" / "sweeps"  # the committed paper-scale store


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=STORE, help=f"finished runs are kept here (default {STORE})")
    parser.add_argument("--workers", type=int, default=None, help="local processes (default: the cores available)")
    parser.add_argument("--diagnose-wrapper", action="store_true", help="also run the wrapper's diagnosis (docstring)")
    args = parser.parse_args(argv)
    grid = run_sweep(train_mnist1d, rv.practical_settings(rv.PAPER)["grid"], store=args.store, workers=args.workers,
                     progress=True)
    best = rv.best_cells(grid)
    wrapped = run_sweep(train_mnist1d, rv.wrapped_settings(rv.PAPER, best), store=args.store, workers=args.workers,
                        progress=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for kind, cells in grid.groupby("optimizer", sort=False):
            print(kind, "test accuracy, rows decay, columns lr:")
            print(cells.pivot(index="weight_decay", columns="lr", values="accuracy").round(3))
        print("best cells:", best)
        print(wrapped.pivot(index="seed", columns="optimizer", values="accuracy").round(3))
        rotation = rv.layer_rotation(wrapped)
        print(pd.concat([rotation, (rotation.max() / rotation.min()).to_frame("max / min").T]).round(4))
    for c in rv.wrapped_comparisons(wrapped):
        print(f"{'pass' if c.passed else 'MISS'}: {c.name}: {c.measured} ({c.kind} {c.predicted})")
    if args.diagnose_wrapper:
        print(diagnose_wrapper(best["AdamW"], args.store, args.workers).round(3))
    return 0


def diagnose_wrapper(adamw_cell: tuple[float, float], store: Path, workers: int | None) -> pd.DataFrame:
    """Test accuracy per seed of RV-AdamW at AdamW's best cell and of the wrapper at the paper's wrapped setting."""
    runs = rv.wrapped_runs(rv.PAPER, {"RV-Adam+L2": (1.25e-2, 8e-2), "RV-AdamW": adamw_cell})
    table = run_sweep(train_mnist1d, runs, store=store, workers=workers, progress=True)
    return table.pivot(index="seed", columns=["optimizer", "lr", "weight_decay"], values="accuracy")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
