import dataclasses
import math

import numpy as np
import pytest
import torch

from wdcompanion import rotation
from wdcompanion.claims import equilibrium as eq_claim
from wdcompanion.claims.protocol import Verdict
from wdcompanion.optim import Lion


def test_equilibrium_formulas_agree_with_their_definitions():
    e = rotation.equilibrium("adamw", lr=0.01, weight_decay=0.1, fan_in=100, betas=(0.0, 0.999))
    assert e.norm == pytest.approx(math.sqrt(0.01 * 100 / 0.2))
    assert e.angular_update == pytest.approx(math.sqrt(2 * 0.01 * 0.1))
    # the angle equals lr * sqrt(E||u||^2) / norm with E||u||^2 = C (1 - b1) / (1 + b1)
    e9 = rotation.equilibrium("adamw", lr=0.01, weight_decay=0.1, fan_in=100, betas=(0.9, 0.999))
    assert e9.angular_update == pytest.approx(0.01 * math.sqrt(100 * 0.1 / 1.9) / e9.norm)
    a = rotation.equilibrium("adam_l2", lr=0.01, weight_decay=0.1, fan_in=100, grad_norm_sq=4.0, betas=(0.9, 0.999))
    assert a.angular_update == pytest.approx(0.01 * math.sqrt(100 * 0.1 / 1.9) / a.norm)
    s = rotation.equilibrium("sgdm", lr=0.1, weight_decay=0.01, fan_in=10, grad_norm_sq=9.0, momentum=0.9)
    assert s.angular_update == pytest.approx(math.sqrt(2 * 0.1 * 0.01 / 1.9))


def test_adamw_angle_is_independent_of_fan_in_and_gradient_but_adam_l2_is_not():
    angles = {rotation.equilibrium("adamw", lr=0.01, weight_decay=0.1, fan_in=c).angular_update for c in (10, 1000)}
    assert len(angles) == 1
    a = [rotation.equilibrium("adam_l2", lr=0.01, weight_decay=0.1, fan_in=100, grad_norm_sq=g).angular_update for g in (1.0, 1e6)]
    assert a[1] / a[0] == pytest.approx(1e6 ** (-1 / 6))


def test_angular_update_per_row_and_filter():
    before = torch.eye(3, 4, dtype=torch.float64)
    after = before.clone()
    after[1] = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    angles = rotation.angular_update(before, after)
    assert torch.allclose(angles, torch.tensor([0.0, math.pi / 4, 0.0], dtype=torch.float64))
    conv = torch.randn(5, 3, 2, 2)
    assert rotation.angular_update(conv, 2.0 * conv).shape == (5,)
    assert torch.allclose(rotation.angular_update(conv, 2.0 * conv), torch.zeros(5, dtype=torch.float64), atol=1e-6)


def test_tracker_records_without_changing_training():
    torch.manual_seed(0)

    def train(track: bool):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
        tracker = rotation.RotationTracker(model, opt, interval=2) if track else None
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(2))
        for _ in range(6):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        return model, tracker

    plain, _ = train(False)
    tracked, tracker = train(True)
    for a, b in zip(plain.parameters(), tracked.parameters(), strict=True):
        assert torch.equal(a, b)
    assert tracker.angles("0.weight").shape == (3, 8)  # steps 0, 2, 4; 8 neurons of fan-in 4
    assert tracker.norms("2.weight").shape == (3, 2)
    assert np.all(tracker.angles("0.weight") > 0)
    tracker.remove()


def test_tracker_keeps_every_record_past_its_first_buffer():
    """150 records (the buffer doubles twice) against norms and angles computed here from weight snapshots."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    tracker = rotation.RotationTracker(model, opt, interval=2, names=["0.weight"])
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(4))
    norms, angles = [], []
    for _ in range(300):
        before = model[0].weight.detach().double().clone()
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        after = model[0].weight.detach().double()
        cosine = (before * after).sum(1) / (before.norm(dim=1) * after.norm(dim=1))
        norms.append(after.norm(dim=1).numpy())
        angles.append(torch.arccos(cosine.clamp(-1, 1)).numpy())
    tracker.remove()
    np.testing.assert_array_equal(tracker.recorded_steps, np.arange(0, 300, 2))
    np.testing.assert_allclose(tracker.norms("0.weight"), np.array(norms[::2]), rtol=1e-12)
    np.testing.assert_allclose(tracker.angles("0.weight"), np.array(angles[::2]), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="name"):
        tracker.angles("2.weight")


def test_lion_step_matches_its_definition():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Lion([w], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    w.grad = torch.tensor([0.3, -0.1])
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([1.0, -2.0]) * (1 - 0.05) - 0.1 * torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: rotation.equilibrium("rmsprop", lr=0.1, weight_decay=0.1, fan_in=3), ValueError, "optimizer"),
        (lambda: rotation.equilibrium("adamw", lr=-0.1, weight_decay=0.1, fan_in=3), ValueError, "lr"),
        (lambda: rotation.equilibrium("adamw", lr=0.1, weight_decay=0.0, fan_in=3), ValueError, "weight_decay"),
        (lambda: rotation.equilibrium("adamw", lr=0.1, weight_decay=0.1, fan_in=0), ValueError, "fan_in"),
        (lambda: rotation.equilibrium("sgdm", lr=0.1, weight_decay=0.1, fan_in=3), ValueError, "grad_norm_sq"),
        (lambda: rotation.equilibrium("sgdm", lr=0.1, weight_decay=0.1, fan_in=3, grad_norm_sq=1.0, momentum=1.0), ValueError, "momentum"),
        (lambda: rotation.equilibrium("adamw", lr=0.1, weight_decay=0.1, fan_in=3, betas=(1.0, 0.9)), ValueError, "betas"),
        (lambda: rotation.angular_update(torch.ones(2, 3), torch.ones(3, 2)), ValueError, "same shape"),
        (lambda: rotation.angular_update(np.ones((2, 2)), torch.ones(2, 2)), TypeError, "before"),
        (lambda: rotation.random_walk("adamw", lr=0.1, weight_decay=0.1, steps=0), ValueError, "steps"),
        (lambda: rotation.random_walk("adamw", lr=0.1, weight_decay=0.1, steps=2, grad_scale=-1.0), ValueError, "grad_scale"),
        (lambda: Lion([torch.nn.Parameter(torch.ones(1))], lr=0.0), ValueError, "lr"),
    ],
)
def test_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()


def test_random_walk_records_every_kth_step_of_the_same_trajectory():
    common = dict(lr=0.02, weight_decay=0.1, steps=10, n_neurons=4, fan_in=8, seed=1)
    every = rotation.random_walk("adamw", **common)
    sparse = rotation.random_walk("adamw", record_every=3, **common)
    np.testing.assert_array_equal(sparse.steps, [0, 3, 6, 9])
    np.testing.assert_array_equal(sparse.norms, every.norms[[0, 3, 6, 9]])
    np.testing.assert_array_equal(sparse.angles, every.angles[[0, 3, 6, 9]])
    assert np.all(every.angles > 0) and np.all(np.diff(every.norms, axis=0) != 0)


REDUCED = dataclasses.replace(eq_claim.SMALL, neurons=32, taus=4.0, min_steps=800)


def _table_verdict():
    result = eq_claim.EquilibriumResult(verdict=None)
    return Verdict(eq_claim.CLAIM_ID, tuple(eq_claim._table(REDUCED, result)))


def test_equilibrium_table_passes_at_reduced_size():
    assert _table_verdict().passed


def test_wrong_beta_factor_fails(monkeypatch):
    original = rotation.equilibrium

    def wrong(name, **kwargs):  # (1 - b1)/(1 + b1) without the square root, for AdamW
        e = original(name, **kwargs)
        if name != "adamw":
            return e
        b1 = (kwargs.get("betas") or (0.9, 0.999))[0]
        factor = math.sqrt((1 - b1) / (1 + b1)) if b1 else 1.1
        return rotation.Equilibrium(e.norm, e.angular_update * factor, e.timescale)

    monkeypatch.setattr(rotation, "equilibrium", wrong)
    verdict = _table_verdict()
    assert not verdict.passed and "angular update" in " ".join(c.name for c in verdict.comparisons if not c.passed)


def test_tracker_on_conv_filters():
    from wdcompanion import nets

    model = nets.cnn(3, (4, 6), 10)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    tracker = rotation.RotationTracker(model, opt, names=["0.weight", "3.weight"])
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert tracker.angles("0.weight").shape == (3, 4) and tracker.angles("3.weight").shape == (3, 6)
    with pytest.raises(ValueError, match="norm"):
        nets.cnn(3, (4,), 10, norm="layer")


def test_tracker_whole_tensor_angle_is_the_angle_between_flattened_tensors_not_a_mean_of_neuron_angles():
    # two rows of equal norm rotated by 0.1 and 0.3 rad in their own planes: cos(tensor angle) = mean of the cosines
    w = torch.nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]], dtype=torch.float64))
    model = torch.nn.Module()
    model.w = w
    optimizer = torch.optim.SGD([w], lr=1.0)
    tracker = rotation.RotationTracker(model, optimizer)
    target = torch.tensor([[math.cos(0.1), math.sin(0.1), 0.0, 0.0], [0.0, 0.0, math.cos(0.3), math.sin(0.3)]],
                          dtype=torch.float64)
    w.grad = w.detach() - target  # one SGD step at lr 1 lands on target
    optimizer.step()
    np.testing.assert_allclose(tracker.angles("w")[0], [0.1, 0.3], rtol=1e-9)
    expected = math.acos((math.cos(0.1) + math.cos(0.3)) / 2)
    assert tracker.tensor_angles("w") == pytest.approx([expected], rel=1e-9)
    assert abs(expected - 0.2) > 1e-3  # not the mean of the neuron angles
    tracker.remove()
