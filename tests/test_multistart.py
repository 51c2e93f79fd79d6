import numpy as np
import pytest
import torch

from wdcompanion import dmf, multistart


def test_all_starts_converge_and_best_matches_closed_form():
    Y = np.array([[1.5]])
    result = multistart.minimize_dmf(Y, 4, 0.3, n_starts=300, seed=0)
    assert result.converged.all()
    assert result.grad_norm.max() <= 1e-10
    best = result.loss < result.loss.min() + 1e-9
    assert np.allclose(result.end_to_end[best], dmf.scalar_minimizer(1.5, 4, 0.3), atol=1e-8)
    assert result.loss.min() == pytest.approx(dmf.optimal_value(Y, 4, 0.3), rel=1e-12)


def test_matrix_multistart_reaches_the_optimum():
    Y = np.random.default_rng(0).standard_normal((4, 3))
    result = multistart.minimize_dmf(Y, 3, 0.2, n_starts=64, widths=(4, 4), seed=1)
    assert result.converged.mean() > 0.95
    assert result.loss.min() == pytest.approx(dmf.optimal_value(Y, 3, 0.2, (4, 4)), rel=1e-10)
    assert result.layer_norms_sq.shape == (64, 3)


def test_lbfgs_minimizes_a_batched_quadratic():
    a = torch.linspace(1, 100, 20, dtype=torch.float64)

    def objective(layers):
        x = layers[0].reshape(layers[0].shape[0], -1)
        return 0.5 * (a * (x - 1) ** 2).sum(1)

    x0 = torch.zeros(3, 20, dtype=torch.float64)
    x, f, g, _ = multistart.lbfgs_batched(objective, x0, [(20, 1)], gtol=1e-12)
    assert torch.allclose(x, torch.ones_like(x), atol=1e-12)


def test_cluster_values_groups_close_values():
    assert multistart.cluster_values(np.array([1.0, 1.0 + 1e-12, 2.0, 1.0])) == [(1.0, 3), (2.0, 1)]


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        (dict(n_starts=0), ValueError, "n_starts"),
        (dict(n_starts=4, widths=(2, 2)), ValueError, "widths"),
        (dict(n_starts=4, scale_range=(2.0, 1.0)), ValueError, "scale_range"),
        (dict(n_starts=4, gtol=-1.0), ValueError, "gtol"),
    ],
)
def test_bad_input(kwargs, error, word):
    with pytest.raises(error, match=word):
        multistart.minimize_dmf(np.ones((2, 2)), 2, 0.1, **kwargs)


def test_chunked_solve_equals_one_batch():
    Y = np.array([[1.5]])
    whole = multistart.minimize_dmf(Y, 3, 0.3, n_starts=50, seed=4)
    chunked = multistart.minimize_dmf(Y, 3, 0.3, n_starts=50, seed=4, chunk_size=7)
    assert np.allclose(whole.loss, chunked.loss, rtol=1e-12)
    with pytest.raises(ValueError, match="chunk_size"):
        multistart.minimize_dmf(Y, 3, 0.3, n_starts=5, chunk_size=0)


def _two_loop(g, pairs, gamma):
    """Textbook L-BFGS two-loop recursion for one start; ``pairs`` oldest first."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        alphas.append(s @ q / (s @ y))
        q -= alphas[-1] * y
    r = gamma * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        r += s * (alpha - y @ r / (s @ y))
    return -r


def test_vector_free_history_matches_the_two_loop_recursion():
    gen = torch.Generator().manual_seed(0)
    batch, n, m = 3, 10, 4
    root = torch.randn(batch, n, n, dtype=torch.float64, generator=gen)
    A = root @ root.transpose(1, 2) + 0.5 * torch.eye(n, dtype=torch.float64)  # one SPD quadratic per start
    x = torch.randn(batch, n, dtype=torch.float64, generator=gen)
    g = torch.bmm(A, x.unsqueeze(2)).squeeze(2)
    memory = multistart._VectorFreeHistory(m, x)
    pairs = []
    for _ in range(7):
        d, hd = memory.direction(g)
        assert torch.allclose(hd, torch.bmm(memory.H, d.unsqueeze(2)).squeeze(2), atol=1e-10)
        step = torch.full((batch,), 0.3, dtype=torch.float64)
        x_new = x + step.unsqueeze(1) * d
        g_new = torch.bmm(A, x_new.unsqueeze(2)).squeeze(2)
        memory.push(g, g_new, d, hd, step, torch.ones(batch, dtype=torch.bool))
        pairs.append((step.unsqueeze(1) * d, g_new - g))
        x, g = x_new, g_new
        H = memory.H
        assert torch.allclose(memory.G, H @ H.transpose(1, 2), rtol=1e-10, atol=1e-10)
        assert torch.allclose(memory.P, torch.bmm(H, g.unsqueeze(2)).squeeze(2), rtol=1e-10, atol=1e-10)
        recent = pairs[-m:]
        for b in range(batch):
            s_b, y_b = recent[-1][0][b].numpy(), recent[-1][1][b].numpy()
            expected = _two_loop(g[b].numpy(), [(s[b].numpy(), y[b].numpy()) for s, y in recent], (s_b @ y_b) / (y_b @ y_b))
            assert np.allclose(memory.direction(g)[0][b].numpy(), expected, rtol=1e-9, atol=1e-12)
