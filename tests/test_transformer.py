"""The MNIST-1D transformer and its training: shapes, the attention block against torch's, grouping, validation."""

import pytest
import torch
from torch import nn

from wdcompanion import nets, transformer
from wdcompanion.optim import param_groups


def test_gained_linear_with_unit_gain_is_nn_linear():
    torch.manual_seed(0)
    gained = transformer.GainedLinear(5, 3)
    torch.manual_seed(0)
    plain = nn.Linear(5, 3)
    x = torch.randn(4, 5)
    torch.testing.assert_close(gained(x), plain(x))
    with torch.no_grad():
        gained.gain.copy_(torch.tensor([2.0, -1.0, 0.5]))
    torch.testing.assert_close(gained(x), plain(x) * gained.gain + plain.bias * (1 - gained.gain))


def test_block_computes_what_torchs_pre_ln_encoder_layer_computes_with_the_same_weights():
    torch.manual_seed(1)
    block = transformer.TransformerBlock(16, 4)
    reference = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
    with torch.no_grad():
        reference.self_attn.in_proj_weight.copy_(block.qkv.weight)
        reference.self_attn.in_proj_bias.copy_(block.qkv.bias)
        reference.self_attn.out_proj.weight.copy_(block.attention_out.weight)
        reference.self_attn.out_proj.bias.copy_(block.attention_out.bias)
        for ours, theirs in ((block.mlp_in, reference.linear1), (block.mlp_out, reference.linear2),
                             (block.attention_norm, reference.norm1), (block.mlp_norm, reference.norm2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    reference.eval()  # its fast path and training path agree without dropout; eval avoids the nested-tensor warning
    x = torch.randn(3, 10, 16)
    torch.testing.assert_close(block(x), reference(x), atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # a gain != 1 must change the output (the gains are used)
        block.attention_out.gain.mul_(2.0)
    assert not torch.allclose(block(x), reference(x), atol=1e-3)


def test_transformer_shapes_seed_and_grouping():
    model = transformer.transformer1d(40, 16, 2, 10, seed=3)
    assert model(torch.randn(7, 40)).shape == (7, 10)
    again = transformer.transformer1d(40, 16, 2, 10, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    decay, readout, no_decay = param_groups(model, 0.1, readout=model[-1])
    assert readout["param_names"] == ["4.weight"]
    assert all(name.endswith(("gain", "bias")) or "norm" in name for name in no_decay["param_names"])
    assert "0.position" in decay["param_names"] and "1.qkv.weight" in decay["param_names"]
    assert "0.position_gain" in dict(transformer.transformer1d(40, 16, 1, position_gain=True).named_parameters())


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(length=42), ValueError, "patch"),
    (dict(width=18), ValueError, "heads"),
    (dict(depth=0), ValueError, "depth"),
    (dict(width=2.5), TypeError, "width"),
])
def test_transformer_validates_its_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        transformer.transformer1d(**{"length": 40, **kwargs})


_RUN = dict(lr=0.01, weight_decay=0.1, warmup_steps=2, steps=6, batch=16, seed=0, width=8, depth=1)


@pytest.mark.parametrize("zero_mean", [False, True])
def test_rv_training_keeps_row_norms_and_centres_only_when_asked(monkeypatch, zero_mean):
    seen = {}
    real_train = nets.train_classifier

    def keep(model, optimizer, *args, **kwargs):
        assert all("param_names" in group for group in optimizer.param_groups)  # grouped by optim.param_groups
        seen["model"], seen["before"] = model, model[1].qkv.weight.detach().clone()
        return real_train(model, optimizer, *args, **kwargs)

    monkeypatch.setattr(nets, "train_classifier", keep)
    out = transformer.train_transformer_mnist1d(optimizer="RV-AdamW", zero_mean=zero_mean, **_RUN)
    assert set(out) == {"accuracy", "train_loss", "diverged"} and out["diverged"] == 0.0
    after = seen["model"][1].qkv.weight.detach()
    # neurons keep their norms (the centring, when on, happens at fixed norm too)
    torch.testing.assert_close(after.norm(dim=1), seen["before"].norm(dim=1), atol=1e-5, rtol=1e-5)
    assert bool((after.mean(dim=1).abs() < 1e-6).all()) == zero_mean
    assert not torch.equal(after, seen["before"])  # it trained


def test_plain_adamw_training_runs_and_is_seeded():
    first = transformer.train_transformer_mnist1d(optimizer="AdamW", **_RUN)
    assert first == transformer.train_transformer_mnist1d(optimizer="AdamW", **_RUN)
    assert 0.0 <= first["accuracy"] <= 1.0


@pytest.mark.parametrize(("change", "error", "match"), [
    (dict(optimizer="SGDM"), ValueError, "optimizer"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(warmup_steps=-1), ValueError, "warmup_steps"),
    (dict(zero_mean=1), TypeError, "zero_mean"),
    (dict(betas=(0.9,)), ValueError, "betas"),
])
def test_training_validates_its_arguments(change, error, match):
    with pytest.raises(error, match=match):
        transformer.train_transformer_mnist1d(**{"optimizer": "AdamW", **_RUN, **change})
