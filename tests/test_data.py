"""MNIST-1D is generated in memory, with the benchmark's shapes and classes, touching no network, disk or RNG state."""

import random
import socket

import numpy as np
import pytest
import torch

from wdcompanion import data


@pytest.fixture(scope="module")
def benchmark():
    return data.mnist1d()


def test_benchmark_shapes_types_and_classes(benchmark):
    assert benchmark.x_train.shape == (4000, data.MNIST1D_LENGTH) and benchmark.x_test.shape == (1000, data.MNIST1D_LENGTH)
    assert benchmark.y_train.shape == (4000,) and benchmark.y_test.shape == (1000,)
    assert benchmark.x_train.dtype == torch.float32 and benchmark.y_train.dtype == torch.int64
    assert benchmark.features == 40 and benchmark.classes == 10 and benchmark.name == "MNIST-1D"
    counts = torch.bincount(torch.cat([benchmark.y_train, benchmark.y_test]), minlength=10)
    assert counts.tolist() == [500] * 10  # 500 per class before the 80/20 split
    assert torch.bincount(benchmark.y_train, minlength=10).min() > 350  # the shuffle spreads every class over the split
    everything = torch.cat([benchmark.x_train, benchmark.x_test])
    assert abs(everything.mean().item()) < 1e-5 and abs(everything.std().item() - 1) < 1e-3  # standardized as a whole


def test_deterministic_and_leaves_global_random_state_alone(benchmark, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D generation tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    random.seed(7)
    np.random.seed(7)
    python_before, numpy_before = random.random(), np.random.random()
    random.seed(7)
    np.random.seed(7)
    again = data.mnist1d()
    assert (random.random(), np.random.random()) == (python_before, numpy_before)
    assert list(tmp_path.iterdir()) == []  # no pickle written to the working directory
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(again, name), getattr(benchmark, name))
    other = data.mnist1d(num_samples=200, seed=1)
    assert other.x_train.shape == (160, 40) and other.name == "MNIST-1D (200 samples, seed 1)"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(num_samples=105), ValueError, "num_samples must be a multiple of 10"),
    (dict(num_samples=0), ValueError, "num_samples"),
    (dict(num_samples=1000.0), TypeError, "num_samples"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.mnist1d(**kwargs)
