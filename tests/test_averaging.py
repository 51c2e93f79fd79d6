import numpy as np
import pytest

from wdcompanion.averaging import rms_over_steps


def test_rms_over_steps_is_the_root_mean_square_per_neuron():
    angles = np.array([[0.0, 1.0], [2.0, 1.0]])  # steps x neurons: the first neuron turns only at the second step
    assert np.allclose(rms_over_steps(angles), [np.sqrt(2.0), 1.0])
    one = rms_over_steps(np.array([3.0, 4.0]))  # one series: a float
    assert isinstance(one, float) and one == pytest.approx(np.sqrt(12.5))


def test_rms_over_steps_exceeds_the_mean_when_sizes_vary():
    rng = np.random.default_rng(0)
    angles = np.abs(rng.normal(size=(4000, 1)))  # |N(0, 1)|: mean sqrt(2/pi), RMS 1
    assert rms_over_steps(angles)[0] == pytest.approx(1.0, rel=0.05)
    assert angles.mean() / rms_over_steps(angles)[0] == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)


def test_rms_over_steps_validates():
    for bad in (np.zeros((0, 3)), np.zeros((2, 2, 2)), np.array([np.nan, 1.0])):
        with pytest.raises(ValueError, match="angles"):
            rms_over_steps(bad)
    with pytest.raises((TypeError, ValueError), match="angles"):
        rms_over_steps([["a"]])
