r"""A small pre-LayerNorm transformer for MNIST-1D, and one AdamW or RV-AdamW training of it: the GPT-2 warmup regime in miniature.

The paper's AdamW warmup evidence comes from GPT-2 (pre-LayerNorm blocks, AdamW, 250 warmup iterations
or none). :func:`transformer1d` is our CPU-sized analogue on MNIST-1D signals of length :math:`L`: the
signal is cut into :math:`L/p` patches of :math:`p` points (the tokens), each embedded by a linear map
plus a learned position row, followed by ``depth`` pre-LayerNorm blocks,

.. math::

    x \leftarrow x + W_o\,\mathrm{Attn}(W_{qkv}\,\mathrm{LN}(x)), \qquad
    x \leftarrow x + W_2\,\mathrm{GELU}(W_1\,\mathrm{LN}(x)),

a final LayerNorm, the mean over tokens and a linear read-out. Every linear layer but the read-out is a
:class:`GainedLinear`, :math:`y = g \odot (W x) + b`: the paper's RV runs on transformers add such a
learnable per-output gain (its ``SLinear``), because the RV fixes every row norm of :math:`W` and few of
a transformer's weights are scale-invariant. The gain is one-dimensional, so
:func:`~wdcompanion.optim.param_groups` leaves it undecayed and the wrapper steps it with its inner
optimizer. (The architecture, its sizes and the choice of gains are ours; ``scripts/search_warmup_regime.py``
records how they were found.)

:func:`train_transformer_mnist1d` trains one, with AdamW or RV-AdamW, under
:func:`~wdcompanion.training.warmup_cosine`, and returns what
:func:`~wdcompanion.training.train_mnist1d` returns. Its RV does **not** centre its neurons by default
(``zero_mean=False``; the paper's wrapper does by default): the patch embedding's rows run over the
:math:`p` points of a patch, so centring one would make the network blind to each patch's mean level
(GPT-2's token embedding is a lookup table, whose rows run over the width, where centring costs little
before a LayerNorm). The search measured the cost: about 0.17 of test accuracy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from . import nets
from ._validation import check_betas, check_count, check_nonnegative, check_positive
from .data import mnist1d
from .optim import RotationalWrapper, param_groups
from .training import warmup_cosine

__all__ = ["GainedLinear", "PatchEmbedding", "TransformerBlock", "MeanToken", "transformer1d", "OPTIMIZERS",
           "train_transformer_mnist1d"]

#: The optimizers of :func:`train_transformer_mnist1d`.
OPTIMIZERS = ("AdamW", "RV-AdamW")


class GainedLinear(nn.Linear):
    r"""A linear layer with a learnable gain per output: :math:`y = g \odot (W x) + b`, :math:`g` starting at 1.

    With :math:`g = 1` it is ``nn.Linear`` (same initialization of :math:`W` and :math:`b`).
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__(check_count(in_features, "in_features"), check_count(out_features, "out_features"))
        self.gain = nn.Parameter(torch.ones(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * nn.functional.linear(x, self.weight) + self.bias


class PatchEmbedding(nn.Module):
    r"""``(n, length)`` to ``(n, length / patch, width)``: each patch of ``patch`` points times :math:`W_e` (a
    :class:`GainedLinear`), plus a learned position row :math:`P_t` (initialized :math:`\mathcal N(0, 0.02^2)`).

    With ``position_gain`` each position row gets a learnable scalar gain too, :math:`g_t P_t` (an ablation of
    the search: under the RV it lets the positions' scale grow).
    """

    def __init__(self, length: int, patch: int, width: int, *, position_gain: bool = False):
        super().__init__()
        length, patch, width = check_count(length, "length"), check_count(patch, "patch"), check_count(width, "width")
        if length % patch:
            raise ValueError(f"patch ({patch}) must divide length ({length})")
        self.patch = patch
        self.project = GainedLinear(patch, width)
        self.position = nn.Parameter(0.02 * torch.randn(length // patch, width))
        self.position_gain = nn.Parameter(torch.ones(length // patch)) if position_gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        position = self.position if self.position_gain is None else self.position_gain[:, None] * self.position
        return self.project(x.unflatten(1, (-1, self.patch))) + position


class TransformerBlock(nn.Module):
    r"""A pre-LayerNorm block with :class:`GainedLinear` layers: ``heads``-head attention, then an MLP of ``4 width``.

    :math:`x + W_o\,\mathrm{Attn}(\mathrm{LN}(x))`, then :math:`x + W_2\,\mathrm{GELU}(W_1\,\mathrm{LN}(x))`: with
    every gain at 1, ``nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0, activation="gelu",
    norm_first=True, batch_first=True)`` carrying the same weights computes the same function.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        width, heads = check_count(width, "width"), check_count(heads, "heads")
        if width % heads:
            raise ValueError(f"heads ({heads}) must divide width ({width})")
        self.heads = heads
        self.attention_norm, self.mlp_norm = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.attention_out = GainedLinear(width, 3 * width), GainedLinear(width, width)
        self.mlp_in, self.mlp_out = GainedLinear(width, 4 * width), GainedLinear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, width = x.shape
        # (n, tokens, 3 width) to three tensors (n, heads, tokens, width / heads)
        q, k, v = self.qkv(self.attention_norm(x)).view(n, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, tokens, width)
        x = x + self.attention_out(attended)
        return x + self.mlp_out(nn.functional.gelu(self.mlp_in(self.mlp_norm(x))))


class MeanToken(nn.Module):
    """The final LayerNorm of a pre-LN transformer, then the mean over tokens: ``(n, tokens, width)`` to ``(n, width)``."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(check_count(width, "width"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x).mean(dim=1)


def transformer1d(length: int, width: int = 32, depth: int = 2, classes: int = 10, *, patch: int = 4, heads: int = 4,
                  seed: int = 0, position_gain: bool = False) -> nn.Sequential:
    r"""The transformer of the module docstring for signals ``(n, length)``, as a ``nn.Sequential`` ending in its read-out.

    :class:`PatchEmbedding`, ``depth`` :class:`TransformerBlock` of ``heads`` heads, :class:`MeanToken`,
    ``nn.Linear(width, classes)``; initialized from ``torch.manual_seed(seed)``. ``patch`` must divide
    ``length`` and ``heads`` must divide ``width`` (``ValueError`` otherwise).
    """
    depth, classes = check_count(depth, "depth"), check_count(classes, "classes")
    torch.manual_seed(check_count(seed, "seed", minimum=0))
    embedding = PatchEmbedding(length, patch, width, position_gain=position_gain)
    blocks = [TransformerBlock(width, heads) for _ in range(depth)]
    return nn.Sequential(embedding, *blocks, MeanToken(width), nn.Linear(width, classes))


@functools.cache
def _benchmark():
    """MNIST-1D, generated once per process and never modified."""
    return mnist1d()


def train_transformer_mnist1d(*, optimizer: str, lr: float, weight_decay: float, warmup_steps: int, steps: int, batch: int,
                              seed: int, width: int = 32, depth: int = 2, betas: Sequence[float] = (0.9, 0.95),
                              zero_mean: bool = False) -> dict[str, float]:
    r"""Train a fresh :func:`transformer1d` on MNIST-1D with ``optimizer`` (one of :data:`OPTIMIZERS`); one row of a sweep.

    The paper's grouping (:func:`~wdcompanion.optim.param_groups`, the read-out decayed and not
    rotational), AdamW's ``betas`` (the paper's GPT-2 runs use (0.9, 0.95)), the learning rate
    :math:`\eta_t = \eta\,f(t)` with :math:`f` = :func:`~wdcompanion.training.warmup_cosine`, batches of
    ``batch`` drawn with replacement from ``seed + 10000``, the network initialized from ``seed``.
    ``zero_mean`` is the RV's centring (see the module docstring; ignored by plain AdamW).

    Returns what :func:`~wdcompanion.training.train_mnist1d` does: ``accuracy`` on the 1,000 test
    signals (chance, 0.1, if the training diverged), ``train_loss`` (mean over the last 10% of the
    steps; NaN if it diverged) and ``diverged`` (0 or 1).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    lr, weight_decay = check_positive(lr, "lr"), check_nonnegative(weight_decay, "weight_decay")
    steps, batch = check_count(steps, "steps"), check_count(batch, "batch")
    warmup_steps, seed = check_count(warmup_steps, "warmup_steps", minimum=0), check_count(seed, "seed", minimum=0)
    betas = check_betas(betas)
    if not isinstance(zero_mean, bool):
        raise TypeError(f"zero_mean must be a bool, got {zero_mean!r}")
    data = _benchmark()
    model = transformer1d(data.features, width, depth, data.classes, seed=seed)
    groups = param_groups(model, weight_decay, readout=model[-1])
    if optimizer == "AdamW":
        opt = torch.optim.AdamW(groups, lr=lr, betas=betas)
    else:
        opt = RotationalWrapper(groups, "adamw", lr=lr, weight_decay=weight_decay, betas=betas, zero_mean=zero_mean)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, warmup_steps))
    try:
        run = nets.train_classifier(model, opt, data.x_train, data.y_train, steps, batch_size=batch, seed=seed + 10_000,
                                    on_step=lambda _: schedule.step())
        diverged = not np.all(np.isfinite(run.losses))
    except ValueError:  # the RV refuses a neuron whose weights are no longer finite
        run, diverged = None, True
    accuracy = 1.0 / data.classes if diverged else nets.held_out_accuracy(model, data.x_test, data.y_test)
    loss = float("nan") if diverged else float(np.mean(run.losses[-max(1, steps // 10):]))
    return {"accuracy": accuracy, "train_loss": loss, "diverged": float(diverged)}
