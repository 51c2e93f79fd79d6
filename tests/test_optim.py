"""RotationalWrapper: invariants, bit-identical plain parameters, checkpoints, schedulers, validation; Lion."""

import copy

import numpy as np
import pytest
import torch

from wdcompanion import nets, rotation
from wdcompanion.optim import Lion, RotationalWrapper, rotation_target

INNERS = [("adamw", {}), ("sgdm", {}), ("lion", {}), ("adam", {"target": "adamw"})]


def _model(seed=1, dtype=torch.float64):
    return nets.mlp(12, (16, 16), 4, norm="batch", seed=seed).to(dtype)


def _train(model, optimizer, steps, seed=0, scheduler=None):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(32, 12, generator=gen, dtype=next(model.parameters()).dtype)
        y = torch.randint(0, 4, (32,), generator=gen)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


@pytest.mark.parametrize("inner,kwargs", INNERS)
def test_neuron_norms_constant_and_means_zero(inner, kwargs):
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), inner, lr=0.01, weight_decay=0.1, **kwargs)
    weights = [p for p in model.parameters() if p.ndim >= 2]
    start = [w.detach().norm(dim=1).clone() for w in weights]
    _train(model, optimizer, 30)
    for w, n0 in zip(weights, start, strict=True):
        assert torch.allclose(w.detach().norm(dim=1), n0, rtol=1e-6, atol=0)
        assert w.detach().mean(dim=1).abs().max() <= 1e-6 * n0.min()


def test_per_tensor_granularity_keeps_the_tensor_norm():
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1, per_neuron=False)
    w = model[0].weight
    n0 = w.detach().norm().item()
    _train(model, optimizer, 10)
    assert w.detach().norm().item() == pytest.approx(n0, rel=1e-6)
    assert w.detach().norm(dim=1).std() > 0  # rows are free to change norm


@pytest.mark.parametrize("name", ["adamw", "sgdm", "lion"])
def test_mean_angle_over_100_steps_matches_target(name):
    kwargs = dict(momentum=0.9) if name == "sgdm" else dict(betas=(0.9, 0.99))
    lr, wd = (0.2, 0.01) if name == "sgdm" else (0.002, 0.5) if name == "lion" else (0.02, 0.1)
    target = rotation_target(name, lr, wd, **kwargs)
    walk = rotation.random_walk(name, lr=lr, weight_decay=wd, steps=200, n_neurons=16, fan_in=128, rotational=True,
                                seed=5, **kwargs)
    assert walk.angles[100:].mean() == pytest.approx(target, rel=0.01)


@pytest.mark.parametrize("inner,kwargs", INNERS)
def test_non_rotational_parameters_follow_the_inner_optimizer_bit_for_bit(inner, kwargs):
    plain_model, rv_model = _model(), _model()
    hyper = dict(lr=0.01, weight_decay=0.1)
    make = {"adamw": lambda p: torch.optim.AdamW(p, foreach=False, **hyper),
            "adam": lambda p: torch.optim.Adam(p, foreach=False, **hyper),
            "sgdm": lambda p: torch.optim.SGD(p, momentum=0.9, foreach=False, **hyper),
            "lion": lambda p: Lion(p, **hyper)}[inner]
    plain = make(plain_model.parameters())
    rv = RotationalWrapper(rv_model.parameters(), inner, foreach=False, **hyper, **kwargs)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):  # the same gradients for both
        for p, q in zip(plain_model.parameters(), rv_model.parameters(), strict=True):
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            q.grad = p.grad.clone()
        plain.step()
        rv.step()
    for (name, p), q in zip(plain_model.named_parameters(), rv_model.parameters(), strict=True):
        if p.ndim == 1:
            assert torch.equal(p, q), name


def test_weight_decay_free_group_is_plain():
    model, reference = _model(), _model()
    rv = RotationalWrapper([{"params": model.parameters(), "weight_decay": 0.0}], "adamw", lr=0.01)
    plain = torch.optim.AdamW(reference.parameters(), lr=0.01, weight_decay=0.0, foreach=rv.inner.defaults["foreach"])
    _train(model, rv, 3)
    _train(reference, plain, 3)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)


def test_checkpoint_resumes_the_same_trajectory():
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1)
    _train(model, optimizer, 10, seed=1)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    _train(model, optimizer, 10, seed=2)
    resumed = _model(seed=7)
    resumed.load_state_dict(saved_model)
    resumed_opt = RotationalWrapper(resumed.parameters(), "adamw", lr=0.01, weight_decay=0.1)
    resumed_opt.load_state_dict(saved_opt)
    _train(resumed, resumed_opt, 10, seed=2)
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)


def test_scheduler_changes_the_target_angle():
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.04, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.25)
    tracker = rotation.RotationTracker(model, optimizer, names=["0.weight"])
    _train(model, optimizer, 2, scheduler=scheduler)
    first, second = tracker.angles("0.weight")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.04 * 0.25**2)
    # both first steps of the EMA are exact: the angle follows sqrt(lr), halved by lr / 4
    assert np.median(second / first) == pytest.approx(0.5, rel=0.2)
    assert first.mean() == pytest.approx(rotation_target("adamw", 0.04, 0.1), rel=1e-3)


def test_rotation_target_agrees_with_table_one():
    for name, kwargs in (("adamw", dict(betas=(0.9, 0.999))), ("sgdm", dict(momentum=0.9)), ("lion", dict(betas=(0.9, 0.99)))):
        table = rotation.equilibrium(name, lr=0.01, weight_decay=0.1, fan_in=64, grad_norm_sq=1.0, **kwargs).angular_update
        assert rotation_target(name, 0.01, 0.1, **kwargs) == pytest.approx(table, rel=1e-12)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(inner="rmsprop"), ValueError, "inner"),
    (dict(inner="adam"), ValueError, "target"),
    (dict(target="adam"), ValueError, "target"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(betas=(0.9, 1.0)), ValueError, "betas"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(update_norm_decay=1.0), ValueError, "update_norm_decay"),
    (dict(per_neuron=1), TypeError, "per_neuron"),
    (dict(zero_mean="yes"), TypeError, "zero_mean"),
    (dict(rotational_eps=0.0), ValueError, "rotational_eps"),
])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        RotationalWrapper(_model().parameters(), **kwargs)


def test_state_dict_without_inner_is_rejected_and_groups_are_fixed():
    optimizer = RotationalWrapper(_model().parameters())
    with pytest.raises(ValueError, match="inner"):
        optimizer.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(NotImplementedError):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, 2))]})
    with pytest.raises(ValueError, match="target"):
        rotation_target("adam", 0.1, 0.1)
    with pytest.raises(TypeError, match="rotational"):
        rotation.random_walk("adamw", lr=0.1, weight_decay=0.1, steps=2, rotational="yes")


def test_an_almost_radial_step_keeps_the_norm():
    # Adam's first step is sign(g); with one-signed gradient rows it is the constant vector, which centring removes:
    # the projected step is rounding noise, and the row must still keep its norm
    w = torch.nn.Parameter(torch.randn(6, 32, generator=torch.Generator().manual_seed(0)))
    optimizer = RotationalWrapper([w], "adamw", lr=0.01, weight_decay=0.1)
    n0 = w.detach().norm(dim=1).clone()
    for _ in range(3):
        w.grad = torch.rand(6, 32, generator=torch.Generator().manual_seed(1)) + 0.5  # positive in every row
        optimizer.step()
    assert torch.allclose(w.detach().norm(dim=1), n0, rtol=1e-6, atol=0)
    assert torch.isfinite(w).all()
