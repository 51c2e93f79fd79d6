r"""Small networks with normalization, and generated data (nothing is downloaded).

* :func:`teacher_data`: inputs :math:`x \sim \mathcal N(0, I_d)` labelled by the arg-max of a random
  two-layer ReLU teacher network (deterministic in the seed).
* :class:`WSLinear`: a linear layer with Weight Standardization: each row is centred and scaled to
  unit norm before use, :math:`\hat w = (w - \bar w)/\lVert w - \bar w\rVert`, so the layer's output is
  invariant to each row's scale (and shift), as for a linear layer followed by BatchNorm.
* :func:`mlp`: ``Linear -> norm -> ReLU`` blocks and a linear read-out, with ``norm`` one of
  ``"batch"``, ``"layer"``, ``"layer+ws"`` (LayerNorm after WS linears) or ``"none"``.
* :func:`cnn`: a small convolutional network with BatchNorm (every filter scale-invariant).
* :func:`resnet`: a ResNet-style CNN (basic residual blocks, BatchNorm after every convolution),
  and :func:`teacher_images` to feed it; :func:`resnet1d`, the same for 1-D signals (MNIST-1D,
  :func:`wdcompanion.data.mnist1d`).
* :func:`train_classifier`: mini-batch training with a given optimizer, recording gradient norms;
  :func:`held_out_accuracy` on held-out data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._validation import check_count

__all__ = ["NORMS", "teacher_data", "teacher_images", "WSLinear", "mlp", "cnn", "resnet", "resnet1d", "TrainingRun",
           "train_classifier", "held_out_accuracy"]

NORMS = ("batch", "layer", "layer+ws", "none")


def teacher_data(n_samples: int, dim: int = 32, classes: int = 10, hidden: int = 64, seed: int = 0):
    """``(x, y)``: Gaussian inputs labelled by a random ReLU teacher network (float32, int64)."""
    n_samples, dim, classes, hidden = (check_count(v, name) for v, name in
                                       ((n_samples, "n_samples"), (dim, "dim"), (classes, "classes"), (hidden, "hidden")))
    gen = torch.Generator().manual_seed(check_count(seed, "seed", minimum=0))
    x = torch.randn(n_samples, dim, generator=gen)
    w1 = torch.randn(hidden, dim, generator=gen) / np.sqrt(dim)
    w2 = torch.randn(classes, hidden, generator=gen) / np.sqrt(hidden)
    y = (torch.relu(x @ w1.T) @ w2.T).argmax(dim=1)
    return x, y


class WSLinear(nn.Linear):
    """Linear layer whose rows are centred and normalized in the forward pass (Weight Standardization)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""``x`` times the standardized rows :math:`(w - \bar w)/\lVert w - \bar w\rVert`, plus the bias."""
        centred = self.weight - self.weight.mean(dim=1, keepdim=True)
        standardized = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return nn.functional.linear(x, standardized, self.bias)


def mlp(in_dim: int, widths: Sequence[int], classes: int, norm: str = "batch", seed: int = 0) -> nn.Sequential:
    """An MLP of ``Linear -> norm -> ReLU`` blocks (hidden linears without bias) and a linear read-out."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    widths = [check_count(w, "widths") for w in widths]
    torch.manual_seed(check_count(seed, "seed", minimum=0))
    layers: list[nn.Module] = []
    previous = check_count(in_dim, "in_dim")
    for width in widths:
        linear = WSLinear if norm == "layer+ws" else nn.Linear
        layers.append(linear(previous, width, bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width))
        elif norm in ("layer", "layer+ws"):
            layers.append(nn.LayerNorm(width))
        layers.append(nn.ReLU())
        previous = width
    layers.append(nn.Linear(previous, check_count(classes, "classes")))
    return nn.Sequential(*layers)


def cnn(in_channels: int, channels: Sequence[int], classes: int, norm: str = "batch", seed: int = 0) -> nn.Sequential:
    """A small CNN: ``Conv3x3 -> norm -> ReLU`` blocks (stride 2 after the first), global average pooling, linear read-out.

    ``norm`` is ``"batch"`` (BatchNorm2d: every filter is scale-invariant) or ``"none"``.
    """
    if norm not in ("batch", "none"):
        raise ValueError(f"norm must be 'batch' or 'none' for the CNN, got {norm!r}")
    channels = [check_count(c, "channels") for c in channels]
    torch.manual_seed(check_count(seed, "seed", minimum=0))
    layers: list[nn.Module] = []
    previous = check_count(in_channels, "in_channels")
    for index, width in enumerate(channels):
        layers.append(nn.Conv2d(previous, width, 3, stride=1 if index == 0 else 2, padding=1, bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU())
        previous = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, check_count(classes, "classes"))]
    return nn.Sequential(*layers)


def teacher_images(n_samples: int, channels: int = 3, size: int = 16, classes: int = 10, seed: int = 0):
    """``(x, y)`` as for :func:`teacher_data` with ``dim = channels * size**2``, shaped as images ``(n, channels, size, size)``."""
    channels, size = check_count(channels, "channels"), check_count(size, "size")
    x, y = teacher_data(n_samples, dim=channels * size * size, classes=classes, hidden=128, seed=seed)
    return x.view(-1, channels, size, size), y


_CONV = {1: (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d), 2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)}


class _BasicBlock(nn.Module):
    """``conv3 -> BN -> ReLU -> conv3 -> BN`` plus the input (a 1-wide conv + BN when the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dims: int = 2):
        super().__init__()
        conv, norm, _ = _CONV[dims]
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv(in_channels, out_channels, 1, stride=stride, bias=False), norm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet(in_channels: int, widths: Sequence[int] = (16, 32, 64), blocks: int = 1, classes: int = 10,
           seed: int = 0, dims: int = 2) -> nn.Sequential:
    """A ResNet-style CNN: a width-3 stem, ``blocks`` basic residual blocks per stage (stride 2 between stages), pooling.

    ``dims=2`` for images ``(n, channels, height, width)``, ``dims=1`` for signals ``(n, channels, length)``
    (:func:`resnet1d`). Every convolution is followed by BatchNorm, so every filter is scale-invariant;
    the read-out is linear.
    """
    if dims not in _CONV:
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    conv, norm, pool = _CONV[dims]
    widths = [check_count(w, "widths") for w in widths]
    blocks = check_count(blocks, "blocks")
    torch.manual_seed(check_count(seed, "seed", minimum=0))
    layers: list[nn.Module] = [conv(check_count(in_channels, "in_channels"), widths[0], 3, padding=1, bias=False),
                               norm(widths[0]), nn.ReLU()]
    previous = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            layers.append(_BasicBlock(previous, width, stride=2 if stage > 0 and block == 0 else 1, dims=dims))
            previous = width
    layers += [pool(1), nn.Flatten(), nn.Linear(previous, check_count(classes, "classes"))]
    return nn.Sequential(*layers)


def resnet1d(length: int, widths: Sequence[int] = (16, 32, 64), blocks: int = 1, classes: int = 10,
             seed: int = 0) -> nn.Sequential:
    """:func:`resnet` with ``dims=1`` for inputs ``(n, length)`` (one channel; MNIST-1D: ``length = 40``).

    The first module reshapes ``(n, length)`` to ``(n, 1, length)``; parameter names are those of
    :func:`resnet` shifted by one (``1.weight`` is the stem), and ``model[-1]`` is the read-out.
    """
    body = resnet(1, widths, blocks, classes, seed, dims=1)
    return nn.Sequential(nn.Unflatten(1, (1, check_count(length, "length"))), *body)


@dataclass
class TrainingRun:
    losses: np.ndarray  # training loss per step
    grad_norms: dict[str, np.ndarray]  # per recorded step, per neuron: ||grad|| * ||w|| (gradient at unit norm)
    accuracy: float  # on the training data at the end


def train_classifier(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int,
                     batch_size: int = 128, seed: int = 0, record: Sequence[str] = (), record_every: int = 10,
                     on_step: Callable[[int], None] | None = None) -> TrainingRun:
    """Mini-batch cross-entropy training; records ``||grad_w|| ||w||`` per neuron for the named weights."""
    steps, batch_size = check_count(steps, "steps"), check_count(batch_size, "batch_size")
    params = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(check_count(seed, "seed", minimum=0))
    losses, grads = [], {name: [] for name in record}
    model.train()
    for step in range(steps):
        index = torch.randint(0, len(x), (batch_size,), generator=gen)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        loss.backward()
        if step % record_every == 0:
            for name in record:
                p = params[name]
                rows, weight_rows = p.grad.reshape(p.shape[0], -1), p.detach().reshape(p.shape[0], -1)  # conv filters flattened
                grads[name].append((rows.norm(dim=1) * weight_rows.norm(dim=1)).cpu().numpy().copy())
        optimizer.step()
        if on_step is not None:
            on_step(step)
        losses.append(loss.item())
    return TrainingRun(np.array(losses), {k: np.array(v) for k, v in grads.items()}, held_out_accuracy(model, x, y))


def held_out_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of ``x`` that ``model`` (in eval mode, no gradients) classifies as ``y``."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must have the same, non-zero length, got {len(x)} and {len(y)}")
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()
