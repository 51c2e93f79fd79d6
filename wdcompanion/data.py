r"""MNIST-1D, generated in memory by the ``mnist1d`` package (Greydanus & Kobak): real data that ships as code.

MNIST-1D turns ten hand-drawn 1-D digit templates (12 points each) into 40-point signals by padding,
random translation, shear, scaling, correlated and i.i.d. noise, then resamples, shuffles and
standardizes the whole set (mean 0, standard deviation 1). :func:`mnist1d` with its defaults is the draw
of ``mnist1d.data.make_dataset()`` with the package's default arguments, those of the benchmark: 5,000
samples, 500 per class, seed 42, split 4,000 / 1,000. The authors report test accuracies of 32%
(logistic regression), 68% (MLP), 94% (CNN), 91% (GRU) and 96% (a human expert) on the benchmark (the
package's README); we have not compared this draw with the file they published.

:func:`mnist1d` calls that generator and nothing else: never the package's ``get_dataset``, which
downloads a pickle from GitHub or writes one to the working directory. The generator seeds Python's
and NumPy's global random states (``random.seed``, ``np.random.seed``); this module restores both
afterwards, so generating the data leaves a caller's random streams as they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_count

__all__ = ["MNIST1D_SAMPLES", "MNIST1D_SEED", "MNIST1D_LENGTH", "MNIST1D_CLASSES", "Dataset", "mnist1d"]

MNIST1D_SAMPLES = 5000  # the benchmark's size, split 80/20
MNIST1D_SEED = 42  # the benchmark's seed
MNIST1D_LENGTH = 40  # points per signal
MNIST1D_CLASSES = 10


@dataclass(frozen=True)
class Dataset:
    """A classification dataset as float32 inputs and int64 labels, split into training and test sets."""

    x_train: torch.Tensor  # (n_train, features)
    y_train: torch.Tensor  # (n_train,)
    x_test: torch.Tensor  # (n_test, features)
    y_test: torch.Tensor  # (n_test,)
    name: str

    @property
    def features(self) -> int:
        """The number of inputs per sample."""
        return self.x_train.shape[1]

    @property
    def classes(self) -> int:
        """The number of classes (labels are ``0 .. classes - 1``)."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def mnist1d(num_samples: int = MNIST1D_SAMPLES, seed: int = MNIST1D_SEED) -> Dataset:
    """MNIST-1D from ``mnist1d.data.make_dataset`` (defaults: the published benchmark, 4,000 / 1,000).

    ``num_samples`` (a multiple of 10: the generator makes ``num_samples // 10`` per class) and
    ``seed`` select another draw of the same generator; the 80/20 split is the package's. Takes
    about a second per 5,000 samples; nothing is read from or written to disk or the network.
    """
    num_samples = check_count(num_samples, "num_samples", minimum=10)
    if num_samples % MNIST1D_CLASSES:
        raise ValueError(f"num_samples must be a multiple of {MNIST1D_CLASSES} (equal classes), got {num_samples}")
    seed = check_count(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32 (NumPy's legacy seed), got {seed}")
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    name = "MNIST-1D" if (num_samples, seed) == (MNIST1D_SAMPLES, MNIST1D_SEED) else f"MNIST-1D ({num_samples} samples, seed {seed})"
    return Dataset(x_train=torch.as_tensor(data["x"], dtype=torch.float32), y_train=torch.as_tensor(data["y"], dtype=torch.int64),
                   x_test=torch.as_tensor(data["x_test"], dtype=torch.float32), y_test=torch.as_tensor(data["y_test"], dtype=torch.int64),
                   name=name)
