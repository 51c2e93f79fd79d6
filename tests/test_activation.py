"""The hidden nonlinearity swap of wdcompanion.activation, and the claims' settings that choose it."""

import dataclasses

import pytest
import torch
from torch import nn

from wdcompanion import nets
from wdcompanion.activation import ACTIVATIONS, LEAKY_SLOPE, use_activation
from wdcompanion.claims import balanced_rotation as br
from wdcompanion.claims import rotational_variants as rv


def _mlp() -> nn.Sequential:
    return nets.mlp(6, (5, 4), 3, norm="batch", seed=3)


def test_leaky_relu_replaces_every_relu_and_keeps_the_weights():
    model = use_activation(_mlp(), "leaky_relu", slope=0.05)
    fresh = _mlp()
    assert not any(isinstance(m, nn.ReLU) for m in model)
    leaky = [m for m in model if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == sum(isinstance(m, nn.ReLU) for m in fresh) == 2
    assert all(m.negative_slope == 0.05 for m in leaky)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_relu_leaves_the_model_as_built():
    model = _mlp()
    modules = list(model)
    assert use_activation(model, "relu") is model
    assert list(model) == modules


def test_a_switched_off_unit_gets_a_gradient_only_with_the_leaky_relu():
    """The point of the swap: a unit whose input is negative on every signal still passes a gradient back."""
    grads = {}
    for activation in ACTIVATIONS:
        model = use_activation(nets.mlp(3, (4,), 2, norm="batch", seed=0), activation)
        with torch.no_grad():
            model[1].bias[0] = -50.0  # BatchNorm shift: unit 0 is off for every signal
        model(torch.randn(32, 3, generator=torch.Generator().manual_seed(0))).square().sum().backward()
        grads[activation] = model[0].weight.grad[0].norm().item()
    assert grads["relu"] == 0.0
    assert grads["leaky_relu"] > 0.0


def test_default_slope_is_torchs():
    assert LEAKY_SLOPE == nn.LeakyReLU().negative_slope


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"activation": "gelu"}, ValueError, "activation"),
    ({"activation": "leaky_relu", "slope": 0.0}, ValueError, "slope"),
    ({"activation": "leaky_relu", "slope": 1.0}, ValueError, "slope"),
    ({"activation": "leaky_relu", "slope": -0.1}, ValueError, "slope"),
    ({"activation": "leaky_relu", "slope": True}, TypeError, "slope"),
])
def test_bad_arguments_raise_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        use_activation(_mlp(), **kwargs)


def test_bad_models_raise():
    with pytest.raises(TypeError, match="model"):
        use_activation(nn.Linear(3, 2), "relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no ReLU"):
        use_activation(nn.Sequential(nn.Linear(3, 2)), "leaky_relu")


def test_leaky_model_can_be_swapped_again_without_change():
    model = use_activation(_mlp(), "leaky_relu")
    modules = list(model)
    use_activation(model, "leaky_relu")
    assert list(model) == modules


def test_claims_choose_the_activation_in_their_settings():
    assert br.SMALL.activation == "relu" and br.PAPER.activation == "leaky_relu"
    assert rv.SMALL.net_activation == "relu" and rv.PAPER.net_activation == "leaky_relu"
    with pytest.raises(ValueError, match="Settings.activation"):
        dataclasses.replace(br.SMALL, activation="tanh")
    with pytest.raises(ValueError, match="Settings.net_activation"):
        dataclasses.replace(rv.SMALL, net_activation="tanh")


def test_balanced_rotation_trains_the_mlp_it_is_given(monkeypatch):
    """br._train builds its MLP through use_activation with the settings' activation (a planted swap is seen)."""
    seen = []
    original = br.use_activation

    def spy(model, activation, *args, **kwargs):
        seen.append(activation)
        return original(model, activation, *args, **kwargs)

    monkeypatch.setattr(br, "use_activation", spy)
    monkeypatch.setattr(br.nets, "train_classifier", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    settings = dataclasses.replace(br.SMALL, activation="leaky_relu", widths=(4,), net_steps=2)
    data = br.mnist1d()
    with pytest.raises(RuntimeError, match="stop"):
        br._train("AdamW, BatchNorm", "batch", "adamw", settings, data, br.BalancedRotationResult(verdict=None))
    assert seen == ["leaky_relu"]
