import numpy as np
import pytest

from wdcompanion import curvature, dmf


def _minimizer(rng_seed=0, depth=3, widths=(4, 4), lam=0.3):
    Y = np.random.default_rng(rng_seed).standard_normal((3, 3))
    M = dmf.end_to_end_minimizer(Y, depth, lam, widths)
    return Y, dmf.balanced_factors(M, depth, widths)


def test_dense_hessian_is_symmetric_and_matches_finite_differences(rng):
    Y = rng.standard_normal((2, 3))
    layers = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    H = curvature.hessian(layers, Y, 0.2)
    assert np.allclose(H, H.T, atol=1e-12)
    theta = np.concatenate([w.ravel() for w in layers])
    h, k = 1e-6, 5

    def grad_at(th):
        ws = [th[:12].reshape(4, 3), th[12:].reshape(2, 4)]
        return np.concatenate([g.ravel() for g in dmf.gradient(ws, Y, 0.2)])

    e = np.zeros_like(theta)
    e[k] = h
    assert np.allclose((grad_at(theta + e) - grad_at(theta - e)) / (2 * h), H[:, k], atol=1e-6)


def test_hvp_operator_matches_dense(rng):
    Y, layers = _minimizer()
    H = curvature.hessian(layers, Y, 0.3)
    op = curvature.hessian_operator(layers, Y, 0.3)
    v = rng.standard_normal(H.shape[0])
    assert np.allclose(op.matvec(v), H @ v, atol=1e-12)


def test_trace_identity_and_closed_forms():
    Y, layers = _minimizer()
    H = curvature.hessian(layers, Y, 0.3)
    assert curvature.hessian_trace(layers, Y, 0.3) == pytest.approx(np.trace(H), rel=1e-12)
    assert curvature.minimizer_hessian_trace(Y, 3, 0.3, (4, 4)) == pytest.approx(np.trace(H), rel=1e-12)
    assert curvature.trace_lower_bound(Y, 3, 0.3, (4, 4)) <= np.trace(H) * (1 + 1e-12)  # equality at rank one
    for w in layers:
        assert np.sum(w**2) == pytest.approx(curvature.minimizer_layer_norm_sq(Y, 3, 0.3, (4, 4)), rel=1e-12)


def test_hutchinson_is_unbiased_within_its_standard_error():
    Y, layers = _minimizer()
    estimate, stderr = curvature.hutchinson_trace(layers, Y, 0.3, n_samples=400, seed=3)
    assert abs(estimate - curvature.hessian_trace(layers, Y, 0.3)) < 5 * stderr


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_scalar_spectrum_against_dense(depth):
    for y, lam in ((1.3, 0.1), (-0.8, 0.6)):
        points = dmf.scalar_parameter_minimizers(y, depth, lam)
        for p in points:
            H = curvature.hessian([np.array([[v]]) for v in p], np.array([[y]]), lam)
            assert np.allclose(np.linalg.eigvalsh(H), curvature.scalar_hessian_spectrum(y, depth, lam), atol=1e-10)


def test_orbit_dimension():
    assert curvature.orbit_dimension((5, 5), 2) == 14
    assert curvature.orbit_dimension((3,), 3) == 3
    with pytest.raises(ValueError, match="rank"):
        curvature.orbit_dimension((2,), 3)


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: curvature.hessian([np.ones((2, 2))], np.ones((2, 2)), -1.0), ValueError, "lam"),
        (lambda: curvature.hessian([np.ones((2, 3)), np.ones((2, 3))], np.ones((2, 3)), 0.1), ValueError, "chain"),
        (lambda: curvature.hessian(np.ones((2, 2)), np.ones((2, 2)), 0.1), TypeError, "weights"),
        (lambda: curvature.hessian_trace([np.ones((2, 2))], np.ones((3, 2)), 0.1), ValueError, "Y"),
        (lambda: curvature.hessian_batch([np.ones((2, 1, 1)), np.ones((3, 1, 1))], np.ones((1, 1)), 0.1), ValueError, "batch"),
        (lambda: curvature.hutchinson_trace([np.ones((1, 1))], np.ones((1, 1)), 0.1, n_samples=1), ValueError, "n_samples"),
        (lambda: curvature.scalar_hessian_spectrum(1.0, 0, 0.1), ValueError, "depth"),
        (lambda: curvature.minimizer_layer_norm_sq(np.ones((2, 2)), 3, 0.1, widths=(2,)), ValueError, "widths"),
    ],
)
def test_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()
