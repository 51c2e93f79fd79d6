"""RotationalWrapper: invariants, bit-identical plain parameters, lr = 0, schedulers, checkpoints, the reference step,
construction, torch.compile, validation; param_groups; Lion."""

import copy
import math

import numpy as np
import pytest
import torch

from wdcompanion import nets, rotation
from wdcompanion.optim import Lion, RotationalWrapper, param_groups, rotate_neuron, rotation_target

INNERS = [("adamw", {}), ("sgdm", {}), ("lion", {}), ("adam", {"target": "adamw"})]
PLAIN = {"adamw": lambda p, **h: torch.optim.AdamW(p, foreach=False, **h),
         "adam": lambda p, **h: torch.optim.Adam(p, foreach=False, **h),
         "sgdm": lambda p, **h: torch.optim.SGD(p, momentum=0.9, foreach=False, **h),
         "lion": lambda p, **h: Lion(p, **h)}


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


def _random_grads(models, gen):
    """The same random gradient for the corresponding parameters of every model."""
    for params in zip(*(m.parameters() for m in models), strict=True):
        grad = torch.randn(params[0].shape, generator=gen, dtype=params[0].dtype)
        for p in params:
            p.grad = grad.clone()


# -- the algorithm ------------------------------------------------------------------------------------
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
    plain = PLAIN[inner](plain_model.parameters(), **hyper)
    rv = RotationalWrapper(rv_model.parameters(), inner, foreach=False, **hyper, **kwargs)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        _random_grads([plain_model, rv_model], gen)
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


@pytest.mark.parametrize("inner,kwargs", INNERS)
def test_fast_step_equals_the_per_neuron_reference(inner, kwargs):
    def build():
        model = _model()
        groups = [{"params": [model[0].weight], "per_neuron": False},  # one neuron per tensor
                  {"params": [model[3].weight], "zero_mean": False},
                  {"params": [model[6].weight], "lr": 0.0},  # no rotation, the average still learns
                  {"params": [p for p in model.parameters() if p.ndim == 1]}]
        return model, RotationalWrapper(groups, inner, lr=0.01, weight_decay=0.1, **kwargs)

    (fast_model, fast), (ref_model, ref) = build(), build()
    start = fast_model[0].weight.detach().clone()
    gen = torch.Generator().manual_seed(3)
    for _ in range(4):
        _random_grads([fast_model, ref_model], gen)
        fast.step()
        ref.reference_step()
    for (name, p), q in zip(fast_model.named_parameters(), ref_model.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=0, atol=1e-12), name
    for p, q in zip(fast_model.parameters(), ref_model.parameters(), strict=True):
        if p.ndim > 1:
            assert fast.state[p]["step"] == ref.state[q]["step"] == 4
            assert torch.allclose(fast.state[p]["update_sq_avg"], ref.state[q]["update_sq_avg"], rtol=1e-12, atol=0)
    assert not torch.allclose(fast_model[0].weight, start, rtol=0, atol=1e-3)  # it moved
    assert torch.equal(fast_model[6].weight, ref_model[6].weight)  # lr = 0: not at all


def _wrapped_adam_l2_by_hand(w0, grads, *, lr, weight_decay, betas, eps, shared_first_moment=False):
    r"""The paper's wrapped Adam + L2 for one matrix, written out: :math:`m_g` of :math:`g`, :math:`m_\lambda` of
    :math:`\lambda w`, one :math:`v` of :math:`(g + \lambda w)^2`, each row rotated along
    :math:`\hat m_g/(\sqrt{\hat v} + \epsilon)` at AdamW's target angle (``shared_first_moment``: one :math:`m` of
    :math:`g + \lambda w`, the planted deviation)."""
    b1, b2 = betas
    w = w0 - w0.mean(dim=1, keepdim=True)
    w = w * (w0.norm(dim=1, keepdim=True) / w.norm(dim=1, keepdim=True))
    norm, nu = w.norm(dim=1), torch.zeros(w.shape[0], dtype=w.dtype)
    m_g, m_l2, v = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)
    angle = rotation_target("adamw", lr, weight_decay, betas=betas)
    for t, g in enumerate(grads, start=1):
        l2 = weight_decay * w
        m_g = b1 * m_g + (1 - b1) * (g + l2 if shared_first_moment else g)
        m_l2 = b1 * m_l2 + (1 - b1) * l2
        v = b2 * v + (1 - b2) * (g + l2) ** 2
        u = (m_g / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
        rows = [rotate_neuron(w[r], u[r], norm=norm[r], update_sq_avg=nu[r], step=t, angle=angle) for r in range(len(w))]
        w, nu = torch.stack([row for row, _ in rows]), torch.stack([avg for _, avg in rows])
    return w, m_g, m_l2


@pytest.mark.parametrize("shared_first_moment", [False, True])
def test_wrapped_adam_l2_keeps_separate_first_moments_of_gradient_and_l2_term(shared_first_moment):
    gen = torch.Generator().manual_seed(7)
    w0 = torch.randn(5, 24, generator=gen, dtype=torch.float64)
    grads = [torch.randn(5, 24, generator=gen, dtype=torch.float64) * 0.01 for _ in range(20)]  # lambda w comparable
    hyper = dict(lr=0.01, weight_decay=0.5, betas=(0.9, 0.999), eps=1e-8)
    w = torch.nn.Parameter(w0.clone())
    optimizer = RotationalWrapper([w], "adam", target="adamw", **hyper)
    for g in grads:
        w.grad = g.clone()
        optimizer.step()
    expected, m_g, m_l2 = _wrapped_adam_l2_by_hand(w0, grads, shared_first_moment=shared_first_moment, **hyper)
    close = torch.allclose(w.detach(), expected, rtol=0, atol=1e-10)
    assert close != shared_first_moment  # the paper's algorithm matches; one shared first moment does not
    assert set(optimizer.state[w]) == {"step", "norm", "update_sq_avg", "grad_avg"}
    if not shared_first_moment:  # the gradient's own first moment, and the inner state plain Adam + L2's: m = m_g + m_lambda
        assert torch.allclose(optimizer.state[w]["grad_avg"], m_g, rtol=0, atol=1e-15)
        m = optimizer.inner_state(w)["exp_avg"]
        assert torch.allclose(m - optimizer.state[w]["grad_avg"], m_l2, rtol=0, atol=1e-12)


def test_wrapped_adam_l2_resumes_from_a_checkpoint_without_grad_avg():
    """A checkpoint of the earlier layout (m_lambda as ``l2_avg``) resumes as m_g = m - m_lambda; one with neither fails."""
    gen = torch.Generator().manual_seed(3)
    w0 = torch.randn(4, 16, generator=gen, dtype=torch.float64)
    grads = [torch.randn(4, 16, generator=gen, dtype=torch.float64) * 0.01 for _ in range(12)]
    hyper = dict(lr=0.01, weight_decay=0.5, betas=(0.9, 0.999), eps=1e-8)

    def make(start):
        w = torch.nn.Parameter(start.clone())
        return w, RotationalWrapper([w], "adam", target="adamw", **hyper)

    w, optimizer = make(w0)
    for g in grads[:6]:
        w.grad = g.clone()
        optimizer.step()
    saved, weights = copy.deepcopy(optimizer.state_dict()), w.detach().clone()
    old = saved["state"][0]
    m_l2 = optimizer.inner_state(w)["exp_avg"] - old.pop("grad_avg")
    old["l2_avg"] = m_l2
    for g in grads[6:]:
        w.grad = g.clone()
        optimizer.step()
    resumed_w, resumed = make(weights)
    resumed.load_state_dict(saved)
    assert set(resumed.state[resumed_w]) == {"step", "norm", "update_sq_avg", "grad_avg"}
    for g in grads[6:]:
        resumed_w.grad = g.clone()
        resumed.step()
    assert torch.allclose(resumed_w.detach(), w.detach(), rtol=0, atol=1e-13)
    del old["l2_avg"]
    _, broken = make(weights)
    with pytest.raises(ValueError, match="grad_avg"):
        broken.load_state_dict(saved)


def test_rotate_neuron_rotates_by_the_target_angle_at_fixed_norm():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, generator=gen, dtype=torch.float64)
    w = 3 * (w - w.mean()) / (w - w.mean()).norm()
    u = torch.randn(50, generator=gen, dtype=torch.float64)
    new, avg = rotate_neuron(w, u, norm=3.0, update_sq_avg=0.0, step=1, angle=0.01, rotational_eps=0.0)
    assert new.norm().item() == pytest.approx(3.0, rel=1e-14) and abs(new.mean().item()) < 1e-15
    assert math.atan2(torch.linalg.vector_norm(new - (new @ w) / 9 * w).item(), (new @ w).item() / 3) == pytest.approx(
        math.atan(0.01), rel=1e-12)  # the first step's rms is ||u_perp||: tan(angle) = eta_r exactly
    u_perp = u - (u @ w) / 9 * w
    assert avg.item() == pytest.approx(0.1 * ((u_perp - u_perp.mean()) ** 2).sum().item(), rel=1e-14)


# -- learning rate 0 and schedulers -------------------------------------------------------------------
def test_rotation_target_accepts_lr_zero_and_refuses_zero_weight_decay():
    assert rotation_target("adamw", 0.0, 0.1) == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        rotation_target("adamw", 0.1, 0.0)


@pytest.mark.parametrize("inner,kwargs", INNERS)
def test_lr_zero_moves_nothing_and_the_inner_moments_match_the_plain_inner(inner, kwargs):
    rv_model = _model()
    rv = RotationalWrapper(rv_model.parameters(), inner, lr=0.0, weight_decay=0.1, foreach=False, **kwargs)
    plain_model = copy.deepcopy(rv_model)  # after construction (centring)
    # SGD's weight decay is an L2 term in the gradient: radial, the wrapper drops it from a rotational momentum
    rotational_wd = 0.0 if inner == "sgdm" else 0.1
    plain = PLAIN[inner]([{"params": [p for p in plain_model.parameters() if p.ndim > 1], "weight_decay": rotational_wd},
                          {"params": [p for p in plain_model.parameters() if p.ndim == 1]}], lr=1.0, weight_decay=0.1)
    for group in plain.param_groups:  # (Lion's constructor refuses lr = 0)
        group["lr"] = 0.0
    start = [p.detach().clone() for p in rv_model.parameters()]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        _random_grads([rv_model, plain_model], gen)
        rv.step()
        plain.step()
    for p, p0 in zip(rv_model.parameters(), start, strict=True):
        assert torch.equal(p, p0)
    for p, q in zip(rv_model.parameters(), plain_model.parameters(), strict=True):
        mine, theirs = rv.inner_state(p), plain.state[q]
        assert mine.keys() == theirs.keys() and mine
        for key in theirs:
            assert torch.equal(torch.as_tensor(mine[key]), torch.as_tensor(theirs[key])), key


@pytest.mark.parametrize("lr", [0.0, 0.01])
def test_the_update_norm_average_gets_the_true_update_norm_at_any_lr(lr):
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=lr, weight_decay=0.1)
    w = model[0].weight
    w.grad = torch.randn(w.shape, generator=torch.Generator().manual_seed(0), dtype=w.dtype)
    w0 = w.detach().clone()
    optimizer.step()
    u = w.grad / (w.grad.abs() + 1e-8)  # Adam's first direction, whatever the learning rate
    u = u - w0 * (u * w0).sum(1, keepdim=True) / optimizer.state[w]["norm"] ** 2
    u = u - u.mean(1, keepdim=True)
    assert torch.allclose(optimizer.state[w]["update_sq_avg"], 0.1 * (u * u).sum(1, keepdim=True), rtol=1e-10, atol=0)


def _step_with(optimizer, model, scheduler, steps, gen):
    """Step ``optimizer`` on random gradients; the group hyperparameters it stepped with, per step."""
    seen = []
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        seen.append([{k: g[k] for k in ("lr", "momentum", "betas") if k in g} for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return seen


@pytest.mark.parametrize("inner,key", [("sgdm", "momentum"), ("adamw", "betas")])
def test_one_cycle_cycles_the_inner_optimizers_momentum(inner, key):
    rv_model, plain_model = _model(), _model()
    groups = [{"params": [p for p in m.parameters() if p.ndim == 1], "weight_decay": 0.0} for m in (rv_model, plain_model)]
    rv = RotationalWrapper([groups[0], {"params": [p for p in rv_model.parameters() if p.ndim > 1]}], inner,
                           lr=0.1, weight_decay=0.1, foreach=False)
    plain = PLAIN[inner]([groups[1], {"params": [p for p in plain_model.parameters() if p.ndim > 1]}], lr=0.1,
                         weight_decay=0.1)
    assert key in rv.defaults and ({"momentum", "betas"} - {key}).isdisjoint(rv.defaults)
    schedules = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=12) for o in (rv, plain)]
    inner_seen = []
    rv.register_step_post_hook(lambda opt, *_: inner_seen.append(opt.inner.param_groups[1][key]))  # the shadows
    gen_rv, gen_plain = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    seen_rv = _step_with(rv, rv_model, schedules[0], 10, gen_rv)
    seen_plain = _step_with(plain, plain_model, schedules[1], 10, gen_plain)
    assert seen_rv == seen_plain
    values = [s[1][key] for s in seen_plain]
    assert inner_seen == values and len(set(values)) > 5  # it cycles, and the shadows' inner group follows
    for p, q in zip(rv_model.parameters(), plain_model.parameters(), strict=True):
        if p.ndim == 1:  # the gains and biases took exactly the plain optimizer's steps
            assert torch.equal(p, q)


def test_warmup_from_zero_and_cosine_to_zero():
    model = _model()
    optimizer = RotationalWrapper(param_groups(model, 0.1, readout=model[-1]), "adamw", lr=0.01)
    weights = model[0].weight
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: t / 10)
    before = weights.detach().clone()
    _train(model, optimizer, 1, scheduler=warmup)
    assert torch.equal(weights, before)  # the first step had lr = 0
    _train(model, optimizer, 1, seed=1, scheduler=warmup)
    assert not torch.equal(weights, before)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4, eta_min=0.0)
    _train(model, optimizer, 4, seed=2, scheduler=cosine)
    assert abs(optimizer.param_groups[0]["lr"]) < 1e-15
    before = weights.detach().clone()
    _train(model, optimizer, 1, seed=3)
    assert torch.allclose(weights, before, rtol=0, atol=1e-7)


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


# -- checkpoints, add_param_group, inner state, compile -----------------------------------------------
@pytest.mark.parametrize("inner,kwargs", INNERS)
@pytest.mark.parametrize("order", ["model, wrapper, state", "wrapper, model, state"])
def test_checkpoint_resumes_the_same_trajectory_bit_for_bit(inner, kwargs, order):
    model = _model()
    optimizer = RotationalWrapper(param_groups(model, 0.1, readout=model[-1]), inner, lr=0.01, **kwargs)
    _train(model, optimizer, 10, seed=1)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    _train(model, optimizer, 10, seed=2)
    resumed = _model(seed=7)
    if order.startswith("model"):
        resumed.load_state_dict(saved_model)
        resumed_opt = RotationalWrapper(param_groups(resumed, 0.1, readout=resumed[-1]), inner, lr=0.01, **kwargs)
    else:
        resumed_opt = RotationalWrapper(param_groups(resumed, 0.1, readout=resumed[-1]), inner, lr=0.01, **kwargs)
        resumed.load_state_dict(saved_model)
    resumed_opt.load_state_dict(saved_opt)
    _train(resumed, resumed_opt, 10, seed=2)
    for (name, p), q in zip(model.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_state_dict_without_inner_is_rejected():
    optimizer = RotationalWrapper(_model().parameters())
    with pytest.raises(ValueError, match="inner"):
        optimizer.load_state_dict({"state": {}, "param_groups": []})


def test_add_param_group_gives_the_inner_optimizer_its_groups():
    model = _model()
    first, rest = list(model[0].parameters()), [p for m in list(model)[1:] for p in m.parameters()]
    optimizer = RotationalWrapper(first, "adamw", lr=0.01, weight_decay=0.1)
    _train(model, optimizer, 2)
    optimizer.add_param_group({"params": [p for p in rest if p.ndim > 1], "lr": 0.02})
    optimizer.add_param_group({"params": [p for p in rest if p.ndim == 1], "weight_decay": 0.0})
    assert len(optimizer.inner.param_groups) == 3 and optimizer.param_groups[1]["lr"] == 0.02
    w, n0 = model[3].weight, model[3].weight.detach().norm(dim=1).clone()
    gains = model[4].weight.detach().clone()
    _train(model, optimizer, 3)
    assert torch.allclose(w.detach().norm(dim=1), n0, rtol=1e-12) and not torch.equal(model[4].weight, gains)
    assert optimizer.state[w]["step"] == 3 and optimizer.inner_state(w)["step"] == 3
    with pytest.raises(ValueError, match="more than one"):
        optimizer.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match=r"param_groups\[3\]"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(3, 4))]})  # constant rows
    assert len(optimizer.param_groups) == 3 and len(optimizer.inner.param_groups) == 3  # nothing added


def test_inner_state_holds_the_inner_optimizers_moments():
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1)
    assert optimizer.inner_state(model[0].weight) == {}
    _train(model, optimizer, 2)
    for p in model.parameters():
        assert set(optimizer.inner_state(p)) == {"step", "exp_avg", "exp_avg_sq"}
        assert optimizer.inner_state(p)["exp_avg"].shape == p.shape
    assert set(optimizer.state[model[0].weight]) == {"step", "norm", "update_sq_avg"}
    with pytest.raises(ValueError, match="not a parameter"):
        optimizer.inner_state(torch.zeros(2))


def test_torch_compile_of_step_works():
    # aot_eager: dynamo and AOTAutograd trace the step (where the view error arose), without inductor's C++ build.
    # 12 inputs and 64 samples: no one-signed gradient row, whose first Adam step, constant, would rotate along noise
    def run(compiled):
        model = nets.mlp(12, (8,), 3, norm="batch", seed=0)
        optimizer = RotationalWrapper(param_groups(model, 0.1, readout=model[-1]), "adamw", lr=0.01)
        step = torch.compile(optimizer.step, backend="aot_eager") if compiled else optimizer.step
        gen = torch.Generator().manual_seed(0)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(torch.randn(64, 12, generator=gen)),
                                              torch.randint(0, 3, (64,), generator=gen)).backward()
            step()
        return [p.detach().clone() for p in model.parameters()]

    for p, q in zip(run(True), run(False), strict=True):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)


# -- construction -------------------------------------------------------------------------------------
def test_construction_centres_once_and_leaves_centred_or_frozen_weights_alone():
    model = _model()
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    hidden = model[3].weight
    norms = hidden.detach().norm(dim=1).clone()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1)
    assert hidden.detach().mean(dim=1).abs().max() < 1e-15 and torch.allclose(hidden.detach().norm(dim=1), norms)
    centred = {name: p.detach().clone() for name, p in model.named_parameters()}
    RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1)  # again: nothing moves
    for name, p in model.named_parameters():
        assert torch.equal(p, centred[name]), name
    _train(model, optimizer, 3)
    assert torch.equal(model[0].weight, frozen) and model[0].weight not in optimizer.state
    assert model[0].weight not in optimizer._shadows


@pytest.mark.parametrize("make,match", [
    (lambda: torch.nn.Linear(1, 8, bias=False), r"fan-in 1"),
    (lambda: torch.nn.Linear(4, 3, bias=False).requires_grad_(True).apply(lambda m: torch.nn.init.zeros_(m.weight)),
     r"constant"),
    (lambda: torch.nn.Linear(4, 3, bias=False).apply(lambda m: torch.nn.init.constant_(m.weight, 0.5)), r"constant"),
])
def test_neurons_that_cannot_rotate_are_refused_by_index_or_by_name(make, match):
    layer = torch.nn.Sequential(torch.nn.Linear(3, 4), make())
    with pytest.raises(ValueError, match=match) as error:
        RotationalWrapper(layer.parameters())
    assert r"param_groups[0]['params'][2] (shape" in str(error.value)
    with pytest.raises(ValueError, match=match) as error:
        RotationalWrapper(layer.named_parameters())
    assert "'1.weight'" in str(error.value)
    weight = layer[1].weight.detach().clone()
    RotationalWrapper([{"params": [layer[0].weight]}, {"params": [layer[1].weight], "rotational": False}])
    assert torch.equal(layer[1].weight, weight)  # excluded explicitly: never centred


def test_zero_norm_neurons_are_refused_without_centring_too():
    with pytest.raises(ValueError, match="zero"):
        RotationalWrapper([torch.nn.Parameter(torch.zeros(3, 5))], zero_mean=False)


def test_weights_replaced_after_construction_are_checked_and_centred_at_their_first_step():
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "adamw", lr=0.01, weight_decay=0.1)
    with torch.no_grad():
        model[0].weight.add_(1.0)  # no longer centred
    _train(model, optimizer, 1)
    assert model[0].weight.detach().mean(dim=1).abs().max() < 1e-12
    with torch.no_grad():
        model[3].weight.zero_()
    optimizer.state.clear()
    with pytest.raises(ValueError, match="constant"):
        _train(model, optimizer, 1)


# -- validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,error,match", [
    (dict(inner="rmsprop"), ValueError, "inner"),
    (dict(inner="adam"), ValueError, "target"),
    (dict(target="adam"), ValueError, "target"),
    (dict(inner="sgdm", target="adamw"), ValueError, "target"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(lr="0.1"), TypeError, "lr"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(betas=(0.9, 1.0)), ValueError, "betas"),
    (dict(betas=0.9), TypeError, "betas"),
    (dict(eps=0.0), ValueError, "eps"),
    (dict(inner="sgdm", momentum=1.0), ValueError, "momentum"),
    (dict(momentum=0.9), TypeError, "momentum"),
    (dict(inner="sgdm", betas=(0.9, 0.99)), TypeError, "betas"),
    (dict(inner="lion", eps=1e-8), TypeError, "eps"),
    (dict(update_norm_decay=1.0), ValueError, "update_norm_decay"),
    (dict(per_neuron=1), TypeError, "per_neuron"),
    (dict(zero_mean="yes"), TypeError, "zero_mean"),
    (dict(rotational_eps=0.0), ValueError, "rotational_eps"),
    (dict(foreach="yes"), TypeError, "foreach"),
])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        RotationalWrapper(_model().parameters(), **kwargs)


@pytest.mark.parametrize("group,error,match", [
    ({"lr": -0.1}, ValueError, r"param_groups\[1\]: lr"),
    ({"betas": (0.9, 0.99)}, ValueError, r"param_groups\[1\]: \['betas'\] not used"),
    ({"momentum": 2.0}, ValueError, r"param_groups\[1\]: momentum"),
    ({"rotational": "yes"}, TypeError, r"param_groups\[1\]: rotational"),
    ({"weight_decay": 0.0, "rotational": True}, ValueError, r"param_groups\[1\]: a rotational group needs weight_decay"),
])
def test_bad_groups_raise_naming_the_group(group, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        RotationalWrapper([{"params": model[0].parameters()}, {"params": model[3].parameters(), **group}], "sgdm",
                          lr=0.1, weight_decay=0.1)


def test_wrong_types_raise():
    with pytest.raises(TypeError, match="Tensors"):
        RotationalWrapper([1.0, 2.0])
    with pytest.raises(TypeError, match="param_group"):
        RotationalWrapper(_model().parameters()).add_param_group([torch.zeros(2)])
    with pytest.raises(TypeError, match="rotational"):
        rotation.random_walk("adamw", lr=0.1, weight_decay=0.1, steps=2, rotational="yes")
    with pytest.raises(ValueError, match="target"):
        rotation_target("adam", 0.1, 0.1)


# -- param_groups -------------------------------------------------------------------------------------
class _Tiny(torch.nn.Module):
    """Not a Sequential: embedding, a block with LayerNorm, a frozen layer, a head."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8)
        self.block = torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(8), "mlp": torch.nn.Linear(8, 8)})
        self.frozen = torch.nn.Linear(8, 8).requires_grad_(False)
        self.scale = torch.nn.Parameter(torch.ones(8))
        self.head = torch.nn.Linear(8, 3)

    def forward(self, tokens):
        h = self.embed(tokens)
        h = h + self.block["mlp"](self.block["norm"](h)) * self.scale
        return self.head(self.frozen(h)).mean(1)


def test_param_groups_follow_the_usual_decay_grouping_on_any_module():
    model = _Tiny()
    groups = param_groups(model, 0.05, readout="head")
    assert [g["param_names"] for g in groups] == [
        ["embed.weight", "block.mlp.weight"], ["head.weight"],
        ["scale", "block.norm.weight", "block.norm.bias", "block.mlp.bias", "head.bias"]]  # named_parameters' order
    assert [(g["weight_decay"], g.get("rotational")) for g in groups] == [(0.05, None), (0.05, False), (0.0, False)]
    assert [g["param_names"] for g in param_groups(model, 0.05, readout=model.head)] == [g["param_names"] for g in groups]
    assert len(param_groups(model, 0.05, readout=None)) == 2
    assert param_groups(model, 0.05, readout=None)[0]["param_names"][-1] == "head.weight"


def test_param_groups_serve_adamw_and_the_wrapper_alike():
    models = [_Tiny() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    adamw = torch.optim.AdamW(param_groups(models[0], 0.1, readout="head"), lr=0.01, foreach=False)
    rv = RotationalWrapper(param_groups(models[1], 0.1, readout="head"), "adamw", lr=0.01, foreach=False)
    assert set(rv._shadows) == {models[1].embed.weight, models[1].block["mlp"].weight}
    embed_norms = models[1].embed.weight.detach().norm(dim=1).clone()
    gen = torch.Generator().manual_seed(0)
    trainable = [[p for p in m.parameters() if p.requires_grad] for m in models]
    for _ in range(3):
        for p, q in zip(*trainable, strict=True):
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        adamw.step()
        rv.step()
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters(), strict=True):
        if name in ("head.weight", "head.bias", "block.norm.weight", "scale", "frozen.weight"):
            assert torch.equal(p, q), name  # decayed read-out, undecayed gains: AdamW's own steps; frozen: untouched
    assert torch.allclose(models[1].embed.weight.norm(dim=1), embed_norms, rtol=1e-6)
    assert not torch.allclose(models[0].embed.weight.norm(dim=1), embed_norms, rtol=1e-3)


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((torch.zeros(3), 0.1), dict(readout=None), TypeError, "model"),
    ((nets.mlp(3, (4,), 2), -0.1), dict(readout=None), ValueError, "weight_decay"),
    ((nets.mlp(3, (4,), 2), 0.1), dict(readout="head"), ValueError, "readout 'head'"),
    ((nets.mlp(3, (4,), 2), 0.1), dict(readout=torch.nn.Linear(2, 2)), ValueError, "submodule"),
    ((nets.mlp(3, (4,), 2), 0.1), dict(readout=3), TypeError, "readout"),
])
def test_param_groups_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        param_groups(*args, **kwargs)
    with pytest.raises(TypeError, match="readout"):
        param_groups(nets.mlp(3, (4,), 2), 0.1)  # the read-out is a decision to make


def test_grad_scaler_and_gradient_clipping_work():
    model = nets.mlp(12, (16,), 4, norm="batch", seed=0)
    optimizer = RotationalWrapper(param_groups(model, 0.1, readout=model[-1]), "adamw", lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**18)  # overflows in float16 at first: that step is skipped
    w, n0 = model[0].weight, model[0].weight.detach().norm(dim=1).clone()
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(model(torch.randn(32, 12, generator=gen)),
                                                     torch.randint(0, 4, (32,), generator=gen))
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        scaler.step(optimizer)
        scaler.update()
    assert scaler.get_scale() < 2.0**18 and 0 < optimizer.state[w]["step"] < 6
    assert torch.allclose(w.detach().norm(dim=1), n0, rtol=1e-6) and w.dtype == torch.float32


def test_lion_validates_and_steps_at_lr_zero_inside_the_wrapper():
    with pytest.raises(ValueError, match="betas"):
        Lion([torch.nn.Parameter(torch.zeros(2))], betas=(0.9, 1.5))
    model = _model()
    optimizer = RotationalWrapper(model.parameters(), "lion", lr=0.0, weight_decay=0.1)
    _train(model, optimizer, 1)  # the inner Lion's groups take lr = 0 (its constructor checks only its own default)
    assert optimizer.inner.param_groups[0]["lr"] == 0.0
