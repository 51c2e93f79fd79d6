"""Unit tests of the closed forms in wdcompanion.dmf, by properties that do not reuse them."""

import math

import numpy as np
import pytest
import torch

from wdcompanion import dmf


@pytest.mark.parametrize("depth", range(3, 9))
def test_critical_target_inverts_critical_lambda(depth):
    for y in (0.2, 1.0, 7.5):
        assert dmf.critical_target(dmf.critical_lambda(y, depth), depth) == pytest.approx(y, rel=1e-13)


def test_special_depths():
    assert dmf.critical_lambda(2.5, 1) == math.inf
    assert dmf.critical_lambda(-2.5, 2) == 2.5
    assert dmf.scalar_minimizer(2.0, 1, 0.5) == pytest.approx(2.0 / 1.5)
    assert dmf.scalar_minimizer(2.0, 2, 0.5) == pytest.approx(1.5)
    assert dmf.scalar_minimizer(2.0, 2, 2.5) == 0.0
    assert dmf.threshold_jump(3.0, 2) == 0.0


@pytest.mark.parametrize("depth", range(2, 7))
def test_nonzero_branch_is_a_stationary_local_minimum(depth):
    ys = np.linspace(-3, 3, 25)
    lam = 0.3
    s = np.asarray(dmf.nonzero_branch(ys, depth, lam))
    ok = np.isfinite(s) & (s != 0)
    a = np.abs(s[ok])
    # g'(s) = s - y + lam * s^(2/L - 1) on the positive side
    residual = a - np.abs(ys[ok]) + lam * a ** (2 / depth - 1)
    assert np.max(np.abs(residual)) < 1e-12
    assert np.all(np.sign(s[ok]) == np.sign(ys[ok]))
    h = 1e-5
    for ai, yi in zip(a, np.abs(ys[ok]), strict=False):
        g = [dmf.reduced_objective(v, yi, depth, lam) for v in (ai - h, ai, ai + h)]
        assert g[1] <= g[0] and g[1] <= g[2]


def test_scalar_minimizer_beats_a_dense_grid():
    for depth in (1, 2, 3, 4, 6):
        for y in (-2.0, 0.4, 1.3):
            for lam in (0.05, 0.3, 1.0):
                s = dmf.scalar_minimizer(y, depth, lam)
                grid = np.linspace(-3, 3, 60001)
                assert dmf.reduced_objective(s, y, depth, lam) <= np.min(dmf.reduced_objective(grid, y, depth, lam)) + 1e-12


def test_layered_objective_at_balanced_factors_equals_closed_form(rng):
    Y = rng.standard_normal((4, 3))
    for depth in (1, 2, 3, 4):
        widths = (5,) * (depth - 1)
        M = dmf.end_to_end_minimizer(Y, depth, 0.3, widths)
        layers = dmf.balanced_factors(M, depth, widths)
        assert np.allclose(dmf.end_to_end(layers), M, atol=1e-12)
        assert dmf.loss(layers, Y, 0.3) == pytest.approx(dmf.optimal_value(Y, depth, 0.3, widths), rel=1e-12)
        assert dmf.matrix_objective(M, Y, depth, 0.3) == pytest.approx(dmf.optimal_value(Y, depth, 0.3, widths), rel=1e-12)
        grads = dmf.gradient(layers, Y, 0.3)
        assert max(np.max(np.abs(g)) for g in grads) < 1e-10


def test_bottleneck_keeps_the_largest_values():
    Y = np.diag([3.0, 2.0, 1.5])
    M = dmf.end_to_end_minimizer(Y, 3, 0.2, widths=(1, 4))
    assert np.linalg.matrix_rank(M, tol=1e-12) == 1
    assert M[0, 0] == pytest.approx(dmf.scalar_minimizer(3.0, 3, 0.2))


def test_gradient_matches_autograd(rng):
    Y = rng.standard_normal((3, 2))
    layers = [rng.standard_normal(s) for s in ((4, 2), (5, 4), (3, 5))]
    tensors = [torch.tensor(w, requires_grad=True) for w in layers]
    product = tensors[2] @ tensors[1] @ tensors[0]
    value = 0.5 * ((product - torch.tensor(Y)) ** 2).sum() + 0.25 * sum((t**2).sum() for t in tensors)
    value.backward()
    assert dmf.loss(layers, Y, 0.5) == pytest.approx(value.item(), rel=1e-14)
    for g, t in zip(dmf.gradient(layers, Y, 0.5), tensors, strict=False):
        assert np.allclose(g, t.grad.numpy(), atol=1e-12)


def test_hidden_rotations_leave_loss_and_product_unchanged(rng):
    Y = rng.standard_normal((3, 3))
    layers = dmf.balanced_factors(dmf.end_to_end_minimizer(Y, 3, 0.2), 3, (4, 4))
    rotated = dmf.rotate_hidden(layers, dmf.random_hidden_rotations(layers, seed=1))
    assert np.allclose(dmf.end_to_end(rotated), dmf.end_to_end(layers), atol=1e-12)
    assert dmf.loss(rotated, Y, 0.2) == pytest.approx(dmf.loss(layers, Y, 0.2), rel=1e-13)
    assert not np.allclose(rotated[0], layers[0])


def test_gradient_descent_reduces_loss(rng):
    Y = rng.standard_normal((3, 3))
    layers = [0.5 * rng.standard_normal((3, 3)) for _ in range(2)]
    _, history = dmf.gradient_descent(layers, Y, 0.1, lr=0.05, steps=200, record_every=50)
    assert history.shape == (5, 3)
    assert history[-1, 1] < history[0, 1]


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: dmf.critical_lambda(1.0, 0), ValueError, "depth"),
        (lambda: dmf.critical_lambda(1.0, 2.5), TypeError, "depth"),
        (lambda: dmf.critical_lambda(1.0, True), TypeError, "depth"),
        (lambda: dmf.critical_lambda(np.nan, 3), ValueError, "y"),
        (lambda: dmf.critical_target(0.0, 3), ValueError, "lam"),
        (lambda: dmf.critical_target(-1.0, 3), ValueError, "lam"),
        (lambda: dmf.scalar_minimizer(1.0, 3, math.inf), ValueError, "lam"),
        (lambda: dmf.scalar_minimizer("a", 3, 0.1), TypeError, "y"),
        (lambda: dmf.end_to_end_minimizer(np.ones(3), 3, 0.1), ValueError, "Y"),
        (lambda: dmf.end_to_end_minimizer(np.array([[np.inf]]), 3, 0.1), ValueError, "Y"),
        (lambda: dmf.end_to_end_minimizer(np.eye(2), 3, 0.1, widths=(2,)), ValueError, "widths"),
        (lambda: dmf.loss([np.ones((2, 3)), np.ones((2, 3))], np.ones((2, 3)), 0.1), ValueError, "chain"),
        (lambda: dmf.loss([np.ones((2, 3))], np.ones((3, 3)), 0.1), ValueError, "Y"),
        (lambda: dmf.loss(np.ones((2, 3)), np.ones((2, 3)), 0.1), TypeError, "weights"),
        (lambda: dmf.loss([np.ones(3)], np.ones((1, 3)), 0.1), ValueError, "weights[0]"),
        (lambda: dmf.balanced_factors(np.eye(3), 3, widths=(2, 2)), ValueError, "rank"),
        (lambda: dmf.gradient_descent([np.ones((1, 1))], np.ones((1, 1)), 0.1, lr=0.0, steps=3), ValueError, "lr"),
        (lambda: dmf.rotate_hidden([np.ones((2, 1)), np.ones((1, 2))], [np.ones((2, 2))]), ValueError, "orthogonal"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, word):
    with pytest.raises(error, match=word.replace("[", r"\[").replace("]", r"\]")):
        call()
