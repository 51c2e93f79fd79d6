import numpy as np
import pytest

import wdcompanion  # noqa: F401  (before the test modules: pins torch's CPU kernels before any test uses torch)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
