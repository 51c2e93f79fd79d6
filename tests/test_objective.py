"""The one torch DMF objective: its values, its analytic gradient, and the curvature built on it."""

import numpy as np
import pytest
import torch

from wdcompanion import curvature, dmf
from wdcompanion.objective import DMFObjective, dmf_objective, unflatten


def _point(seed=0, dims=(3, 4, 2, 5)):
    rng = np.random.default_rng(seed)
    layers = [rng.standard_normal((dims[i + 1], dims[i])) for i in range(len(dims) - 1)]
    return layers, rng.standard_normal((dims[-1], dims[0]))


def test_values_match_the_numpy_reference():
    layers, Y = _point()
    batch = [torch.as_tensor(w)[None] for w in layers]
    assert dmf_objective(Y, 0.3)(batch).item() == pytest.approx(dmf.loss(layers, Y, 0.3), rel=1e-13)


def test_analytic_gradient_matches_autograd_and_the_numpy_gradient():
    layers, Y = _point(1)
    shapes = [w.shape for w in layers]
    x = torch.as_tensor(np.concatenate([w.ravel() for w in layers]))[None].requires_grad_(True)
    objective = DMFObjective(Y, 0.2)
    value, analytic = objective.value_and_grad(x.detach(), shapes)
    (autograd,) = torch.autograd.grad(objective(unflatten(x, shapes)).sum(), x)
    reference = np.concatenate([g.ravel() for g in dmf.gradient(layers, Y, 0.2)])
    assert value.item() == pytest.approx(dmf.loss(layers, Y, 0.2), rel=1e-13)
    np.testing.assert_allclose(analytic.numpy()[0], autograd.numpy()[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(analytic.numpy()[0], reference, rtol=1e-12, atol=1e-12)


def test_curvature_differentiates_this_objective(monkeypatch):
    layers, Y = _point(2)
    before = curvature.hessian(layers, Y, 0.1)
    monkeypatch.setattr(DMFObjective, "__call__", lambda self, ws: sum((w**3).sum(dim=(1, 2)) for w in ws))
    assert not np.allclose(curvature.hessian(layers, Y, 0.1), before)  # no second copy of f inside curvature


def test_bad_lambda_is_refused():
    with pytest.raises(ValueError, match="lam"):
        DMFObjective(np.eye(2), 0.0)
