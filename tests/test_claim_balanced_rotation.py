"""req-balanced-rotation passes, and fails when the tracker measures the wrong axis or the prediction is wrong."""

import math

import pytest
import torch

from wdcompanion import nets, rotation
from wdcompanion.claims import balanced_rotation


def _failed(verdict):
    return " | ".join(c.name for c in verdict.comparisons if not c.passed)


def test_check_passes(small_run):
    verdict = small_run("req-balanced-rotation").verdict
    assert verdict.passed, verdict.report()
    assert verdict.notes == ()  # nothing left out at small scale


def test_tracker_on_the_wrong_axis_fails(monkeypatch):
    def columns(self, name, p):  # a tracker that takes columns (inputs) for neurons
        return p.detach().reshape(p.shape[0], -1).T.double()

    monkeypatch.setattr(rotation.RotationTracker, "_view", columns)
    assert "neuron norm" in _failed(balanced_rotation.run("small").verdict)


def test_wrong_beta_factor_fails(monkeypatch):
    original = rotation.equilibrium

    def wrong(name, **kwargs):  # drop the momentum factor sqrt((1 - b1)/(1 + b1)) from AdamW's angle
        e = original(name, **kwargs)
        if name != "adamw":
            return e
        b1 = (kwargs.get("betas") or (0.9, 0.999))[0]
        return rotation.Equilibrium(e.norm, e.angular_update / math.sqrt((1 - b1) / (1 + b1)), e.timescale)

    monkeypatch.setattr(rotation, "equilibrium", wrong)
    assert "sqrt(2 lr wd" in _failed(balanced_rotation.run("small").verdict)


def test_ws_linear_is_row_scale_and_shift_invariant():
    layer = nets.WSLinear(5, 3, bias=False)
    x = torch.randn(4, 5)
    out = layer(x)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([[2.0], [0.5], [3.0]])).add_(torch.tensor([[1.0], [-2.0], [0.3]]))
    assert torch.allclose(layer(x), out, atol=1e-5)


def test_data_and_models_validate():
    x, y = nets.teacher_data(100, seed=3)
    assert x.shape == (100, 32) and y.max() < 10
    assert torch.equal(nets.teacher_data(100, seed=3)[1], y)
    with pytest.raises(ValueError, match="norm"):
        nets.mlp(32, (8,), 10, norm="group")
    with pytest.raises(ValueError, match="n_samples"):
        nets.teacher_data(0)


def test_resnet_is_scale_invariant_per_filter_and_validates():
    model = nets.resnet(3, (4, 8), blocks=1, classes=10, seed=0).eval()
    x, _ = nets.teacher_images(8, size=8, seed=1)
    out = model(x)
    assert out.shape == (8, 10)
    with torch.no_grad():
        conv = model[0].weight
        conv.mul_(torch.linspace(0.5, 3.0, conv.shape[0]).view(-1, 1, 1, 1))  # rescale every filter differently
    model.train()  # BatchNorm in training mode normalizes each filter's output: the scale drops out
    reference = nets.resnet(3, (4, 8), blocks=1, classes=10, seed=0).train()
    assert torch.allclose(model(x), reference(x), atol=1e-4)
    with pytest.raises(ValueError, match="widths"):
        nets.resnet(3, (0, 8))
    with pytest.raises(ValueError, match="blocks"):
        nets.resnet(3, (4,), blocks=0)


def test_resnet_run_records_per_filter_angles():
    result = balanced_rotation.BalancedRotationResult(verdict=None)
    settings = dict(widths=(4, 8), blocks=1, steps=20, samples=256)
    convs, fan_in, grad_sq = balanced_rotation.train_resnet("AdamW, ResNet", "adamw", settings, result, device="cpu")
    assert all(name.endswith("weight") for name in convs) and len(convs) >= 4
    for name in convs:
        assert result.layers["AdamW, ResNet"][name].shape == (dict(nets.resnet(3, (4, 8)).named_parameters())[name].shape[0],)
        assert fan_in[name] > 0 and grad_sq[name] > 0


def test_resnet_check_passes_on_cpu_and_fails_on_a_wrong_beta_factor(monkeypatch):
    """The paper-scale ResNet comparisons on a short CPU run: AdamW's per-layer angle is within 15%."""
    result = balanced_rotation.BalancedRotationResult(verdict=None)
    settings = dict(widths=(4, 8), blocks=1, steps=600, samples=1024)
    convs, _, _ = balanced_rotation.train_resnet(balanced_rotation.RESNET_LABELS["adamw"], "adamw", settings, result, device="cpu")
    angle = balanced_rotation.resnet_comparisons(result, convs)[0]
    assert angle.passed, angle
    original = rotation.equilibrium
    monkeypatch.setattr(rotation, "equilibrium", lambda name, **kw: rotation.Equilibrium(
        original(name, **kw).norm, original(name, **kw).angular_update / math.sqrt(1 / 19), 1.0))  # beta factor dropped
    assert not balanced_rotation.resnet_comparisons(result, convs)[0].passed


_TINY = dict(neurons=8, steps=200, net_steps=40, widths=(16, 16), samples=256,
             resnet=dict(widths=(4, 8), blocks=1, steps=20, samples=256))


def test_paper_scale_trains_the_resnet_only_where_asked_or_on_a_gpu(monkeypatch):
    """With a tiny stand-in for the paper settings: no GPU, no ResNet, and a note that says so."""
    monkeypatch.setitem(balanced_rotation._SCALE, "paper", _TINY)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    without = balanced_rotation.run("paper").verdict
    assert not any("ResNet" in c.name for c in without.comparisons)
    assert without.notes and "no GPU present" in without.notes[0] and "[note]" in without.report()
    assert "resnet=False" in balanced_rotation.run("paper", resnet=False).verdict.notes[0]
    forced = balanced_rotation.run("paper", resnet=True).verdict
    assert sum("ResNet" in c.name for c in forced.comparisons) == 2 and not forced.notes


def test_run_validates_scale_and_resnet():
    with pytest.raises(ValueError, match="scale"):
        balanced_rotation.run("huge")
    with pytest.raises(ValueError, match="resnet"):
        balanced_rotation.run("small", resnet=True)
    with pytest.raises(TypeError, match="resnet"):
        balanced_rotation.run("paper", resnet="yes")


def test_adam_l2_per_neuron_prediction_leaves_dead_units_undefined():
    # A dead ReLU unit (G = 0) has no rotational equilibrium: NaN, not an error (the paper-scale run has them).
    G = [1e-4, 0.0, 4e-4]
    predicted = balanced_rotation.adam_l2_per_neuron(512, G)
    assert math.isnan(predicted[1])
    for k in (0, 2):
        expected = rotation.equilibrium("adam_l2", lr=balanced_rotation.LR, weight_decay=balanced_rotation.WD_L2,
                                        fan_in=512, grad_norm_sq=G[k], betas=balanced_rotation.BETAS).angular_update
        assert predicted[k] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="grad_norm_sq"):
        balanced_rotation.adam_l2_per_neuron(512, [1e-4, -1e-4])
    with pytest.raises(ValueError, match="grad_norm_sq"):
        balanced_rotation.adam_l2_per_neuron(512, [[1e-4]])
    with pytest.raises(TypeError, match="fan_in"):
        balanced_rotation.adam_l2_per_neuron(51.2, G)
