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


def _spectrum_case(spectrum, shape, depth, widths, lam=0.35, seed=1):
    from wdcompanion.claims.lambda_threshold import target_with_spectrum

    Y = target_with_spectrum(spectrum, shape, seed)
    layers = dmf.balanced_factors(dmf.end_to_end_minimizer(Y, depth, lam, widths), depth, widths)
    return Y, layers


@pytest.mark.parametrize(
    "spectrum, shape, depth, widths",
    [
        ((3.0, 1.2, 0.45), (4, 3), 1, ()),
        ((3.0, 1.2, 0.45), (4, 3), 2, (5,)),
        ((2.0, 2.0, 0.9), (4, 4), 3, (4, 4)),  # repeated
        ((4.0, 3.9), (3, 5), 3, (3, 3)),  # close, rank 2
        ((2.0, 1.0, 0.0), (3, 4), 4, (4, 4, 4)),  # a zero singular value
        ((3.0, 2.0, 1.5), (4, 3), 3, (2, 5)),  # bottleneck then wide
        ((3.0, 1.2, 0.45), (3, 4), 4, (6, 1, 4)),  # rank cut to one in the middle
        ((0.3, 0.2), (3, 2), 3, (3, 3)),  # rank zero
        ((0.3, 0.2), (3, 2), 2, (3,)),  # rank zero, L = 2: lambda +- sigma
    ],
)
def test_minimizer_spectrum_matches_dense_hessian(spectrum, shape, depth, widths):
    Y, layers = _spectrum_case(spectrum, shape, depth, widths)
    dense = np.linalg.eigvalsh(curvature.hessian(layers, Y, 0.35))
    exact = curvature.minimizer_spectrum(Y, depth, 0.35, widths)
    assert exact.size == dense.size == sum(w.size for w in layers)
    assert exact.largest_block <= 2 * depth
    assert np.allclose(exact.full(), dense, atol=1e-10)
    assert exact.trace() == pytest.approx(np.trace(curvature.hessian(layers, Y, 0.35)), rel=1e-12)
    assert exact.top == pytest.approx(dense[-1], abs=1e-10) and exact.bottom == pytest.approx(dense[0], abs=1e-10)
    blocks = curvature.minimizer_blocks(Y, depth, 0.35, widths)
    assert sum(b.count * len(b.variables) for b in blocks) == dense.size


def test_minimizer_spectrum_zero_eigenvalues_are_the_orbit():
    for spectrum, shape, depth, widths in (((3.0, 1.2, 0.45), (4, 3), 3, (5, 5)), ((2.0, 2.0, 0.9), (4, 4), 4, (4, 6, 4))):
        Y, _ = _spectrum_case(spectrum, shape, depth, widths)
        exact = curvature.minimizer_spectrum(Y, depth, 0.35, widths)
        rank = int(np.sum(np.abs(np.asarray(dmf.scalar_minimizer(np.linalg.svd(Y, compute_uv=False), depth, 0.35))) > 0))
        assert exact.count(-1e-12, 1e-12) == curvature.orbit_dimension(widths, rank)


def test_repeated_singular_value_block_closed_form():
    depth, lam = 3, 0.35
    Y, _ = _spectrum_case((2.0, 2.0), (2, 2), depth, (2, 2))
    t = float(dmf.scalar_minimizer(2.0, depth, lam)) ** (1 / depth)
    pair = [b for b in curvature.minimizer_blocks(Y, depth, lam, (2, 2)) if b.pair == (0, 1)]
    assert len(pair) == 1 and pair[0].count == 1 and pair[0].matrix.shape == (6, 6)
    predicted = np.sort([depth * t ** 4 - lam, 2 * lam, 2 * lam, depth * (t**4 + lam), 0.0, 0.0])
    assert np.allclose(np.linalg.eigvalsh(pair[0].matrix), predicted, atol=1e-12)


def test_block_of_a_used_and_an_unused_direction():
    depth, lam = 4, 0.35
    Y, _ = _spectrum_case((3.0, 0.4), (2, 2), depth, (3, 3, 3))  # rank one
    t = float(dmf.scalar_minimizer(3.0, depth, lam)) ** (1 / depth)
    block = [b for b in curvature.minimizer_blocks(Y, depth, lam, (3, 3, 3)) if b.pair == (0, 1)][0]
    predicted = np.sort([t**6 + lam + 0.4 * t**2, t**6 + lam - 0.4 * t**2] + [0.0, 2 * lam] * (depth - 1))
    assert np.allclose(np.linalg.eigvalsh(block.matrix), predicted, atol=1e-12)


def test_rank_one_top_eigenvalue():
    for spectrum, depth in (((3.0, 0.5, 0.2), 3), ((0.9, 0.3), 2), ((3.0, 0.3), 4), ((0.3, 0.2), 3), ((0.3, 0.2), 2)):
        widths = (4,) * (depth - 1)
        Y, layers = _spectrum_case(spectrum, (3, 3) if len(spectrum) == 3 else (2, 3), depth, widths)
        dense_top = np.linalg.eigvalsh(curvature.hessian(layers, Y, 0.35))[-1]
        assert curvature.rank_one_top_eigenvalue(Y, depth, 0.35, widths) == pytest.approx(dense_top, abs=1e-10)
    Y, _ = _spectrum_case((4.0, 3.9), (3, 5), 3, (3, 3))
    assert curvature.minimizer_top_eigenvalue(Y, 3, 0.35, (3, 3)) == pytest.approx(18.367763223794555, rel=1e-12)
    with pytest.raises(ValueError, match="rank"):
        curvature.rank_one_top_eigenvalue(Y, 3, 0.35, (3, 3))


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: curvature.minimizer_spectrum(np.ones(3), 2, 0.1), ValueError, "Y"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 0)), 2, 0.1), ValueError, "Y"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 2)), 0, 0.1), ValueError, "depth"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 2)), 2.0, 0.1), TypeError, "depth"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 2)), 2, -0.1), ValueError, "lam"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 2)), 3, 0.1, (2,)), ValueError, "widths"),
        (lambda: curvature.minimizer_spectrum(np.ones((2, 2)), 2, 0.1, (0,)), ValueError, "widths"),
        (lambda: curvature.minimizer_blocks([[1.0, np.nan]], 2, 0.1), ValueError, "Y"),
    ],
)
def test_minimizer_spectrum_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()
