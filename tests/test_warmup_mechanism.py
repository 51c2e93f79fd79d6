"""The variants of ``scripts/warmup_mechanism.py`` change what they say and nothing else."""

import importlib.util
from pathlib import Path

import torch

from wdcompanion import rotation
from wdcompanion.claims.rotational_variants import SMALL
from wdcompanion.optim import param_groups
from wdcompanion.training import build_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "warmup_mechanism.py"
spec = importlib.util.spec_from_file_location("warmup_mechanism", SCRIPT)
mechanism = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mechanism)


def _model():
    return build_model(SMALL.arch, SMALL.arch_widths, features=40, classes=10, seed=0)


def test_the_equilibrium_start_sets_the_norms_and_keeps_the_function():
    x = torch.randn(64, 40)
    model = _model().train()
    before = model(x)
    mechanism._prepare(model, "equilibrium start", 0.16)
    assert torch.allclose(model(x), before, atol=1e-4)  # BatchNorm after each rescaled layer
    hidden = [m for m in model[:-1] if isinstance(m, torch.nn.Linear)]
    assert len(hidden) == len(SMALL.arch_widths)
    for linear in hidden:
        norm = rotation.equilibrium("adamw", lr=0.16, weight_decay=SMALL.adamw_wd, fan_in=linear.in_features,
                                    betas=SMALL.adamw_betas).norm
        assert torch.allclose(linear.weight.norm(dim=1), torch.full((linear.out_features,), norm), rtol=1e-5)
    assert torch.equal(model[-1].weight, _model()[-1].weight)  # the read-out is left alone


def test_the_frozen_variant_takes_batchnorm_out_of_the_optimizer():
    model = _model()
    mechanism._prepare(model, "frozen BatchNorm affine", 0.04)
    names = [n for group in param_groups(model, 0.1, readout=model[-1]) for n in group["param_names"]]
    frozen = [n for n, m in model.named_children() if isinstance(m, torch.nn.BatchNorm1d)]
    assert frozen and not any(n.split(".")[0] in frozen for n in names)
    untouched = _model()
    mechanism._prepare(untouched, "chapter", 0.04)
    assert all(torch.equal(a, b) for a, b in zip(untouched.parameters(), _model().parameters(), strict=True))
