r"""Search for a learning-rate-warmup effect on MNIST-1D (issue: warmup on real data), one seed per setting.

Exploratory, not a claim check: it trains plain and rotational-variant (RV) optimizers with and
without linear warmup (a fraction ``warm`` of the steps, then cosine to 0) across peak learning rates,
each run one :func:`wdcompanion.training.train_mnist1d` (the paper's parameter grouping: only weights
of two or more dimensions decayed; the read-out decayed, not rotational), and prints the final training
loss (mean of the last 10% of the steps) and the test accuracy. An optional ``"zero_mean": false`` turns off the
RV's centring of its neurons, ``"rotational_embedding": false`` makes a transformer's patch embedding not rotational.
Run, for example::

    .venv/bin/python scripts/search_warmup_regime.py '{"kinds": ["sgdm", "rv-sgdm"], "lrs": [0.2, 0.8, 3.2],
        "warm": 0.1, "seeds": [0], "steps": 400, "batch": 1000, "wd": 0.0005, "widths": [8, 16, 32], "arch": "resnet"}'

What it found on 2 CPU cores (2 December 2026; 1 seed; momentum 0.9; AdamW betas (0.9, 0.95); the
first three results with an earlier version of this script that drew its batches from another seed);
test accuracy with warmup / without. At batch 1,000 of the 4,000 training samples:

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

So at batch 1,000 the plain optimizers show no regime where warmup helps; where the learning rate is
too large, warmup hurts them (a plausible mechanism, not yet tested: without warmup the first large
steps grow the scale-invariant weights' norms, which lowers their effective learning rate
:math:`\eta/\lVert w\rVert^2`; with warmup the norms stay small until the peak learning rate
arrives). The RVs widen the range of usable learning rates instead.

With batches of 4,000 (drawn with replacement: about the whole training set per step), BatchNorm MLP
3x128, 300 steps:

- SGDM, wd 5e-4, lr 0.4 / 1.6 / 6.4 / 25.6: 0.670/0.663, 0.692/0.693, 0.488/0.498, diverged/0.089;
  RV-SGDM 0.4 / 1.6 / 6.4: 0.597/0.611, 0.677/0.661, 0.690/0.685. No warmup effect.
- AdamW, wd 0.1, lr 0.01 / 0.04 / 0.16 / 0.64 / 2.56: 0.677/0.665, **0.703/0.594, 0.727/0.612**,
  0.747/0.731, 0.574/0.578; RV-AdamW: 0.559/0.582, 0.626/0.653, 0.681/0.651, 0.692/0.700, 0.647/0.477.
  The first regime where plain AdamW clearly needs warmup and its RV does not (as the paper's GPT-2
  runs show); the chapter's small scale (a 3x64 MLP, 200 steps, 3 seeds) is this regime.

The 1-D ResNet (8-16-32) with batches of 4,000, SGDM, wd 5e-4, 300 steps (4 December 2026):

- SGDM, lr 3.2 / 6.4 / 12.8 / 25.6: 0.961/0.965, **0.942/0.649**, 0.089/0.175, 0.091/0.192. At lr 6.4
  plain SGDM clearly needs warmup (final training loss 0.06 with it, 0.85 without); from 12.8 on it fails either way.
- RV-SGDM, lr 6.4 / 12.8: 0.986/0.984, **0.966/0.802**. At 6.4 it needs no warmup and is more accurate than SGDM
  with warmup; at 12.8, where SGDM fails, it works with warmup and loses 0.16 without. The RV moves the window up
  rather than closing it, as at batch 1,000; over the learning rates where SGDM's gain is large (6.4 here) it is
  the paper's claim in miniature, on one seed. A candidate for the chapter's SGDM regime (about 2.5 minutes per
  pair of runs on 2 cores, so paper scale only). The claim's paper scale now runs it over 3 seeds
  (``scripts/warmup_resnet_sgdm.py``), and ``scripts/warmup_mechanism.py --resnet-sgdm`` traces it: without
  warmup the filters' norms grow 5-13-fold in ten steps and then the filters almost stop turning. That is the
  same norm growth offered above for batch 1,000, with the opposite effect: there it plausibly kept too large a
  learning rate usable, here it lowers the effective learning rate so far that a 300-step run stalls.

The same ResNet with batches of 4,000, AdamW, wd 0.1, betas (0.9, 0.95), 300 steps, lr 0.02 / 0.08 / 0.32 / 1.28,
and RV-AdamW (6 December 2026). **Expected, written and committed before the run:** not known. The full-batch MLP
needs warmup with AdamW at lr 0.04 and 0.16 (above), while this ResNet at batch 1,000 did not at any lr; if the
mechanism is the transient of the hidden weights under nearly full batches, as on the MLP, a gap of several
points should appear at one of the middle learning rates, with RV-AdamW's smaller. What it found (two processes
side by side, 10 minutes): AdamW 0.979/0.972, 0.976/0.980, 0.984/0.977, 0.973/0.952; RV-AdamW 0.982/0.981,
0.984/0.973, 0.989/0.986, 0.981/0.979 (lr 0.02 / 0.08 / 0.32 / 1.28, with warmup / without; final training loss
below 0.005 in every run). **No warmup effect** worth the name: plain AdamW's largest gap is 0.021 at 1.28, on one
seed, at the edge of the 0.02 the claim requires and far from the MLP's 0.11; the ResNet fits the training set at
every learning rate tried, with warmup or without. So the expectation did not hold: on this ResNet the AdamW
transient does not cost accuracy. The issue's next candidate for AdamW is a small transformer on a generated
sequence task (not yet built).

A pre-LayerNorm transformer on MNIST-1D (``arch: "transformer"``, :func:`transformer1d` below, defined here and not in
the library because it is exploratory so far: patches of 4
points as 10 tokens, width 32, 2 blocks, 4 heads; the GPT-2 layout), AdamW and RV-AdamW, wd 0.1, betas (0.9, 0.95),
batch 256, 600 steps, warmup 0.1, lr 0.001 / 0.004 / 0.016 / 0.064, 1 seed (7 December 2026). **Expected, written and
committed before the run:** pre-LN transformers are reported to train without warmup where post-LN ones need it (Xiong
et al. 2020), yet the paper's GPT-2 (pre-LN, AdamW) loses accuracy without warmup at its larger learning rates. We
expect plain AdamW's gap to grow with the learning rate, reaching at least 0.02 at 0.016 or 0.064 before both fail,
and RV-AdamW's gap to stay below half of it; if no gap appears, a post-LN variant is the next candidate.
What it found (two processes side by side, 2.3 minutes; test accuracy with warmup / without): AdamW 0.845/0.825,
0.881/0.881, **0.909/0.863, 0.854/0.747**; RV-AdamW 0.673/0.670, 0.716/0.715, 0.725/0.705, 0.710/0.711 (lr 0.001 /
0.004 / 0.016 / 0.064). So plain AdamW needs warmup on this transformer, as expected: its gap grows to 0.046 at 0.016
and 0.107 at 0.064 (final training loss 0.14 with warmup, 0.53 without), the first AdamW regime on real data with a
network other than the full-batch MLP. RV-AdamW's gaps are 0.020 and -0.001 there, but it is 0.14-0.18 *less accurate*
at every learning rate, so this is not yet the paper's result: the RV fixes every row norm of every decayed weight,
and few of this network's weights are scale-invariant (a pre-LN block's output scale is its weights' scale; attention
logits scale with the query and key norms). The paper's RV runs on GPT-2 add a learnable gain per output of every
linear layer (its ``slinear``; digest, "Rotational wrapper") for exactly this, and its GPT-2 runs clip gradients at
1.0; neither is in this search. Next step: the same sweep with gained linears (for both optimizers, or for the RV only
as the paper does), over 3 seeds, and only then a place in the claim (at about 30 s per training on one core it fits
paper scale, not small scale).

The same transformer with a learnable gain per output of every linear layer but the read-out (``arch:
"gained-transformer"``, now :func:`wdcompanion.transformer.transformer1d`: :math:`y = g \odot (W x) + b`, the paper's
``slinear``; its own attention block, since ``torch.nn.MultiheadAttention`` multiplies by its raw projection weight), for both
optimizers so that they train the same network, over 3 seeds, otherwise the settings above (7 December 2026).
**Expected, written and committed before the run:** the gains give back what fixed row norms take away, so RV-AdamW's
accuracy should come within 0.03 of AdamW's with warmup at the lr where AdamW does best, while its warmup gap stays
below half of AdamW's at 0.016 and 0.064; AdamW itself should change little (its gains only duplicate a scale its
weights can already take), so its gap should stay near 0.05 and 0.1 there. If RV-AdamW is still 0.1 behind, gradient
clipping (the paper's GPT-2 runs clip at 1.0) is the next difference to try. What it found (two processes side by
side, 7.5 minutes; mean ± standard deviation over seeds 0-2 of the test accuracy with warmup / without, and the gap):
AdamW 0.812±0.014 / 0.805±0.003 (0.007), 0.884±0.016 / 0.875±0.013 (0.008), **0.904±0.013 / 0.855±0.029 (0.049),
0.842±0.017 / 0.646±0.040 (0.196)**; RV-AdamW 0.664±0.010 / 0.668±0.014 (-0.004), 0.716±0.007 / 0.713±0.015 (0.003),
0.718±0.014 / 0.735±0.015 (-0.017), 0.729±0.013 / 0.713±0.006 (0.016) (lr 0.001 / 0.004 / 0.016 / 0.064). AdamW's warmup
gap is the one expected, now beyond the seed spread at 0.016 and 0.064. But the gains did **not** help the RV: it is
still 0.17-0.19 less accurate than AdamW with warmup, and it underfits (final training loss 0.38-0.89 against
AdamW's 0.05-0.47). So the expectation failed, and the row norms of the linear layers are not what holds it back.

Two causes are left, tested next (1 seed, lr 0.016 and 0.064, 7 December 2026). **Expected, written and committed
before the run:** (a) the position table is decayed and two-dimensional, so the RV fixes its row norms at their
initial 0.02 · √32 ≈ 0.11, while AdamW can grow them; with patches mean-pooled, a network that cannot make positions
count is nearly blind to where a feature sits. If this is the cause, a learnable gain per position
(``arch: "fully-gained-transformer"``) brings RV-AdamW within 0.05 of AdamW's accuracy. (b) at wd 0.1 and 600 steps,
:math:`\eta\lambda T` is 1 at lr 0.016, so plain AdamW is still in its transient, rotating faster than the
equilibrium rate the RV imposes from the first step (the paper's footnote on its IWSLT run: a weight decay too low
"causing an extended transient phase"). If this is the cause, RV-AdamW at wd 0.4 (twice the equilibrium angle) trains
to a lower loss and gains accuracy; the paper's "few-shot" RV runs raise the weight decay for this. What it found
(two processes side by side, 70 s; RV-AdamW, test accuracy with warmup / without at lr 0.016 and 0.064): (a) with a
gain per position 0.712/0.746 and 0.728/0.791; (b) at wd 0.4 0.703/0.845 and 0.720/0.700. Neither brings it near
AdamW's 0.90 and 0.84 with warmup: the position scale is a small part of it, and the larger weight decay helps one run
out of four, not consistently.

A third cause, found on reading the wrapper's defaults again: it centres every rotational neuron (``zero_mean``, the
paper's default, which emulates Weight Standardization). In a BatchNorm or LayerNorm layer that costs nothing, since
the normalization removes the mean anyway; here it does not hold for the patch embedding (fan-in 4: a centred row
cannot see a patch's mean level, a quarter of what the signal holds) nor for the attention and MLP output
projections, whose inputs are not centred. (c) **Expected, written and committed before the run:** with
``"zero_mean": false`` (the wrapper's option, set here for the search) RV-AdamW on the gained transformer comes within
0.05 of AdamW's accuracy with warmup at lr 0.016 and 0.064, over seeds 0-2; if it does, its warmup gap is the next
question (below half of AdamW's for the claim). What it found (two processes side by side, 2 minutes; seeds 0-2,
test accuracy with warmup / without): 0.884±0.007 / 0.886±0.010 at lr 0.016 and 0.894±0.014 / 0.887±0.004 at 0.064,
final training loss 0.08-0.14. The expectation held: without centring RV-AdamW is within 0.02 of AdamW with warmup at
0.016 and more accurate at 0.064 (AdamW 0.904 and 0.842), and it needs no warmup at either (gaps -0.002 and 0.007,
inside the seed spread, against AdamW's 0.049 and 0.196). That is the paper's GPT-2 result in miniature.

To close the sweep and to find which centred layers cost the accuracy (7 December 2026): (c) also at lr 0.001 and
0.004, seeds 0-2; (d) with centring on but the patch embedding not rotational (``"rotational_embedding": false``: its
weight is stepped by the inner AdamW, like the read-out), lr 0.016 and 0.064, seed 0. **Expected, written and
committed before the run:** (c) RV-AdamW's gaps stay inside the seed spread; (d) the embedding, whose fan-in of 4
makes centring cost the most, accounts for most of the loss, so (d) comes within 0.05 of (c); if not, the centred
output projections matter as much. What it found (two processes side by side, 4 minutes): (c) 0.844±0.008 / 0.846±0.009
at lr 0.001 and 0.878±0.004 / 0.875±0.004 at 0.004, gaps -0.002 and 0.003 (AdamW: 0.812 / 0.805 and 0.884 / 0.875);
(d) 0.887 / 0.879 at 0.016 and 0.884 / 0.880 at 0.064, against (c)'s seed 0, 0.876 / 0.876 and 0.878 / 0.891. Both
expectations held: the patch embedding's centring accounts for all of the loss (a linear patch embedding's rows run
over the 4 points of a patch, so centring one removes the patch's mean level; GPT-2's token embedding is a lookup
table, whose rows run over the width, where centring costs little before a LayerNorm).

(Runs (a) to (d), the RV-AdamW runs without centring included, were made by a version of this script that drew the
blocks' initial weights before the embedding's; the first gained run, AdamW's included, and the library's
:func:`~wdcompanion.transformer.transformer1d` draw the embedding first. Those runs are therefore other random
initializations of the same network, and this script, which now builds the library's network, reproduces the first
gained run and not them.)

The claim's own warmup criterion (``rotational_variants.warmup_gains`` and ``warmup_comparisons``, unchanged, applied
to these logs; AdamW on the gained transformer, RV-AdamW on it without centring, seeds 0-2): plain AdamW's gain is
significant at lr 0.064 only (0.196, standard error 0.032; at 0.016, 0.049 with standard error 0.025 falls just short
of 2 SE), its largest gain clears the threshold by 0.131, and RV-AdamW keeps 0.034 of it, against the bound of 0.5:
both comparisons pass. The centred RV-AdamW of the first gained run would pass the warmup comparisons as well (its
largest gap 0.016, at 0.064); what centring costs is accuracy, not the need for warmup. Centring was turned off after
seeing that run, so this is a search result, not a prediction; a claim that uses it should fix these settings and
run new seeds. Cost: about 20 s per training on one core, 48 trainings (one per optimizer, learning rate, warmup and
seed) in 8 minutes on two.

Not yet tried: longer runs, a rotational read-out, AdamW on the ResNet above lr 1.28.
(BatchNorm without trained affine parameters and a
start at the equilibrium norm: `scripts/warmup_mechanism.py`.)
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Sequence

import torch
from torch import nn

from wdcompanion import training
from wdcompanion._validation import check_count
from wdcompanion.optim import RotationalWrapper, param_groups
from wdcompanion.transformer import MeanToken
from wdcompanion.transformer import transformer1d as gained_transformer1d

KINDS = {"sgdm": "SGDM", "rv-sgdm": "RV-SGDM", "adamw": "AdamW", "rv-adamw": "RV-AdamW"}
OPTIONS = {"SGDM": dict(momentum=0.9), "AdamW": dict(betas=(0.9, 0.95))}


class _PatchEmbedding(nn.Module):
    r"""``(n, length)`` to ``(n, tokens, width)``: each patch of ``patch`` points times :math:`W_e`, plus a learned position row."""

    def __init__(self, length: int, patch: int, width: int):
        super().__init__()
        self.patch = patch
        self.project = nn.Linear(patch, width)
        self.position = nn.Parameter(0.02 * torch.randn(length // patch, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x.unflatten(1, (-1, self.patch))) + self.position


def transformer1d(length: int, width: int = 32, depth: int = 2, classes: int = 10, *, patch: int = 4, heads: int = 4,
                  seed: int = 0) -> nn.Sequential:
    r"""A pre-LayerNorm transformer encoder for signals ``(n, length)``, as a ``nn.Sequential`` whose last module is the read-out.

    The signal is cut into ``length / patch`` patches (tokens); each is embedded linearly to
    ``width`` and gets a learned position vector. ``depth`` blocks of ``torch.nn.TransformerEncoderLayer``
    with ``norm_first=True`` follow (the GPT-2 layout: :math:`x + \mathrm{Attn}(\mathrm{LN}(x))`, then
    :math:`x + \mathrm{MLP}(\mathrm{LN}(x))`; ``heads`` heads, an MLP of ``4 width`` with GELU, no
    dropout), then a final LayerNorm, the mean over tokens and a linear read-out. Unlike BatchNorm
    networks, few of its weights are scale-invariant (a pre-LN block's output scale is its weights'
    scale), as in the paper's GPT-2.
    """
    length, width, depth = check_count(length, "length"), check_count(width, "width"), check_count(depth, "depth")
    patch, heads = check_count(patch, "patch"), check_count(heads, "heads")
    if length % patch:
        raise ValueError(f"patch ({patch}) must divide length ({length})")
    if width % heads:
        raise ValueError(f"heads ({heads}) must divide width ({width})")
    torch.manual_seed(check_count(seed, "seed", minimum=0))
    blocks = [nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=0.0, activation="gelu",
                                         batch_first=True, norm_first=True) for _ in range(depth)]
    return nn.Sequential(_PatchEmbedding(length, patch, width), *blocks, MeanToken(width),
                         nn.Linear(width, check_count(classes, "classes")))


# the gained ones are the library's (wdcompanion.transformer), which the confirmation script trains
TRANSFORMERS = {"transformer": transformer1d, "gained-transformer": gained_transformer1d,
                "fully-gained-transformer": functools.partial(gained_transformer1d, position_gain=True)}
_library_build_model = training.build_model


def build_model(arch: str, widths: Sequence[int], *, features: int, classes: int, seed: int) -> torch.nn.Sequential:
    """:func:`wdcompanion.training.build_model`, plus the :data:`TRANSFORMERS`, one block per entry of ``widths``."""
    if arch not in TRANSFORMERS:
        return _library_build_model(arch, widths, features=features, classes=classes, seed=seed)
    if len(set(widths)) != 1:
        raise ValueError(f"widths must be one width repeated per block for the transformer, got {tuple(widths)}")
    return TRANSFORMERS[arch](features, widths[0], len(widths), classes, seed=seed)


def train(kind: str, lr: float, warm: float, seed: int, steps: int, batch: int, weight_decay: float,
          widths: tuple[int, ...], arch: str) -> tuple[float, float]:
    """Final training loss (NaN if it diverged) and test accuracy of one run."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    name = KINDS[kind]
    out = training.train_mnist1d(optimizer=name, lr=lr, weight_decay=weight_decay, warmup_steps=int(warm * steps), steps=steps,
                        batch=batch, seed=seed, arch=arch, widths=widths, **OPTIONS[name.removeprefix("RV-")])
    return out["train_loss"], float("nan") if out["diverged"] else out["accuracy"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: search_warmup_regime.py CONFIG_JSON (see the module docstring)", file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    torch.set_num_threads(1)
    # train_mnist1d builds its network through training.build_model; extending it here, not in the library, keeps the
    # code fingerprints of the archived records and stored sweep runs unchanged while the transformer is exploratory.
    training.build_model = build_model
    if not config.get("zero_mean", True):
        training.RotationalWrapper = functools.partial(RotationalWrapper, zero_mean=False)
    if not config.get("rotational_embedding", True):  # the transformers' patch embedding grouped like the read-out
        training.param_groups = lambda model, weight_decay, readout: param_groups(model, weight_decay, readout=[readout, "0.project"])
    start = time.perf_counter()
    for kind in config["kinds"]:
        for lr in config["lrs"]:
            cells = []
            for warm in (config["warm"], 0.0):
                for seed in config["seeds"]:
                    loss, accuracy = train(kind, lr, warm, seed, config["steps"], config["batch"], config["wd"],
                                           tuple(config["widths"]), config["arch"])
                    cells.append(f"warmup {warm:g}, seed {seed}: loss {loss:.3f} acc {accuracy:.3f}")
            print(f"{kind} lr={lr:g}  " + "  ".join(cells) + f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
