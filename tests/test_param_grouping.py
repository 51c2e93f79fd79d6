"""Every network the claims train gets its optimizer's groups from ``optim.param_groups`` (the paper's grouping)."""

import dataclasses
import functools

import torch

from wdcompanion import nets
from wdcompanion.claims import balanced_rotation, rotational_variants
from wdcompanion.sweep import run_sweep

_TINY_BR = dataclasses.replace(balanced_rotation.SMALL, neurons=8, steps=200, net_steps=10, widths=(8, 8))
_TINY_RV = dataclasses.replace(rotational_variants.SMALL, steps=120, neurons=4, settled=50, net_steps=10, widths=(8,),
                               arch_widths=(8,), batch=32, adamw_batch=32, adamw_seeds=(0, 1), train_steps=10, sgdm_arch_widths=(8,),
                               sgdm_train_steps=10, sgdm_lrs=(0.1,), adamw_lrs=(0.01,), seeds=(0, 1),
                               grid_lrs=(0.01,), grid_l2=(1e-3,), grid_wd=(0.1,), wrapped_seeds=(1, 2),
                               grid_arch_widths=(4,), grid_batch=32, grid_train_steps=10)


def test_every_training_decays_exactly_the_weights_through_the_one_helper(monkeypatch):
    trained = []
    real_train = nets.train_classifier

    def checking_train(model, optimizer, *args, **kwargs):
        for group in optimizer.param_groups:
            assert "param_names" in group, "groups not made by wdcompanion.optim.param_groups"
            for name, p in zip(group["param_names"], group["params"], strict=True):
                assert (group["weight_decay"] == 0) == (p.ndim <= 1 or name.endswith("bias")), (type(optimizer).__name__, name)
        trained.append(type(optimizer).__name__)
        return real_train(model, optimizer, *args, **kwargs)

    monkeypatch.setattr(nets, "train_classifier", checking_train)
    monkeypatch.setitem(balanced_rotation.REGISTERED, "small", _TINY_BR)
    monkeypatch.setitem(rotational_variants.REGISTERED, "small", _TINY_RV)
    monkeypatch.setattr(rotational_variants, "run_sweep", functools.partial(run_sweep, executor="serial"))  # patch visible
    torch.manual_seed(0)
    balanced_rotation.run("small")
    balanced_rotation.train_resnet("ResNet", "adamw", balanced_rotation.ResNetSettings(widths=(4,), blocks=1, steps=2),
                                   _TINY_BR.hyper, balanced_rotation.BalancedRotationResult(None))
    rotational_variants.run("small")
    assert trained.count("AdamW") >= 4 and {"SGD", "Adam", "RotationalWrapper"} <= set(trained)
    # MLPs, ResNet, RV network, warmup sweep (2 families x plain/RV x 2 warmups x 2 seeds), grids, wrapped (3 kinds x 2 seeds)
    assert len(trained) == 5 + 1 + 1 + 16 + 2 + 6
    # the paper scale's AdamW warmup sweep trains the transformer, through its own training function
    monkeypatch.setitem(rotational_variants.REGISTERED, "small", dataclasses.replace(_TINY_RV, arch=rotational_variants.TRANSFORMER))
    rotational_variants.run("small")
    assert len(trained) == 2 * (5 + 1 + 1 + 16 + 2 + 6) - 5 - 1
